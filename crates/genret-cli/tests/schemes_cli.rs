//! `genret train --docids <scheme>` with held-out documents: the run's index holds the trained
//! documents and the held-out ones, added by the scheme's own rule; `genret index add` goes on
//! adding by that rule, and an atomic index refuses documents beyond the codes it reserved,
//! leaving the index as it was. Skipped when the shared MiniLM tokenizer is absent.

mod common;

use std::path::Path;

use common::{genret, Fixture};

fn index_info(home: &Path, index: &Path) -> serde_json::Value {
    let out = genret(home)
        .args([
            "index",
            "info",
            "--json",
            "--index",
            &index.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn add(home: &Path, index: &Path, docs: &Path) -> std::process::Output {
    genret(home)
        .args([
            "index",
            "add",
            "--device",
            "cpu",
            "--index",
            &index.display().to_string(),
            "--docs",
            &docs.display().to_string(),
        ])
        .output()
        .unwrap()
}

#[test]
fn schemes_train_index_and_add_documents_by_their_own_rule() {
    let Some(fx) = Fixture::new(|cfg| {
        cfg.schedule.fixed_epochs = 1;
        cfg.scheme.hkmeans_k = 3;
        cfg.scheme.leaf_size = 6;
        cfg.scheme.rq_k = 4;
    }) else {
        return;
    };
    let new_docs = fx.path("new.jsonl");
    std::fs::write(&new_docs, "{\"_id\": \"d99\", \"title\": \"Solar cells\", \"text\": \"A new study of solar energy.\"}\n").unwrap();

    for scheme in ["hkmeans", "rq", "naive", "atomic"] {
        let run = fx.path(scheme);
        let out = genret(&fx.home)
            .args([
                "train",
                "--device",
                "cpu",
                "--holdout-docs",
                "0.125",
                "--docids",
                scheme,
            ])
            .args([
                "--data",
                &fx.data.display().to_string(),
                "--config",
                &fx.config.display().to_string(),
                "--out",
                &run.display().to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{scheme}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let index = run.join("index");
        let info = index_info(&fx.home, &index);
        assert_eq!(info["config"]["docid_scheme"], scheme);
        assert_eq!(
            (
                info["num_train_docs"].as_u64(),
                info["num_added_docs"].as_u64()
            ),
            (Some(42), Some(6)),
            "{scheme}: {info}"
        );
        assert_eq!(
            info["colliding_docs"], 0,
            "{scheme}: rule-based docids are unique: {info}"
        );

        let out = add(&fx.home, &index, &new_docs);
        if scheme == "atomic" {
            // The 6 reserved codes went to the held-out documents: no code is left.
            assert!(!out.status.success());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("d99") && err.contains("codes per step"),
                "{err}"
            );
            assert_eq!(
                index_info(&fx.home, &index)["num_docs"],
                48,
                "a refused add leaves the index as it was"
            );
        } else {
            assert!(
                out.status.success(),
                "{scheme}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let info = index_info(&fx.home, &index);
            assert_eq!(info["num_docs"], 49, "{scheme}: {info}");
            assert_eq!(
                info["colliding_docs"], 0,
                "{scheme}: the new document got a docid of its own: {info}"
            );
        }
    }
}
