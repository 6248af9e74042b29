//! Live intent: the engine scores with a trained model on the same accumulators the batch
//! export uses, in conditions, receipts and `intent` triggers; models swap between events;
//! checkpoints keep the features; drift counts finished sessions.

use std::sync::Arc;

use glint_event::{Builtin, Event, Signal, Source, Taxonomy};
use glint_intent::model::{self, Algorithm, Matrix, TrainOptions};
use glint_intent::{FEATURE_NAMES, ShopperHistory, feature_index};

use super::*;

const MIN: i64 = 60_000;

fn ev(min: i64, user: &str, b: Builtin, product: &str) -> Event {
    let mut e = Event::new(format!("{user}-{min}-{}", b.name()), min * MIN, Signal::Builtin(b), Source::Segment);
    e.user_id = Some(user.into());
    e.properties.product_id = Some(product.into());
    e.properties.price = Some(10.0);
    e
}

/// A logistic model over the engine's 73 features that has learned "two or more cart items
/// means a purchase": p is low with an empty cart and high with two items.
fn cart_model(id: &str) -> Arc<IntentModel> {
    let names: Vec<String> = FEATURE_NAMES.iter().map(|n| n.to_string()).collect();
    let cart = feature_index("cart_items").expect("feature");
    let views = feature_index("n_product_viewed").expect("feature");
    let mut x = Matrix::new(names);
    let mut y = Vec::new();
    for i in 0..600u32 {
        let mut row = vec![0.0; FEATURE_NAMES.len()];
        row[cart] = f64::from(i % 4);
        row[views] = f64::from(i % 5);
        x.push_row(&row).expect("row");
        // Mostly the cart, with noise so the fit stays finite.
        y.push((i % 4 >= 2) != (i % 23 == 0));
    }
    let file = model::train(&x, &y, &TrainOptions::new(Algorithm::Logistic, "test-schema", "purchase-in-session")).expect("trains");
    Arc::new(IntentModel::new(file, id).expect("the engine's features"))
}

fn engine(rules: &str) -> Engine {
    let parsed = Rules::parse(rules, "t.toml", &Taxonomy::default(), None).expect("rules");
    let mut engine = Engine::new(EngineConfig { seed: 3, moments: parsed.moments, budget: parsed.budget, intent_features: true, ..EngineConfig::default() }, Taxonomy::default());
    engine.set_model(Some(cart_model("m1")));
    engine
}

const READY: &str = r#"
[[moment]]
name = "ready"
trigger = { intent = "readiness" }
holdout = 0.0
consent = "personalization"
kpi = { signals = ["order_completed"], within = "1h" }

[[moment]]
name = "viewed_while_ready"
trigger = { signal = ["product_viewed"] }
condition = "intent.stage == 'readiness' && intent.p > 0.5"
holdout = 0.0
consent = "personalization"
kpi = { signals = ["order_completed"], within = "1h" }
"#;

#[test]
fn the_live_score_is_the_model_on_the_batch_features() {
    let mut engine = engine(READY);
    let script = [ev(0, "u", Builtin::ProductViewed, "p1"), ev(1, "u", Builtin::ProductAdded, "p1"), ev(2, "u", Builtin::ProductAdded, "p2")];
    for e in &script {
        engine.apply(e);
    }
    // The same events through glint-intent's accumulators, as `glint features` feeds them.
    let taxonomy = Taxonomy::default();
    let mut history = ShopperHistory::default();
    let mut session = history.open_session(0);
    for e in &script {
        session.push(&taxonomy, e);
        history.push(e);
    }
    let model = cart_model("m1");
    let expected = model.score(&session.values());
    let live = engine.intent("u").expect("known shopper");
    assert_eq!(live.p, expected, "no train/serve skew: bit for bit");
    assert_eq!(live.model.as_deref(), Some("m1"));
    assert_eq!(live.stage, model.stages().stage(expected));
    assert!(live.reasons.iter().any(|(name, c)| *name == "cart_items" && *c > 0.0), "{:?}", live.reasons);
    assert!(engine.intent("stranger").is_none());
}

#[test]
fn conditions_receipts_and_intent_triggers_use_the_model() {
    let mut engine = engine(READY);
    let mut firings = Vec::new();
    firings.extend(engine.apply(&ev(0, "u", Builtin::ProductViewed, "p1")));
    assert!(firings.is_empty(), "an empty cart is curiosity: {firings:?}");
    firings.extend(engine.apply(&ev(1, "u", Builtin::ProductAdded, "p1")));
    firings.extend(engine.apply(&ev(2, "u", Builtin::ProductAdded, "p2")));
    firings.extend(engine.apply(&ev(3, "u", Builtin::ProductAdded, "p3")));
    firings.extend(engine.apply(&ev(4, "u", Builtin::ProductViewed, "p4")));
    let names: Vec<(&str, i64)> = firings.iter().map(|f| (f.moment.as_str(), f.at_ms / MIN)).collect();
    // Readiness is reached once, at the second add (the third keeps it); the view after it
    // meets the condition.
    assert_eq!(names, [("ready", 2), ("viewed_while_ready", 4)]);
    let receipt = &firings[0].receipt;
    let intent = receipt.intent.as_ref().expect("a sent firing is scored");
    assert_eq!(intent.model.as_deref(), Some("m1"));
    assert_eq!(intent.stage, IntentStage::Readiness);
    assert_eq!(intent.reasons[0].0, "cart_items");
    assert!(receipt.values.iter().any(|(k, v)| k == "stage" && *v == Fact::Text("readiness".into())));
    // A new session (an hour later) starts from curiosity again, so readiness can fire again.
    firings.clear();
    firings.extend(engine.apply(&ev(70, "u", Builtin::ProductAdded, "p5")));
    firings.extend(engine.apply(&ev(71, "u", Builtin::ProductAdded, "p6")));
    assert_eq!(firings.iter().map(|f| f.moment.as_str()).collect::<Vec<_>>(), ["ready"]);
}

