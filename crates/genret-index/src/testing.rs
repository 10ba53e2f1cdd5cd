//! Tiny random models, tokenizers and indexes for tests and examples (here and in the CLI).
//!
//! Nothing here is meaningful retrieval: the model is random. What it gives is a complete,
//! valid index in milliseconds, so the plumbing around search can be exercised without a
//! pretrained checkpoint.

use std::path::{Path, PathBuf};

use anyhow::Result;
use genret_data::Document;
use genret_model::decoder::DecoderConfig;
use genret_model::genret::{tiny_bert_config, BackboneConfig, GenRet, HeadsConfig};
use tch::{nn, Device, Kind, Tensor};

use crate::index::{Index, IndexConfig};
use crate::store::Origin;

/// Words of [`write_word_tokenizer`]'s vocabulary (ids 2.., after `[PAD]` = 0 and `[UNK]` = 1).
pub const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "red", "green", "blue", "cyan",
    "magenta", "yellow", "black", "white",
];

/// A random GenRet model on a tiny BERT (vocabulary 64, hidden 32) with `k` codes per step and
/// `m` steps. Codebooks and code-input tables are scaled up so that the code distributions are
/// far from uniform and rankings have no near-ties.
pub fn tiny_model(k: i64, m: i64, seed: i64) -> Result<(nn::VarStore, GenRet)> {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let heads = HeadsConfig {
        num_steps: m,
        codebook_size: k,
        decoder: DecoderConfig {
            layers: 2,
            heads: 4,
            dropout: 0.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let model = GenRet::new(
        &vs.root(),
        &BackboneConfig::Bert(tiny_bert_config(64)),
        &heads,
    )?;
    tch::no_grad(|| {
        for (cb, ci) in model.codebooks.iter().zip(&model.code_inputs) {
            cb.shallow_clone()
                .copy_(&(Tensor::randn(cb.size(), (Kind::Float, Device::Cpu)) * 0.4));
            ci.shallow_clone()
                .copy_(&(Tensor::randn(ci.size(), (Kind::Float, Device::Cpu)) * 0.5));
        }
    });
    Ok((vs, model))
}

/// Writes a word-level `tokenizer.json` over [`WORDS`] (lower-cased, split on whitespace and
/// punctuation; other words map to `[UNK]`).
pub fn write_word_tokenizer(path: &Path) -> Result<()> {
    let mut vocab = serde_json::Map::new();
    vocab.insert("[PAD]".into(), 0.into());
    vocab.insert("[UNK]".into(), 1.into());
    for (i, w) in WORDS.iter().enumerate() {
        vocab.insert((*w).into(), (i + 2).into());
    }
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(path, serde_json::to_string(&json)?)?;
    Ok(())
}

/// A deterministic five-word text, different for each `i`.
pub fn text(i: usize) -> String {
    (0..5)
        .map(|j| WORDS[(i * 7 + j * 3 + i / 3) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// A document with id `id`, no title and text [`text`]`(i)`.
pub fn document(id: &str, i: usize) -> Document {
    Document {
        id: id.into(),
        title: String::new(),
        text: text(i),
    }
}

/// Creates `dir/<name>`: an index of a [`tiny_model`] (K = 5, M = 3) over `n` training
/// documents `t0 .. t{n-1}` (text [`text`]`(i)`) with docids `(i % 5, 2i % 5, (i / 4) % 5)`.
/// The tokenizer it copies is written to `dir/tokenizer-src.json`.
pub fn tiny_index(dir: &Path, name: &str, n: usize) -> Result<(Index, PathBuf)> {
    let (vs, model) = tiny_model(5, 3, 13)?;
    let tokenizer = dir.join("tokenizer-src.json");
    write_word_tokenizer(&tokenizer)?;
    let config = IndexConfig::for_model(&model, "tiny-random", 16, 32);
    let docs: Vec<(Document, Vec<u32>, Origin)> = (0..n)
        .map(|i| {
            let z = vec![(i % 5) as u32, (i * 2 % 5) as u32, (i / 4 % 5) as u32];
            (document(&format!("t{i}"), i), z, Origin::Train)
        })
        .collect();
    let path = dir.join(name);
    let index = Index::create(&path, &config, &vs, &tokenizer, &docs)?;
    Ok((index, path))
}

/// A fresh folder under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(tag: &str) -> Result<Self> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("genret-{tag}-{}-{n}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
