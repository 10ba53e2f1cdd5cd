//! Why a report could not be made. Every variant names the file (and line, where the file has
//! lines) at fault, so a user can open it and see the problem.

use std::path::PathBuf;

/// An error reading a run folder, its data, or writing the page.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A JSON record (report, summary, manifest, training log line) that does not read.
    #[error(transparent)]
    Record(#[from] genret_records::RecordError),
    /// A corpus, queries, qrels or TREC run file that does not read.
    #[error(transparent)]
    Data(#[from] genret_data::DataError),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A line of a text file (`docids.tsv`, `metrics.jsonl`) that is not what it should be.
    #[error("{}:{line}: {message}", .path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A folder that is neither a training run nor a quickstart output.
    #[error("{}: not a genret run folder: {reason}", .path.display())]
    NotARun { path: PathBuf, reason: String },
    /// A run that cannot be scored against the judgements (NaN scores, duplicates).
    #[error("evaluating {}: {source}", .path.display())]
    Eval {
        path: PathBuf,
        source: genret_eval::EvalError,
    },
    /// A plot that plotters could not draw.
    #[error("drawing the plot `{plot}`: {message}")]
    Plot { plot: String, message: String },
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn line(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        ReportError::Line {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}
