//! Plain (unconstrained) Lloyd k-means with k-means++ seeding, used by the
//! [`hkmeans`](crate::hkmeans) and [`rq`](crate::rq) schemes.
//!
//! This is what DSI's semantic ids and TIGER-style residual quantisation use: no size
//! constraint (for that, see `genret_cluster::BalancedKMeans`, whose exact constrained
//! assignment is much slower and not what these baselines are defined with).
//!
//! Two properties the schemes rely on:
//!
//! - **determinism**: seeding draws from the caller's seeded generator, every tie is broken
//!   towards the lowest centroid index, and nothing runs in parallel, so a fit is a function
//!   of its inputs and the generator state;
//! - **labels agree with centroids**: the fit ends with an assignment step against the
//!   centroids it returns, so every point's label is its nearest returned centroid (lowest
//!   index on ties). A new document with the same embedding as a training document is
//!   therefore routed exactly like it.
//!
//! Seeding stops early when every remaining point coincides with a chosen centre (all
//! squared distances zero), and clusters left empty are dropped, so the fit may return fewer
//! than `k` centroids (one, when all points are identical). It never returns an empty
//! cluster.

use genret_cluster::vector::sq_dist;
use rand::Rng;

/// The result of [`fit`]: `centroids.len() / dim` non-empty clusters.
#[derive(Debug, Clone)]
pub(crate) struct Fit {
    /// Row-major centroids, one row per cluster.
    pub centroids: Vec<f32>,
    /// Cluster of each input point, in the order of `idx`.
    pub labels: Vec<usize>,
}

impl Fit {
    /// Number of clusters.
    pub fn k(&self, dim: usize) -> usize {
        self.centroids.len() / dim
    }
}

/// Index and squared distance of the centroid nearest to `x` (lowest index on ties).
pub(crate) fn nearest(centroids: &[f32], dim: usize, x: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (j, c) in centroids.chunks_exact(dim).enumerate() {
        let d = sq_dist(x, c);
        if d < best.1 {
            best = (j, d);
        }
    }
    best
}

/// Centroid indices ordered by squared distance to `x`, nearest first (lowest index on
/// ties).
pub(crate) fn ranked(centroids: &[f32], dim: usize, x: &[f32]) -> Vec<usize> {
    let d: Vec<f32> = centroids.chunks_exact(dim).map(|c| sq_dist(x, c)).collect();
    let mut order: Vec<usize> = (0..d.len()).collect();
    order.sort_by(|&a, &b| d[a].total_cmp(&d[b]).then(a.cmp(&b)));
    order
}

