//! Learner, search and model-file tests on seeded synthetic data.
//!
//! Data sets are small enough for a debug build: what is tested is behaviour (recovering
//! known weights, learning an interaction, stopping early, explaining exactly, round-tripping),
//! not speed.

use std::sync::OnceLock;

use proptest::prelude::*;

use super::rng::Rng;
use super::search::{self, Criterion};
use super::*;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|j| format!("f{j}")).collect()
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u = rng.unit().max(1e-300);
    let v = rng.unit();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn bernoulli(rng: &mut Rng, p: f64) -> bool {
    rng.unit() < p
}

fn sigmoid(m: f64) -> f64 {
    1.0 / (1.0 + (-m).exp())
}

/// `y = (x0·x1 > 0)` with 10 % of labels flipped, plus three noise columns; a tenth of x4 is
/// missing.
fn xor_data(n: usize, seed: u64) -> (Matrix, Vec<bool>) {
    let mut rng = Rng::new(seed);
    let mut x = Matrix::new(names(5));
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> =
            (0..5).map(|j| if j == 4 && rng.below(10) == 0 { f64::NAN } else { rng.unit() * 2.0 - 1.0 }).collect();
        let flip = rng.below(10) == 0;
        y.push((row[0] * row[1] > 0.0) != flip);
        x.push_row(&row).expect("row");
    }
    (x, y)
}

fn probs(model: &Model, x: &Matrix) -> Vec<f64> {
    (0..x.n_rows()).map(|i| model.predict_proba(x.row(i))).collect()
}

fn auc(model: &Model, x: &Matrix, y: &[bool]) -> f64 {
    metrics::auc(&probs(model, x), y).expect("ok")
}

/// A GBDT fitted once with every option on (bagging, feature sampling, depth limit, missing
/// values), shared by the property tests.
fn fitted_gbdt() -> &'static (Gbdt, Logistic) {
    static MODELS: OnceLock<(Gbdt, Logistic)> = OnceLock::new();
    MODELS.get_or_init(|| {
        let (x, y) = xor_data(2000, 11);
        let params = GbdtParams {
            num_rounds: 30,
            num_leaves: 12,
            max_depth: Some(5),
            min_data_in_leaf: 10,
            feature_fraction: 0.8,
            bagging_fraction: 0.7,
            bagging_freq: 2,
            lambda_l2: 1.0,
            seed: 5,
            ..GbdtParams::default()
        };
        let gbdt = Gbdt::fit(&params, &x, &y, None).expect("ok").0;
        let logistic = Logistic::fit(&LogisticParams::default(), &x, &y).expect("ok");
        (gbdt, logistic)
    })
}

fn model_file(model: Model) -> ModelFile {
    ModelFile {
        model,
        schema_hash: "v1-00ff".into(),
        stages: StageThresholds { consideration: 0.25, readiness: 0.6 },
        training: TrainingInfo {
            label: "purchase-in-session".into(),
            rows: 2000,
            positives: 1000,
            valid_rows: 0,
            valid_positives: 0,
            criterion: Criterion::LogLoss,
            trials: Vec::new(),
            chosen: 0,
            valid_log_loss: 0.5,
            valid_auc: None,
            valid_pr_auc: Some(0.7),
            glint_version: "test".into(),
        },
        // A drift reference over rows of the same columns: its cuts and shares round-trip too.
        drift: Some({
            let (x, _) = xor_data(200, 5);
            let scores: Vec<f64> = (0..x.n_rows()).map(|i| i as f64 / 200.0).collect();
            DriftReference::fit(&x, &scores)
        }),
    }
}

