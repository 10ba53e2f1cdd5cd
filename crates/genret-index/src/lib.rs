//! # genret-index: search a corpus with a trained GenRet model, and grow it without retraining
//!
//! A GenRet retriever does not score documents one by one: it *generates* their identifiers.
//! Each document has a docid of M codes (learned by the model's own tokenizer, see
//! `../shared/docs/genret-method.md`), and a query is answered by decoding the most likely docids, step by
//! step, restricted to docids that exist. This crate holds everything around that:
//!
//! * [`store`]: the transactional document store (SQLite, bundled): document id ↔ docid,
//!   title and text for showing results, and whether a document came from training or was
//!   added later. Positions (insertion order) give every document a stable rank among those
//!   sharing its docid.
//! * [`trie`]: the prefix trie of the docids, rebuilt from the store at load; it tells the
//!   search which codes continue a prefix towards some document.
//! * [`search`]: constrained beam search over the trie with the decoder's key/value cache,
//!   batched over queries, with no end-of-sequence token.
//! * [`integrity`]: checksums of the index files, verified at every open, and the full check
//!   behind `genret index verify`.
//! * [`residual`]: residual code scores, a docid scored by the dense model's geometry from its
//!   codes alone (additive codebooks fitted to the docids).
//! * [`index`]: the index folder (weights, configuration, tokenizer, store): creating it
//!   atomically, opening it, searching it, and adding documents with the tokenizer alone, all
//!   or nothing.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use genret_data::Document;
//! use genret_index::Index;
//!
//! let mut index = Index::open("my.index".as_ref(), tch::Device::Cpu)?;
//! let new = Document { id: "n1".into(), title: "Scurvy".into(), text: "Vitamin C deficiency ...".into() };
//! let report = index.add_documents(&[new], 32)?;
//! println!("docid of n1: {:?}", report.documents[0].codes);
//! let hits = index.search(&["vitamin c deficiency"], 10, 10)?;
//! # Ok(()) }
//! ```

pub mod error;
pub mod index;
pub mod integrity;
pub mod residual;
pub mod search;
pub mod states;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trie;

pub use error::{Error, IndexError, InputError};
pub use index::{
    AddReport, AddedDoc, Hit, Index, IndexConfig, IndexInfo, Scoring, SearchOptions, MAX_BEAM,
    WEIGHTS_FILE,
};
pub use search::CodeScore;
pub use states::StateKind;
pub use store::{DocStore, Origin, StoredDoc};
pub use trie::{DocidTrie, NodeId};

/// The tch this crate was built with (devices, for callers).
pub use tch;
