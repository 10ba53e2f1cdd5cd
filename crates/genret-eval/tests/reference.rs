//! Every measure on the committed fixtures against pytrec_eval's values.
//!
//! `tests/fixtures/make_reference.py` wrote the fixtures and `reference.json` (pytrec_eval per
//! query; means over queries both judged and in the run, "skip", and over all judged queries with
//! the missing ones evaluated on an empty ranking, "zero" = `trec_eval -c`). The fixtures hold
//! score ties, float32-only ties, graded judgements with unretrieved relevant documents, a first
//! relevant document below rank 10 and rankings longer than 100, so a wrong tie order, `2^rel - 1`
//! gains, a wrong ideal DCG or an uncut MRR@10 each fail here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use genret_data::{Qrels, Run};
use genret_eval::{evaluate, EvalOptions, Evaluation, Metric, MissingQueries, ScorePrecision};
use serde_json::Value;

/// pytrec_eval and this crate sum in the same order, so values agree to rounding at worst.
const TOLERANCE: f64 = 1e-9;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn reference() -> Value {
    let path = fixtures_dir().join("reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference.json is JSON")
}

struct Fixture {
    qrels: Qrels,
    run: Run,
    reference: Value,
    /// Reference measure name (trec_eval's, or `RR@k`) and the metric it names.
    metrics: Vec<(String, Metric)>,
}

