//! Conditions of moments: CEL expressions (the language of Kubernetes, Envoy and Firebase
//! rules: no loops, no side effects) over what the engine knows when a moment qualifies.
//!
//! A condition sees these variables, each a map; fields an event did not carry are absent,
//! so test them with `has(event.rating)`:
//!
//! | variable | fields |
//! |---|---|
//! | `event` | `signal`, `product_id`, `category`, `brand`, `price`, `quantity`, `revenue`, `currency`, `rating`, `query`, `coupon`, `points`, `order_id`, `cart_id` (the triggering event; empty for timers) |
//! | `cart` | `items` (units), `lines`, `value`, `products` (list) |
//! | `session` | one count per signal (`session.product_viewed`), `events`, `minutes` |
//! | `lifetime` | one count per signal, `orders`, `revenue`, `sessions`, `days` (since first seen) |
//! | `profile` | `tier`, `points`, `timezone`, `wishlist_size`, `nudges` (sent this far) |
//! | `intent` | `p` (0–1), `stage` (`curiosity`, `consideration`, `readiness`), `reasons` (list) — the trained model's score when one is loaded, else the taxonomy's |
//! | `context` | `device`, `referrer` (class), `os`, `browser`, `locale`, `utm_source`, `utm_medium`, `utm_campaign` |
//! | `trigger` | what the trigger measured, e.g. `trigger.count` for a popular product |
//!
//! Conditions run only when a moment's trigger qualifies — never per event — so their cost
//! (about a microsecond) stays off the hot path. A condition that fails at run time (say, a
//! field of the wrong type) counts as not met, and the engine counts it.

use std::collections::HashMap;
use std::sync::Arc;

use cel::{Context, Program, Value as CelValue};
use glint_event::{Builtin, Event, Taxonomy};

use crate::Profile;

/// A value a condition saw, recorded in the firing's receipt.
#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    /// A number.
    Num(f64),
    /// Text.
    Text(String),
    /// A truth value.
    Bool(bool),
}

impl Fact {
    fn to_cel(&self) -> CelValue {
        match self {
            Fact::Num(n) => CelValue::Float(*n),
            Fact::Text(s) => CelValue::String(Arc::new(s.clone())),
            Fact::Bool(b) => CelValue::Bool(*b),
        }
    }

    fn from_cel(v: &CelValue) -> Option<Fact> {
        Some(match v {
            CelValue::Int(i) => Fact::Num(*i as f64),
            CelValue::UInt(u) => Fact::Num(*u as f64),
            CelValue::Float(f) => Fact::Num(*f),
            CelValue::String(s) => Fact::Text(s.to_string()),
            CelValue::Bool(b) => Fact::Bool(*b),
            _ => return None,
        })
    }
}

/// The variables a condition may use.
const ROOTS: [&str; 8] = ["event", "cart", "session", "lifetime", "profile", "intent", "context", "trigger"];

