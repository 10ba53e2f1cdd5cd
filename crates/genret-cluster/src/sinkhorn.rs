//! Balanced code targets with two-sided Sinkhorn-Knopp, in the log domain.
//!
//! # The idea
//!
//! At progressive step `T`, GenRet does not train the step-`T` codes towards their plain
//! argmax: a few codes would win every document and the docids would collapse. Instead, for
//! a batch score matrix `H = D_T E_T^T` (`B` documents by `K` codes) it looks for the
//! entropic optimal-transport plan
//!
//! ```text
//! P = diag(u) exp(H / eps) diag(v),   rows of P sum to 1/B,   columns of P sum to 1/K
//! ```
//!
//! i.e. the distribution closest (in KL) to the softmax of the scores whose mass is spread
//! evenly over both the documents and the codes. The argmax of each row of `P` is the
//! document's *balanced* code target: documents still prefer the codes they score high
//! on, but a code that every document likes has its column scaled down until it only gets
//! its fair share.
//!
//! Sinkhorn-Knopp finds `u` and `v` by alternately rescaling the rows and the columns of
//! `exp(H / eps)` to their target sums. For well-conditioned inputs this converges
//! linearly; we stop when the largest absolute marginal error falls under a tolerance, or
//! at an iteration cap, and report which one happened.
//!
//! # Why the log domain and f64
//!
//! `exp(H / eps)` overflows as soon as `H / eps` exceeds ~709, and underflows to zero for
//! moderately negative scores, after which rows or columns of zeros make the scaling
//! divide by zero. Working with `log u`, `log v` and `logsumexp` keeps every quantity
//! finite for any finite input; f64 keeps the marginals accurate to ~1e-15.
//!
//! # The authors' variant
//!
//! The released GenRet code normalises rows and then divides by the *total* sum instead of
//! normalising columns. After one pass that is a row softmax scaled by `1/B`, which does not
//! balance codes at all. [`one_sided_authors_variant`] reproduces it, for tests and
//! ablations only; use [`sinkhorn`] or [`balanced_assign`] for training.

use crate::error::{check_matrix, ClusterError, Result};

/// Options of [`sinkhorn`]. `Default` gives the project's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkhornOptions {
    /// Entropic temperature: the kernel is `exp(H / epsilon)`. Must be finite and > 0.
    /// Default 1.0 (the paper's value).
    pub epsilon: f64,
    /// Divide `H` by `max |H|` first, so scores lie in `[-1, 1]` (what the authors' code
    /// does; it makes `epsilon` scale-free). Default `true`.
    pub rescale: bool,
    /// Stop when the largest absolute error of any row or column sum is at most this.
    /// Default 1e-9.
    pub tol: f64,
    /// Iteration cap; one iteration is a row pass plus a column pass. Default 1000 (the
    /// paper uses 100).
    pub max_iters: usize,
}

impl Default for SinkhornOptions {
    fn default() -> Self {
        Self {
            epsilon: 1.0,
            rescale: true,
            tol: 1e-9,
            max_iters: 1000,
        }
    }
}

impl SinkhornOptions {
    fn validate(&self) -> Result<()> {
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(ClusterError::InvalidParameter {
                name: "epsilon",
                reason: format!("must be finite and > 0, got {}", self.epsilon),
            });
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(ClusterError::InvalidParameter {
                name: "tol",
                reason: format!("must be finite and >= 0, got {}", self.tol),
            });
        }
        Ok(())
    }
}

/// A transport plan, in the log domain, with how the iteration ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkhornResult {
    /// `log P`, row-major, `rows x cols`. Kept in the log domain because entries of `P`
    /// itself may underflow to 0 for extreme inputs while their logs stay ordered.
    pub log_plan: Vec<f64>,
    /// Number of rows `B`.
    pub rows: usize,
    /// Number of columns `K`.
    pub cols: usize,
    /// Iterations performed (row pass + column pass each).
    pub iterations: usize,
    /// Largest absolute deviation of any row sum from `1/B` or column sum from `1/K`,
    /// measured on the returned plan.
    pub marginal_error: f64,
    /// Whether `marginal_error <= tol` was reached before the cap.
    pub converged: bool,
}

impl SinkhornResult {
    /// The plan `P = exp(log_plan)`, row-major.
    pub fn plan(&self) -> Vec<f64> {
        self.log_plan.iter().map(|x| x.exp()).collect()
    }