#[test]
fn logistic_recovers_known_coefficients_in_original_units() {
    let mut rng = Rng::new(1);
    let mut x = Matrix::new(names(3));
    let mut y = Vec::new();
    let (w, b) = ([1.5, -0.2, 1.0], -0.5);
    for _ in 0..20_000 {
        let row = [normal(&mut rng), 10.0 * normal(&mut rng) + 5.0, 0.5 * normal(&mut rng) - 2.0];
        let m = b + w[0] * row[0] + w[1] * row[1] + w[2] * row[2];
        y.push(bernoulli(&mut rng, sigmoid(m)));
        x.push_row(&row).expect("row");
    }
    let fit = Logistic::fit(&LogisticParams { l2: 0.01, ..LogisticParams::default() }, &x, &y).expect("ok");
    assert!(fit.convergence().1, "{:?}", fit.convergence());
    let coefs = fit.coefficients();
    for j in 0..3 {
        let err = (coefs[j].per_unit - w[j]).abs();
        assert!(err < 0.1 * w[j].abs(), "{j}: {} vs {}", coefs[j].per_unit, w[j]);
        assert!((coefs[j].per_std - coefs[j].per_unit * [1.0, 10.0, 0.5][j]).abs() < 0.05 * coefs[j].per_std.abs());
    }
    assert!((fit.intercept().1 - b).abs() < 0.15, "{:?}", fit.intercept());
    assert_eq!(coefs[1].name, "f1");
}

/// Reference: scikit-learn 1.9.1 on the same rows (and a NumPy Newton solve of the same
/// objective agreeing to 1e-13), computed once by
///
/// ```python
/// X = np.array([[((i * 37) % 101) / 101, ((i * 53) % 17) - 8, (i % 3 == 0) * 1.0] for i in range(300)])
/// y = np.array([((i * 37) % 101) / 101 + ((i * 29) % 11) / 11 + (i % 3 == 0) * 0.3 > 1.0
///               for i in range(300)]).astype(int)
/// Z = StandardScaler().fit_transform(X)
/// for lam in [0.1, 10.0]:
///     m = LogisticRegression(C=1 / lam, solver="newton-cholesky", tol=1e-12, max_iter=100).fit(Z, y)
///     print(lam, m.intercept_[0], m.coef_[0])
/// ```
#[test]
fn logistic_matches_scikit_learn_with_c_equal_one_over_lambda() {
    let mut x = Matrix::new(names(3));
    let mut y = Vec::new();
    for i in 0..300u32 {
        let a = f64::from((i * 37) % 101) / 101.0;
        x.push_row(&[a, f64::from((i * 53) % 17) - 8.0, f64::from(u8::from(i % 3 == 0))]).expect("row");
        y.push(a + f64::from((i * 29) % 11) / 11.0 + if i % 3 == 0 { 0.3 } else { 0.0 } > 1.0);
    }
    let cases = [
        (0.1, 0.6216086830857963, [2.119428138511853, -0.01821577023706876, 0.4017383697675991]),
        (10.0, 0.48861095938771654, [1.5091213490389552, -0.01151266723445291, 0.2628386044600887]),
    ];
    for (l2, intercept, weights) in cases {
        let fit = Logistic::fit(&LogisticParams { l2, ..LogisticParams::default() }, &x, &y).expect("ok");
        assert!((fit.intercept().0 - intercept).abs() < 1e-10, "λ {l2}: {:?}", fit.intercept());
        for (c, w) in fit.coefficients().iter().zip(weights) {
            assert!((c.per_std - w).abs() < 1e-10, "λ {l2}: {} vs {w}", c.per_std);
        }
    }
}

#[test]
fn logistic_survives_constant_collinear_and_missing_columns() {
    let mut x = Matrix::new(names(4));
    let mut y = Vec::new();
    for i in 0..200 {
        let v = f64::from(i % 10);
        x.push_row(&[v, 2.0 * v, 7.0, if i % 2 == 0 { f64::NAN } else { v }]).expect("row");
        y.push(i % 10 >= 5);
    }
    let fit = Logistic::fit(&LogisticParams { l2: 0.0, max_iterations: 30, ..LogisticParams::default() }, &x, &y)
        .expect("ok");
    let p = fit.predict_proba(&[9.0, 18.0, 7.0, f64::NAN]);
    assert!(p.is_finite() && p > 0.9, "{p}");
    assert_eq!(fit.coefficients()[2].per_std, 0.0);
}

