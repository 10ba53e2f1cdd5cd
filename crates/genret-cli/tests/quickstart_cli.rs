//! `genret quickstart` end to end on a tiny random model and a synthetic BEIR folder with test
//! queries: it trains twice (all documents, then with some held out), runs both baselines and
//! both beam widths, and prints one table with the seen/unseen rows. Skipped when the shared
//! MiniLM tokenizer is absent.

mod common;

use common::{genret, Fixture};

#[test]
fn quickstart_prints_one_table_with_baselines_and_seen_unseen_rows() {
    let Some(fx) = Fixture::new(|_| {}) else {
        return;
    };
    let topics = [
        "protein folding",
        "heart disease",
        "solar energy",
        "deep learning",
        "ocean currents",
        "stock markets",
    ];
    let queries: String = (0..12).map(|i| format!("{}\n", serde_json::json!({"_id": format!("q{i}"), "text": format!("findings about {}", topics[i % 6])}))).collect();
    std::fs::write(fx.data.join("queries.jsonl"), queries).unwrap();
    std::fs::create_dir_all(fx.data.join("qrels")).unwrap();
    let qrels: String = (0..12).map(|i| format!("q{i}\td{}\t1\n", i * 4)).collect();
    std::fs::write(
        fx.data.join("qrels/test.tsv"),
        format!("query-id\tcorpus-id\tscore\n{qrels}"),
    )
    .unwrap();
    let model = fx.path("model");
    let out_dir = fx.path("qs");

    let out = genret(&fx.home)
        .args(["quickstart", "--device", "cpu", "--holdout-docs", "0.25"])
        .args([
            "--data",
            &fx.data.display().to_string(),
            "--model",
            &model.display().to_string(),
        ])
        .args([
            "--config",
            &fx.config.display().to_string(),
            "--out",
            &out_dir.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for row in [
        "BM25 (tantivy)",
        "dense (same encoder, exact)",
        // The default preset decodes residually: its codes are scored by residual code scores.
        "GenRet, codes only (residual code scores, every docid)",
        "GenRet, codes only (the decoder's logits), beam 300",
        "GenRet default (codes + states)",
        "GenRet + BM25 hybrid (default + BM25)",
        "| seen |",
        "| unseen |",
    ] {
        assert!(stdout.contains(row), "missing `{row}` in:\n{stdout}");
    }
    let table = std::fs::read_to_string(out_dir.join("quickstart.md")).unwrap();
    assert!(
        stdout.contains(&table),
        "the printed table is the one written"
    );
    eprintln!("{table}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("quickstart.json")).unwrap()).unwrap();
    assert_eq!(summary["rows"].as_array().unwrap().len(), 6);
    let seen = summary["seen_unseen"]["seen"]["num_queries"]
        .as_u64()
        .unwrap();
    let unseen = summary["seen_unseen"]["unseen"]["num_queries"]
        .as_u64()
        .unwrap();
    assert!(
        seen + unseen <= 12 && seen > 0 && unseen > 0,
        "{seen} seen, {unseen} unseen"
    );
    // With one relevant document per query, the split by judgements counts the same queries
    // as the split by query.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("holdout.metrics.json")).unwrap())
            .unwrap();
    let by_judgement = &report["seen_unseen_judgements"];
    assert_eq!(
        by_judgement["seen"]["num_queries"].as_u64(),
        Some(seen),
        "{by_judgement}"
    );
    assert_eq!(
        by_judgement["unseen"]["num_queries"].as_u64(),
        Some(unseen),
        "{by_judgement}"
    );
    // Every row's metrics are in [0, 1] and the GenRet index size excludes the weights.
    for row in summary["rows"].as_array().unwrap() {
        let ndcg = row["metrics"]["nDCG@10"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&ndcg), "{row}");
    }
}
