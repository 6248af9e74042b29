//! Unit tests of the page: every figure present, the funnel rows and data equal to the input,
//! strings from the data escaped, absent figures explained, odd numbers survived.

#![allow(clippy::unwrap_used)]

use super::*;

fn step(signal: &str, users: u64, prev: Option<u64>) -> FunnelStep {
    FunnelStep {
        signal: signal.to_string(),
        users,
        drop_off: prev.map_or(0, |p| p - users),
        conversion_from_previous: prev.map(|p| users as f64 / p as f64),
        median_seconds: prev.map(|_| 120),
        p90_seconds: prev.map(|_| 600),
    }
}

fn sample() -> Figures {
    Figures {
        title: "Shop <report> & \"co\"".to_string(),
        summary: vec![("events".to_string(), "1,234".to_string())],
        funnel: Some(Funnel {
            window_s: 3600,
            steps: vec![step("product_viewed", 400, None), step("product_added", 120, Some(400)), step("checkout_started", 60, Some(120)), step("order_completed", 31, Some(60))],
        }),
        events_per_hour: (0..30).map(|h| HourCount { hour: format!("2026-11-{:02}T{:02}Z", 1 + h / 24, h % 24), events: 10 + h as u64 }).collect(),
        signals: vec![
            SignalCount { signal: "product_viewed".into(), events: 900, shoppers: 400 },
            SignalCount { signal: "<script>alert(1)</script>".into(), events: 3, shoppers: 1 },
        ],
        outcomes: Some(vec![
            MomentOutcomes { moment: "cart_wobble".into(), outcomes: vec![("sent".into(), 80), ("holdout".into(), 10), ("capped".into(), 5)] },
            MomentOutcomes { moment: "browse_drift".into(), outcomes: vec![("sent".into(), 40), ("holdout".into(), 4)] },
        ]),
        lift: Some(vec![
            MomentLift { moment: "cart_wobble".into(), treatment_n: 80, holdout_n: 10, lift_abs: Some(0.05), ci_low: Some(-0.02), ci_high: Some(0.11), p_value: Some(0.2) },
            MomentLift { moment: "birthday".into(), treatment_n: 0, holdout_n: 0, lift_abs: None, ci_low: None, ci_high: None, p_value: None },
        ]),
        calibration: Some(Calibration {
            bins: vec![CalibrationBin { predicted: 0.05, observed: 0.04, n: 100 }, CalibrationBin { predicted: 0.5, observed: 0.55, n: 20 }],
            auc: Some(0.81),
            auc_by_prefix: vec![(1, Some(0.6)), (2, Some(0.7)), (3, None)],
            sessions: 120,
        }),
    }
}

/// The text between `<figure id="ID"` and its `</figure>`.
fn figure_of<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<figure id=\"{id}\"")).unwrap_or_else(|| panic!("no figure {id}"));
    let end = html[start..].find("</figure>").unwrap();
    &html[start..start + end]
}

#[test]
fn every_figure_is_present_with_an_svg() {
    let html = render(&sample()).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    for id in FIGURE_IDS {
        let fig = figure_of(&html, id);
        assert!(fig.contains("<svg"), "{id} has no chart");
        assert!(fig.contains(&format!("id=\"{id}-data\"")), "{id} has no data block");
        assert_eq!(fig.matches("<svg").count(), fig.matches("</svg>").count(), "{id}");
    }
    assert_eq!(html.matches("<figure").count(), html.matches("</figure>").count());
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "external asset");
}

#[test]
fn funnel_has_one_row_per_step_with_its_count() {
    let f = sample();
    let html = render(&f).unwrap();
    let fig = figure_of(&html, "funnel");
    let steps = &f.funnel.as_ref().unwrap().steps;
    assert_eq!(fig.matches("data-step=").count(), steps.len());
    for (i, s) in steps.iter().enumerate() {
        assert!(fig.contains(&format!("data-step=\"{}\" data-signal=\"{}\" data-users=\"{}\"", i + 1, s.signal, s.users)), "step {i}");
    }
    // The embedded data parses back to the same counts.
    let start = fig.find("id=\"funnel-data\">").unwrap() + "id=\"funnel-data\">".len();
    let end = fig[start..].find("</script>").unwrap();
    let v: serde_json::Value = serde_json::from_str(&fig[start..start + end]).unwrap();
    let users: Vec<u64> = v["steps"].as_array().unwrap().iter().map(|s| s["users"].as_u64().unwrap()).collect();
    assert_eq!(users, vec![400, 120, 60, 31]);
    // Drop-off labels are drawn in the chart.
    assert!(fig.contains("−280 drop-off"), "{fig}");
}