    /// Argmax of each row of the plan; ties go to the lowest column index.
    pub fn assignments(&self) -> Vec<usize> {
        row_argmax(&self.log_plan, self.rows, self.cols)
    }
}

/// Runs two-sided log-domain Sinkhorn-Knopp on the `rows x cols` score matrix `scores`
/// (row-major). See the module docs.
///
/// Errors on an empty or mis-shaped matrix, non-finite scores, or invalid options. Not
/// converging within `max_iters` is not an error: check [`SinkhornResult::converged`].
pub fn sinkhorn(
    scores: &[f64],
    rows: usize,
    cols: usize,
    opts: &SinkhornOptions,
) -> Result<SinkhornResult> {
    check_matrix("sinkhorn scores", scores, rows, cols)?;
    opts.validate()?;
    let log_k = log_kernel(scores, opts);

    let log_row_target = -(rows as f64).ln();
    let log_col_target = -(cols as f64).ln();
    let row_target = 1.0 / rows as f64;

    let mut log_u = vec![0.0; rows];
    let mut log_v = vec![0.0; cols];
    let mut row_lse = vec![0.0; rows];
    let mut iterations = 0;
    let mut converged = false;

    loop {
        // lse_j(log K_ij + log v_j): both the current row sums (times u_i) and what the
        // row update needs, so the convergence check costs nothing extra.
        for (i, lse) in row_lse.iter_mut().enumerate() {
            let row = &log_k[i * cols..(i + 1) * cols];
            *lse = logsumexp_pairs(row, &log_v);
        }
        if iterations > 0 {
            // Columns are exact right after a column pass, so the row error is the
            // marginal error of the current plan (up to rounding).
            let row_err = log_u
                .iter()
                .zip(&row_lse)
                .map(|(u, l)| ((u + l).exp() - row_target).abs())
                .fold(0.0, f64::max);
            if row_err <= opts.tol {
                converged = true;
                break;
            }
        }
        if iterations >= opts.max_iters {
            break;
        }
        for (u, l) in log_u.iter_mut().zip(&row_lse) {
            *u = log_row_target - l;
        }
        column_pass(&log_k, rows, cols, &log_u, log_col_target, &mut log_v);
        iterations += 1;
    }

    let log_plan: Vec<f64> = (0..rows * cols)
        .map(|idx| log_k[idx] + log_u[idx / cols] + log_v[idx % cols])
        .collect();
    let marginal_error = marginal_error(&log_plan, rows, cols);
    // Trust the final measurement over the in-loop one (it also covers the columns).
    let converged = converged && marginal_error <= opts.tol.max(f64::EPSILON);
    Ok(SinkhornResult {
        log_plan,
        rows,
        cols,
        iterations,
        marginal_error,
        converged,
    })
}

/// Balanced code assignment: the row-wise argmax of the [`sinkhorn`] plan (ties to the
/// lowest index). This is GenRet's step-`T` code target for each document of the batch.
///
/// Returns the assignment even when Sinkhorn hit its iteration cap; call [`sinkhorn`] and
/// inspect [`SinkhornResult::converged`] where that matters.
pub fn balanced_assign(
    scores: &[f64],
    rows: usize,
    cols: usize,
    opts: &SinkhornOptions,
) -> Result<Vec<usize>> {
    Ok(sinkhorn(scores, rows, cols, opts)?.assignments())
}

