//! Moments as code: `moments.toml` read into [`MomentSpec`]s and the contact [`Budget`].
//!
//! The shipped file ([`DEFAULT_MOMENTS_TOML`], printed by `glint moments`) defines the twelve
//! moments of the brief and documents every key. Loading refuses anything it cannot honour —
//! an unknown key, signal, variable or webhook endpoint, a malformed duration or condition —
//! with `file:line:col`, so a typo never silently disables a moment.

use std::ops::Range;

use glint_event::{Signal, Taxonomy};
use serde::Deserialize;
use toml::Spanned;

use crate::condition::Condition;
use crate::{Action, Budget, Correlation, DateField, Metric, MomentSpec, QuietHours, Trigger};

/// The shipped `moments.toml`: the twelve default moments, commented.
pub const DEFAULT_MOMENTS_TOML: &str = include_str!("../moments.toml");

/// A rule file that cannot be honoured, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct RuleError {
    /// The file's name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

/// The moments and the budget of one rule file.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// The moments, in file order.
    pub moments: Vec<MomentSpec>,
    /// The contact budget across moments, if any.
    pub budget: Option<Budget>,
}

impl Rules {
    /// The shipped rules.
    pub fn defaults() -> Rules {
        // The shipped file is checked by a test; failing here would be a build defect.
        #[allow(clippy::expect_used)]
        Rules::parse(DEFAULT_MOMENTS_TOML, "moments.toml", &Taxonomy::default(), None).expect("the shipped moments.toml parses")
    }

