//! Balanced clustering for GenRet ("Learning to Tokenize for Generative Retrieval",
//! Sun et al., NeurIPS 2023): the pieces of its *diverse clustering* technique, in pure Rust
//! and f64.
//!
//! GenRet learns a document's docid code by code. Left alone, the codes collapse: a few
//! codes win most documents and many documents end up sharing a docid. The paper counters
//! this twice, and this crate provides both halves plus the metric that tells whether it
//! worked:
//!
//! - [`kmeans`](mod@kmeans): **balanced k-means** to initialise each step's codebook with equally sized
//!   clusters (Lloyd iterations with an exact size-constrained assignment step, which is also
//!   available on its own as [`balanced_assignment`]);
//! - [`sinkhorn`](mod@sinkhorn): **Sinkhorn-Knopp re-assignment** of the code targets of a training batch,
//!   two-sided and in the log domain (the released code's one-sided variant is kept only for
//!   ablations);
//! - [`diversity`](mod@diversity): the paper's **diversity metric** and a [`DocidHealth`] summary of
//!   collisions, for run logs.
//!
//! Every entry point validates its input and returns [`ClusterError`] rather than panicking.

pub mod diversity;
pub mod error;
pub mod kmeans;
pub mod sinkhorn;
mod transport;
pub mod vector;

pub use diversity::{diversity, DocidHealth, StepHealth};
pub use error::{ClusterError, Result};
pub use kmeans::{balanced_assignment, BalancedKMeans, KMeansResult};
pub use sinkhorn::{balanced_assign, sinkhorn, SinkhornOptions, SinkhornResult};