#[test]
fn gbdt_learns_an_interaction_that_logistic_cannot() {
    let (x, y) = xor_data(4000, 2);
    let (tx, ty) = xor_data(2000, 3);
    let params = GbdtParams { num_rounds: 40, num_leaves: 8, ..GbdtParams::default() };
    let (gbdt, report) = Gbdt::fit(&params, &x, &y, None).expect("ok");
    assert_eq!((report.rounds_run, report.trees_kept, report.stop), (40, 40, Stop::Rounds));
    let logistic = Logistic::fit(&LogisticParams::default(), &x, &y).expect("ok");
    let (g, l) = (auc(&Model::Gbdt(gbdt), &tx, &ty), auc(&Model::Logistic(logistic), &tx, &ty));
    assert!(g > 0.85, "gbdt AUC {g}");
    assert!(l < 0.6, "logistic AUC {l}");
}

#[test]
fn gbdt_learns_where_missing_values_go() {
    // Positives are exactly the rows whose feature is missing; values alone say nothing.
    let mut rng = Rng::new(4);
    let mut x = Matrix::new(names(1));
    let mut y = Vec::new();
    for _ in 0..1000 {
        let missing = rng.below(3) == 0;
        x.push_row(&[if missing { f64::NAN } else { rng.unit() }]).expect("row");
        y.push(missing);
    }
    let (gbdt, _) = Gbdt::fit(&GbdtParams { num_rounds: 30, ..GbdtParams::default() }, &x, &y, None).expect("ok");
    assert!(gbdt.predict_proba(&[f64::NAN]) > 0.9);
    assert!(gbdt.predict_proba(&[f64::INFINITY]) > 0.9, "±∞ is missing too");
    assert!(gbdt.predict_proba(&[0.5]) < 0.1);
    assert!(gbdt.predict_proba(&[1e9]) < 0.1, "values beyond the training range are not missing");
}

#[test]
fn early_stopping_stops_and_keeps_the_best_round() {
    // Labels are coin flips: every tree after the first few only overfits.
    let mut rng = Rng::new(6);
    let mut x = Matrix::new(names(4));
    let mut y = Vec::new();
    for _ in 0..1500 {
        x.push_row(&[rng.unit(), rng.unit(), rng.unit(), rng.unit()]).expect("row");
        y.push(rng.below(2) == 0);
    }
    let (fx, fy, vx, vy) = (x.slice_rows(0..1000), &y[..1000], x.slice_rows(1000..1500), &y[1000..]);
    let params = GbdtParams { num_rounds: 200, early_stopping_rounds: Some(5), ..GbdtParams::default() };
    let (gbdt, report) = Gbdt::fit(&params, &fx, fy, Some((&vx, vy))).expect("ok");
    assert_eq!(report.stop, Stop::EarlyStopping);
    assert_eq!(report.rounds_run, report.trees_kept + 5);
    assert_eq!(gbdt.n_trees(), report.trees_kept);
    assert_eq!(report.valid_log_loss.len(), report.rounds_run);
    let best = report.valid_log_loss.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(report.valid_log_loss[report.trees_kept - 1], best);
    assert!(report.rounds_run < 50, "{report:?}");
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (x, y) = xor_data(100, 1);
    let bad = GbdtParams { num_leaves: 1, ..GbdtParams::default() };
    assert!(matches!(Gbdt::fit(&bad, &x, &y, None), Err(Error::Param { name: "num_leaves", .. })));
    let early = GbdtParams { early_stopping_rounds: Some(3), ..GbdtParams::default() };
    assert!(matches!(Gbdt::fit(&early, &x, &y, None), Err(Error::Param { name: "early_stopping_rounds", .. })));
    assert!(matches!(Gbdt::fit(&GbdtParams::default(), &x, &y[1..], None), Err(Error::LabelCount { .. })));
    let ones = vec![true; 100];
    assert!(matches!(
        Logistic::fit(&LogisticParams::default(), &x, &ones),
        Err(Error::OneClass { positives: 100, .. })
    ));
    let other = Matrix::from_values(vec!["f0".into(), "g".into(), "f2".into(), "f3".into(), "f4".into()], vec![0.0; 5])
        .expect("ok");
    let err = Gbdt::fit(&GbdtParams::default(), &x, &y, Some((&other, &[true]))).expect_err("should fail");
    assert!(matches!(err, Error::ColumnMismatch { column: 1, .. }), "{err}");
    assert!(matches!(Matrix::from_values(names(3), vec![0.0; 4]), Err(Error::Shape { n_values: 4, n_cols: 3 })));
    assert!(matches!(search::validation_split(10, 0.0), Err(Error::ValidationSplit { .. })));
}

