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
//!
//! Datasets are opened by name ([`DatasetSource::Named`]: fetched from the public BEIR archive
//! into `$GENRET_HOME/datasets` when missing, see [`dataset`]) or from a folder
//! ([`DatasetSource::Dir`]); [`Dataset::load_split`] gives the checked corpus, judged queries and
//! judgements of one split.

pub mod corpus;
pub mod dataset;
pub mod dev;
pub mod error;
pub mod files;
pub mod qrels;
pub mod queries;
pub mod run;

pub use corpus::{Corpus, CorpusReader, Document};
pub use dataset::{
    genret_home, known_dataset, known_names, Dataset, DatasetSource, KnownDataset, ResolveOptions,
    SplitData, BEIR_BASE_URL, DEV_SPLIT, KNOWN_DATASETS, TRAIN_SPLIT,
};
pub use error::{DataError, Location};
pub use files::{utc_now_rfc3339, write_atomically, write_json_atomically};
pub use qrels::{Qrels, QrelsFormat, UnknownRefs};
pub use queries::{Queries, Query};
pub use run::{Run, ScoredDoc};
