//! The one error type of this crate.
//!
//! Every public entry point validates its input and returns a [`DocidError`] instead of
//! panicking; each message says what is wrong and, for a new document, which one.

use thiserror::Error;

/// Why a docid assignment (or a new document's docid) was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DocidError {
    /// A scheme name that [`SchemeKind`](crate::SchemeKind) does not know.
    #[error("unknown docid scheme `{name}`; valid names are: genret, atomic, naive, hkmeans, rq")]
    UnknownScheme {
        /// The name as given.
        name: String,
    },

    /// `genret` was asked for: its docids come out of training, not out of this crate.
    #[error("genret docids are learned by training, not assigned")]
    Learned,

    /// A configuration value is out of range.
    #[error("invalid docid scheme setting `{name}`: {reason}")]
    InvalidConfig {
        /// The setting's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The corpus is empty.
    #[error("no documents to assign docids to")]
    EmptyCorpus,

    /// The scheme clusters embeddings but none were given.
    #[error("the `{scheme}` docid scheme needs document embeddings, but none were given")]
    MissingEmbeddings {
        /// The scheme's name.
        scheme: &'static str,
    },

    /// The embedding matrix does not have the shape the documents and `dim` imply.
    #[error("embeddings: {reason}")]
    BadEmbeddings {
        /// What is wrong with them.
        reason: String,
    },

    /// Two training documents share a string id (the `naive` scheme's docids are the ids).
    #[error("document id `{id}` occurs twice (documents {first} and {second}); naive docids need unique ids")]
    DuplicateId {
        /// The repeated id.
        id: String,
        /// Position of its first occurrence.
        first: usize,
        /// Position of its second occurrence.
        second: usize,
    },

    /// A new document cannot be given a docid.
    #[error("cannot assign a docid to new document `{id}`: {reason}")]
    NewDocument {
        /// The new document's id.
        id: String,
        /// Why not.
        reason: String,
    },

    /// The code space of the scheme is exhausted for a new document.
    #[error("no free docid for new document `{id}`: {reason}")]
    NoFreeDocid {
        /// The new document's id.
        id: String,
        /// Which part of the code space is full.
        reason: String,
    },

    /// A code or codebook size does not fit in `u32`.
    #[error("code space too large: {reason}")]
    TooManyCodes {
        /// Which count overflowed.
        reason: String,
    },

    /// A stored scheme state is inconsistent (edited by hand or from another version).
    #[error("corrupt `{scheme}` docid state: {reason}")]
    CorruptState {
        /// The scheme's name.
        scheme: &'static str,
        /// What is inconsistent.
        reason: String,
    },

    /// Computing a [`DocidHealth`](genret_cluster::DocidHealth) summary failed.
    #[error(transparent)]
    Health(#[from] genret_cluster::ClusterError),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, DocidError>;