/// A compiled condition.
#[derive(Clone, Debug)]
pub struct Condition {
    source: String,
    program: Arc<Program>,
    /// The variables it reads (only those are built per evaluation).
    roots: Vec<&'static str>,
    /// `root.field` paths it reads, for the receipt.
    paths: Vec<(&'static str, String)>,
    /// Per variable it reads: the fields it names, or `None` when it uses the variable whole
    /// (`size(cart)`), so every field is built.
    wants: Vec<(&'static str, Option<Vec<String>>)>,
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Why a condition was refused; `line` and `col` are 1-based within the expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionError {
    /// Line within the expression.
    pub line: usize,
    /// Column within that line.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

/// What a qualification knows, from which the variables are built on demand.
pub(crate) struct Facts<'a> {
    pub(crate) profile: &'a Profile,
    pub(crate) event: Option<&'a Event>,
    /// The shopper's intent, computed only when the expression reads `intent`.
    pub(crate) intent: &'a dyn Fn() -> crate::IntentScore,
    pub(crate) trigger: &'a [(String, Fact)],
    pub(crate) nudges: u32,
}

impl Condition {
    /// Compile `source`, refusing syntax errors, unknown variables, and expressions that do
    /// not give a truth value on a shopper with every field present.
    ///
    /// # Errors
    /// A [`ConditionError`] with the position within the expression.
    pub fn compile(source: &str) -> Result<Condition, ConditionError> {
        let program = Program::compile(source).map_err(|e| {
            let first = e.errors.first();
            let (line, col) = first.map_or((1, 1), |f| (f.pos.0.max(1) as usize, f.pos.1.max(1) as usize));
            let message = first.map_or_else(|| e.to_string(), |f| f.msg.clone());
            ConditionError { line, col, message }
        })?;
        let mut roots = Vec::new();
        for var in program.references().variables() {
            match ROOTS.iter().find(|r| **r == var) {
                Some(r) => roots.push(*r),
                None => {
                    let (line, col) = position_of(source, var);
                    return Err(ConditionError { line, col, message: format!("unknown variable `{var}`; use one of {}", ROOTS.join(", ")) });
                }
            }
        }
        roots.sort_unstable();
        roots.dedup();
        let (paths, bare) = member_paths(source);
        let wants = roots
            .iter()
            .map(|r| {
                let fields = (!bare.contains(r)).then(|| paths.iter().filter(|(pr, _)| pr == r).map(|(_, f)| f.clone()).collect());
                (*r, fields)
            })
            .collect();
        let condition = Condition { source: source.to_string(), program: Arc::new(program), roots, paths, wants };
        // Try it on a shopper with every field present: catches misspelt fields and type errors.
        let sample = sample_profile();
        let mut event = Event::new("sample".into(), 0, glint_event::Signal::Builtin(Builtin::ProductViewed), glint_event::Source::Segment);
        fill_sample_event(&mut event);
        let trigger = [("count".to_string(), Fact::Num(0.0)), ("value".to_string(), Fact::Num(0.0))];
        let taxonomy = Taxonomy::default();
        let intent = || crate::intent::score(None, None, &sample, &taxonomy, true);
        let facts = Facts { profile: &sample, event: Some(&event), intent: &intent, trigger: &trigger, nudges: 0 };
        match condition.program.execute(&condition.context(&facts)) {
            Ok(CelValue::Bool(_)) => Ok(condition),
            Ok(other) => Err(ConditionError { line: 1, col: 1, message: format!("gives {other:?}, not true or false") }),
            Err(e) => {
                let text = e.to_string();
                // Point at the field it names, when it names one.
                let (line, col) = field_position(source, &text);
                Err(ConditionError { line, col, message: text })
            }
        }
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluate: whether it holds, and the values of the fields it read.
    pub(crate) fn eval(&self, facts: &Facts<'_>) -> Result<(bool, Vec<(String, Fact)>), String> {
        let built: Vec<(&'static str, HashMap<&'static str, CelValue>)> = self.wants.iter().map(|(r, want)| (*r, build(r, facts, want.as_deref()))).collect();
        let mut seen = Vec::with_capacity(self.paths.len());
        for (root, field) in &self.paths {
            if let Some((_, m)) = built.iter().find(|(r, _)| r == root)
                && let Some(v) = m.get(field.as_str()).and_then(Fact::from_cel)
            {
                seen.push((format!("{root}.{field}"), v));
            }
        }
        let mut ctx = Context::with_env(env());
        for (root, m) in built {
            ctx.add_variable_from_value(root, m);
        }
        match self.program.execute(&ctx) {
            Ok(CelValue::Bool(held)) => Ok((held, seen)),
            Ok(other) => Err(format!("condition gave {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn context(&self, facts: &Facts<'_>) -> Context<'static, 'static> {
        let mut ctx = Context::with_env(env());
        for root in &self.roots {
            ctx.add_variable_from_value(*root, build(root, facts, None));
        }
        ctx
    }
}

/// One standard environment for every evaluation: building it costs ~20 µs, cloning an `Arc`
/// nothing.
fn env() -> Arc<cel::Env> {
    static ENV: std::sync::OnceLock<Arc<cel::Env>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| Arc::new(cel::Env::stdlib())).clone()
}

/// A variable's fields being built, skipping those the condition does not read.
struct Fields<'w> {
    map: HashMap<&'static str, CelValue>,
    want: Option<&'w [String]>,
}

impl Fields<'_> {
    fn put(&mut self, key: &'static str, value: CelValue) {
        if self.want.is_none_or(|w| w.iter().any(|f| f == key)) {
            self.map.insert(key, value);
        }
    }
}

fn text(s: &str) -> CelValue {
    CelValue::String(Arc::new(s.to_string()))
}

/// The fields of variable `root`, only those in `want` when given (a condition that names
/// its fields pays for those alone: the per-signal maps have dozens).
fn build(root: &str, f: &Facts<'_>, want: Option<&[String]>) -> HashMap<&'static str, CelValue> {
    let p = f.profile;
    let mut m = Fields { map: HashMap::new(), want };
    match root {
        "event" => {
            if let Some(e) = f.event {
                m.put("signal", text(e.signal.name()));
                let pr = &e.properties;
                for (k, v) in [("product_id", &pr.product_id), ("category", &pr.category), ("brand", &pr.brand), ("currency", &pr.currency), ("query", &pr.query), ("coupon", &pr.coupon), ("order_id", &pr.order_id), ("cart_id", &pr.cart_id)] {
                    if let Some(v) = v {
                        m.put(k, text(v));
                    }
                }
                for (k, v) in [("price", pr.price), ("quantity", pr.quantity), ("revenue", pr.revenue), ("rating", pr.rating), ("points", pr.points)] {
                    if let Some(v) = v {
                        m.put(k, CelValue::Float(v));
                    }
                }
            }
        }
        "cart" => {
            m.put("items", CelValue::Float(p.cart_items()));
            m.put("lines", CelValue::Int(p.cart.len() as i64));
            m.put("value", CelValue::Float(p.cart_value()));
            let products: Vec<CelValue> = p.cart.iter().filter_map(|l| l.product_id.as_deref().map(text)).collect();
            m.put("products", CelValue::List(Arc::new(products)));
        }
        "session" => {
            let mut events = 0;
            for &b in Builtin::ALL {
                let n = p.session.count(b);
                events += i64::from(n);
                m.put(b.name(), CelValue::Int(i64::from(n)));
            }
            m.put("events", CelValue::Int(events));
            m.put("minutes", CelValue::Float((p.session.last_ms - p.session.start_ms) as f64 / 60_000.0));
        }
        "lifetime" => {
            for &b in Builtin::ALL {
                m.put(b.name(), CelValue::Int(i64::from(p.lifetime(b))));
            }
            m.put("orders", CelValue::Int(i64::from(p.orders)));
            m.put("revenue", CelValue::Float(p.revenue));
            m.put("sessions", CelValue::Int(i64::from(p.sessions)));
            m.put("days", CelValue::Float((p.last_seen_ms - p.first_seen_ms) as f64 / 86_400_000.0));
        }
        "profile" => {
            m.put("tier", text(p.tier.as_deref().unwrap_or("")));
            m.put("points", CelValue::Float(p.points.unwrap_or(0.0)));
            m.put("timezone", text(p.timezone.as_deref().unwrap_or("UTC")));
            m.put("wishlist_size", CelValue::Int(p.wishlist.len() as i64));
            m.put("nudges", CelValue::Int(i64::from(f.nudges)));
        }
        "intent" => {
            let score = (f.intent)();
            m.put("p", CelValue::Float(score.p));
            m.put("stage", text(score.stage.as_str()));
            m.put("reasons", CelValue::List(Arc::new(score.reasons.iter().map(|(s, _)| text(s)).collect())));
        }
        "context" => {
            let c = f.event.map(|e| &e.context);
            let device = c.map_or(p.device, |c| if c.device == glint_event::DeviceType::Unknown { p.device } else { c.device });
            m.put("device", text(device.as_str()));
            m.put("referrer", text(c.map_or(p.session.referrer, |c| c.referrer_class).as_str()));
            if let Some(c) = c {
                for (k, v) in [("os", &c.os), ("browser", &c.browser), ("locale", &c.locale), ("utm_source", &c.utm_source), ("utm_medium", &c.utm_medium), ("utm_campaign", &c.utm_campaign)] {
                    m.put(k, text(v.as_deref().unwrap_or("")));
                }
            } else {
                for k in ["os", "browser", "locale", "utm_source", "utm_medium", "utm_campaign"] {
                    m.put(k, text(""));
                }
            }
        }
        "trigger" => {
            // Trigger facts are named at run time; leak-free because the names come from the
            // engine's fixed set.
            for (k, v) in f.trigger {
                if let Some(name) = TRIGGER_FACTS.iter().find(|n| **n == k.as_str()) {
                    m.put(name, v.to_cel());
                }
            }
        }
        _ => {}
    }
    m.map
}

/// Render a webhook payload template: `{{fire_id}}`, `{{moment}}`, `{{user}}`, `{{at}}`,
/// `{{group}}`, `{{outcome}}`, `{{values.NAME}}` and any `{{root.field}}` of the condition
/// variables. A string that is one placeholder takes the value's type; placeholders inside
/// longer strings are spliced in as text; unknown placeholders render empty.
pub(crate) fn render(template: &serde_json::Value, firing: &crate::Firing, facts: &Facts<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    let lookup = |name: &str| -> J {
        match name {
            "fire_id" => J::from(firing.fire_id.as_str()),
            "moment" => J::from(firing.moment.as_str()),
            "user" => J::from(firing.user.as_str()),
            "at" => J::from(glint_event::time::format_rfc3339_ms(firing.at_ms)),
            "group" => J::from(firing.group.as_str()),
            "outcome" => J::from(firing.outcome.as_str()),
            _ => {
                let fact = if let Some(v) = name.strip_prefix("values.") {
                    firing.receipt.values.iter().find(|(k, _)| k == v).map(|(_, f)| f.clone())
                } else {
                    name.split_once('.').and_then(|(root, field)| {
                        let root = ROOTS.iter().find(|r| **r == root)?;
                        build(root, facts, Some(&[field.to_string()])).get(field).and_then(Fact::from_cel)
                    })
                };
                match fact {
                    Some(Fact::Num(n)) => serde_json::Number::from_f64(n).map_or(J::Null, J::Number),
                    Some(Fact::Text(t)) => J::from(t),
                    Some(Fact::Bool(b)) => J::from(b),
                    None => J::Null,
                }
            }
        }
    };
    match template {
        J::String(s) => {
            let trimmed = s.trim();
            if let Some(name) = trimmed.strip_prefix("{{").and_then(|r| r.strip_suffix("}}"))
                && !name.contains("{{")
            {
                return lookup(name.trim());
            }
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(open) = rest.find("{{") {
                out.push_str(&rest[..open]);
                let Some(close) = rest[open..].find("}}") else { break };
                match lookup(rest[open + 2..open + close].trim()) {
                    J::String(t) => out.push_str(&t),
                    J::Null => {}
                    other => out.push_str(&other.to_string()),
                }
                rest = &rest[open + close + 2..];
            }
            out.push_str(rest);
            J::String(out)
        }
        J::Array(items) => J::Array(items.iter().map(|v| render(v, firing, facts)).collect()),
        J::Object(map) => J::Object(map.iter().map(|(k, v)| (k.clone(), render(v, firing, facts))).collect()),
        other => other.clone(),
    }
}

/// The names trigger facts may take in conditions.
const TRIGGER_FACTS: [&str; 7] = ["count", "value", "threshold", "days_ahead", "idle_minutes", "window_minutes", "hours_ahead"];

/// `root.field` pairs in the source, outside string literals, in order of first use; and the
/// variables used bare (not followed by `.field`).
fn member_paths(source: &str) -> (Vec<(&'static str, String)>, Vec<&'static str>) {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut bare: Vec<&'static str> = Vec::new();
    let b = source.as_bytes();
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if ident(c) && (i == 0 || (!ident(b[i - 1]) && b[i - 1] != b'.')) {
            let start = i;
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            let word = &source[start..i];
            let dotted = i < b.len() && b[i] == b'.';
            if let Some(root) = ROOTS.iter().find(|r| **r == word)
                && !dotted
            {
                bare.push(root);
            }
            if let Some(root) = ROOTS.iter().find(|r| **r == word)
                && dotted
            {
                let fs = i + 1;
                let mut j = fs;
                while j < b.len() && ident(b[j]) {
                    j += 1;
                }
                let field = source[fs..j].to_string();
                if !field.is_empty() && !out.iter().any(|(r, f)| r == root && *f == field) {
                    out.push((root, field));
                }
                i = j;
            }
            continue;
        }
        i += 1;
    }
    (out, bare)
}

/// Line and column of the first whole-word occurrence of `word` (1, 1 when absent).
fn position_of(source: &str, word: &str) -> (usize, usize) {
    let mut from = 0;
    while let Some(off) = source[from..].find(word) {
        let at = from + off;
        let before_ok = at == 0 || !source.as_bytes()[at - 1].is_ascii_alphanumeric();
        let end = at + word.len();
        let after_ok = end >= source.len() || !(source.as_bytes()[end].is_ascii_alphanumeric() || source.as_bytes()[end] == b'_');
        if before_ok && after_ok {
            return crate::moments::line_col(source, at);
        }
        from = end;
    }
    (1, 1)
}

/// Where the field an evaluation error names (`NoSuchKey("x")`) is used, else the start.
fn field_position(source: &str, error: &str) -> (usize, usize) {
    let named = error.split('"').nth(1).or_else(|| error.strip_prefix("No such key: "));
    named.map_or((1, 1), |name| position_of(source, name.trim()))
}


fn sample_profile() -> Profile {
    let mut p = Profile::default();
    p.cart.push(crate::CartLine { product_id: Some("p".into()), quantity: 1.0, price: 1.0 });
    p.tier = Some("gold".into());
    p.points = Some(1.0);
    p
}

fn fill_sample_event(e: &mut Event) {
    let pr = &mut e.properties;
    for v in [&mut pr.product_id, &mut pr.category, &mut pr.brand, &mut pr.currency, &mut pr.query, &mut pr.coupon, &mut pr.order_id, &mut pr.cart_id] {
        *v = Some("x".into());
    }
    for v in [&mut pr.price, &mut pr.quantity, &mut pr.revenue, &mut pr.rating, &mut pr.points] {
        *v = Some(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str, p: &Profile, e: Option<&Event>) -> (bool, Vec<(String, Fact)>) {
        let c = Condition::compile(src).expect("compiles");
        let taxonomy = Taxonomy::default();
        let intent = || crate::intent::score(None, None, p, &taxonomy, true);
        let facts = Facts { profile: p, event: e, intent: &intent, trigger: &[], nudges: 0 };
        c.eval(&facts).expect("evaluates")
    }

    #[test]
    fn conditions_read_the_cart_and_record_what_they_saw() {
        let mut p = Profile::default();
        p.cart.push(crate::CartLine { product_id: Some("a".into()), quantity: 2.0, price: 15.0 });
        let (held, seen) = eval("cart.value >= 20 && cart.items > 1", &p, None);
        assert!(held);
        assert_eq!(seen, [("cart.value".to_string(), Fact::Num(30.0)), ("cart.items".to_string(), Fact::Num(2.0))]);
        assert!(!eval("cart.value >= 50", &p, None).0);
    }

    #[test]
    fn absent_event_fields_are_tested_with_has() {
        let p = Profile::default();
        let mut e = Event::new("m".into(), 0, glint_event::Signal::Builtin(Builtin::ReviewSubmitted), glint_event::Source::Segment);
        assert!(eval("!has(event.rating) || event.rating <= 2", &p, Some(&e)).0);
        e.properties.rating = Some(5.0);
        assert!(!eval("!has(event.rating) || event.rating <= 2", &p, Some(&e)).0);
        assert!(eval("event.signal == 'review_submitted'", &p, Some(&e)).0);
    }

    #[test]
    fn bad_conditions_are_refused_with_a_position() {
        let err = Condition::compile("cart.value >").expect_err("syntax");
        assert_eq!((err.line, err.col), (1, 13), "{err:?}");
        let err = Condition::compile("cart.value > 1 &&\n  basket.items > 0").expect_err("unknown variable");
        assert_eq!((err.line, err.col), (2, 3), "{err:?}");
        assert!(err.message.contains("basket"), "{err:?}");
        let err = Condition::compile("cart.valu > 1").expect_err("unknown field");
        assert!(err.message.contains("valu"), "{err:?}");
        assert_eq!((err.line, err.col), (1, 6), "{err:?}");
        let err = Condition::compile("cart.value + 1.0").expect_err("not a truth value");
        assert!(err.message.contains("not true or false"), "{err:?}");
    }

    #[test]
    fn member_paths_skip_strings_and_repeat_once() {
        let (paths, bare) = member_paths("cart.value > 1 && context.device == 'cart.x' && cart.value < 9 && size(session) > 0");
        assert_eq!(paths, [("cart", "value".to_string()), ("context", "device".to_string())]);
        assert_eq!(bare, ["session"]);
    }
}
