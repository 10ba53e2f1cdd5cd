//! # genret-train: learning docids and the retriever together
//!
//! GenRet learns document identifiers by discrete auto-encoding: the network reads a document
//! and emits a short code sequence (its docid); a reconstruction objective asks that the codes
//! identify the document among others; and the same network, reading a query, is trained to
//! emit the docid of the document the query is about. Codes are learned one position at a time
//! ("progressive training"): while step T trains, the codes of steps before T are fixed data.
//! Two devices keep the codes spread over the codebook ("diverse clustering"): each step's
//! codebook starts from balanced k-means centroids, and training targets come from a
//! Sinkhorn-Knopp balanced assignment rather than the plain argmax.
//!
//! * [`codebook`]: codebook rows from k-means centroids, for dot-product codes.
//! * [`config`]: the TOML configuration, with corpus-dependent defaults.
//! * [`signal`]: training queries: judged, pseudo, or made from the documents.
//! * [`memory`]: cached encoder states for frozen encoders.
//! * [`optim`]: AdamW whose state is checkpointed.
//! * [`trainer`]: the progressive plan, checkpoints and resume.

pub mod codebook;
pub mod config;
pub mod manifest;
pub mod memory;
pub mod optim;
pub mod progress;
pub mod signal;
pub mod trainer;

pub use config::TrainConfig;
pub use trainer::{train, TrainInputs, TrainOptions, TrainOutput};
