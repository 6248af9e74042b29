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