    /// Read a rule file. `endpoints`, when given, are the webhook endpoints `glint.toml`
    /// defines; an action naming another is refused.
    ///
    /// # Errors
    /// A [`RuleError`] naming the file, line and column of the first problem.
    pub fn parse(text: &str, file: &str, taxonomy: &Taxonomy, endpoints: Option<&[String]>) -> Result<Rules, RuleError> {
        let at = |span: Range<usize>, message: String| {
            let (line, col) = line_col(text, span.start);
            RuleError { file: file.to_string(), line, col, message }
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| at(e.span().unwrap_or(0..0), e.message().to_string()))?;
        let budget = match raw.budget {
            None => None,
            Some(b) => Some(Budget { max: b.max, window_ms: duration(&b.per).map_err(|m| at(b.per.span(), m))? }),
        };
        let cx = Ctx { file, text, taxonomy, endpoints, at: &at };
        let mut moments: Vec<MomentSpec> = Vec::new();
        // A moment's text runs from its `[[moment]]` to the next one's: its version hashes that.
        let starts: Vec<usize> = raw.moment.iter().map(|m| m.span().start).chain([text.len()]).collect();
        for (i, m) in raw.moment.into_iter().enumerate() {
            let span = m.span();
            let source = text.get(starts[i]..starts[i + 1].max(starts[i])).unwrap_or_default();
            let spec = cx.moment(m.into_inner(), source)?;
            if moments.iter().any(|o| o.name == spec.name) {
                return Err(at(span, format!("moment `{}` is defined twice", spec.name)));
            }
            moments.push(spec);
        }
        if moments.len() > u16::MAX as usize {
            return Err(at(0..0, "too many moments".into()));
        }
        Ok(Rules { moments, budget })
    }
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    taxonomy: &'a Taxonomy,
    endpoints: Option<&'a [String]>,
    at: &'a dyn Fn(Range<usize>, String) -> RuleError,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> RuleError {
        (self.at)(span, message.into())
    }

    fn signal(&self, name: &Spanned<String>) -> Result<Signal, RuleError> {
        let s = self.taxonomy.resolve(name.get_ref());
        if self.taxonomy.knows(&s) {
            return Ok(s);
        }
        let hint = closest(name.get_ref()).map(|b| format!(" (did you mean `{b}`?)")).unwrap_or_default();
        Err(self.err(name.span(), format!("unknown signal `{}`{hint}; custom signals must be declared under [taxonomy.signals] in glint.toml", name.get_ref())))
    }

    fn signals(&self, names: &[Spanned<String>]) -> Result<Vec<Signal>, RuleError> {
        names.iter().map(|n| self.signal(n)).collect()
    }

    fn duration(&self, s: &Spanned<String>) -> Result<i64, RuleError> {
        duration(s).map_err(|m| self.err(s.span(), m))
    }

    fn moment(&self, m: RawMoment, source: &str) -> Result<MomentSpec, RuleError> {
        let name = m.name.get_ref().clone();
        if name.is_empty() || !name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') {
            return Err(self.err(m.name.span(), "a moment's name is lowercase letters, digits and `_`"));
        }
        let trigger = self.trigger(&m.trigger)?;
        let condition = match &m.condition {
            None => None,
            Some(c) => Some(Condition::compile(c.get_ref()).map_err(|e| {
                // Map the position within the expression to the file: the string starts one
                // character (the quote) after its span, three for a ''' string.
                let start = c.span().start;
                let quote = if self.text[start..].starts_with("'''") || self.text[start..].starts_with("\"\"\"") { 3 } else { 1 };
                let (line, col) = line_col(self.text, start + quote);
                let (line, col) = if e.line == 1 { (line, col + e.col - 1) } else { (line + e.line - 1, e.col) };
                RuleError { file: self.file.to_string(), line, col, message: format!("condition: {}", e.message) }
            })?),
        };
        let (cap_count, cap_ms) = match &m.cap {
            None => (0, None),
            Some(c) if c.get_ref() == "none" => (0, None),
            Some(c) => {
                let (n, w) = c.get_ref().split_once('/').ok_or_else(|| self.err(c.span(), "a cap is `N/window`, e.g. \"1/24h\", or \"none\""))?;
                let n: u32 = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| self.err(c.span(), format!("cap count {n:?} is not a positive whole number")))?;
                (n, Some(duration(&Spanned::new(c.span(), w.to_string())).map_err(|e| self.err(c.span(), e))?))
            }
        };
        let share = *m.holdout.get_ref();
        if !(0.0..=1.0).contains(&share) {
            return Err(self.err(m.holdout.span(), format!("holdout is a share between 0 and 1 (0.10 = 10 %), got {share}")));
        }
        let purpose = m.consent.get_ref();
        if !purpose.bytes().all(|c| c.is_ascii_lowercase() || c == b'_') || purpose.is_empty() {
            return Err(self.err(m.consent.span(), "a consent purpose is a lowercase word such as `marketing` or `personalization`"));
        }
        let quiet_hours = match &m.quiet_hours {
            None => None,
            Some(q) => {
                let r = q.get_ref();
                let from = clock(r.from.get_ref()).ok_or_else(|| self.err(r.from.span(), "quiet hours are `HH:MM` in the shopper's time zone"))?;
                let to = clock(r.to.get_ref()).ok_or_else(|| self.err(r.to.span(), "quiet hours are `HH:MM` in the shopper's time zone"))?;
                let defer = match r.then.as_ref().map(|t| (t.get_ref().as_str(), t.span())) {
                    None | Some(("defer", _)) => true,
                    Some(("drop", _)) => false,
                    Some((other, span)) => return Err(self.err(span, format!("quiet hours `then` is \"defer\" or \"drop\", not {other:?}"))),
                };
                if from == to {
                    return Err(self.err(q.span(), "quiet hours from and to are the same time"));
                }
                Some(QuietHours { from_min: from, to_min: to, defer })
            }
        };
        let correlate = match &m.correlate {
            None => None,
            Some(c) => Some(match c.get_ref().as_str() {
                "product" => Correlation::Product,
                "cart" => Correlation::Cart,
                "order" => Correlation::Order,
                other => return Err(self.err(c.span(), format!("correlate on \"product\", \"cart\" or \"order\", not {other:?}"))),
            }),
        };
        let kpi = m.kpi.get_ref();
        let action = self.action(m.action.as_ref())?;
        Ok(MomentSpec {
            name,
            description: m.description,
            trigger,
            condition,
            cap_count,
            cap_ms,
            holdout_bp: (share * 10_000.0).round() as u32,
            consent_purpose: purpose.clone(),
            priority: m.priority,
            budgeted: m.budget,
            quiet_hours,
            correlate,
            kpi_signals: self.signals(&kpi.signals)?,
            kpi_window_ms: self.duration(&kpi.within)?,
            action,
            version: format!("{:08x}", xxhash_rust::xxh3::xxh3_64(source.as_bytes()) as u32),
        })
    }

    fn trigger(&self, t: &Spanned<RawTrigger>) -> Result<Trigger, RuleError> {
        let r = t.get_ref();
        let kinds = [r.signal.is_some(), r.absence.is_some(), r.crossing.is_some(), r.back_in_stock.is_some(), r.popular.is_some(), r.date.is_some(), r.calendar.is_some(), r.intent.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(self.err(t.span(), "a trigger has exactly one of: signal, absence, crossing, back_in_stock, popular, date, calendar, intent"));
        }
        let need = |what: &str| self.err(t.span(), format!("this trigger needs `{what}`"));
        if let Some(s) = &r.signal {
            return Ok(Trigger::Signal { signals: self.signals(s)? });
        }
        if let Some(wait) = &r.absence {
            let per_session = match r.per.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
                None | Some(("activity", _)) => false,
                Some(("session", _)) => true,
                Some((other, span)) => return Err(self.err(span, format!("`per` is \"activity\" or \"session\", not {other:?}"))),
            };
            let after = self.signals(r.after.as_deref().ok_or_else(|| need("after"))?)?;
            return Ok(Trigger::Absence { wait_ms: self.duration(wait)?, after, unless: self.signals(r.unless.as_deref().unwrap_or_default())?, per_session });
        }
        if let Some(metric) = &r.crossing {
            let m = match metric.get_ref().as_str() {
                "lifetime.revenue" => Metric::Revenue,
                "lifetime.orders" => Metric::Orders,
                "profile.points" => Metric::Points,
                other => return Err(self.err(metric.span(), format!("crossing watches lifetime.revenue, lifetime.orders or profile.points, not {other:?}"))),
            };
            return Ok(Trigger::Crossing { metric: m, threshold: r.threshold.ok_or_else(|| need("threshold"))? });
        }
        if r.back_in_stock.is_some() {
            return Ok(Trigger::BackInStock);
        }
        if let Some(stage) = &r.intent {
            let stage = match stage.get_ref().as_str() {
                "consideration" => crate::IntentStage::Consideration,
                "readiness" => crate::IntentStage::Readiness,
                other => return Err(self.err(stage.span(), format!("an intent trigger fires on reaching \"consideration\" or \"readiness\", not {other:?}"))),
            };
            return Ok(Trigger::Intent { stage });
        }
        if let Some(counted) = &r.popular {
            let on = self.signal(r.on.as_ref().ok_or_else(|| need("on"))?)?;
            let window_ms = self.duration(r.within.as_ref().ok_or_else(|| need("within"))?)?;
            let at_least = r.at_least.ok_or_else(|| need("at_least"))?;
            return Ok(Trigger::Popular { on, counted: self.signal(counted)?, window_ms, at_least: at_least as usize });
        }
        let hour = |default: i8| -> Result<i8, RuleError> {
            match r.hour {
                None => Ok(default),
                Some(h) if (0..24).contains(&h) => Ok(h as i8),
                Some(h) => Err(self.err(t.span(), format!("hour is 0–23, got {h}"))),
            }
        };
        if let Some(field) = &r.date {
            let f = match field.get_ref().as_str() {
                "birthday" => DateField::Birthday,
                "subscription_renewal_date" => DateField::Renewal,
                other => return Err(self.err(field.span(), format!("date is \"birthday\" or \"subscription_renewal_date\", not {other:?}"))),
            };
            let days_before = match &r.before {
                None => 0,
                Some(b) => self.duration(b)? / 86_400_000,
            };
            return Ok(Trigger::ProfileDate { field: f, offset_days: days_before, hour: hour(9)? });
        }
        if let Some(date) = &r.calendar {
            let (m, d) = date
                .get_ref()
                .split_once('-')
                .and_then(|(m, d)| Some((m.parse::<i8>().ok()?, d.parse::<i8>().ok()?)))
                .filter(|(m, d)| (1..=12).contains(m) && (1..=31).contains(d))
                .ok_or_else(|| self.err(date.span(), "calendar date is `MM-DD`, e.g. \"12-18\""))?;
            let lead_ms = match &r.before {
                None => 0,
                Some(b) => self.duration(b)?,
            };
            return Ok(Trigger::Calendar { month: m, day: d, hour: hour(12)?, lead_ms });
        }
        Err(self.err(t.span(), "no trigger"))
    }

    fn action(&self, a: Option<&Spanned<toml::Value>>) -> Result<Action, RuleError> {
        let Some(a) = a else { return Ok(Action::OnSite) };
        match a.get_ref() {
            toml::Value::String(s) if s == "onsite" => Ok(Action::OnSite),
            toml::Value::Table(t) => {
                if let Some(k) = t.keys().find(|k| *k != "webhook" && *k != "template") {
                    return Err(self.err(a.span(), format!("unknown action key `{k}`; an action has `webhook` and optionally `template`")));
                }
                let Some(toml::Value::String(endpoint)) = t.get("webhook") else {
                    return Err(self.err(a.span(), "a webhook action names its endpoint: { webhook = \"shop\" }"));
                };
                if let Some(known) = self.endpoints
                    && !known.iter().any(|k| k == endpoint)
                {
                    let list = if known.is_empty() { "none are defined".to_string() } else { format!("defined: {}", known.join(", ")) };
                    return Err(self.err(a.span(), format!("webhook endpoint `{endpoint}` is not defined in glint.toml [webhooks] ({list})")));
                }
                let template = match t.get("template") {
                    None => None,
                    Some(v @ toml::Value::Table(_)) => Some(toml_to_json(v)),
                    Some(_) => return Err(self.err(a.span(), "a payload template is a table")),
                };
                Ok(Action::Webhook { endpoint: endpoint.clone(), template })
            }
            _ => Err(self.err(a.span(), "action is \"onsite\" or { webhook = \"NAME\", template = { ... } }")),
        }
    }
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

