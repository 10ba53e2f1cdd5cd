//! The one error type of this crate.
//!
//! Every public entry point validates its input and returns one of these instead of
//! panicking: the callers are training loops that should log and stop cleanly, not abort.

use thiserror::Error;

/// Why a clustering, transport or metric computation refused its input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ClusterError {
    /// A flat buffer's length does not match the shape it was given with.
    #[error("{what}: expected {expected} values for the given shape, got {got}")]
    ShapeMismatch {
        /// Which input.
        what: &'static str,
        /// `rows * cols` (or `n * dim`).
        expected: usize,
        /// The buffer's actual length.
        got: usize,
    },

    /// A dimension that must be positive is zero, or a shape overflows `usize`.
    #[error("{what}: invalid shape ({reason})")]
    InvalidShape {
        /// Which input.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A value is NaN or infinite.
    #[error("{what}: non-finite value at flat index {index}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Flat (row-major) index of the first offending value.
        index: usize,
    },

    /// The number of clusters is zero or larger than the number of points.
    #[error("invalid number of clusters k={k} for n={n} points (need 1 <= k <= n)")]
    InvalidK {
        /// Requested number of clusters.
        k: usize,
        /// Number of points.
        n: usize,
    },

    /// No assignment can satisfy the size bounds.
    #[error(
        "infeasible cluster size bounds: n={n}, k={k}, min={min}, max={max} \
         (need min <= max and k*min <= n <= k*max)"
    )]
    InfeasibleBounds {
        /// Number of points.
        n: usize,
        /// Number of clusters.
        k: usize,
        /// Lower bound on every cluster's size.
        min: usize,
        /// Upper bound on every cluster's size.
        max: usize,
    },

    /// A scalar parameter is out of its domain.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A docid holds a code outside `0..k`.
    #[error("document {doc}, step {step}: code {code} is out of range for k={k}")]
    CodeOutOfRange {
        /// Document index.
        doc: usize,
        /// Step (0-based position in the docid).
        step: usize,
        /// The offending code.
        code: u32,
        /// Codebook size.
        k: usize,
    },

    /// Docids of different lengths were mixed.
    #[error("document {doc} has a docid of length {len}, expected {expected}")]
    RaggedDocids {
        /// Document index.
        doc: usize,
        /// Its docid length.
        len: usize,
        /// Length of document 0's docid.
        expected: usize,
    },
}

/// Shorthand for this crate's results.
pub type Result<T> = std::result::Result<T, ClusterError>;

/// Checks a flat row-major buffer: shape positive, length matches, every value finite.
pub(crate) fn check_matrix(
    what: &'static str,
    data: &[f64],
    rows: usize,
    cols: usize,
) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Err(ClusterError::InvalidShape {
            what,
            reason: format!("{rows} x {cols} has a zero dimension"),
        });
    }
    let expected = rows
        .checked_mul(cols)
        .ok_or_else(|| ClusterError::InvalidShape {
            what,
            reason: format!("{rows} x {cols} overflows usize"),
        })?;
    if data.len() != expected {
        return Err(ClusterError::ShapeMismatch {
            what,
            expected,
            got: data.len(),
        });
    }
    if let Some(index) = data.iter().position(|x| !x.is_finite()) {
        return Err(ClusterError::NonFinite { what, index });
    }
    Ok(())
}
