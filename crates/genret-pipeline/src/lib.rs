//! # genret-pipeline: the use cases of genret, as a library
//!
//! The crates below this one each own one concept (data, model, training, docids, index,
//! baselines, evaluation). This one ties them into what a user does, so that the command line,
//! the benchmarks, the HTTP server and the run report all call the same functions:
//!
//! * [`training`]: train a run and build its searchable index ([`training::train_and_index`]).
//! * [`retriever`]: search with any system through one trait ([`Retriever`]): GenRet, BM25,
//!   dense, and fusions of them. Errors separate the caller's mistakes from faults
//!   ([`Error`], [`InputError`]).
//! * [`queue`]: share a retriever between threads ([`SharedRetriever`]): one worker owns the
//!   model, concurrent requests are batched, changes (adding documents) run between batches.
//! * [`baselines`]: find or build the BM25 index and the dense embeddings, cached by
//!   fingerprint.
//! * [`experiment`]: one system on one split, end to end: the retriever made, the split
//!   retrieved and evaluated, the run and a typed report written ([`experiment::run_genret`],
//!   [`experiment::run_bm25`], [`experiment::run_dense`]).
//! * [`split`]: retrieve a split's judged queries, time them, and evaluate the run, including
//!   the seen/unseen split of an index with added documents.
//!
//! What these produce is recorded with the types of `genret-records` (re-exported as
//! [`records`]), the one schema every consumer reads.

pub mod baselines;
pub mod experiment;
pub mod queue;
pub mod retriever;
pub mod split;
pub mod training;

pub use genret_records as records;
pub use queue::{QueueOptions, QueueStats, SharedRetriever};
pub use retriever::{
    Bm25Retriever, DenseRetriever, Error, Fusion, GenretRetriever, InputError, Retriever,
    SearchParams,
};
