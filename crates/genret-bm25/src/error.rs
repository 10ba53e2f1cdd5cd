//! Errors of building, opening and searching a BM25 index.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Bm25Error {
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: an index already exists there (open it, or remove the folder to rebuild)", .0.display())]
    AlreadyExists(PathBuf),
    #[error("{}: not a genret BM25 index: {reason}", path.display())]
    NotAnIndex { path: PathBuf, reason: String },
    #[error("document id `{0}` occurs twice in the corpus")]
    DuplicateId(String),
    #[error(transparent)]
    Data(#[from] genret_data::DataError),
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

impl Bm25Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Bm25Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Bm25Error> = std::result::Result<T, E>;
