//! # genret-bm25: the lexical baseline every generative retriever is compared with
//!
//! BM25 ranks a document `d` for a query `q` by summing, over the query's terms `t`,
//!
//! ```text
//! idf(t) · (k1 + 1) · tf(t, d) / (tf(t, d) + k1 · (1 − b + b · |d| / avgdl))
//! idf(t) = ln(1 + (N − n(t) + 0.5) / (n(t) + 0.5))
//! ```
//!
//! where `tf` is the term's count in the document, `|d|` the document's length in terms, `avgdl`
//! the mean length, `N` the number of documents and `n(t)` how many contain `t`. This crate builds
//! that index with [tantivy](https://docs.rs/tantivy) and reproduces the BM25 setup BEIR reports
//! (Thakur et al., 2021: Elasticsearch, `english` analyzer, `multi_match` over title and text).
//!
//! ## What tantivy computes (checked in tantivy 0.27.0, `src/query/bm25.rs`)
//!
//! * `k1 = 1.2` and `b = 0.75` are constants (`const K1`, `const B`); tantivy offers no way to
//!   change them. They are Elasticsearch's and Lucene's defaults, so they match BEIR's setup
//!   ([`K1`], [`B`] repeat them here for documentation and tests).
//! * `idf = ln(1 + (N − n + 0.5) / (n + 0.5))`, Lucene's formula. `N` (and the divisor of
//!   `avgdl`) is every document in the index, where Lucene counts only the documents that have
//!   the field. The two agree except for the title field of a corpus where some titles are
//!   empty.
//! * The score keeps the `(k1 + 1)` factor, which Lucene ≥ 8 drops; that scales every score by
//!   2.2 and changes no ranking.
//! * `|d|` is stored lossily in one byte per document and field ("fieldnorm" codes: exact up to
//!   40 terms, then buckets that widen), much like Lucene's `SmallFloat` norms; `avgdl` is exact
//!   (total terms / documents).
//!
//! ## How BEIR's setup is reproduced
//!
//! * Analysis ([`analyzer`]): Elasticsearch's `english` analyzer, step by step: UAX #29 words,
//!   possessive `'s` removal, lower-casing, Lucene's 33 English stop words, Porter stemming.
//! * Fields: by default ([`FieldLayout::Combined`]) title and text are one field, as in
//!   Pyserini's "flat" BEIR baseline; SciFact test nDCG@10 0.683, within 0.02 of the BEIR
//!   paper's 0.665. [`FieldLayout::TitleText`] keeps them as separate fields, each with its own
//!   `avgdl`, and scores `max(text score, title score) + 0.5 × the other`, which is
//!   Elasticsearch's `multi_match` `best_fields` with `tie_breaker: 0.5`, the query BEIR's code
//!   sends; with current BM25 implementations it scores higher than the paper's number (0.691;
//!   Elasticsearch 8 reports 0.690), see `docs/benchmarks.md`.
//! * Queries never meet a query parser: they are analysed into terms and turned into term queries
//!   directly, so any text is a valid query and a query with no term returns no documents.
//!
//! ```
//! use genret_bm25::{Bm25Index, BuildOptions, IndexLocation};
//! use genret_data::Document;
//!
//! let docs = [
//!     Document { id: "d1".into(), title: "Cats".into(), text: "Cats purr and sleep.".into() },
//!     Document { id: "d2".into(), title: "Dogs".into(), text: "Dogs bark at cats.".into() },
//! ];
//! let index = Bm25Index::build(IndexLocation::Ram, &docs, &BuildOptions::default())?;
//! let hits = index.search("why do dogs bark?", 10)?;
//! assert_eq!(hits[0].doc_id, "d2");
//! # Ok::<(), genret_bm25::Bm25Error>(())
//! ```

pub mod analyzer;
pub mod error;
pub mod index;

use std::path::Path;

pub use analyzer::{Analyzer, AnalyzerOptions, StemmerKind, StopWords, TokenizerKind};
pub use error::{Bm25Error, Result};
pub use index::{
    Bm25Builder, Bm25Config, Bm25Index, BuildOptions, FieldLayout, IndexLocation, FORMAT_VERSION,
};

/// tantivy's BM25 term-saturation constant (hard-coded in tantivy; not configurable).
pub const K1: f64 = 1.2;
/// tantivy's BM25 length-normalisation constant (hard-coded in tantivy; not configurable).
pub const B: f64 = 0.75;

/// A short stable name for "this corpus file, indexed with this configuration": FNV-1a over the
/// file's canonical path, size and modification time, the configuration and [`FORMAT_VERSION`].
/// An index whose recorded fingerprint differs is stale.
pub fn corpus_fingerprint(corpus: &Path, config: &Bm25Config) -> Result<String> {
    let canonical = corpus
        .canonicalize()
        .map_err(|e| Bm25Error::io(corpus, e))?;
    let meta = std::fs::metadata(&canonical).map_err(|e| Bm25Error::io(corpus, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let config_json =
        serde_json::to_string(config).map_err(|e| Bm25Error::InvalidOption(e.to_string()))?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    feed(canonical.to_string_lossy().as_bytes());
    feed(&meta.len().to_le_bytes());
    feed(&mtime.to_le_bytes());
    feed(config_json.as_bytes());
    feed(&FORMAT_VERSION.to_le_bytes());
    Ok(format!("{h:016x}"))
}