#[test]
fn a_model_swaps_between_two_events_and_back_to_the_taxonomy() {
    let mut engine = engine(READY);
    engine.apply(&ev(0, "u", Builtin::ProductAdded, "p1"));
    assert_eq!(engine.intent("u").and_then(|i| i.model).as_deref(), Some("m1"));
    engine.set_model(Some(cart_model("m2")));
    assert_eq!(engine.intent("u").and_then(|i| i.model).as_deref(), Some("m2"));
    let f = engine.apply(&ev(1, "u", Builtin::ProductAdded, "p2"));
    assert_eq!(f[0].receipt.intent.as_ref().and_then(|i| i.model.as_deref()), Some("m2"), "the next decision sees the new model whole");
    engine.set_model(None);
    let score = engine.intent("u").expect("known");
    assert_eq!(score.model, None);
    assert_eq!(score.p, engine.profile("u").expect("profile").intent(&Taxonomy::default()).0, "the taxonomy's stand-in");
}

#[test]
fn a_checkpoint_keeps_the_features_so_a_restart_scores_as_one_run() {
    let script: Vec<Event> = (0..40).map(|i| ev(i * 7, ["a", "b", "c"][(i % 3) as usize], [Builtin::ProductViewed, Builtin::ProductAdded, Builtin::ProductRemoved][(i % 5 % 3) as usize], &format!("p{}", i % 4))).collect();
    let parsed = Rules::parse(READY, "t.toml", &Taxonomy::default(), None).expect("rules");
    let config = EngineConfig { seed: 3, moments: parsed.moments, budget: parsed.budget, intent_features: true, ..EngineConfig::default() };
    let mut whole = engine(READY);
    let mut one_run = Vec::new();
    for e in &script {
        one_run.extend(whole.apply(e));
    }
    let mut first = engine(READY);
    let mut resumed = Vec::new();
    for e in &script[..17] {
        resumed.extend(first.apply(e));
    }
    let mut bytes = Vec::new();
    first.save(&mut bytes).expect("saves");
    let mut second = Engine::restore(config.clone(), Taxonomy::default(), &bytes[..]).expect("restores");
    second.set_model(Some(cart_model("m1")));
    for e in &script[17..] {
        resumed.extend(second.apply(e));
    }
    assert!(!one_run.is_empty());
    assert_eq!(resumed, one_run, "receipts with their scores match, bit for bit");
    for u in ["a", "b", "c"] {
        assert_eq!(second.intent(u), whole.intent(u));
    }
    // A checkpoint without intent features is refused when a model is configured.
    let mut plain = Engine::new(EngineConfig { intent_features: false, ..config.clone() }, Taxonomy::default());
    plain.apply(&script[0]);
    let mut bytes = Vec::new();
    plain.save(&mut bytes).expect("saves");
    let err = Engine::restore(config, Taxonomy::default(), &bytes[..]).expect_err("refused");
    assert!(err.to_string().contains("intent features"), "{err}");
}

#[test]
fn finished_sessions_are_counted_for_drift() {
    // Every DRIFT_SAMPLE_EVERY-th finished session is observed, from the first.
    let sampled = |finished: u64| finished.div_ceil(DRIFT_SAMPLE_EVERY);
    let mut engine = engine(READY);
    assert_eq!(engine.drift().map(|d| d.rows), Some(0));
    for s in 0..9 {
        engine.apply(&ev(s * 60, "u", Builtin::ProductViewed, "p1"));
    }
    // Eight sessions ended (the ninth is open).
    let report = engine.drift().expect("the model keeps its training distribution");
    assert_eq!(report.rows, sampled(8));
    assert_eq!(report.features.len(), FEATURE_NAMES.len());
    assert!(report.score.is_some());
    // A purchase completes its session at once, as its prefix before the order (as training
    // sees it), and only once; a session that opens with its order is not counted.
    engine.apply(&ev(481, "u", Builtin::ProductAdded, "p1"));
    engine.apply(&ev(482, "u", Builtin::OrderCompleted, "p1")); // the 9th finished
    engine.apply(&ev(483, "u", Builtin::OrderCompleted, "p2"));
    engine.apply(&ev(600, "u", Builtin::OrderCompleted, "p3"));
    engine.apply(&ev(601, "u", Builtin::ProductViewed, "p3"));
    assert_eq!(engine.drift().map(|d| d.rows), Some(sampled(9)));
    for s in 0..4 {
        engine.apply(&ev(700 + s * 60, "u", Builtin::ProductViewed, "p1"));
    }
    // The session that opened with an order ended uncounted: 9 + 3 finished.
    assert_eq!(engine.drift().map(|d| d.rows), Some(sampled(12)));
    engine.apply(&ev(1000, "u", Builtin::ProductViewed, "p1"));
    assert_eq!(engine.drift().map(|d| d.rows), Some(sampled(13)), "the 13th is sampled");
}

#[test]
fn a_model_of_another_table_is_refused() {
    let mut x = Matrix::new(vec!["Revenue".into(), "PageValues".into()]);
    let mut y = Vec::new();
    for i in 0..100u32 {
        x.push_row(&[f64::from(i % 3), f64::from(i % 7)]).expect("row");
        y.push(i % 3 == 0);
    }
    let file = model::train(&x, &y, &TrainOptions::new(Algorithm::Logistic, "x", "label")).expect("trains");
    let err = IntentModel::new(file, "other").expect_err("refused");
    assert_eq!(err.column, 0);
    assert!(err.to_string().contains("Revenue"), "{err}");
}
