//! Errors of the docid store and the trie, typed so callers can tell a refused input (a
//! duplicate document id, a docid of the wrong length) from a broken index on disk.
//!
//! The model-facing parts of the crate ([`crate::index`], [`crate::search`]) return
//! `anyhow::Result`, like `genret-model`; an [`IndexError`] inside one can be recovered with
//! `err.downcast_ref::<IndexError>()`.

use std::path::PathBuf;

/// What can go wrong in the store and the trie.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A document id that the index (or the same batch) already holds. Nothing was inserted.
    #[error("document id `{id}` {}; nothing was added", if *.in_batch { "appears twice in the batch" } else { "is already in the index" })]
    DuplicateDocId { id: String, in_batch: bool },
    /// A docid whose length differs from the trie's depth M.
    #[error(
        "docid of document at position {pos} has {found} codes, the index's docids have {expected}"
    )]
    DocidLength {
        pos: u64,
        expected: usize,
        found: usize,
    },
    /// A position the trie already holds.
    #[error("document position {pos} is already in the trie")]
    DuplicatePosition { pos: u64 },
    /// A document position the store does not hold.
    #[error("no document at position {pos}")]
    UnknownPosition { pos: u64 },
    /// The SQLite file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The file exists but is not what it should be (wrong schema, corrupt value).
    #[error("{}: {message}", .path.display())]
    Corrupt { path: PathBuf, message: String },
    /// A file that should (or should not) exist.
    #[error("{}: {message}", .path.display())]
    File { path: PathBuf, message: String },
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;
