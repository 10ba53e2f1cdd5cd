//! Balanced (size-constrained) k-means.
//!
//! # The idea
//!
//! GenRet initialises each step's codebook with the centroids of a k-means over the
//! document states, and wants those clusters to be of (nearly) equal size so that no code
//! starts out owning most of the corpus. Plain k-means gives no such guarantee. Following
//! Bradley, Bennett & Demiriz (2000), "Constrained k-means clustering", we keep Lloyd's
//! alternation but replace the nearest-centroid step by the *best assignment subject to
//! size bounds*:
//!
//! 1. **assignment**: choose cluster labels minimising the total squared Euclidean
//!    distance subject to `min_size <= |cluster| <= max_size`. This is a transportation
//!    problem; [`balanced_assignment`] solves it exactly (successive shortest paths over
//!    the `k`-node cluster graph, see the `transport` module source for the algorithm and
//!    its optimality argument);
//! 2. **update**: move every centroid to the mean of its points.
//!
//! Both steps are optimal given the other's output, and the previous labels are always
//! feasible for the next assignment, so the objective (inertia) never increases.
//!
//! With no explicit bounds the sizes are as equal as possible: `floor(n/k)` to
//! `ceil(n/k)`. Initialisation is k-means++ driven by a seeded ChaCha8 generator, so a
//! fit is a deterministic function of its inputs and `seed`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{check_matrix, ClusterError, Result};
use crate::transport;
use crate::vector::{dot, sq_dist};

/// Configuration of a balanced k-means fit. Build with [`BalancedKMeans::new`] and adjust
/// the public fields.
#[derive(Debug, Clone, PartialEq)]
pub struct BalancedKMeans {
    /// Number of clusters, `1 <= k <= n`.
    pub k: usize,
    /// Smallest allowed cluster size; `None` means `floor(n / k)`.
    pub min_size: Option<usize>,
    /// Largest allowed cluster size; `None` means `ceil(n / k)`.
    pub max_size: Option<usize>,
    /// Cap on Lloyd iterations (assignment + update), at least 1. Default 100.
    pub max_iters: usize,
    /// Stop when the summed squared centroid movement of an iteration is at most
    /// `tol * mean per-feature variance of the data` (scikit-learn's convention), or when
    /// the labels stop changing. Default 1e-4; 0 stops only on unchanged labels.
    pub tol: f64,
    /// Seed of the k-means++ initialisation.
    pub seed: u64,
    /// Number of independent initialisations; the fit with the lowest inertia is kept
    /// (the first one on ties). Default 1.
    pub n_init: usize,
}

impl BalancedKMeans {
    /// `k` clusters, perfectly balanced, 100 iterations, `tol` 1e-4, seed 0, one init.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            min_size: None,
            max_size: None,
            max_iters: 100,
            tol: 1e-4,
            seed: 0,
            n_init: 1,
        }
    }

    /// Clusters `n` points of dimension `dim`, given row-major in `data` (f32 or f64;
    /// all arithmetic is f64).
    ///
    /// Errors (never panics) on a shape mismatch, non-finite data, `k == 0`, `k > n`,
    /// infeasible bounds (`min > max`, `k * min > n`, `k * max < n`) or invalid
    /// `max_iters`, `n_init` or `tol`.
    pub fn fit<T: Copy + Into<f64>>(
        &self,
        data: &[T],
        n: usize,
        dim: usize,
    ) -> Result<KMeansResult> {
        let data: Vec<f64> = data.iter().map(|&x| x.into()).collect();
        check_matrix("k-means data", &data, n, dim)?;
        let (min, max) = resolve_bounds(n, self.k, self.min_size, self.max_size)?;
        if self.max_iters == 0 {
            return Err(ClusterError::InvalidParameter {
                name: "max_iters",
                reason: "must be at least 1".into(),
            });
        }
        if self.n_init == 0 {
            return Err(ClusterError::InvalidParameter {
                name: "n_init",
                reason: "must be at least 1".into(),
            });
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(ClusterError::InvalidParameter {
                name: "tol",
                reason: format!("must be finite and >= 0, got {}", self.tol),
            });
        }
        // Work on centred data: distances do not change, but the `|x|^2 + |c|^2 - 2 x.c`
        // form used for the distance matrix loses all precision when every point shares a
        // large offset. The mean is added back to the centroids at the end.
        let mut mean = vec![0.0; dim];
        for x in data.chunks_exact(dim) {
            for (m, v) in mean.iter_mut().zip(x) {
                *m += v / n as f64;
            }
        }
        let centred: Vec<f64> = data
            .chunks_exact(dim)
            .flat_map(|x| x.iter().zip(&mean).map(|(v, m)| v - m))
            .collect();
        // Squared distances and norms are then at most 4 * dim * max|x|^2, and the
        // assignment solver works with a few times their spread. Refuse data where that
        // overflows instead of producing infinities.
        let m = centred.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        if !(32.0 * dim as f64 * m * m).is_finite() {
            return Err(ClusterError::InvalidParameter {
                name: "data",
                reason: "value range too large: squared distances overflow f64".into(),
            });
        }

        let data = Points {
            x: &centred,
            n,
            dim,
            sq_norms: centred.chunks_exact(dim).map(|x| dot(x, x)).collect(),
        };
        // scikit-learn's scale: tol times the mean per-feature variance (data is centred).
        let shift_tol = self.tol * data.sq_norms.iter().sum::<f64>() / (n as f64 * dim as f64);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut best: Option<KMeansResult> = None;
        for _ in 0..self.n_init {
            let init = kmeans_plus_plus(&data, self.k, &mut rng);
            let fit = lloyd(&data, init, self.k, min, max, self.max_iters, shift_tol);
            if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
                best = Some(fit);
            }
        }
        let mut best = best.ok_or(ClusterError::InvalidParameter {
            name: "n_init",
            reason: "must be at least 1".into(),
        })?;
        for c in best.centroids.chunks_exact_mut(dim) {
            c.iter_mut().zip(&mean).for_each(|(c, m)| *c += m);
        }
        Ok(best)
    }
}