/// **Ablation only: reproduces a defect.** The authors' released loop: start from
/// `exp(H / eps)` normalised to total 1, then repeatedly normalise every row to `1/B` and
/// divide by the *total* sum (instead of normalising columns). After the first iteration
/// this is a fixed point: a one-sided row softmax divided by `B`, whose column sums are
/// whatever the scores make them. Not a balanced transport plan; see the module docs.
///
/// Returns the same result type as [`sinkhorn`], with `marginal_error` measured against
/// both marginals (so it is large whenever the codes are unbalanced) and `converged` set
/// only if that error is within `tol`. Runs `max_iters` iterations, or stops early once
/// an iteration changes nothing.
pub fn one_sided_authors_variant(
    scores: &[f64],
    rows: usize,
    cols: usize,
    opts: &SinkhornOptions,
) -> Result<SinkhornResult> {
    check_matrix("sinkhorn scores", scores, rows, cols)?;
    opts.validate()?;
    let mut log_p = log_kernel(scores, opts);
    let total = logsumexp(&log_p);
    log_p.iter_mut().for_each(|x| *x -= total);

    let log_row_target = -(rows as f64).ln();
    let mut iterations = 0;
    while iterations < opts.max_iters {
        let before = log_p.clone();
        for row in log_p.chunks_exact_mut(cols) {
            let shift = log_row_target - logsumexp(row);
            row.iter_mut().for_each(|x| *x += shift);
        }
        // The defect: divide by the total (which is already 1) instead of column sums.
        let total = logsumexp(&log_p);
        log_p.iter_mut().for_each(|x| *x -= total);
        iterations += 1;
        // Stop once an iteration changes nothing beyond rounding (it is a fixed point
        // after the first one).
        let change = before
            .iter()
            .zip(&log_p)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if change <= 1e-12 {
            break;
        }
    }
    let marginal_error = marginal_error(&log_p, rows, cols);
    Ok(SinkhornResult {
        log_plan: log_p,
        rows,
        cols,
        iterations,
        converged: marginal_error <= opts.tol,
        marginal_error,
    })
}

/// `H / eps`, after the optional `H / max|H|` rescale.
fn log_kernel(scores: &[f64], opts: &SinkhornOptions) -> Vec<f64> {
    let scale = if opts.rescale {
        let m = scores.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        // An all-zero matrix is already in [-1, 1].
        if m > 0.0 {
            m
        } else {
            1.0
        }
    } else {
        1.0
    };
    // One division: (h / scale) / eps, kept as two steps so that `scale * eps` cannot
    // overflow or underflow for extreme but finite parameters.
    scores.iter().map(|h| (h / scale) / opts.epsilon).collect()
}

/// One column pass: `log v_j = log(1/K) - lse_i(log K_ij + log u_i)`, row-major friendly.
fn column_pass(
    log_k: &[f64],
    rows: usize,
    cols: usize,
    log_u: &[f64],
    log_col_target: f64,
    log_v: &mut [f64],
) {
    let mut col_max = vec![f64::NEG_INFINITY; cols];
    for i in 0..rows {
        let row = &log_k[i * cols..(i + 1) * cols];
        for (m, k) in col_max.iter_mut().zip(row) {
            *m = m.max(k + log_u[i]);
        }
    }
    let mut col_sum = vec![0.0; cols];
    for i in 0..rows {
        let row = &log_k[i * cols..(i + 1) * cols];
        for ((s, k), m) in col_sum.iter_mut().zip(row).zip(&col_max) {
            *s += (k + log_u[i] - m).exp();
        }
    }
    for ((v, s), m) in log_v.iter_mut().zip(&col_sum).zip(&col_max) {
        *v = log_col_target - (m + s.ln());
    }
}

/// Largest absolute deviation of the plan's row sums from `1/rows` and column sums from
/// `1/cols`.
fn marginal_error(log_plan: &[f64], rows: usize, cols: usize) -> f64 {
    let mut col_sums = vec![0.0; cols];
    let mut err: f64 = 0.0;
    for row in log_plan.chunks_exact(cols) {
        let mut s = 0.0;
        for (c, x) in col_sums.iter_mut().zip(row) {
            let p = x.exp();
            s += p;
            *c += p;
        }
        err = err.max((s - 1.0 / rows as f64).abs());
    }
    col_sums
        .iter()
        .map(|c| (c - 1.0 / cols as f64).abs())
        .fold(err, f64::max)
}

/// Stable `log sum_i exp(a_i + b_i)`.
fn logsumexp_pairs(a: &[f64], b: &[f64]) -> f64 {
    let m = a
        .iter()
        .zip(b)
        .map(|(x, y)| x + y)
        .fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    let s: f64 = a.iter().zip(b).map(|(x, y)| (x + y - m).exp()).sum();
    m + s.ln()
}

/// Stable `log sum_i exp(a_i)`.
fn logsumexp(a: &[f64]) -> f64 {
    let m = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + a.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// Argmax per row, lowest index on ties (strict `>` keeps the first maximum).
pub(crate) fn row_argmax(m: &[f64], rows: usize, cols: usize) -> Vec<usize> {
    (0..rows)
        .map(|i| {
            let row = &m[i * cols..(i + 1) * cols];
            let mut best = 0;
            for (j, x) in row.iter().enumerate().skip(1) {
                if *x > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}
