//! Glint's HTML report: already-computed figures in, one self-contained HTML page out.
//!
//! The page has inline CSS and inline SVG charts drawn with `plotters` (its SVG backend, text
//! as plain `<text>`, no fonts loaded), no external asset and no script to run. This crate
//! never reads the log: `glint report` computes the [`Figures`] and calls [`render`].
//!
//! Every chart sits in a `<figure>` with a fixed id — `funnel`, `events-per-hour`, `signals`,
//! `outcomes`, `lift`, `calibration` — present even when its data is absent (then with
//! `data-empty="true"` and a note saying what to pass). Next to each chart its data is
//! embedded as JSON in `<script type="application/json" id="ID-data">` (data, not code: a
//! browser does not run it), and a table repeats the numbers: the funnel's rows carry
//! `data-step` (1-based) and `data-users`. Every string from the data is HTML-escaped;
//! the JSON blocks escape `<`, `>` and `&` as `\u003c`-style sequences so they cannot end
//! the block.

use std::fmt::Write as _;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The charting backend failed (it writes to a string, so this is a bug or bad numbers).
    #[error("drawing the {chart} chart: {message}")]
    Draw {
        /// The figure id.
        chart: &'static str,
        /// The backend's message.
        message: String,
    },
    /// A figure's data could not be embedded as JSON.
    #[error("embedding the {chart} data: {source}")]
    Json {
        /// The figure id.
        chart: &'static str,
        /// The serializer's error.
        source: serde_json::Error,
    },
}

/// One funnel step, as `glint funnel` counts it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunnelStep {
    /// The step's signal.
    pub signal: String,
    /// Shoppers whose deepest chain reached this step.
    pub users: u64,
    /// Shoppers of the previous step who did not reach this one (0 for the first).
    pub drop_off: u64,
    /// `users` over the previous step's.
    pub conversion_from_previous: Option<f64>,
    /// Median seconds from step 1 to this step.
    pub median_seconds: Option<u64>,
    /// 90th percentile of the same.
    pub p90_seconds: Option<u64>,
}

/// The funnel figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Funnel {
    /// The window, in seconds.
    pub window_s: u64,
    /// The steps in order.
    pub steps: Vec<FunnelStep>,
}

/// Events in one clock hour.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HourCount {
    /// The hour's start, as the reader should see it (e.g. `2026-11-24T13:00Z`).
    pub hour: String,
    /// Events whose event time falls in the hour.
    pub events: u64,
}

/// One signal's count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignalCount {
    /// The signal's name.
    pub signal: String,
    /// Its events.
    pub events: u64,
    /// Distinct shoppers who did it.
    pub shoppers: u64,
}

/// One moment's firings by outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MomentOutcomes {
    /// The moment.
    pub moment: String,
    /// Outcome name (`sent`, `holdout`, `capped`, …) and count, in a stable order.
    pub outcomes: Vec<(String, u64)>,
}

/// One moment's absolute lift with its 95 % interval (`glint lift`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MomentLift {
    /// The moment.
    pub moment: String,
    /// Treatment shoppers counted (uncensored).
    pub treatment_n: u64,
    /// Holdout shoppers counted (uncensored).
    pub holdout_n: u64,
    /// Treatment rate minus holdout rate; `None` when an arm is empty.
    pub lift_abs: Option<f64>,
    /// The interval's low end.
    pub ci_low: Option<f64>,
    /// The interval's high end.
    pub ci_high: Option<f64>,
    /// Two-sided p-value.
    pub p_value: Option<f64>,
}

/// One bin of the calibration curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// Mean predicted probability in the bin.
    pub predicted: f64,
    /// Observed positive share in the bin.
    pub observed: f64,
    /// Rows in the bin.
    pub n: u64,
}

/// The intent model's calibration and AUC by prefix length.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// Non-empty bins, in order of predicted probability.
    pub bins: Vec<CalibrationBin>,
    /// AUC on the whole test sessions.
    pub auc: Option<f64>,
    /// (events seen, AUC) per prefix length.
    pub auc_by_prefix: Vec<(usize, Option<f64>)>,
    /// Test sessions judged.
    pub sessions: u64,
}