/// Outcome of [`BalancedKMeans::fit`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KMeansResult {
    /// `k x dim` centroids, row-major: the means of the final clusters.
    pub centroids: Vec<f64>,
    /// Cluster of each point, from the last assignment step.
    pub assignment: Vec<usize>,
    /// Size of each cluster; every one lies within the bounds.
    pub sizes: Vec<usize>,
    /// Sum of squared distances from each point to its cluster's centroid.
    pub inertia: f64,
    /// Lloyd iterations performed.
    pub iterations: usize,
    /// Whether the stopping rule fired before `max_iters`.
    pub converged: bool,
}

/// Minimum-cost assignment of `n` points to `k` clusters with every cluster's size in
/// `[min, max]`; `costs` is `n x k` row-major, `costs[i * k + j]` the cost of point `i` in
/// cluster `j` (any finite reals). Exact: the total cost is optimal up to floating-point
/// rounding. Ties are broken deterministically.
///
/// Errors on a shape mismatch, non-finite costs, `k == 0`, `k > n`, or bounds that no
/// assignment satisfies.
pub fn balanced_assignment(
    costs: &[f64],
    n: usize,
    k: usize,
    min: usize,
    max: usize,
) -> Result<Vec<usize>> {
    check_matrix("assignment costs", costs, n, k)?;
    resolve_bounds(n, k, Some(min), Some(max))?;
    check_spread(costs)?;
    Ok(transport::solve(costs, n, k, min, max))
}

/// Validates `k` and the bounds, filling in the balanced defaults.
fn resolve_bounds(
    n: usize,
    k: usize,
    min: Option<usize>,
    max: Option<usize>,
) -> Result<(usize, usize)> {
    if k == 0 || k > n {
        return Err(ClusterError::InvalidK { k, n });
    }
    if u32::try_from(n).is_err() {
        return Err(ClusterError::InvalidShape {
            what: "k-means data",
            reason: format!(
                "n={n} points exceeds the supported maximum {}",
                u32::MAX - 1
            ),
        });
    }
    let min = min.unwrap_or(n / k);
    let max = max.unwrap_or(n.div_ceil(k));
    let infeasible = ClusterError::InfeasibleBounds { n, k, min, max };
    let lower = k.checked_mul(min).ok_or(infeasible.clone())?;
    // k * max may overflow for "unbounded" maxima like usize::MAX; that is feasible.
    let upper_ok = k.checked_mul(max).is_none_or(|u| u >= n);
    if min > max || lower > n || !upper_ok {
        return Err(infeasible);
    }
    Ok((min, max))
}

/// The assignment solver's `BIG` constant is about twice the cost spread; refuse inputs
/// where that would overflow instead of silently losing optimality.
fn check_spread(values: &[f64]) -> Result<()> {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &c| {
            (lo.min(c), hi.max(c))
        });
    if !(4.0 * (hi - lo)).is_finite() {
        return Err(ClusterError::InvalidParameter {
            name: "costs",
            reason: "range too large for f64 arithmetic".into(),
        });
    }
    Ok(())
}

/// Row-major data with cached squared norms.
struct Points<'a> {
    x: &'a [f64],
    n: usize,
    dim: usize,
    sq_norms: Vec<f64>,
}

fn row(m: &[f64], i: usize, dim: usize) -> &[f64] {
    &m[i * dim..(i + 1) * dim]
}

/// Dot products of `x` with four centroids at once: each chunk of `x` is loaded once for
/// four products, which roughly halves the memory traffic of the distance matrix.
fn dot4(x: &[f64], c: [&[f64]; 4]) -> [f64; 4] {
    let mut acc = [[0.0; 4]; 4];
    let chunks = x
        .chunks_exact(4)
        .zip(c[0].chunks_exact(4))
        .zip(c[1].chunks_exact(4))
        .zip(c[2].chunks_exact(4))
        .zip(c[3].chunks_exact(4));
    for ((((xv, a), b), d), e) in chunks {
        for l in 0..4 {
            acc[0][l] += xv[l] * a[l];
            acc[1][l] += xv[l] * b[l];
            acc[2][l] += xv[l] * d[l];
            acc[3][l] += xv[l] * e[l];
        }
    }
    let done = x.len() / 4 * 4;
    let mut out = [0.0; 4];
    for (o, (a, cj)) in out.iter_mut().zip(acc.iter().zip(c)) {
        *o = a.iter().sum::<f64>()
            + x[done..]
                .iter()
                .zip(&cj[done..])
                .map(|(p, q)| p * q)
                .sum::<f64>();
    }
    out
}

