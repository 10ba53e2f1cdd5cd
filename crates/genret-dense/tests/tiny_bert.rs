//! The dense index end to end on a tiny randomly initialised BERT (fast, no pretrained weights):
//! a query equal to a document's text finds that document first with cosine 1, scores come
//! sorted, `k` limits the results, and a saved index loads back identical.
//!
//! Needs a WordPiece tokenizer: the shared all-MiniLM-L6-v2 `tokenizer.json`, found through
//! `GENRET_SHARED` or the `shared` folder next to the repository; skipped when absent.

use std::path::PathBuf;

use genret_dense::{encode_queries, BuildOptions, DenseIndex};
use genret_model::bert::BertModel;
use genret_model::checkpoint::Checkpoint;
use genret_model::embed::Embedder;
use genret_model::genret::tiny_bert_config;
use tch::{nn, Device};

fn shared_tokenizer() -> Option<PathBuf> {
    let base = std::env::var_os("GENRET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let file = base.join("models/all-MiniLM-L6-v2/tokenizer.json");
    file.is_file().then_some(file)
}

/// Writes a checkpoint folder holding a random tiny BERT and the shared tokenizer.
fn tiny_checkpoint(dir: &std::path::Path, tokenizer: &std::path::Path) -> Checkpoint {
    tch::manual_seed(11);
    let mut cfg = tiny_bert_config(30522);
    cfg.max_position_embeddings = 64;
    let vs = nn::VarStore::new(Device::Cpu);
    let _model = BertModel::new(vs.root(), &cfg).unwrap();
    vs.save(dir.join("model.safetensors")).unwrap();
    let mut config = serde_json::to_value(&cfg).unwrap();
    config["model_type"] = "bert".into();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    std::fs::copy(tokenizer, dir.join("tokenizer.json")).unwrap();
    Checkpoint::resolve(dir.to_str().unwrap()).unwrap()
}

const DOCS: [&str; 6] = [
    "Generative retrieval maps a query directly to document identifiers.",
    "Balanced clustering keeps codes diverse.",
    "A dense retriever encodes documents into vectors once.",
    "The cat sleeps on the warm windowsill.",
    "Magnetic resonance imaging of white matter in newborns.",
    "short",
];

#[test]
fn a_document_text_as_query_finds_itself_first() {
    let Some(tokenizer) = shared_tokenizer() else {
        eprintln!("skipped: shared tokenizer not found (set GENRET_SHARED)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ckpt = tiny_checkpoint(dir.path(), &tokenizer);
    let embedder = Embedder::load(&ckpt, 64, Device::Cpu).unwrap();
    // Batches of 4 with length sorting: rows must still come back in corpus order.
    let options = BuildOptions {
        batch_size: 4,
        sort_by_length: true,
        progress: false,
    };
    let index = DenseIndex::build_with(&embedder, &DOCS, &options).unwrap();
    assert_eq!(index.len(), DOCS.len());
    assert_eq!(index.dim(), 32);
    let unsorted = DenseIndex::build_with(
        &embedder,
        &DOCS,
        &BuildOptions {
            sort_by_length: false,
            ..options.clone()
        },
    )
    .unwrap();
    let diff = (index.embeddings() - unsorted.embeddings())
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff < 1e-5, "length sorting changed the vectors by {diff}");
    // Rows are unit vectors.
    let norms = index
        .embeddings()
        .norm_scalaropt_dim(2, [1i64].as_slice(), false);
    assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);

    let queries = encode_queries(&embedder, &DOCS, 2).unwrap();
    let hits = index.search(&queries, 3).unwrap();
    assert_eq!(hits.len(), DOCS.len());
    for (i, row) in hits.iter().enumerate() {
        assert_eq!(row.len(), 3, "k limits the results");
        assert_eq!(
            row[0].0, i,
            "query {i} should find its own document first: {row:?}"
        );
        assert!(
            (row[0].1 - 1.0).abs() < 1e-4,
            "exact duplicate should score cosine 1, got {}",
            row[0].1
        );
        for w in row.windows(2) {
            assert!(w[0].1 >= w[1].1, "scores not sorted: {row:?}");
        }
    }
    // k beyond the corpus returns every document once.
    let all = index.search(&queries.narrow(0, 0, 1), 100).unwrap();
    let mut ids: Vec<usize> = all[0].iter().map(|h| h.0).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..DOCS.len()).collect::<Vec<_>>());

    // Save and load: identical vectors, metadata and results.
    let mut index = index;
    index.meta.insert("model".into(), "tiny".into());
    let path = dir.path().join("index/dense.safetensors");
    index.save(&path).unwrap();
    let back = DenseIndex::load(&path).unwrap();
    assert!(back.embeddings().equal(index.embeddings()));
    assert_eq!(back.meta.get("model").map(String::as_str), Some("tiny"));
    assert_eq!(back.search(&queries, 3).unwrap(), hits);
}