/// Everything the report shows, computed by the caller.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// The page title.
    pub title: String,
    /// Headline facts shown at the top, (label, value).
    pub summary: Vec<(String, String)>,
    /// The funnel, if computed.
    pub funnel: Option<Funnel>,
    /// Events per hour, in time order.
    pub events_per_hour: Vec<HourCount>,
    /// Signals ranked by events, the largest first.
    pub signals: Vec<SignalCount>,
    /// Firing outcomes per moment (with firings).
    pub outcomes: Option<Vec<MomentOutcomes>>,
    /// Lift per moment (with firings).
    pub lift: Option<Vec<MomentLift>>,
    /// Calibration (with a model).
    pub calibration: Option<Calibration>,
}

/// The figure ids, in page order.
pub const FIGURE_IDS: [&str; 6] = ["funnel", "events-per-hour", "signals", "outcomes", "lift", "calibration"];

const W: u32 = 860;
const FONT: &str = "sans-serif";
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x9c, 0x75, 0x5f),
];

/// Escape text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside a `<script>` block: `<`, `>` and `&` as unicode escapes.
fn script_json<T: Serialize>(chart: &'static str, value: &T) -> Result<String, ReportError> {
    let s = serde_json::to_string(value).map_err(|source| ReportError::Json { chart, source })?;
    Ok(s.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026"))
}

fn draw_err(chart: &'static str) -> impl Fn(String) -> ReportError {
    move |message| ReportError::Draw { chart, message }
}

/// Render the whole page.
///
/// # Errors
/// [`ReportError`] when a chart cannot be drawn or its data embedded.
pub fn render(f: &Figures) -> Result<String, ReportError> {
    let mut body = String::new();
    body.push_str("<dl class=\"summary\">");
    for (k, v) in &f.summary {
        let _ = write!(body, "<div><dt>{}</dt><dd>{}</dd></div>", escape(k), escape(v));
    }
    body.push_str("</dl>\n");

    match &f.funnel {
        Some(funnel) if !funnel.steps.is_empty() => {
            let svg = funnel_svg(funnel).map_err(draw_err("funnel"))?;
            let mut table = String::from("<table><thead><tr><th>#</th><th>step</th><th>shoppers</th><th>from previous</th><th>drop-off</th><th>median to here</th><th>p90 to here</th></tr></thead><tbody>");
            for (i, s) in funnel.steps.iter().enumerate() {
                let _ = write!(
                    table,
                    "<tr data-step=\"{}\" data-signal=\"{}\" data-users=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    i + 1,
                    escape(&s.signal),
                    s.users,
                    i + 1,
                    escape(&s.signal),
                    s.users,
                    pct(s.conversion_from_previous),
                    s.drop_off,
                    secs(s.median_seconds),
                    secs(s.p90_seconds)
                );
            }
            table.push_str("</tbody></table>");
            let caption = format!("Funnel: shoppers reaching each step within {} (drop-off from the previous step above each bar)", secs(Some(funnel.window_s)));
            figure(&mut body, "funnel", &caption, &svg, &table, &script_json("funnel", funnel)?);
        }
        _ => empty_figure(&mut body, "funnel", "Funnel", "no funnel: the data has no events of its first step"),
    }

    if f.events_per_hour.is_empty() {
        empty_figure(&mut body, "events-per-hour", "Events per hour", "no events");
    } else {
        let svg = hours_svg(&f.events_per_hour).map_err(draw_err("events-per-hour"))?;
        figure(&mut body, "events-per-hour", "Events per hour (event time, UTC)", &svg, "", &script_json("events-per-hour", &f.events_per_hour)?);
    }

    if f.signals.is_empty() {
        empty_figure(&mut body, "signals", "Signals", "no events");
    } else {
        let svg = signals_svg(&f.signals).map_err(draw_err("signals"))?;
        let mut table = String::from("<table><thead><tr><th>signal</th><th>events</th><th>shoppers</th></tr></thead><tbody>");
        for s in &f.signals {
            let _ = write!(table, "<tr data-signal=\"{0}\" data-events=\"{1}\"><td>{0}</td><td>{1}</td><td>{2}</td></tr>", escape(&s.signal), s.events, s.shoppers);
        }
        table.push_str("</tbody></table>");
        figure(&mut body, "signals", "Signal ranking: events per signal", &svg, &table, &script_json("signals", &f.signals)?);
    }

    match &f.outcomes {
        Some(o) if !o.is_empty() => {
            let svg = outcomes_svg(o).map_err(draw_err("outcomes"))?;
            figure(&mut body, "outcomes", "Firing outcomes per moment", &svg, "", &script_json("outcomes", o)?);
        }
        Some(_) => empty_figure(&mut body, "outcomes", "Firing outcomes per moment", "the firing file holds no firing"),
        None => empty_figure(&mut body, "outcomes", "Firing outcomes per moment", "pass --firings FILE (from glint replay, or DATA/firings.jsonl)"),
    }

    match &f.lift {
        Some(l) if !l.is_empty() => {
            let svg = lift_svg(l).map_err(draw_err("lift"))?;
            let mut table = String::from("<table><thead><tr><th>moment</th><th>treatment n</th><th>holdout n</th><th>lift</th><th>95 % CI</th><th>p</th></tr></thead><tbody>");
            for m in l {
                let ci = match (m.ci_low, m.ci_high) {
                    (Some(a), Some(b)) => format!("[{}, {}]", pct(Some(a)), pct(Some(b))),
                    _ => "—".to_string(),
                };
                let p = m.p_value.map_or("—".to_string(), |p| format!("{p:.4}"));
                let _ = write!(
                    table,
                    "<tr data-moment=\"{0}\"><td>{0}</td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td></tr>",
                    escape(&m.moment),
                    m.treatment_n,
                    m.holdout_n,
                    pct(m.lift_abs),
                    ci,
                    p
                );
            }
            table.push_str("</tbody></table>");
            figure(&mut body, "lift", "Absolute lift of each moment's KPI, treatment − holdout, with its 95 % CI (Newcombe)", &svg, &table, &script_json("lift", l)?);
        }
        Some(_) => empty_figure(&mut body, "lift", "Lift per moment", "no moment in the rules"),
        None => empty_figure(&mut body, "lift", "Lift per moment", "pass --firings FILE"),
    }

    match &f.calibration {
        Some(c) => {
            let svg = calibration_svg(c).map_err(draw_err("calibration"))?;
            let svg2 = prefix_svg(c).map_err(draw_err("calibration"))?;
            let caption = format!("Intent model on {} test sessions: calibration (AUC {}) and AUC by prefix length", c.sessions, c.auc.map_or("—".to_string(), |a| format!("{a:.3}")));
            figure(&mut body, "calibration", &caption, &format!("{svg}{svg2}"), "", &script_json("calibration", c)?);
        }
        None => empty_figure(&mut body, "calibration", "Intent model calibration", "pass --model MODEL (from glint train)"),
    }

    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{title}</h1>\n{body}<footer>Generated by glint report. Self-contained: no external assets.</footer>\n</body>\n</html>\n",
        title = escape(&f.title),
    ))
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:920px;margin:2em auto;color:#222;padding:0 1em}\
h1{font-size:1.5em}figure{margin:2em 0;border-top:1px solid #ddd;padding-top:1em}\
figcaption{font-weight:600;margin-bottom:.5em}svg{max-width:100%;height:auto}\
table{border-collapse:collapse;font-size:.85em;margin-top:.5em}td,th{border-bottom:1px solid #eee;padding:2px 8px;text-align:right}\
td:first-child,th:first-child,td:nth-child(2){text-align:left}.summary{display:flex;flex-wrap:wrap;gap:1.5em}\
.summary dt{font-size:.8em;color:#666}.summary dd{margin:0;font-size:1.2em}.empty{color:#888;font-style:italic}\
footer{color:#888;font-size:.8em;margin-top:3em}";

fn figure(body: &mut String, id: &str, caption: &str, svg: &str, table: &str, json: &str) {
    let _ = write!(
        body,
        "<figure id=\"{id}\">\n<figcaption>{}</figcaption>\n{svg}\n{table}\n<script type=\"application/json\" id=\"{id}-data\">{json}</script>\n</figure>\n",
        escape(caption)
    );
}

fn empty_figure(body: &mut String, id: &str, caption: &str, note: &str) {
    let _ = write!(body, "<figure id=\"{id}\" data-empty=\"true\">\n<figcaption>{}</figcaption>\n<p class=\"empty\">{}</p>\n</figure>\n", escape(caption), escape(note));
}

fn pct(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map_or("—".to_string(), |x| format!("{:.1} %", 100.0 * x))
}

fn secs(v: Option<u64>) -> String {
    match v {
        None => "—".to_string(),
        Some(s) if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        Some(s) if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        Some(s) if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

/// A finite, positive axis top for counts.
fn top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 { max * 1.15 } else { 1.0 }
}

/// Draw into a fresh SVG string of the given height.
fn svg_of(h: u32, draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(root.clone())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(buf)
}

fn e2s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The integer range whose segmented axis has exactly `n` slots: plotters treats `a..b` of
/// integers as the key points a..=b, so `0..n` would draw an empty slot after the last one.
fn slots(n: usize) -> std::ops::Range<usize> {
    0..n.saturating_sub(1)
}

/// The height of the stub drawn for a funnel step no shopper reached, as a share of the
/// axis: a zero-height bar would leave a gap where the step's slot is.
const EMPTY_STEP_SHARE: f64 = 0.015;

/// Counts are whole: axis ticks without the ".0" plotters gives floats.
fn whole(v: &f64) -> String {
    format!("{v:.0}")
}

/// Legend rows above a chart: swatch, gap and text per item, wrapped to the chart's width.
const LEGEND_ROW_PX: u32 = 20;

/// An estimate of a 12 px sans-serif label's width, generous so items never touch.
fn label_px(text: &str) -> u32 {
    7 * text.chars().count() as u32
}

/// Lay out legend items from `left` to the chart's right edge: each item's (x, row).
fn legend_layout(items: &[String], left: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(items.len());
    let (mut x, mut row) = (left, 0);
    for item in items {
        let width = 10 + 6 + label_px(item) + 18;
        if x + width > W - 12 && x > left {
            x = left;
            row += 1;
        }
        out.push((x, row));
        x += width;
    }
    out
}

fn funnel_svg(f: &Funnel) -> Result<String, String> {
    let n = f.steps.len();
    let max = f.steps.iter().map(|s| s.users).max().unwrap_or(0) as f64;
    svg_of(360, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(slots(n).into_segmented(), 0f64..top(max) * 1.1)
            .map_err(e2s)?;
        let names: Vec<String> = f.steps.iter().map(|s| s.signal.clone()).collect();
        let stub = top(max) * 1.1 * EMPTY_STEP_SHARE;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i).cloned().unwrap_or_default(),
                SegmentValue::Last => String::new(),
            })
            .y_label_formatter(&whole)
            .y_desc("shoppers")
            .draw()
            .map_err(e2s)?;
        chart
            .draw_series(f.steps.iter().enumerate().map(|(i, s)| {
                // A step no one reached keeps its slot: a pale stub with an outline.
                let (height, style) = if s.users == 0 { (stub, PALETTE[0].mix(0.5).filled()) } else { (s.users as f64, PALETTE[0].filled()) };
                let mut r = Rectangle::new([(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), height)], style);
                r.set_margin(0, 0, 14, 14);
                r
            }))
            .map_err(e2s)?;
        chart
            .draw_series(f.steps.iter().enumerate().map(|(i, s)| {
                // Two centred lines above the bar: the count, then what the step lost.
                let centre = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
                let lost = match (i, s.conversion_from_previous) {
                    (0, _) => String::new(),
                    (_, Some(c)) if c.is_finite() => format!("−{} drop-off ({:.1} % kept)", s.drop_off, 100.0 * c),
                    (_, _) => format!("−{} drop-off", s.drop_off),
                };
                EmptyElement::at((SegmentValue::CenterOf(i), if s.users == 0 { stub } else { s.users as f64 }))
                    + Text::new(format!("{}", s.users), (0, -20), centre.clone())
                    + Text::new(lost, (0, -5), centre)
            }))
            .map_err(e2s)?;
        Ok(())
    })
}