/// `n x k` squared distances via `|x|^2 + |c|^2 - 2 x.c` (one dot product per pair),
/// clamped at 0 against cancellation.
fn sq_dist_matrix(p: &Points, centroids: &[f64], k: usize, out: &mut Vec<f64>) {
    out.clear();
    out.reserve(p.n * k);
    let c_norms: Vec<f64> = (0..k)
        .map(|j| {
            let c = row(centroids, j, p.dim);
            dot(c, c)
        })
        .collect();
    let quads = k / 4 * 4;
    for i in 0..p.n {
        let x = row(p.x, i, p.dim);
        let xn = p.sq_norms[i];
        for j in (0..quads).step_by(4) {
            let c = |o: usize| row(centroids, j + o, p.dim);
            let d = dot4(x, [c(0), c(1), c(2), c(3)]);
            for (o, dj) in d.iter().enumerate() {
                out.push((xn + c_norms[j + o] - 2.0 * dj).max(0.0));
            }
        }
        for (j, cn) in c_norms.iter().enumerate().skip(quads) {
            let d = xn + cn - 2.0 * dot(x, row(centroids, j, p.dim));
            out.push(d.max(0.0));
        }
    }
}

/// k-means++ (Arthur & Vassilvitskii 2007): first centre uniform, each next one drawn with
/// probability proportional to the squared distance to the nearest centre so far.
fn kmeans_plus_plus(p: &Points, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut centroids = Vec::with_capacity(k * p.dim);
    let first = rng.gen_range(0..p.n);
    centroids.extend_from_slice(row(p.x, first, p.dim));
    let mut nearest: Vec<f64> = (0..p.n)
        .map(|i| sq_dist(row(p.x, i, p.dim), row(p.x, first, p.dim)))
        .collect();
    for _ in 1..k {
        let total: f64 = nearest.iter().sum();
        let pick = if total > 0.0 && total.is_finite() {
            let target = rng.gen::<f64>() * total;
            let mut acc = 0.0;
            // Fall back to the last point with positive weight if rounding leaves the
            // cumulative sum just short of `target`.
            let mut chosen = nearest.iter().rposition(|&w| w > 0.0).unwrap_or(0);
            for (i, &w) in nearest.iter().enumerate() {
                acc += w;
                if w > 0.0 && acc > target {
                    chosen = i;
                    break;
                }
            }
            chosen
        } else {
            // Every point coincides with a centre already: any choice is as good.
            rng.gen_range(0..p.n)
        };
        let c = row(p.x, pick, p.dim).to_vec();
        for (i, w) in nearest.iter_mut().enumerate() {
            *w = w.min(sq_dist(row(p.x, i, p.dim), &c));
        }
        centroids.extend_from_slice(&c);
    }
    centroids
}

fn lloyd(
    p: &Points,
    mut centroids: Vec<f64>,
    k: usize,
    min: usize,
    max: usize,
    max_iters: usize,
    shift_tol: f64,
) -> KMeansResult {
    let dim = p.dim;
    let mut costs = Vec::new();
    let mut assignment: Vec<usize> = Vec::new();
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iters {
        iterations += 1;
        sq_dist_matrix(p, &centroids, k, &mut costs);
        let next = transport::solve(&costs, p.n, k, min, max);
        let unchanged = next == assignment;
        assignment = next;

        let mut sums = vec![0.0; k * dim];
        let mut counts = vec![0usize; k];
        for (i, &a) in assignment.iter().enumerate() {
            counts[a] += 1;
            for (s, x) in sums[a * dim..(a + 1) * dim]
                .iter_mut()
                .zip(row(p.x, i, dim))
            {
                *s += x;
            }
        }
        let mut shift = 0.0;
        for j in 0..k {
            // An empty cluster (possible only with min_size = 0) keeps its centre.
            if counts[j] == 0 {
                continue;
            }
            let inv = 1.0 / counts[j] as f64;
            for (c, s) in centroids[j * dim..(j + 1) * dim]
                .iter_mut()
                .zip(&sums[j * dim..(j + 1) * dim])
            {
                let new = s * inv;
                shift += (new - *c) * (new - *c);
                *c = new;
            }
        }
        if unchanged || shift <= shift_tol {
            converged = true;
            break;
        }
    }
    let mut sizes = vec![0; k];
    let mut inertia = 0.0;
    for (i, &a) in assignment.iter().enumerate() {
        sizes[a] += 1;
        inertia += sq_dist(row(p.x, i, dim), row(&centroids, a, dim));
    }
    KMeansResult {
        centroids,
        assignment,
        sizes,
        inertia,
        iterations,
        converged,
    }
}
