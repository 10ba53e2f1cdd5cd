//! Refusals, warnings and messages a careful user meets (the integrity issue's items 2, 4 and
//! 5), each through the real binary. Skipped when the shared MiniLM tokenizer is absent.

mod common;

use common::{arg as s, copy_dir, genret, Fixture};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn refusals_warnings_and_messages() {
    let Some(fx) = Fixture::new(|cfg| cfg.docids.codebook_size = 0) else {
        return;
    };
    // K = 0 means "automatic", and training says what it chose.
    let out = genret(&fx.home)
        .env("RUST_LOG", "info")
        .args([
            "train",
            "--device",
            "cpu",
            "--data",
            &s(&fx.data),
            "--config",
            &s(&fx.config),
            "--out",
            &s(&fx.path("run")),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("docids.codebook_size = 0: automatic"),
        "{}",
        stderr(&out)
    );
    let index = fx.path("run/index");

    // An empty or blank query is refused, not answered with arbitrary documents.
    for q in ["", "   "] {
        let out = genret(&fx.home)
            .args(["search", "--device", "cpu", "--index", &s(&index), q])
            .output()
            .unwrap();
        assert!(!out.status.success() && out.stdout.is_empty());
        assert!(
            stderr(&out).contains("query 1 is empty"),
            "{}",
            stderr(&out)
        );
    }
    // A depth beyond a codes-only beam is warned about (log-prob codes: a beam search; the
    // residual code scores of the default index score every docid).
    let out = genret(&fx.home)
        .args([
            "search",
            "--device",
            "cpu",
            "--index",
            &s(&index),
            "--scoring",
            "codes",
            "--code-score",
            "log-prob",
            "--beam",
            "2",
            "--depth",
            "20",
            "solar energy",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("--depth 20 is larger than --beam 2"),
        "{}",
        stderr(&out)
    );

    // A configuration that disagrees with the weights (an index without checksums, K edited):
    // one sentence naming both shapes and the setting, no libtorch trace.
    let edited = fx.path("edited");
    copy_dir(&index, &edited);
    std::fs::remove_file(edited.join("checksums.json")).unwrap();
    let json = std::fs::read_to_string(edited.join("index.json")).unwrap();
    let k: serde_json::Value = serde_json::from_str(&json).unwrap();
    let k = k["heads"]["codebook_size"].as_i64().unwrap();
    std::fs::write(
        edited.join("index.json"),
        json.replacen(
            &format!("\"codebook_size\": {k}"),
            &format!("\"codebook_size\": {}", k + 3),
            1,
        ),
    )
    .unwrap();
    let out = genret(&fx.home)
        .args(["search", "--device", "cpu", "--index", &s(&edited), "solar"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("model.safetensors")
            && err.contains("index.json")
            && err.contains("heads.codebook_size"),
        "{err}"
    );
    assert!(
        err.contains(&format!("[{k}, ")) && err.contains(&format!("[{}, ", k + 3)),
        "{err}"
    );
    assert!(
        !err.contains("infer_size") && err.lines().count() < 4,
        "{err}"
    );

    // A duplicate document id in the corpus names both of its lines.
    let dup = fx.path("dup");
    std::fs::create_dir_all(&dup).unwrap();
    std::fs::write(
        dup.join("corpus.jsonl"),
        "{\"_id\": \"d1\", \"title\": \"a\", \"text\": \"x\"}\n{\"_id\": \"d2\", \"title\": \"b\", \"text\": \"y\"}\n{\"_id\": \"d1\", \"title\": \"c\", \"text\": \"z\"}\n",
    )
    .unwrap();
    std::fs::write(
        dup.join("queries.jsonl"),
        "{\"_id\": \"q1\", \"text\": \"x\"}\n",
    )
    .unwrap();
    std::fs::create_dir_all(dup.join("qrels")).unwrap();
    std::fs::write(
        dup.join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\nq1\td1\t1\n",
    )
    .unwrap();
    let out = genret(&fx.home)
        .args([
            "bm25",
            "--data",
            &s(&dup),
            "--out",
            &s(&fx.path("dup.trec")),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("corpus.jsonl:3") && err.contains("first seen on line 1"),
        "{err}"
    );

    // A missing file's cause is printed once.
    let out = genret(&fx.home)
        .args([
            "index",
            "add",
            "--device",
            "cpu",
            "--index",
            &s(&index),
            "--docs",
            &s(&fx.path("nope.jsonl")),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("nope.jsonl"), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");

    // Diagnostics of a residual index (the default preset's) trace the decoder's own beam, and
    // say so, rather than refusing because residual code scores have no beam.
    fx.add_judged_query("solar energy findings");
    let out = genret(&fx.home)
        .args([
            "diagnose",
            "--device",
            "cpu",
            "--index",
            &s(&index),
            "--data",
            &s(&fx.data),
            "--split",
            "test",
            "--beam",
            "4",
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("diagnosing the decoder's own beam"), "{err}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("| step |") && table.contains("codes(logit)"),
        "{table}"
    );
}