fn duration(s: &Spanned<String>) -> Result<i64, String> {
    glint_event::time::parse_duration_ms(s.get_ref())
}

/// `HH:MM` → minutes after midnight.
fn clock(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The builtin signal closest to a misspelt name (edit distance ≤ 3).
fn closest(name: &str) -> Option<&'static str> {
    let dist = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for j in 0..b.len() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != b[j])).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    };
    glint_event::Builtin::ALL.iter().map(|b| (dist(name, b.name()), b.name())).filter(|(d, _)| *d <= 3).min().map(|(_, n)| n)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    budget: Option<RawBudget>,
    #[serde(default)]
    moment: Vec<Spanned<RawMoment>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    max: u32,
    per: Spanned<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMoment {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    trigger: Spanned<RawTrigger>,
    condition: Option<Spanned<String>>,
    cap: Option<Spanned<String>>,
    holdout: Spanned<f64>,
    consent: Spanned<String>,
    #[serde(default)]
    priority: i32,
    #[serde(default = "yes")]
    budget: bool,
    quiet_hours: Option<Spanned<RawQuiet>>,
    correlate: Option<Spanned<String>>,
    kpi: Spanned<RawKpi>,
    action: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    signal: Option<Vec<Spanned<String>>>,
    absence: Option<Spanned<String>>,
    after: Option<Vec<Spanned<String>>>,
    unless: Option<Vec<Spanned<String>>>,
    per: Option<Spanned<String>>,
    crossing: Option<Spanned<String>>,
    threshold: Option<f64>,
    back_in_stock: Option<bool>,
    popular: Option<Spanned<String>>,
    on: Option<Spanned<String>>,
    within: Option<Spanned<String>>,
    at_least: Option<u32>,
    date: Option<Spanned<String>>,
    before: Option<Spanned<String>>,
    hour: Option<i64>,
    calendar: Option<Spanned<String>>,
    intent: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuiet {
    from: Spanned<String>,
    to: Spanned<String>,
    then: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKpi {
    signals: Vec<Spanned<String>>,
    within: Spanned<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Rules, RuleError> {
        Rules::parse(text, "m.toml", &Taxonomy::default(), Some(&["shop".to_string()]))
    }

    const BASE: &str = "[[moment]]\nname = \"x\"\ntrigger = { signal = [\"product_viewed\"] }\nholdout = 0.1\nconsent = \"marketing\"\nkpi = { signals = [\"order_completed\"], within = \"1h\" }\n";

    #[test]
    fn the_shipped_file_defines_the_twelve_moments() {
        let rules = Rules::defaults();
        let names: Vec<&str> = rules.moments.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["cart_wobble", "browse_drift", "back_in_stock", "vip_tier", "reward_unlock", "social_proof", "birthday", "subscription_renewal", "holiday_cutoff", "service_recovery", "apology", "referral_nudge"]
        );
        let wobble = &rules.moments[0];
        assert_eq!(wobble.cap_ms, Some(24 * 3_600_000));
        assert_eq!(wobble.holdout_bp, 1_000);
        assert!(matches!(wobble.trigger, Trigger::Absence { wait_ms: 1_800_000, per_session: false, .. }));
    }

    #[test]
    fn a_minimal_moment_parses() {
        let rules = parse(BASE).expect("parses");
        assert_eq!(rules.moments[0].name, "x");
        assert_eq!(rules.moments[0].action, Action::OnSite);
        assert_eq!(rules.moments[0].cap_ms, None);
    }

    /// Each broken file and the position and words its error must carry.
    #[test]
    fn invalid_rules_are_refused_with_file_line_and_column() {
        let cases: &[(&str, &str, &str)] = &[
            ("trigger = { signal = [\"product_viewed\"] }", "trigger = { signal = [\"prodct_viewed\"] }", "m.toml:3:23: unknown signal `prodct_viewed` (did you mean `product_viewed`?)"),
            ("holdout = 0.1", "holdout = 1.5", "m.toml:4:11: holdout is a share"),
            ("consent = \"marketing\"", "consent = \"marketing\"\ncondition = \"cart.value >\"", "m.toml:6:26: condition: Syntax error"),
            ("consent = \"marketing\"", "consent = \"marketing\"\ncondition = \"basket.value > 1\"", "m.toml:6:14: condition: unknown variable `basket`"),
            ("consent = \"marketing\"", "consent = \"marketing\"\ncap = \"1 per day\"", "m.toml:6:7: a cap is `N/window`"),
            ("consent = \"marketing\"", "consent = \"marketing\"\naction = { webhook = \"crm\" }", "m.toml:6:10: webhook endpoint `crm` is not defined"),
            ("consent = \"marketing\"", "consent = \"marketing\"\nquiet_hours = { from = \"25:00\", to = \"08:00\" }", "m.toml:6:24: quiet hours are `HH:MM`"),
            ("consent = \"marketing\"", "consent = \"marketing\"\nholdot = 0.2", "m.toml:6:1: unknown field `holdot`"),
            ("within = \"1h\"", "within = \"1 hour\"", "m.toml:6:49: \"1 hour\" has unknown unit"),
            ("trigger = { signal = [\"product_viewed\"] }", "trigger = { absence = \"30m\" }", "m.toml:3:11: this trigger needs `after`"),
        ];
        for (from, to, want) in cases {
            let text = BASE.replace(from, to);
            let err = parse(&text).expect_err(want);
            assert!(err.to_string().starts_with(want), "{text}\n got: {err}\nwant: {want}");
        }
        let twice = format!("{BASE}{BASE}");
        assert!(parse(&twice).expect_err("duplicate").to_string().contains("defined twice"));
    }

    #[test]
    fn rule_versions_change_only_with_their_moment() {
        let a = parse(&format!("{BASE}{}", BASE.replace("\"x\"", "\"y\""))).expect("parses");
        let b = parse(&format!("{BASE}{}", BASE.replace("\"x\"", "\"y\"").replace("0.1", "0.2"))).expect("parses");
        assert_eq!(a.moments[0].version, b.moments[0].version);
        assert_ne!(a.moments[1].version, b.moments[1].version);
    }
}