#[test]
fn same_seed_same_bytes_other_seed_other_model() {
    let (x, y) = xor_data(800, 8);
    let fit = |seed| {
        let params = GbdtParams {
            num_rounds: 15,
            feature_fraction: 0.6,
            bagging_fraction: 0.5,
            bagging_freq: 1,
            seed,
            ..GbdtParams::default()
        };
        model_file(Model::Gbdt(Gbdt::fit(&params, &x, &y, None).expect("ok").0)).to_json().expect("ok")
    };
    assert_eq!(fit(1), fit(1));
    assert_ne!(fit(1), fit(2));
}

#[test]
fn round_trip_through_a_file_predicts_bit_for_bit() {
    let dir = tempfile::tempdir().expect("ok");
    let (gbdt, logistic) = fitted_gbdt();
    let (tx, _) = xor_data(300, 9);
    for model in [Model::Gbdt(gbdt.clone()), Model::Logistic(logistic.clone())] {
        let file = model_file(model);
        let path = dir.path().join(format!("{}.json", file.model.algorithm().as_str()));
        file.save(&path).expect("ok");
        let loaded = ModelFile::load(&path, "v1-00ff").expect("ok");
        assert_eq!(loaded, file);
        for i in 0..tx.n_rows() {
            let (a, b) = (file.model.predict_proba(tx.row(i)), loaded.model.predict_proba(tx.row(i)));
            assert_eq!(a.to_bits(), b.to_bits());
        }
        assert_eq!(loaded.to_json().expect("ok"), std::fs::read(&path).expect("ok"));
    }
    // Only the two model files: no temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).expect("ok").count(), 2);
}