#[test]
fn strings_from_data_are_escaped() {
    let html = render(&sample()).unwrap();
    assert!(!html.contains("<script>alert"), "raw markup from data");
    assert!(!html.contains("<report>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("Shop &lt;report&gt; &amp; &quot;co&quot;"));
    // Inside the JSON block, `</script>` cannot appear.
    let data = figure_of(&html, "signals");
    assert!(data.contains("\\u003cscript\\u003e"));
    assert_eq!(html.matches("</script>").count(), html.matches("<script type=\"application/json\"").count());
}

#[test]
fn absent_figures_say_what_to_pass() {
    let f = Figures { title: "t".into(), ..Figures::default() };
    let html = render(&f).unwrap();
    for id in FIGURE_IDS {
        assert!(figure_of(&html, id).contains("data-empty=\"true\""), "{id}");
    }
    assert!(figure_of(&html, "lift").contains("--firings"));
    assert!(figure_of(&html, "calibration").contains("--model"));
}

#[test]
fn odd_numbers_do_not_break_the_charts() {
    let mut f = sample();
    f.lift = Some(vec![MomentLift { moment: "m".into(), treatment_n: 1, holdout_n: 1, lift_abs: Some(f64::NAN), ci_low: Some(f64::NEG_INFINITY), ci_high: Some(0.0), p_value: None }]);
    f.funnel = Some(Funnel { window_s: 60, steps: vec![step("a", 0, None), step("b", 0, Some(0))] });
    f.calibration.as_mut().unwrap().bins.clear();
    render(&f).unwrap();
}

/// Every `<rect …/>` of an SVG fragment as (x, y, width, height, fill).
fn rects(svg: &str) -> Vec<(i64, i64, i64, i64, String)> {
    let attr = |r: &str, name: &str| -> Option<String> {
        let start = r.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(r[start..start + r[start..].find('"')?].to_string())
    };
    svg.split("<rect")
        .skip(1)
        .filter_map(|r| {
            let r = &r[..r.find("/>")?];
            let num = |name: &str| attr(r, name)?.parse::<f64>().ok().map(|v| v.round() as i64);
            Some((num("x")?, num("y")?, num("width")?, num("height")?, attr(r, "fill")?))
        })
        .collect()
}

/// The text of every `<text>` element of an SVG fragment, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text").skip(1).filter_map(|t| Some(t[t.find('>')? + 1..t.find("</text>")?].trim().to_string())).collect()
}

#[test]
fn a_funnel_step_no_one_reached_keeps_a_visible_labelled_slot() {
    let mut f = sample();
    f.funnel = Some(Funnel { window_s: 3600, steps: vec![step("product_viewed", 400, None), step("product_added", 0, Some(400)), step("order_completed", 0, Some(0))] });
    let html = render(&f).unwrap();
    let fig = figure_of(&html, "funnel");
    // One bar per step, each with some height (the white background is the one other rect).
    let bars: Vec<_> = rects(fig).into_iter().filter(|r| r.4 != "#FFFFFF").collect();
    assert_eq!(bars.len(), 3, "{bars:?}");
    assert!(bars.iter().all(|b| b.3 >= 2), "every slot is visible: {bars:?}");
    // Each labelled with its count and name.
    let labels = texts(fig);
    for name in ["product_viewed", "product_added", "order_completed"] {
        assert_eq!(labels.iter().filter(|t| *t == name).count(), 1, "{name}: {labels:?}");
    }
    // The bar labels come last, count then drop-off: both empty steps say 0 (and no NaN).
    assert_eq!(labels[labels.len() - 4..], ["0", "−400 drop-off (0.0 % kept)", "0", "−0 drop-off"], "{labels:?}");
    // No empty slot after the last step: the slots fill the plot, so the last bar ends near
    // the right edge (margin 12, bar margin 14).
    let right = bars.iter().map(|b| b.0 + b.2).max().unwrap();
    assert!(right > i64::from(W) - 12 - 14 - 4, "the last bar ends at {right} of {W}");
}

#[test]
fn the_outcome_legend_sits_above_the_bars_not_on_them() {
    let mut f = sample();
    // The longest bar reaches the right edge, where a legend inside the plot would sit.
    f.outcomes = Some(
        (0..6)
            .map(|i| MomentOutcomes { moment: format!("m{i}"), outcomes: vec![("sent".into(), 100 + i), ("holdout".into(), 10), ("no_consent".into(), 7), ("deferred".into(), 3), ("capped".into(), 2)] })
            .collect(),
    );
    let html = render(&f).unwrap();
    let fig = figure_of(&html, "outcomes");
    let all = rects(fig);
    let swatches: Vec<_> = all.iter().filter(|r| r.2 == 10 && r.3 == 10).collect();
    let bars: Vec<_> = all.iter().filter(|r| r.4 != "#FFFFFF" && !(r.2 == 10 && r.3 == 10)).collect();
    assert_eq!(swatches.len(), 5, "one swatch per outcome: {all:?}");
    assert_eq!(bars.len(), 30, "five outcomes on six moments");
    let legend_bottom = swatches.iter().map(|r| r.1 + r.3).max().unwrap();
    let bars_top = bars.iter().map(|r| r.1).min().unwrap();
    assert!(legend_bottom < bars_top, "legend ends at y={legend_bottom}, bars start at y={bars_top}");
    let labels = texts(fig);
    for kind in ["sent", "holdout", "no_consent", "deferred", "capped"] {
        assert!(labels.iter().any(|t| t == kind), "{kind} is in the legend: {labels:?}");
    }
    // The moment rows are exactly the moments, each labelled once: no empty row above them.
    for i in 0..6 {
        assert_eq!(labels.iter().filter(|t| **t == format!("m{i}")).count(), 1, "{labels:?}");
    }
}

#[test]
fn the_lift_plot_marks_rows_without_an_estimate_and_has_no_negative_zero() {
    let html = render(&sample()).unwrap();
    let fig = figure_of(&html, "lift");
    let labels = texts(fig);
    assert_eq!(labels.iter().filter(|t| t.starts_with("no estimate")).count(), 1, "birthday has no interval: {labels:?}");
    assert!(!labels.iter().any(|t| t == "-0.0 pp"), "{labels:?}");
}