/// Fits k-means to the rows `idx` of the row-major matrix `data` (`dim` columns).
///
/// `idx` must be non-empty and `k >= 1`; at most `min(k, idx.len())` clusters come back.
/// `iters` bounds the number of centroid updates.
pub(crate) fn fit<R: Rng>(
    data: &[f32],
    dim: usize,
    idx: &[usize],
    k: usize,
    iters: usize,
    rng: &mut R,
) -> Fit {
    debug_assert!(!idx.is_empty() && k >= 1 && dim >= 1);
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let n = idx.len();
    let k = k.min(n);

    // k-means++ seeding.
    let mut centroids: Vec<f32> = Vec::with_capacity(k * dim);
    centroids.extend_from_slice(row(idx[rng.gen_range(0..n)]));
    let mut d2: Vec<f64> = idx
        .iter()
        .map(|&i| f64::from(sq_dist(row(i), &centroids[..dim])))
        .collect();
    while centroids.len() / dim < k {
        let total: f64 = d2.iter().sum();
        if total <= 0.0 {
            break; // every point coincides with a chosen centre
        }
        let mut target = rng.gen::<f64>() * total;
        let mut pick = None;
        for (p, &w) in d2.iter().enumerate() {
            if w > 0.0 {
                pick = Some(p);
                if target < w {
                    break;
                }
                target -= w;
            }
        }
        let Some(p) = pick else { break };
        let start = centroids.len();
        centroids.extend_from_slice(row(idx[p]));
        for (q, &i) in idx.iter().enumerate() {
            let d = f64::from(sq_dist(row(i), &centroids[start..]));
            if d < d2[q] {
                d2[q] = d;
            }
        }
    }
    let k = centroids.len() / dim;

    // Lloyd iterations, ending with an assignment against the final centroids.
    let mut labels = vec![usize::MAX; n];
    let mut sums = vec![0f64; k * dim];
    let mut counts = vec![0usize; k];
    for iter in 0..=iters {
        let mut changed = false;
        for (q, &i) in idx.iter().enumerate() {
            let (j, _) = nearest(&centroids, dim, row(i));
            if labels[q] != j {
                labels[q] = j;
                changed = true;
            }
        }
        if !changed || iter == iters {
            break;
        }
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        for (q, &i) in idx.iter().enumerate() {
            let j = labels[q];
            counts[j] += 1;
            for (s, &x) in sums[j * dim..(j + 1) * dim].iter_mut().zip(row(i)) {
                *s += f64::from(x);
            }
        }
        for j in 0..k {
            if counts[j] > 0 {
                let inv = 1.0 / counts[j] as f64;
                for (c, &s) in centroids[j * dim..(j + 1) * dim]
                    .iter_mut()
                    .zip(&sums[j * dim..(j + 1) * dim])
                {
                    *c = (s * inv) as f32;
                }
            } // an empty cluster keeps its centroid; it may win points back
        }
    }

    // Drop empty clusters, keeping the order of the others.
    let mut used = vec![false; k];
    labels.iter().for_each(|&j| used[j] = true);
    let mut remap = vec![usize::MAX; k];
    let mut kept = Vec::with_capacity(centroids.len());
    for j in 0..k {
        if used[j] {
            remap[j] = kept.len() / dim;
            kept.extend_from_slice(&centroids[j * dim..(j + 1) * dim]);
        }
    }
    labels.iter_mut().for_each(|j| *j = remap[*j]);
    Fit {
        centroids: kept,
        labels,
    }
}

/// Mean of the rows `idx` (non-empty) of `data`.
pub(crate) fn mean(data: &[f32], dim: usize, idx: &[usize]) -> Vec<f32> {
    let mut s = vec![0f64; dim];
    for &i in idx {
        for (a, &x) in s.iter_mut().zip(&data[i * dim..(i + 1) * dim]) {
            *a += f64::from(x);
        }
    }
    let inv = 1.0 / idx.len() as f64;
    s.into_iter().map(|a| (a * inv) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn labels_are_nearest_returned_centroid_and_clusters_non_empty() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let data: Vec<f32> = (0..300).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let idx: Vec<usize> = (0..100).collect();
        let fit = fit(&data, 3, &idx, 7, 3, &mut ChaCha8Rng::seed_from_u64(2));
        assert_eq!(fit.k(3), 7);
        let mut sizes = [0; 7];
        for (q, &i) in idx.iter().enumerate() {
            assert_eq!(
                nearest(&fit.centroids, 3, &data[i * 3..i * 3 + 3]).0,
                fit.labels[q]
            );
            sizes[fit.labels[q]] += 1;
        }
        assert!(sizes.iter().all(|&s| s > 0));
    }

    #[test]
    fn identical_points_give_one_cluster() {
        let data = vec![0.5f32; 40];
        let idx: Vec<usize> = (0..20).collect();
        let fit = fit(&data, 2, &idx, 5, 10, &mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!(fit.k(2), 1);
        assert!(fit.labels.iter().all(|&l| l == 0));
    }

    #[test]
    fn ranked_orders_by_distance_then_index() {
        let c = [0.0f32, 2.0, -2.0, 1.0];
        assert_eq!(ranked(&c, 1, &[0.0]), vec![0, 3, 1, 2]);
    }
}