#[test]
fn loading_for_another_feature_schema_names_both() {
    let dir = tempfile::tempdir().expect("ok");
    let path = dir.path().join("m.json");
    model_file(Model::Logistic(fitted_gbdt().1.clone())).save(&path).expect("ok");
    let err = ModelFile::load(&path, "v2-abcd").expect_err("should fail");
    assert!(
        matches!(err.root(), Error::SchemaMismatch { expected, found } if expected == "v2-abcd" && found == "v1-00ff"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("m.json") && text.contains("feature schema v1-00ff, this Glint computes v2-abcd"), "{text}");
}

#[test]
fn malformed_and_newer_files_are_refused() {
    let good = String::from_utf8(model_file(Model::Gbdt(fitted_gbdt().0.clone())).to_json().expect("ok")).expect("ok");
    let check = |text: &str| ModelFile::from_json(text.as_bytes(), "v1-00ff").expect_err("should fail");

    assert!(matches!(check(&good[..good.len() / 2]), Error::Malformed { .. }));
    assert!(matches!(check("{}"), Error::Malformed { .. }));
    let newer = good.replacen("\"format_version\": 1", "\"format_version\": 2", 1);
    assert!(matches!(check(&newer), Error::UnsupportedVersion { found: 2, supported: 1 }));
    // The first tree's first left child is leaf 0 (`-1`); make it point back at node 0.
    let children = good.find("\"left_child\": [").expect("a tree");
    let at = children + good[children..].find("-1").expect("a leaf child");
    let cyclic = format!("{} 0{}", &good[..at], &good[at + 2..]);
    let err = check(&cyclic);
    assert!(matches!(&err, Error::Malformed { reason } if reason.starts_with("tree 0")), "{err}");
    let wrong_section = good.replacen("\"algorithm\": \"gbdt\"", "\"algorithm\": \"logistic\"", 1);
    assert!(matches!(check(&wrong_section), Error::Malformed { .. }));
    let string_number = good.replacen("\"base_score\": ", "\"base_score\": \"1\", \"x\": ", 1);
    assert!(matches!(check(&string_number), Error::Malformed { .. }));
    // Drift shares that do not match their cuts.
    let shares = good.find("\"shares\": [").expect("drift shares");
    let bad_drift = format!("{}\"shares\": [0.5,{}", &good[..shares], &good[shares + "\"shares\": [".len()..]);
    let err = check(&bad_drift);
    assert!(matches!(&err, Error::Malformed { reason } if reason.contains("drift")), "{err}");
}

#[test]
fn non_finite_models_are_not_written() {
    let mut logistic = fitted_gbdt().1.clone();
    logistic.weights[0] = f64::NAN;
    assert!(matches!(model_file(Model::Logistic(logistic)).to_json(), Err(Error::NonFinite { .. })));
}

#[test]
fn contributions_explain_the_driving_feature() {
    let (gbdt, _) = fitted_gbdt();
    // x0·x1 decides: at (0.9, 0.9) both matter far more than the noise columns.
    let c = gbdt.contributions(&[0.9, 0.9, 0.0, 0.0, 0.0]);
    let top: Vec<usize> = c.top(2).into_iter().map(|(j, _)| j).collect();
    assert!(top.contains(&0) && top.contains(&1), "{c:?}");
}

#[test]
fn grids_are_fixed_and_documented_sizes() {
    let grid = search::gbdt_grid(3);
    assert_eq!(grid.len(), 16);
    assert_eq!(
        (grid[0].learning_rate, grid[0].num_leaves, grid[0].min_data_in_leaf, grid[0].lambda_l2),
        (0.05, 15, 20, 0.0)
    );
    assert_eq!(
        (grid[15].learning_rate, grid[15].num_leaves, grid[15].min_data_in_leaf, grid[15].lambda_l2),
        (0.1, 31, 50, 1.0)
    );
    assert!(grid.iter().all(|p| p.early_stopping_rounds == Some(50) && p.num_rounds == 1000 && p.seed == 3));
    let l2: Vec<f64> = search::logistic_grid().iter().map(|p| p.l2).collect();
    assert_eq!(l2, [0.01, 0.1, 1.0, 10.0, 100.0]);
    let some = search::sample_candidates(&grid, 4, 9);
    assert_eq!(some.len(), 4);
    assert_eq!(some, search::sample_candidates(&grid, 4, 9));
    assert_eq!(search::validation_split(10, 0.2).expect("ok"), (0..8, 8..10));
}

#[test]
fn search_keeps_the_candidate_with_the_lowest_validation_loss() {
    let (x, y) = xor_data(1200, 12);
    let (fx, fy, vx, vy) = (x.slice_rows(0..900), &y[..900], x.slice_rows(900..1200), &y[900..]);
    let candidates = [
        GbdtParams { num_rounds: 3, num_leaves: 2, ..GbdtParams::default() },
        GbdtParams { num_rounds: 30, num_leaves: 8, ..GbdtParams::default() },
    ];
    let s = search::search_gbdt(&candidates, (&fx, fy), (&vx, vy), Criterion::LogLoss).expect("ok");
    assert_eq!(s.best, 1);
    assert!(s.trials[1].valid_log_loss < s.trials[0].valid_log_loss);
    let by_auc = search::search_gbdt(&candidates, (&fx, fy), (&vx, vy), Criterion::Auc).expect("ok");
    assert_eq!(by_auc.best, 1);
    assert!(matches!(search::search_logistic(&[], (&fx, fy), (&vx, vy), Criterion::LogLoss), Err(Error::NoCandidates)));
}

#[test]
fn train_runs_the_whole_protocol_for_both_learners() {
    let (x, y) = xor_data(1000, 13);
    for algorithm in [Algorithm::Logistic, Algorithm::Gbdt] {
        let file = train(&x, &y, &TrainOptions::new(algorithm, "v1-00ff", "purchase-in-session")).expect("ok");
        let t = &file.training;
        assert_eq!((t.rows, t.valid_rows), (800, 200));
        assert_eq!(t.trials.len(), if algorithm == Algorithm::Gbdt { 16 } else { 5 });
        let best = t.trials.iter().map(|r| r.valid_log_loss).fold(f64::INFINITY, f64::min);
        assert_eq!(t.trials[t.chosen].valid_log_loss, best);
        assert_eq!(t.valid_log_loss, best);
        assert!(file.stages.consideration <= file.stages.readiness);
        assert!((file.stages.consideration - metrics::base_rate(&y)).abs() < 1e-12);
        let bytes = file.to_json().expect("ok");
        let loaded = ModelFile::from_json(&bytes, "v1-00ff").expect("ok");
        assert_eq!(loaded.model, file.model);
        assert_eq!(loaded.training, file.training);
        assert_eq!(loaded.to_json().expect("ok"), bytes);
    }
}

#[test]
fn stages_follow_the_thresholds() {
    let s = StageThresholds::choose(0.1, &[0.05, 0.2, 0.7, 0.9], &[false, false, true, true]);
    assert_eq!((s.consideration, s.readiness), (0.1, 0.7));
    assert_eq!(
        [s.stage(0.05), s.stage(0.1), s.stage(0.69), s.stage(0.7)].map(IntentStage::as_str),
        ["curiosity", "consideration", "consideration", "readiness"]
    );
    // No positive to tune on: readiness falls back to ½.
    assert_eq!(StageThresholds::choose(0.1, &[0.3], &[false]).readiness, 0.5);
}

fn row_strategy() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(prop_oneof![8 => -1.5f64..1.5, 1 => Just(f64::NAN), 1 => Just(f64::NEG_INFINITY)], 5)
}