fn hours_svg(h: &[HourCount]) -> Result<String, String> {
    let n = h.len();
    let max = h.iter().map(|c| c.events).max().unwrap_or(0) as f64;
    svg_of(300, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..(n.max(1)) as f64, 0f64..top(max))
            .map_err(e2s)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(8)
            .x_label_formatter(&|x| {
                let i = x.floor();
                if i >= 0.0 && (i as usize) < n { h[i as usize].hour.clone() } else { String::new() }
            })
            .y_label_formatter(&whole)
            .y_desc("events")
            .draw()
            .map_err(e2s)?;
        chart
            .draw_series(h.iter().enumerate().map(|(i, c)| Rectangle::new([(i as f64 + 0.05, 0.0), (i as f64 + 0.95, c.events as f64)], PALETTE[3].filled())))
            .map_err(e2s)?;
        Ok(())
    })
}

/// Horizontal bars on named rows: y is a segmented category axis.
fn category_labels(names: &[String]) -> impl Fn(&SegmentValue<usize>) -> String + '_ {
    move |v| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i).cloned().unwrap_or_default(),
        SegmentValue::Last => String::new(),
    }
}

fn signals_svg(s: &[SignalCount]) -> Result<String, String> {
    let n = s.len();
    let max = s.iter().map(|c| c.events).max().unwrap_or(0) as f64;
    let names: Vec<String> = s.iter().map(|c| c.signal.clone()).collect();
    svg_of(40 + 22 * n as u32, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(190)
            .build_cartesian_2d(0f64..top(max), slots(n).into_segmented())
            .map_err(e2s)?;
        let fmt = category_labels(&names);
        chart.configure_mesh().disable_y_mesh().y_labels(n).y_label_formatter(&fmt).x_label_formatter(&whole).x_desc("events").draw().map_err(e2s)?;
        chart
            .draw_series(s.iter().enumerate().map(|(i, c)| {
                let mut r = Rectangle::new([(0.0, SegmentValue::Exact(i)), (c.events as f64, SegmentValue::Exact(i + 1))], PALETTE[4].filled());
                r.set_margin(3, 3, 0, 0);
                r
            }))
            .map_err(e2s)?;
        Ok(())
    })
}

