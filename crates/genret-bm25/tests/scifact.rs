//! The acceptance check of the baseline: BM25 on BEIR SciFact (test split) reaches the BEIR
//! paper's nDCG@10 of 0.665 within 0.02. Reads the shared evaluation data
//! (`$GENRET_SHARED/data/scifact`, by default `../shared` beside the repository) and skips,
//! saying so, when it is not there. The full benchmark with timings is `bench/bm25/run.sh`.

use std::path::PathBuf;

use genret_bm25::{Bm25Index, BuildOptions, IndexLocation};
use genret_data::{Dataset, Qrels, ScoredDoc};

fn scifact_dir() -> Option<PathBuf> {
    let shared = std::env::var_os("GENRET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let dir = shared.join("data").join("scifact");
    dir.join("queries.jsonl").exists().then_some(dir)
}

/// trec_eval's `ndcg_cut.10` for one query: ranking by score (as f32) then document id, both
/// decreasing; grades as gains; ideal ranking over all judged positives.
fn ndcg10(ranked: &[ScoredDoc], judged: &std::collections::BTreeMap<String, i32>) -> f64 {
    let mut order: Vec<&ScoredDoc> = ranked.iter().collect();
    order.sort_by(|a, b| {
        (b.score as f32)
            .total_cmp(&(a.score as f32))
            .then_with(|| b.doc_id.cmp(&a.doc_id))
    });
    let discount = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = order
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| f64::from((*judged.get(&d.doc_id).unwrap_or(&0)).max(0)) * discount(i))
        .sum();
    let mut gains: Vec<i32> = judged.values().copied().filter(|&g| g > 0).collect();
    gains.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = gains
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, &g)| f64::from(g) * discount(i))
        .sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

#[test]
fn scifact_test_ndcg10_reproduces_beir() {
    let Some(dir) = scifact_dir() else {
        eprintln!("skipped: no shared SciFact data (set GENRET_SHARED to the folder holding data/scifact)");
        return;
    };
    let dataset = Dataset::from_dir(&dir).unwrap();
    let docs = dataset
        .corpus_reader()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let index = Bm25Index::build(IndexLocation::Ram, &docs, &BuildOptions::default()).unwrap();
    assert_eq!(index.num_docs(), 5183);

    let queries = dataset.load_queries().unwrap();
    let qrels = Qrels::load(dataset.qrels_path("test")).unwrap();
    let judged = queries.judged(&qrels);
    assert_eq!(judged.len(), 300);
    let texts: Vec<&str> = judged.iter().map(|q| q.text.as_str()).collect();
    let results = index.search_batch(&texts, 10, 0).unwrap();
    let mean = judged
        .iter()
        .zip(&results)
        .map(|(q, ranked)| ndcg10(ranked, qrels.query(&q.id).unwrap()))
        .sum::<f64>()
        / judged.len() as f64;
    eprintln!("SciFact test nDCG@10 = {mean:.4} (BEIR paper: 0.665)");
    assert!(
        mean >= 0.645,
        "nDCG@10 {mean:.4} is more than 0.02 below BEIR's 0.665"
    );
}
