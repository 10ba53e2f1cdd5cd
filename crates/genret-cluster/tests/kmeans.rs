use genret_cluster::{balanced_assignment, BalancedKMeans, ClusterError, KMeansResult};
use pathfinding::prelude::{kuhn_munkres_min, Matrix};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn uniform(n: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut r = rng(seed);
    (0..n).map(|_| r.gen_range(-scale..scale)).collect()
}

fn gaussian(r: &mut ChaCha8Rng) -> f64 {
    // Box-Muller; 1 - u keeps the log argument in (0, 1].
    let u: f64 = 1.0 - r.gen::<f64>();
    let v: f64 = r.gen();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn total(costs: &[f64], k: usize, a: &[usize]) -> f64 {
    a.iter().enumerate().map(|(i, &j)| costs[i * k + j]).sum()
}

fn sizes(a: &[usize], k: usize) -> Vec<usize> {
    let mut s = vec![0; k];
    for &j in a {
        s[j] += 1;
    }
    s
}

/// Optimal cost by enumerating all k^n labelings (tiny instances only).
fn brute_force(costs: &[f64], n: usize, k: usize, min: usize, max: usize) -> f64 {
    let mut best = f64::INFINITY;
    let mut labels = vec![0usize; n];
    loop {
        let s = sizes(&labels, k);
        if s.iter().all(|&c| c >= min && c <= max) {
            best = best.min(total(costs, k, &labels));
        }
        let mut i = 0;
        loop {
            if i == n {
                return best;
            }
            labels[i] += 1;
            if labels[i] < k {
                break;
            }
            labels[i] = 0;
            i += 1;
        }
    }
}

/// Independent reference: the Hungarian algorithm on `size` replicated slots per cluster
/// (every cluster exactly `size` points), integer-scaled costs.
fn hungarian_exact(costs: &[f64], n: usize, k: usize, size: usize) -> f64 {
    assert_eq!(n, k * size);
    let scale = 1e9;
    let weights = Matrix::from_fn(n, n, |(i, slot)| {
        (costs[i * k + slot / size] * scale).round() as i64
    });
    let (cost, _) = kuhn_munkres_min(&weights);
    cost as f64 / scale
}

/// Independent optimality certificate for a feasible bounded assignment: it is optimal iff
/// the residual graph over clusters has no negative cycle. Arc s -> j: move the cheapest
/// point of s to j; arcs j -> T (j below max) and T -> j (j above min) cost 0 and allow
/// load-changing cycles. Floyd-Warshall over k + 1 nodes.
fn assert_no_negative_cycle(
    costs: &[f64],
    n: usize,
    k: usize,
    min: usize,
    max: usize,
    a: &[usize],
) {
    let s = sizes(a, k);
    let t = k;
    let mut d = vec![vec![f64::INFINITY; k + 1]; k + 1];
    for i in 0..n {
        for j in 0..k {
            if j != a[i] {
                let w = costs[i * k + j] - costs[i * k + a[i]];
                d[a[i]][j] = d[a[i]][j].min(w);
            }
        }
    }
    for j in 0..k {
        if s[j] < max {
            d[j][t] = 0.0;
        }
        if s[j] > min {
            d[t][j] = 0.0;
        }
    }
    for m in 0..=k {
        for i in 0..=k {
            for j in 0..=k {
                let via = d[i][m] + d[m][j];
                if via < d[i][j] {
                    d[i][j] = via;
                }
            }
        }
    }
    for (i, row) in d.iter().enumerate() {
        assert!(
            row[i] >= -1e-9,
            "negative cycle through node {i}: {}",
            row[i]
        );
    }
}

fn check_fit(
    res: &KMeansResult,
    data: &[f64],
    n: usize,
    dim: usize,
    k: usize,
    min: usize,
    max: usize,
) {
    assert_eq!(res.assignment.len(), n);
    assert_eq!(res.sizes, sizes(&res.assignment, k));
    for (j, &s) in res.sizes.iter().enumerate() {
        assert!(
            s >= min && s <= max,
            "cluster {j} has {s} points, bounds [{min}, {max}]"
        );
    }
    // Centroids are the means of their clusters and inertia matches them.
    let mut inertia = 0.0;
    for j in 0..k {
        let members: Vec<usize> = (0..n).filter(|&i| res.assignment[i] == j).collect();
        if members.is_empty() {
            continue;
        }
        for f in 0..dim {
            let mean =
                members.iter().map(|&i| data[i * dim + f]).sum::<f64>() / members.len() as f64;
            assert!((res.centroids[j * dim + f] - mean).abs() <= 1e-9 * mean.abs().max(1.0));
        }
        for &i in &members {
            inertia += (0..dim)
                .map(|f| (data[i * dim + f] - res.centroids[j * dim + f]).powi(2))
                .sum::<f64>();
        }
    }
    assert!((inertia - res.inertia).abs() <= 1e-9 * inertia.max(1.0));
}

#[test]
fn cluster_sizes_respect_bounds() {
    let cases: &[(usize, usize, Option<usize>, Option<usize>)] = &[
        (100, 7, None, None),
        (257, 16, None, None),
        (64, 8, None, None),
        (60, 4, Some(5), Some(30)),
        (50, 5, Some(0), Some(12)),
        (40, 8, Some(5), Some(5)),
        (90, 6, Some(10), None),
        (31, 31, None, None),
        (45, 1, None, None),
    ];
    for (case, &(n, k, min, max)) in cases.iter().enumerate() {
        let dim = 5;
        let data = uniform(n * dim, 1.0, case as u64);
        let mut km = BalancedKMeans::new(k);
        km.min_size = min;
        km.max_size = max;
        km.seed = case as u64;
        let res = km.fit(&data, n, dim).unwrap();
        let lo = min.unwrap_or(n / k);
        let hi = max.unwrap_or(n.div_ceil(k));
        check_fit(&res, &data, n, dim, k, lo, hi);
    }
}

#[test]
fn planted_blobs_are_recovered() {
    let (k, per, dim) = (4, 50, 8);
    let mut r = rng(42);
    let mut points: Vec<(usize, Vec<f64>)> = Vec::new();
    for b in 0..k {
        let centre: Vec<f64> = (0..dim).map(|f| if f == b { 20.0 } else { 0.0 }).collect();
        for _ in 0..per {
            points.push((b, centre.iter().map(|c| c + gaussian(&mut r)).collect()));
        }
    }
    points.shuffle(&mut r);
    let data: Vec<f64> = points.iter().flat_map(|(_, x)| x.clone()).collect();
    let truth: Vec<usize> = points.iter().map(|(b, _)| *b).collect();
    for seed in 0..3 {
        let mut km = BalancedKMeans::new(k);
        km.seed = seed;
        let res = km.fit(&data, k * per, dim).unwrap();
        // Each found cluster is exactly one blob.
        let mut blob_of_cluster = vec![None; k];
        for (i, &c) in res.assignment.iter().enumerate() {
            match blob_of_cluster[c] {
                None => blob_of_cluster[c] = Some(truth[i]),
                Some(b) => assert_eq!(b, truth[i], "seed {seed}: cluster {c} mixes blobs"),
            }
        }
        assert_eq!(res.sizes, vec![per; k]);
        assert!(res.converged);
    }
}

#[test]
fn large_common_offset_does_not_break_distances() {
    // Blobs 20 apart, all shifted by 1e10: |x|^2 ~ 4e20, so distances computed as
    // |x|^2 + |c|^2 - 2 x.c without centring would be pure rounding noise.
    let (k, per, dim) = (3, 20, 4);
    let mut r = rng(9);
    let mut data = Vec::new();
    let mut truth = Vec::new();
    for b in 0..k {
        for _ in 0..per {
            for f in 0..dim {
                let c = if f == b { 20.0 } else { 0.0 };
                data.push(1e10 + c + gaussian(&mut r));
            }
            truth.push(b);
        }
    }
    let res = BalancedKMeans::new(k).fit(&data, k * per, dim).unwrap();
    for i in 0..k * per {
        for j in 0..k * per {
            assert_eq!(truth[i] == truth[j], res.assignment[i] == res.assignment[j]);
        }
    }
    check_fit(&res, &data, k * per, dim, k, per, per);
}

#[test]
fn uneven_blobs_are_split_evenly() {
    // 30 points near 0 and 70 near 10 on a line: balanced k=2 must give 50/50, splitting
    // the big blob at its 20 points closest to the small one.
    let mut r = rng(7);
    let mut xs: Vec<f64> = (0..30).map(|_| gaussian(&mut r) * 0.1).collect();
    xs.extend((0..70).map(|_| 10.0 + gaussian(&mut r) * 0.1));
    let res = BalancedKMeans::new(2).fit(&xs, 100, 1).unwrap();
    assert_eq!(res.sizes, vec![50, 50]);
    let mut order: Vec<usize> = (0..100).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let left = res.assignment[order[0]];
    assert!(order[..50].iter().all(|&i| res.assignment[i] == left));
    // f32 input gives the same answer.
    let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    assert_eq!(
        BalancedKMeans::new(2).fit(&xs32, 100, 1).unwrap().sizes,
        vec![50, 50]
    );
}

#[test]
fn deterministic_under_a_seed() {
    let (n, dim, k) = (300, 6, 8);
    let data = uniform(n * dim, 1.0, 3);
    let mut km = BalancedKMeans::new(k);
    km.seed = 11;
    km.n_init = 2;
    let a = km.fit(&data, n, dim).unwrap();
    let b = km.fit(&data, n, dim).unwrap();
    assert_eq!(a, b);
    let differs = (0..5).any(|s| {
        let mut other = km.clone();
        other.seed = 100 + s;
        other.fit(&data, n, dim).unwrap().assignment != a.assignment
    });
    assert!(differs, "five other seeds all reproduced seed 11 exactly");
}

#[test]
fn more_inits_never_hurt() {
    let (n, dim, k) = (200, 4, 6);
    let data = uniform(n * dim, 1.0, 9);
    let mut km = BalancedKMeans::new(k);
    let one = km.fit(&data, n, dim).unwrap();
    km.n_init = 4;
    let four = km.fit(&data, n, dim).unwrap();
    assert!(four.inertia <= one.inertia + 1e-12);
}

#[test]
fn assignment_matches_hungarian_on_equal_sizes() {
    for seed in 0..20 {
        let (n, k) = (12, 3);
        let costs = uniform(n * k, 5.0, seed);
        let a = balanced_assignment(&costs, n, k, 4, 4).unwrap();
        assert_eq!(sizes(&a, k), vec![4; 3]);
        let reference = hungarian_exact(&costs, n, k, 4);
        assert!(
            (total(&costs, k, &a) - reference).abs() < 1e-6,
            "seed {seed}"
        );
        assert!((reference - brute_force(&costs, n, k, 4, 4)).abs() < 1e-6);
    }
    // Larger instances, where long displacement chains occur.
    for (seed, n, k) in [(1, 40, 5), (2, 120, 8), (3, 300, 10), (4, 256, 16)] {
        let costs = uniform(n * k, 1.0, 100 + seed);
        let a = balanced_assignment(&costs, n, k, n / k, n / k).unwrap();
        assert_eq!(sizes(&a, k), vec![n / k; k]);
        let reference = hungarian_exact(&costs, n, k, n / k);
        assert!(
            (total(&costs, k, &a) - reference).abs() < 1e-6,
            "n={n} k={k}"
        );
    }
}

#[test]
fn assignment_matches_brute_force_with_unequal_bounds() {
    let cases = [
        (9, 3, 2, 4),
        (10, 3, 1, 6),
        (8, 4, 1, 3),
        (8, 4, 0, 8),
        (9, 3, 3, 3),
        (7, 2, 0, 4),
    ];
    for (case, &(n, k, min, max)) in cases.iter().enumerate() {
        for seed in 0..5 {
            // Mixed-sign costs, and a strongly preferred cluster 0 so the bounds bind.
            let mut costs = uniform(n * k, 3.0, 1000 * case as u64 + seed);
            for i in 0..n {
                costs[i * k] -= 4.0;
            }
            let a = balanced_assignment(&costs, n, k, min, max).unwrap();
            let s = sizes(&a, k);
            assert!(s.iter().all(|&c| c >= min && c <= max), "{s:?}");
            let best = brute_force(&costs, n, k, min, max);
            assert!(
                (total(&costs, k, &a) - best).abs() < 1e-9,
                "case {case} seed {seed}: {} vs {best}",
                total(&costs, k, &a)
            );
        }
    }
}

#[test]
fn assignment_is_optimal_on_larger_bounded_instances() {
    for (seed, n, k, min, max) in [
        (1, 2000, 16, 100, 140),
        (2, 3000, 32, 80, 120),
        (3, 1000, 8, 0, 200),
        (4, 999, 10, 99, 100),
    ] {
        let mut r = rng(seed);
        // Squared distances to a few random centres, like a k-means step.
        let dim = 4;
        let pts: Vec<f64> = (0..n * dim).map(|_| gaussian(&mut r)).collect();
        let cen: Vec<f64> = (0..k * dim).map(|_| gaussian(&mut r) * 0.5 + 0.3).collect();
        let costs: Vec<f64> = (0..n * k)
            .map(|idx| {
                let (i, j) = (idx / k, idx % k);
                (0..dim)
                    .map(|f| (pts[i * dim + f] - cen[j * dim + f]).powi(2))
                    .sum()
            })
            .collect();
        let a = balanced_assignment(&costs, n, k, min, max).unwrap();
        let s = sizes(&a, k);
        assert!(s.iter().all(|&c| c >= min && c <= max), "{s:?}");
        assert_no_negative_cycle(&costs, n, k, min, max, &a);
    }
}

#[test]
fn unconstrained_assignment_is_nearest_centroid() {
    let (n, k) = (200, 7);
    let costs: Vec<f64> = uniform(n * k, 1.0, 5).iter().map(|x| x * x).collect();
    let a = balanced_assignment(&costs, n, k, 0, n).unwrap();
    let nearest: Vec<usize> = costs
        .chunks(k)
        .map(|r| (0..k).min_by(|&x, &y| r[x].total_cmp(&r[y])).unwrap())
        .collect();
    assert_eq!(a, nearest);

    // And through k-means: with no bounds and tol = 0, a converged fit's labels are the
    // nearest centroids.
    let (n, dim) = (150, 3);
    let data = uniform(n * dim, 1.0, 6);
    let mut km = BalancedKMeans::new(5);
    km.min_size = Some(0);
    km.max_size = Some(n);
    km.tol = 0.0;
    let res = km.fit(&data, n, dim).unwrap();
    assert!(res.converged);
    for i in 0..n {
        let d = |j: usize| -> f64 {
            (0..dim)
                .map(|f| (data[i * dim + f] - res.centroids[j * dim + f]).powi(2))
                .sum()
        };
        let best = (0..5).min_by(|&x, &y| d(x).total_cmp(&d(y))).unwrap();
        assert!(d(res.assignment[i]) <= d(best) + 1e-12);
    }
}

#[test]
fn ties_are_deterministic() {
    let costs = vec![0.0; 12 * 4];
    let a = balanced_assignment(&costs, 12, 4, 3, 3).unwrap();
    assert_eq!(a, balanced_assignment(&costs, 12, 4, 3, 3).unwrap());
    assert_eq!(sizes(&a, 4), vec![3; 4]);
    // Identical points cluster without NaN or panic.
    let res = BalancedKMeans::new(3).fit(&[1.0; 9 * 2], 9, 2).unwrap();
    assert_eq!(res.sizes, vec![3, 3, 3]);
    assert!(res.inertia.abs() < 1e-12);
}

#[test]
fn invalid_inputs_are_errors() {
    let data = uniform(20, 1.0, 0);
    let fit = |km: BalancedKMeans, d: &[f64], n: usize, dim: usize| km.fit(d, n, dim);
    assert!(matches!(
        fit(BalancedKMeans::new(0), &data, 10, 2),
        Err(ClusterError::InvalidK { .. })
    ));
    assert!(matches!(
        fit(BalancedKMeans::new(11), &data, 10, 2),
        Err(ClusterError::InvalidK { .. })
    ));
    let bounded = |min, max| {
        let mut km = BalancedKMeans::new(3);
        km.min_size = min;
        km.max_size = max;
        km
    };
    for (min, max) in [
        (Some(4), None),
        (None, Some(3)),
        (Some(3), Some(2)),
        (Some(usize::MAX), None),
    ] {
        assert!(
            matches!(
                fit(bounded(min, max), &data, 10, 2),
                Err(ClusterError::InfeasibleBounds { .. })
            ),
            "{min:?} {max:?}"
        );
    }
    // Unbounded maximum is fine.
    assert!(fit(bounded(Some(0), Some(usize::MAX)), &data, 10, 2).is_ok());
    let mut nan = data.clone();
    nan[7] = f64::NAN;
    assert!(matches!(
        fit(BalancedKMeans::new(2), &nan, 10, 2),
        Err(ClusterError::NonFinite { index: 7, .. })
    ));
    assert!(matches!(
        fit(BalancedKMeans::new(2), &data, 10, 3),
        Err(ClusterError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        fit(BalancedKMeans::new(1), &data, 20, 0),
        Err(ClusterError::InvalidShape { .. })
    ));
    assert!(matches!(
        fit(BalancedKMeans::new(1), &[], 0, 2),
        Err(ClusterError::InvalidShape { .. })
    ));
    let mut km = BalancedKMeans::new(2);
    km.max_iters = 0;
    assert!(matches!(
        fit(km, &data, 10, 2),
        Err(ClusterError::InvalidParameter { .. })
    ));
    let mut km = BalancedKMeans::new(2);
    km.n_init = 0;
    assert!(matches!(
        fit(km, &data, 10, 2),
        Err(ClusterError::InvalidParameter { .. })
    ));
    let mut km = BalancedKMeans::new(2);
    km.tol = f64::NAN;
    assert!(matches!(
        fit(km, &data, 10, 2),
        Err(ClusterError::InvalidParameter { .. })
    ));
    assert!(BalancedKMeans::new(2)
        .fit(&[1e300, -1e300, 0.0, 1.0], 2, 2)
        .is_err());

    let costs = uniform(12, 1.0, 1);
    assert!(matches!(
        balanced_assignment(&costs, 4, 3, 2, 1),
        Err(ClusterError::InfeasibleBounds { .. })
    ));
    assert!(matches!(
        balanced_assignment(&costs, 4, 3, 2, 2),
        Err(ClusterError::InfeasibleBounds { .. })
    ));
    assert!(matches!(
        balanced_assignment(&costs, 4, 3, 0, 1),
        Err(ClusterError::InfeasibleBounds { .. })
    ));
    assert!(matches!(
        balanced_assignment(&costs, 5, 3, 0, 3),
        Err(ClusterError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        balanced_assignment(&costs, 2, 6, 0, 3),
        Err(ClusterError::InvalidK { .. })
    ));
    let mut bad = costs.clone();
    bad[3] = f64::INFINITY;
    assert!(matches!(
        balanced_assignment(&bad, 4, 3, 1, 2),
        Err(ClusterError::NonFinite { index: 3, .. })
    ));
    assert!(balanced_assignment(&[f64::MAX, -f64::MAX], 1, 2, 0, 1).is_err());
}