fn outcomes_svg(o: &[MomentOutcomes]) -> Result<String, String> {
    let n = o.len();
    let max = o.iter().map(|m| m.outcomes.iter().map(|(_, c)| c).sum::<u64>()).max().unwrap_or(0) as f64;
    let names: Vec<String> = o.iter().map(|m| m.moment.clone()).collect();
    let mut kinds: Vec<String> = Vec::new();
    for m in o {
        for (k, _) in &m.outcomes {
            if !kinds.contains(k) {
                kinds.push(k.clone());
            }
        }
    }
    // The legend gets its own rows above the plot: inside it, it covered the longest bars.
    let y_label_px = 170;
    let layout = legend_layout(&kinds, 12 + y_label_px);
    let legend_px = 8 + LEGEND_ROW_PX * (layout.last().map_or(0, |&(_, row)| row) + 1);
    svg_of(70 + legend_px + 26 * n as u32, |root| {
        let (legend, root) = root.split_vertically(legend_px);
        let text = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        for (k, (kind, &(x, row))) in kinds.iter().zip(&layout).enumerate() {
            let (x, y) = (x as i32, (8 + LEGEND_ROW_PX * row + LEGEND_ROW_PX / 2) as i32);
            legend.draw(&Rectangle::new([(x, y - 5), (x + 10, y + 5)], PALETTE[k % PALETTE.len()].filled())).map_err(e2s)?;
            legend.draw(&Text::new(kind.clone(), (x + 16, y), text.clone())).map_err(e2s)?;
        }
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_top(0)
            .x_label_area_size(30)
            .y_label_area_size(y_label_px)
            .build_cartesian_2d(0f64..top(max), slots(n).into_segmented())
            .map_err(e2s)?;
        let fmt = category_labels(&names);
        chart.configure_mesh().disable_y_mesh().y_labels(n).y_label_formatter(&fmt).x_label_formatter(&whole).x_desc("firings").draw().map_err(e2s)?;
        for (k, kind) in kinds.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let bars = o.iter().enumerate().filter_map(|(i, m)| {
                // Stacked: this outcome's bar starts where the earlier outcomes end.
                let before: u64 = m.outcomes.iter().filter(|(kk, _)| kinds.iter().position(|x| x == kk) < Some(k)).map(|(_, c)| c).sum();
                let count = m.outcomes.iter().find(|(kk, _)| kk == kind).map(|(_, c)| *c)?;
                let mut r = Rectangle::new([(before as f64, SegmentValue::Exact(i)), ((before + count) as f64, SegmentValue::Exact(i + 1))], color.filled());
                r.set_margin(3, 3, 0, 0);
                Some(r)
            });
            chart.draw_series(bars).map_err(e2s)?;
        }
        Ok(())
    })
}

