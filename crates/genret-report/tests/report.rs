//! The report of the fixture run (real `genret quickstart` output, see fixtures/README.md):
//! every section has its data, the numbers are the run's, and damaged inputs give errors that
//! name the file and line.

mod common;

use common::{copy_dir, fixture_inputs, fixtures, sections};
use genret_report::{render, write_report, ReportError, ReportInputs, SECTIONS};

#[test]
fn every_section_of_the_fixture_report_has_content() {
    let html = render(&fixture_inputs()).unwrap();
    let found = sections(&html);
    let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
    let want: Vec<&str> = SECTIONS.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, want);
    for (id, body) in &found {
        assert!(
            !body.contains("class=\"absent\""),
            "section {id} says its data is absent:\n{body}"
        );
        let content = ["<table", "<svg", "<details"]
            .iter()
            .map(|tag| body.matches(tag).count())
            .sum::<usize>();
        assert!(content > 0, "section {id} has no table, plot or tree");
    }
}

#[test]
fn the_report_carries_the_runs_numbers() {
    let html = render(&fixture_inputs()).unwrap();
    let s: std::collections::HashMap<String, String> = sections(&html).into_iter().collect();
    // Summary: quickstart.json's rows, nDCG@10 of BM25 and GenRet's default scoring.
    assert!(s["summary"].contains("BM25 (tantivy)") && s["summary"].contains("0.7846"));
    assert!(
        s["summary"].contains("GenRet default (codes + states)") && s["summary"].contains("0.8980")
    );
    // Training: a loss plot with the three progressive boundaries (steps 2, 3, final).
    let training = &s["training"];
    assert_eq!(
        training.matches("<svg").count(),
        2,
        "losses and learning rate"
    );
    for label in ["step 2", "step 3", "final"] {
        assert!(training.contains(label), "boundary {label}");
    }
    // Health: the five health events, and a histogram per prefix length (4).
    assert_eq!(
        s["health"].matches("disambiguated").count(),
        2,
        "row and note"
    );
    assert_eq!(s["health"].matches("<svg").count(), 4);
    // Hierarchy: the four first codes, each with terms.
    let tree = &s["hierarchy"];
    assert!(tree.matches("<details").count() >= 4);
    assert!(tree.contains("class=\"terms\">") && !tree.contains("class=\"terms\"></span>"));
    // Seen and unseen: 7 seen and 5 unseen queries.
    assert!(s["seen-unseen"].contains("<td>seen</td><td class=\"num\">7</td>"));
    assert!(s["seen-unseen"].contains("<td>unseen</td><td class=\"num\">5</td>"));
    // Worst queries: query texts from queries.jsonl, docids beside documents.
    assert!(s["queries"].contains("<mark>"));
    assert!(s["queries"].contains("0-year-old") || s["queries"].contains("<br>"));
    // Manifest: seed and hashes.
    let config = &s["config"];
    for needle in [
        "<th>seed</th>",
        "42",
        "data hash",
        "model hash",
        "git revision",
    ] {
        assert!(config.contains(needle), "{needle}");
    }
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("tinyfact-run/train/manifest.json")).unwrap(),
    )
    .unwrap();
    assert!(config.contains(manifest["data_hash"].as_str().unwrap()));
    assert!(config.contains(manifest["model_hash"].as_str().unwrap()));
}

#[test]
fn the_page_is_self_contained() {
    let html = render(&fixture_inputs()).unwrap();
    assert!(!html.contains("<script"), "no script");
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let target = part.split('"').next().unwrap();
            assert!(
                target.starts_with('#') || target.starts_with("data:"),
                "{attr}{target}: only in-page anchors and data URLs"
            );
        }
    }
    assert!(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"));
    // Rendering is deterministic: a regenerated report diffs cleanly.
    assert_eq!(html, render(&fixture_inputs()).unwrap());
}

#[test]
fn a_training_folder_alone_reports_what_it_has() {
    let html = render(&ReportInputs::new(fixtures().join("tinyfact-run/train"))).unwrap();
    let s: std::collections::HashMap<String, String> = sections(&html).into_iter().collect();
    assert!(s["summary"].contains("GenRet (trained, not searched)"));
    assert!(s["training"].contains("<svg"));
    assert!(s["hierarchy"].contains("<details"));
    assert!(s["hierarchy"].contains("Terms and titles need the documents"));
    assert!(s["queries"].contains("need the judgements"));
    assert!(s["seen-unseen"].contains("no held-out documents"));
}

#[test]
fn compared_runs_join_the_summary_and_manifest() {
    let mut inputs = ReportInputs::new(fixtures().join("tinyfact-run"));
    inputs.compare = vec![fixtures().join("tinyfact-run/holdout")];
    let html = render(&inputs).unwrap();
    let s: std::collections::HashMap<String, String> = sections(&html).into_iter().collect();
    assert!(s["summary"].contains("<th>run</th>"));
    assert!(s["summary"].contains("<td>holdout</td>"));
    assert!(s["config"].contains("<th>holdout</th>"));
}

#[test]
fn damaged_inputs_are_named_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    copy_dir(&fixtures().join("tinyfact-run"), &run);

    let log = run.join("train/metrics.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[2] = r#"{"event":"batch","loss":"high"}"#.into();
    std::fs::write(&log, lines.join("\n")).unwrap();
    let err = render(&ReportInputs::new(&run)).unwrap_err().to_string();
    assert!(err.contains("train/metrics.jsonl:3"), "{err}");

    copy_dir(&fixtures().join("tinyfact-run"), &run);
    std::fs::write(run.join("train/docids.tsv"), "d1\t0-1-2-0\nd2\t0-x\n").unwrap();
    let err = render(&ReportInputs::new(&run)).unwrap_err().to_string();
    assert!(err.contains("train/docids.tsv:2"), "{err}");

    copy_dir(&fixtures().join("tinyfact-run"), &run);
    std::fs::write(run.join("bm25.json"), "{\"system\": \"bm25\"}").unwrap();
    let err = render(&ReportInputs::new(&run)).unwrap_err().to_string();
    assert!(err.contains("bm25.json"), "{err}");

    let err = render(&ReportInputs::new(dir.path())).unwrap_err();
    assert!(matches!(err, ReportError::NotARun { .. }), "{err}");
    assert!(err.to_string().contains("quickstart.json"), "{err}");
}

#[test]
fn the_report_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/report.html");
    write_report(&fixture_inputs(), &out).unwrap();
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "report.html")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
