//! Errors of the docid store and the trie, typed so callers can tell a refused input (a
//! duplicate document id, a docid of the wrong length) from a broken index on disk.
//!
//! The index's public search and add calls return [`Error`], which separates what the caller
//! asked wrongly ([`InputError`]: an empty query, a zero beam, a duplicate document id, a
//! scoring the index cannot do) from faults of the index or the machine (`Error::Internal`),
//! so a server can answer 4xx for one and 5xx for the other without reading messages.

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

/// A request refused because of what it asks: the caller can fix it, and nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Query `index` (1-based) is empty or blank.
    #[error("query {index} is empty: nothing to search for")]
    EmptyQuery { index: usize },
    /// A count out of its allowed range (`beam`, `depth`, `batch size`).
    #[error("{field} is {value}; it must be between {min} and {max}")]
    OutOfRange {
        field: &'static str,
        value: usize,
        min: usize,
        max: usize,
    },
    /// A document id that the index (or the same batch) already holds.
    #[error("document id `{id}` {}; nothing was added", if *.in_batch { "appears twice in the batch" } else { "is already in the index" })]
    DuplicateDocId { id: String, in_batch: bool },
    /// A document with an empty id.
    #[error("document {index} of the batch has an empty id; nothing was added")]
    EmptyDocId { index: usize },
    /// A scoring this index cannot do (it stores no states, or the settings contradict).
    #[error("{0}")]
    Unsupported(String),
}

impl InputError {
    /// `OutOfRange` unless `min <= value <= max`.
    pub fn check_range(
        field: &'static str,
        value: usize,
        min: usize,
        max: usize,
    ) -> Result<(), InputError> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(InputError::OutOfRange {
                field,
                value,
                min,
                max,
            })
        }
    }
}

/// What a search or an add on an [`crate::Index`] can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's request is wrong; nothing changed.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The index, the model or the machine failed (a damaged file, a full disk, libtorch).
    #[error(transparent)]
    Internal(anyhow::Error),
    /// Too much waiting work: a queue of `capacity` requests in front of the index is full.
    /// Nothing was done; the same request can succeed shortly (a server answers 503).
    #[error("the search queue is full ({capacity} requests waiting); try again shortly")]
    Overloaded { capacity: usize },
}

impl Error {
    /// Whether the caller's input was refused (as opposed to an internal fault).
    pub fn is_input(&self) -> bool {
        matches!(self, Error::Input(_))
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Internal(e)
    }
}

impl From<IndexError> for Error {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::DuplicateDocId { id, in_batch } => {
                Error::Input(InputError::DuplicateDocId { id, in_batch })
            }
            other => Error::Internal(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_and_internal_errors_are_told_apart() {
        let e: Error = IndexError::DuplicateDocId {
            id: "d1".into(),
            in_batch: false,
        }
        .into();
        assert!(e.is_input());
        assert!(e.to_string().contains("`d1` is already in the index"));
        let e: Error = IndexError::UnknownPosition { pos: 3 }.into();
        assert!(!e.is_input());
        let e = InputError::check_range("beam", 0, 1, 10).unwrap_err();
        assert_eq!(e.to_string(), "beam is 0; it must be between 1 and 10");
        assert!(InputError::check_range("beam", 10, 1, 10).is_ok());
    }
}