fn lift_svg(l: &[MomentLift]) -> Result<String, String> {
    let n = l.len();
    let mut lo: f64 = 0.0;
    let mut hi: f64 = 0.0;
    for m in l {
        for v in [m.lift_abs, m.ci_low, m.ci_high].into_iter().flatten().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    let pad = ((hi - lo) * 0.08).max(0.01);
    let names: Vec<String> = l.iter().map(|m| m.moment.clone()).collect();
    svg_of(60 + 26 * n as u32, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(170)
            .build_cartesian_2d((lo - pad)..(hi + pad), slots(n).into_segmented())
            .map_err(e2s)?;
        let fmt = category_labels(&names);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&fmt)
            .x_label_formatter(&|x| {
                // Rounding a tiny negative tick gives "-0.0": zero has no sign.
                let pp = 100.0 * x;
                format!("{:.1} pp", if pp.abs() < 0.05 { 0.0 } else { pp })
            })
            .x_desc("absolute lift (percentage points)")
            .draw()
            .map_err(e2s)?;
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(0.0, SegmentValue::Exact(0)), (0.0, SegmentValue::Last)], BLACK.mix(0.5))))
            .map_err(e2s)?;
        let color = |a: f64, b: f64| if a > 0.0 { PALETTE[4] } else if b < 0.0 { PALETTE[2] } else { PALETTE[0] };
        let rows: Vec<(usize, f64, f64, f64)> = l
            .iter()
            .enumerate()
            .filter_map(|(i, m)| Some((i, m.lift_abs?, m.ci_low?, m.ci_high?)))
            .filter(|(_, v, a, b)| v.is_finite() && a.is_finite() && b.is_finite())
            .collect();
        chart
            .draw_series(rows.iter().map(|&(i, _, a, b)| PathElement::new(vec![(a, SegmentValue::CenterOf(i)), (b, SegmentValue::CenterOf(i))], color(a, b).stroke_width(2))))
            .map_err(e2s)?;
        chart.draw_series(rows.iter().map(|&(i, v, a, b)| Circle::new((v, SegmentValue::CenterOf(i)), 4, color(a, b).filled()))).map_err(e2s)?;
        // A row with no interval says so, instead of looking like a drawing fault.
        let grey = BLACK.mix(0.5);
        let note = TextStyle::from((FONT, 11).into_font()).color(&grey).pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series((0..n).filter(|i| !rows.iter().any(|r| r.0 == *i)).map(|i| Text::new("no estimate (no counted firings in an arm)", (lo - pad * 0.9, SegmentValue::CenterOf(i)), note.clone())))
            .map_err(e2s)?;
        Ok(())
    })
}

