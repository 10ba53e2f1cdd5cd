//! Errors that point at the offending byte of input: file, line and field.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in which file a problem was found. Lines are 1-based, as editors show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: Option<usize>,
}

impl Location {
    pub fn file(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            line: None,
        }
    }
    pub fn line(path: &Path, line: usize) -> Self {
        Self {
            path: path.to_path_buf(),
            line: Some(line),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.path.display(), line),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Everything that can go wrong reading or writing retrieval data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{loc}: {source}")]
    Io {
        loc: Location,
        source: std::io::Error,
    },
    #[error("{loc}: invalid JSON: {message}")]
    Json { loc: Location, message: String },
    #[error("{loc}: field `{field}`: {message}")]
    Field {
        loc: Location,
        field: &'static str,
        message: String,
    },
    #[error("{loc}: field `_id`: duplicate id `{id}` (first seen on line {first_line})")]
    DuplicateId {
        loc: Location,
        id: String,
        first_line: usize,
    },
    #[error("{loc}: {message}")]
    Format { loc: Location, message: String },
    #[error("{loc}: file is empty")]
    Empty { loc: Location },
    #[error("{0}")]
    Dataset(String),
}

impl DataError {
    pub fn io(loc: Location, source: std::io::Error) -> Self {
        DataError::Io { loc, source }
    }
    pub fn field(loc: Location, field: &'static str, message: impl Into<String>) -> Self {
        DataError::Field {
            loc,
            field,
            message: message.into(),
        }
    }
    pub fn format(loc: Location, message: impl Into<String>) -> Self {
        DataError::Format {
            loc,
            message: message.into(),
        }
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