fn fixture(name: &str) -> Fixture {
    let all = reference();
    let reference = all["fixtures"][name].clone();
    let dir = fixtures_dir();
    let qrels = Qrels::load(dir.join(reference["qrels"].as_str().unwrap())).expect("qrels load");
    let run = Run::load(dir.join(reference["run"].as_str().unwrap())).expect("run load");
    let metrics = reference["mean_zero"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| {
            (
                k.clone(),
                k.parse::<Metric>()
                    .unwrap_or_else(|e| panic!("reference measure {k}: {e}")),
            )
        })
        .collect();
    Fixture {
        qrels,
        run,
        reference,
        metrics,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn run_eval(f: &Fixture, qrels: &Qrels, options: &EvalOptions) -> Evaluation {
    let metrics: Vec<Metric> = f.metrics.iter().map(|(_, m)| *m).collect();
    evaluate(qrels, &f.run, &metrics, options).expect("evaluation succeeds")
}

/// Compares per-query values and means; returns the largest difference seen.
fn compare(f: &Fixture, eval: &Evaluation, missing: MissingQueries) -> f64 {
    let reference = &f.reference;
    let mut problems = Vec::new();
    let mut max_diff = 0.0f64;
    let mut check = |what: String, ours: Option<f64>, theirs: f64| match ours {
        Some(v) => {
            let diff = (v - theirs).abs();
            max_diff = max_diff.max(diff);
            if diff > TOLERANCE {
                problems.push(format!("{what}: ours {v} reference {theirs}"));
            }
        }
        None => problems.push(format!("{what}: missing, reference {theirs}")),
    };

    let expected_queries = match missing {
        MissingQueries::Zero => reference["per_query"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect(),
        MissingQueries::Skip => strings(&reference["evaluated_in_skip_mode"]),
    };
    let ours_queries: Vec<String> = eval.per_query.keys().cloned().collect();
    assert_eq!(ours_queries, expected_queries, "evaluated queries");
    assert_eq!(eval.num_queries, expected_queries.len());
    assert_eq!(
        eval.missing_queries,
        strings(&reference["missing"]),
        "missing queries"
    );
    assert_eq!(
        eval.unjudged_queries,
        strings(&reference["unjudged"]),
        "unjudged queries"
    );

    for qid in &expected_queries {
        for (ref_name, metric) in &f.metrics {
            let theirs = reference["per_query"][qid][ref_name].as_f64().unwrap();
            let ours = eval
                .per_query
                .get(qid)
                .and_then(|v| v.get(&metric.name()))
                .copied();
            check(format!("{qid} {ref_name}"), ours, theirs);
        }
    }
    let means = match missing {
        MissingQueries::Zero => &reference["mean_zero"],
        MissingQueries::Skip => &reference["mean_skip"],
    };
    for (ref_name, metric) in &f.metrics {
        check(
            format!("mean {ref_name}"),
            eval.mean_of(*metric),
            means[ref_name].as_f64().unwrap(),
        );
    }
    assert!(
        problems.is_empty(),
        "{} values differ from pytrec_eval:\n{}",
        problems.len(),
        problems
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    max_diff
}

fn check_fixture(name: &str, missing: MissingQueries) {
    let f = fixture(name);
    let options = EvalOptions {
        missing,
        ..EvalOptions::default()
    };
    let eval = run_eval(&f, &f.qrels, &options);
    let max_diff = compare(&f, &eval, missing);
    eprintln!(
        "{name} {missing:?}: {} queries, largest difference from pytrec_eval {max_diff:e}",
        eval.num_queries
    );
}

#[test]
fn small_fixture_matches_pytrec_eval_missing_as_zero() {
    check_fixture("small", MissingQueries::Zero);
}

#[test]
fn small_fixture_matches_pytrec_eval_missing_skipped() {
    check_fixture("small", MissingQueries::Skip);
}

#[test]
fn random_fixture_matches_pytrec_eval_missing_as_zero() {
    check_fixture("random", MissingQueries::Zero);
}

#[test]
fn random_fixture_matches_pytrec_eval_missing_skipped() {
    check_fixture("random", MissingQueries::Skip);
}

#[test]
fn beir_tsv_qrels_evaluate_like_trec_qrels() {
    let f = fixture("random");
    let beir = Qrels::load(fixtures_dir().join("random.qrels.tsv")).expect("BEIR qrels load");
    assert_eq!(beir, f.qrels);
    let eval = run_eval(&f, &beir, &EvalOptions::default());
    compare(&f, &eval, MissingQueries::Zero);
}

#[test]
fn the_reference_scores_in_float32_and_f64_comparison_departs_from_it() {
    // q7 holds scores equal only as float32: pytrec_eval ties them, trec_eval >= 9.0.8 would not.
    let f = fixture("small");
    let options = EvalOptions {
        score_precision: ScorePrecision::F64,
        ..EvalOptions::default()
    };
    let eval = run_eval(&f, &f.qrels, &options);
    assert_eq!(eval.per_query["q7"]["MRR"], 1.0);
    assert_eq!(
        f.reference["per_query"]["q7"]["recip_rank"].as_f64(),
        Some(0.5)
    );
    let random = fixture("random");
    let e64 = run_eval(&random, &random.qrels, &options);
    let e32 = run_eval(&random, &random.qrels, &EvalOptions::default());
    let differing: Vec<&String> = e32
        .per_query
        .keys()
        .filter(|q| e32.per_query[*q] != e64.per_query[*q])
        .collect();
    assert!(
        !differing.is_empty(),
        "the random fixture should hold float32-only ties"
    );
}

#[test]
fn fixtures_exercise_the_edge_cases() {
    let small = fixture("small");
    let r = &small.reference["per_query"];
    // First relevant document below rank 10: RR@10 must be cut.
    assert_eq!(r["q4"]["RR@10"].as_f64(), Some(0.0));
    assert!(r["q4"]["recip_rank"].as_f64().unwrap() > 0.0);
    // More than 100 results, relevant documents on both sides of rank 100.
    assert!(small.run.get("q4").unwrap().len() > 100);
    let full_recall =
        r["q4"]["num_rel_ret"].as_f64().unwrap() / r["q4"]["num_rel"].as_f64().unwrap();
    assert!(r["q4"]["recall_100"].as_f64().unwrap() < full_recall);
    // A judged query without relevant documents, evaluated, all zero.
    assert_eq!(r["q3"]["num_rel"].as_f64(), Some(0.0));
    assert_eq!(r["q3"]["num_ret"].as_f64(), Some(3.0));
    // Exact score ties among judged documents.
    let q2 = small.run.get("q2").unwrap();
    let mut tied: BTreeMap<u64, usize> = BTreeMap::new();
    for d in q2 {
        *tied.entry(d.score.to_bits()).or_default() += 1;
    }
    assert!(tied.values().any(|&n| n >= 3));
}
