//! `genret embed` end to end: the binary's JSON output for a sentence equals the
//! sentence-transformers reference embedding of all-MiniLM-L6-v2
//! (`crates/genret-model/tests/fixtures/minilm_reference.json`) within 1e-4. `--normalize auto`
//! must pick up the model's Normalize module. Skipped when the shared model folder is absent.

use std::path::PathBuf;
use std::process::Command;

fn shared_model() -> Option<PathBuf> {
    let base = std::env::var_os("GENRET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let dir = base.join("models/all-MiniLM-L6-v2");
    dir.is_dir().then_some(dir)
}

#[derive(serde::Deserialize)]
struct Reference {
    sentences: Vec<String>,
    embeddings: Vec<Vec<f64>>,
    mean_pooled: Vec<Vec<f64>>,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../genret-model/tests/fixtures/minilm_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference fixture"))
        .expect("reference json")
}

fn embed(model: &std::path::Path, extra: &[&str], texts: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_genret"))
        .arg("embed")
        .arg("--model")
        .arg(model)
        .args(extra)
        .args(texts)
        .output()
        .expect("running genret");
    assert!(
        out.status.success(),
        "genret embed failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn max_abs_diff(got: &serde_json::Value, want: &[f64]) -> f64 {
    let got = got.as_array().expect("an embedding is an array");
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| (g.as_f64().unwrap() - w).abs())
        .fold(0.0, f64::max)
}

#[test]
fn embed_matches_sentence_transformers() {
    let Some(model) = shared_model() else {
        eprintln!("skipped: shared all-MiniLM-L6-v2 not found (set GENRET_SHARED)");
        return;
    };
    let r = reference();
    let json = embed(&model, &[], &[r.sentences[0].as_str()]);
    assert_eq!(json["dim"], 384);
    assert_eq!(
        json["normalized"], true,
        "modules.json lists Normalize: auto must normalise"
    );
    let rows = json["embeddings"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let diff = max_abs_diff(&rows[0], &r.embeddings[0]);
    assert!(diff < 1e-4, "max abs difference {diff}");

    // Two texts at once, without normalisation: the mean-pooled reference.
    let json = embed(
        &model,
        &["--normalize", "no"],
        &[r.sentences[0].as_str(), r.sentences[1].as_str()],
    );
    assert_eq!(json["normalized"], false);
    let rows = json["embeddings"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (i, row) in rows.iter().enumerate() {
        let diff = max_abs_diff(row, &r.mean_pooled[i]);
        assert!(diff < 1e-4, "text {i}: max abs difference {diff}");
    }
}

#[test]
fn embed_reports_a_bad_model_folder() {
    let out = Command::new(env!("CARGO_BIN_EXE_genret"))
        .args(["embed", "--model", "./no/such/folder", "text"])
        .output()
        .expect("running genret");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no/such/folder"), "{stderr}");
}