proptest! {
    #[test]
    fn gbdt_contributions_add_up_to_the_raw_score(row in row_strategy()) {
        let (gbdt, _) = fitted_gbdt();
        let c = gbdt.contributions(&row);
        let raw = gbdt.raw_score(&row);
        prop_assert!((c.raw_score() - raw).abs() < 1e-9, "{} vs {raw}", c.raw_score());
    }

    #[test]
    fn logistic_contributions_add_up_to_the_raw_score(row in row_strategy()) {
        let (_, logistic) = fitted_gbdt();
        let c = logistic.contributions(&row);
        prop_assert!((c.raw_score() - logistic.raw_score(&row)).abs() < 1e-12);
        for (j, v) in row.iter().enumerate() {
            if !v.is_finite() {
                prop_assert_eq!(c.per_feature[j], 0.0);
            }
        }
    }

    #[test]
    fn top_contributions_are_sorted_by_magnitude(
        per_feature in prop::collection::vec(-2.0f64..2.0, 0..12),
        k in 0usize..6,
    ) {
        let c = Contributions { base: 0.0, per_feature };
        let top = c.top(k);
        prop_assert!(top.len() <= k);
        prop_assert!(top.windows(2).all(|w| w[0].1.abs() >= w[1].1.abs()));
    }
}

#[test]
fn the_scoring_layouts_give_each_trees_own_answer() {
    let (x, y) = xor_data(2000, 13);
    let (tx, _) = xor_data(500, 11);
    // Shallow and deep trees, 21 of them (the last group of eight is partly padding).
    for max_depth in [Some(1), Some(3), Some(6), None] {
        let params = GbdtParams { num_rounds: 21, num_leaves: 63, max_depth, min_data_in_leaf: 2, ..GbdtParams::default() };
        let (gbdt, _) = Gbdt::fit(&params, &x, &y, None).expect("fits");
        assert_eq!(gbdt.trees.len(), 21);
        let mut rows: Vec<Vec<f64>> = (0..tx.n_rows()).map(|i| tx.row(i).to_vec()).collect();
        for (j, v) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300].into_iter().enumerate() {
            let mut r = tx.row(j).to_vec();
            let at = j % r.len();
            r[at] = v;
            rows.push(r);
        }
        for (i, row) in rows.iter().enumerate() {
            let per_tree = gbdt.base_score + gbdt.trees.iter().map(|t| t.predict(row)).sum::<f64>();
            let score = gbdt.raw_score(row);
            assert!((score - per_tree).abs() <= 1e-12 * (1.0 + per_tree.abs()), "{max_depth:?}, row {i}: {score} vs {per_tree}");
            let mut expected = vec![0.0; row.len()];
            for t in &gbdt.trees {
                t.add_contributions(row, &mut expected);
            }
            let got = gbdt.contributions(row).per_feature;
            for (a, b) in got.iter().zip(&expected) {
                assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{max_depth:?}, row {i}: {got:?} vs {expected:?}");
            }
        }
    }
}