fn calibration_svg(c: &Calibration) -> Result<String, String> {
    svg_of(360, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .caption("calibration: observed purchase share by predicted probability", (FONT, 14))
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(e2s)?;
        chart.configure_mesh().x_desc("predicted").y_desc("observed").draw().map_err(e2s)?;
        chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3))).map_err(e2s)?;
        let pts: Vec<(f64, f64)> = c.bins.iter().filter(|b| b.predicted.is_finite() && b.observed.is_finite()).map(|b| (b.predicted, b.observed)).collect();
        chart.draw_series(LineSeries::new(pts.clone(), PALETTE[0].stroke_width(2))).map_err(e2s)?;
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, PALETTE[0].filled()))).map_err(e2s)?;
        Ok(())
    })
}

fn prefix_svg(c: &Calibration) -> Result<String, String> {
    let names: Vec<String> = c.auc_by_prefix.iter().map(|(k, _)| format!("{k} events")).collect();
    let n = names.len();
    svg_of(300, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .caption("AUC by prefix length (events seen)", (FONT, 14))
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(slots(n).into_segmented(), 0f64..1f64)
            .map_err(e2s)?;
        let fmt = category_labels(&names);
        chart.configure_mesh().disable_x_mesh().x_labels(n.max(1)).x_label_formatter(&fmt).y_desc("AUC").draw().map_err(e2s)?;
        chart
            .draw_series(c.auc_by_prefix.iter().enumerate().filter_map(|(i, (_, a))| {
                let a = a.filter(|a| a.is_finite())?;
                let mut r = Rectangle::new([(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), a)], PALETTE[6].filled());
                r.set_margin(0, 0, 20, 20);
                Some(r)
            }))
            .map_err(e2s)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests;
