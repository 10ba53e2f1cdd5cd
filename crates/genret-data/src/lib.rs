//! # genret-data: the retrieval data every other part of genret reads
//!
//! Information retrieval data comes in two families of plain-text formats, and genret reads both:
//!
//! * **BEIR layout** (what `beir.datasets.data_loader.GenericDataLoader` reads): a folder with
//!   `corpus.jsonl` (or `corpus.jsonl.gz`), `queries.jsonl` and `qrels/<split>.tsv`.
//! * **TREC formats**: run files (`qid Q0 docid rank score tag`) and qrels (`qid 0 docid rel`),
//!   the input of `trec_eval`.
//!
//! Corpora are read as a stream ([`CorpusReader`]) so a corpus of millions of documents is never
//! held as JSON values; [`Corpus`] collects the stream into compact owned documents when a
//! component needs random access. Every malformed input is a [`DataError`] naming the file, the
//! line and the field.

pub mod corpus;
pub mod dataset;
pub mod error;
pub mod qrels;
pub mod queries;
pub mod run;

pub use corpus::{Corpus, CorpusReader, Document};
pub use dataset::{Dataset, DatasetSource};
pub use error::{DataError, Location};
pub use qrels::{Qrels, QrelsFormat, UnknownRefs};
pub use queries::{Queries, Query};
pub use run::{Run, ScoredDoc};
