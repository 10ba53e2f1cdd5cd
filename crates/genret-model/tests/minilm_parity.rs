//! Parity with sentence-transformers: mean-pooled all-MiniLM-L6-v2 embeddings of fixed sentences
//! equal the reference (made by `fixtures/make_minilm_reference.py`) within 1e-4.

use std::path::PathBuf;

use genret_model::checkpoint::Checkpoint;
use genret_model::embed::Embedder;
use tch::Device;

fn shared_model() -> Option<PathBuf> {
    let base = std::env::var_os("GENRET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let dir = base.join("models/all-MiniLM-L6-v2");
    dir.is_dir().then_some(dir)
}

#[derive(serde::Deserialize)]
struct Reference {
    max_seq_length: usize,
    sentences: Vec<String>,
    embeddings: Vec<Vec<f32>>,
    mean_pooled: Vec<Vec<f32>>,
}

fn max_abs_diff(got: &tch::Tensor, want: &[Vec<f32>]) -> f64 {
    let mut worst = 0f64;
    for (i, row) in want.iter().enumerate() {
        assert_eq!(got.size()[1] as usize, row.len());
        for (j, w) in row.iter().enumerate() {
            worst = worst.max((got.double_value(&[i as i64, j as i64]) - *w as f64).abs());
        }
    }
    worst
}

#[test]
fn minilm_mean_pooled_embeddings_match_sentence_transformers() {
    let Some(dir) = shared_model() else {
        eprintln!("skipped: shared all-MiniLM-L6-v2 not found (set GENRET_SHARED)");
        return;
    };
    let reference: Reference = serde_json::from_str(include_str!("fixtures/minilm_reference.json"))
        .expect("reference json");
    let ckpt = Checkpoint::resolve(dir.to_str().unwrap()).expect("checkpoint");
    let embedder = Embedder::load(&ckpt, reference.max_seq_length, Device::Cpu).expect("load");
    let texts: Vec<&str> = reference.sentences.iter().map(String::as_str).collect();
    // Batch of 2 so that padding inside a batch is exercised.
    let pooled = embedder.embed(&texts, 2, false).expect("embed");
    let worst = max_abs_diff(&pooled, &reference.mean_pooled);
    eprintln!("mean pooled: max abs difference vs sentence-transformers {worst:.2e}");
    assert!(worst < 1e-4, "mean pooled: max abs difference {worst}");
    // The model's sentence-transformers pipeline ends with Normalize.
    let normalized = embedder.embed(&texts, 5, true).expect("embed");
    let worst = max_abs_diff(&normalized, &reference.embeddings);
    eprintln!("normalized: max abs difference vs sentence-transformers {worst:.2e}");
    assert!(worst < 1e-4, "normalized: max abs difference {worst}");
}

#[test]
fn tokenizer_file_truncation_is_not_inherited() {
    let Some(dir) = shared_model() else { return };
    let ckpt = Checkpoint::resolve(dir.to_str().unwrap()).unwrap();
    // The file says 128; genret's own setting wins in both directions.
    let long = "word ".repeat(400);
    let t = genret_model::tokenize::TextTokenizer::from_file(&ckpt.tokenizer, 300).unwrap();
    assert_eq!(t.count_tokens(&long).unwrap(), 300);
    let t = genret_model::tokenize::TextTokenizer::from_file(&ckpt.tokenizer, 64).unwrap();
    assert_eq!(t.count_tokens(&long).unwrap(), 64);
    // Padding is to the batch's longest text, not a fixed 128.
    let b = t.encode_batch(&["a b", "a"], Device::Cpu).unwrap();
    assert_eq!(b.input_ids.size(), vec![2, 4]);
}
