use genret_cluster::sinkhorn::one_sided_authors_variant;
use genret_cluster::{balanced_assign, sinkhorn, ClusterError, SinkhornOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn uniform(rows: usize, cols: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rows * cols)
        .map(|_| rng.gen_range(-scale..scale))
        .collect()
}

/// Row and column sums of `plan`, recomputed here independently of the crate.
fn marginals(plan: &[f64], rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
    let mut r = vec![0.0; rows];
    let mut c = vec![0.0; cols];
    for i in 0..rows {
        for j in 0..cols {
            r[i] += plan[i * cols + j];
            c[j] += plan[i * cols + j];
        }
    }
    (r, c)
}

fn assert_balanced(plan: &[f64], rows: usize, cols: usize, tol: f64) {
    let (r, c) = marginals(plan, rows, cols);
    for (i, s) in r.iter().enumerate() {
        assert!((s - 1.0 / rows as f64).abs() <= tol, "row {i} sums to {s}");
    }
    for (j, s) in c.iter().enumerate() {
        assert!(
            (s - 1.0 / cols as f64).abs() <= tol,
            "column {j} sums to {s}"
        );
    }
}

/// Every row argmax is column 0, whatever the other scores.
fn adversarial(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let mut h = uniform(rows, cols, 1.0, seed);
    for i in 0..rows {
        h[i * cols] += 20.0;
    }
    h
}

fn distinct(a: &[usize]) -> usize {
    let mut v = a.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

#[test]
fn marginals_hold_on_random_inputs() {
    for &(rows, cols) in &[(64, 16), (256, 512), (7, 3), (3, 7), (1, 5), (5, 1)] {
        for seed in 0..3 {
            let h = uniform(rows, cols, 3.0, seed);
            let res = sinkhorn(&h, rows, cols, &SinkhornOptions::default()).unwrap();
            assert!(res.converged, "{rows}x{cols} seed {seed}: {res:?}");
            assert!(res.marginal_error <= 1e-9);
            assert_balanced(&res.plan(), rows, cols, 1e-6);
        }
    }
}

#[test]
fn marginals_hold_without_rescale_and_other_temperatures() {
    for (seed, eps) in [(10, 0.5), (11, 0.1), (12, 2.0)] {
        let h = uniform(48, 20, 2.0, seed);
        let opts = SinkhornOptions {
            epsilon: eps,
            rescale: false,
            ..Default::default()
        };
        let res = sinkhorn(&h, 48, 20, &opts).unwrap();
        assert!(res.converged, "eps {eps}: {}", res.marginal_error);
        assert_balanced(&res.plan(), 48, 20, 1e-6);
    }
}

/// The Sinkhorn plan is the unique matrix with the right marginals of the form
/// diag(u) exp(H/eps) diag(v): check that form through double differences of the logs.
#[test]
fn plan_is_a_diagonal_scaling_of_the_kernel() {
    let (rows, cols, eps) = (9, 5, 0.7);
    let h = uniform(rows, cols, 1.5, 3);
    let opts = SinkhornOptions {
        epsilon: eps,
        rescale: false,
        ..Default::default()
    };
    let res = sinkhorn(&h, rows, cols, &opts).unwrap();
    let l = &res.log_plan;
    for i in 1..rows {
        for j in 1..cols {
            let dl = l[i * cols + j] - l[i * cols] - l[j] + l[0];
            let dh = (h[i * cols + j] - h[i * cols] - h[j] + h[0]) / eps;
            assert!((dl - dh).abs() < 1e-9, "({i},{j}): {dl} vs {dh}");
        }
    }
}

#[test]
fn separable_scores_give_the_uniform_plan() {
    // H_ij = a_i + b_j is absorbed entirely by the scalings.
    let (rows, cols) = (6, 4);
    let h: Vec<f64> = (0..rows * cols)
        .map(|idx| 3.0 * (idx / cols) as f64 - 5.0 * (idx % cols) as f64)
        .collect();
    let res = sinkhorn(&h, rows, cols, &SinkhornOptions::default()).unwrap();
    for p in res.plan() {
        assert!((p - 1.0 / (rows * cols) as f64).abs() < 1e-12);
    }
}

#[test]
fn dominant_code_is_rebalanced() {
    for seed in 0..3 {
        let (rows, cols) = (64, 16);
        let h = adversarial(rows, cols, seed);
        let plain: Vec<usize> = h
            .chunks(cols)
            .map(|r| (0..cols).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
            .collect();
        assert_eq!(distinct(&plain), 1);

        for rescale in [true, false] {
            let opts = SinkhornOptions {
                rescale,
                ..Default::default()
            };
            let res = sinkhorn(&h, rows, cols, &opts).unwrap();
            assert!(res.converged);
            assert_balanced(&res.plan(), rows, cols, 1e-6);
            let balanced = balanced_assign(&h, rows, cols, &opts).unwrap();
            assert_eq!(balanced, res.assignments());
            assert!(
                distinct(&balanced) >= 12,
                "rescale={rescale}: only {} codes used",
                distinct(&balanced)
            );
            let on_zero = balanced.iter().filter(|&&c| c == 0).count();
            assert!(on_zero <= 2 * rows / cols, "{on_zero} rows kept code 0");
        }
    }
}

#[test]
fn authors_one_sided_variant_does_not_balance_columns() {
    let (rows, cols) = (64, 16);
    let h = adversarial(rows, cols, 0);
    for rescale in [true, false] {
        let opts = SinkhornOptions {
            rescale,
            ..Default::default()
        };
        let res = one_sided_authors_variant(&h, rows, cols, &opts).unwrap();
        let (r, c) = marginals(&res.plan(), rows, cols);
        // Rows are fine ...
        for s in r {
            assert!((s - 1.0 / rows as f64).abs() < 1e-12);
        }
        // ... columns are not: code 0 keeps far more than its 1/K share.
        assert!(c[0] > 2.0 / cols as f64, "rescale={rescale}: {}", c[0]);
        assert!(res.marginal_error > 0.05);
        assert!(!res.converged);
        // It is a fixed point after one iteration (the second changes nothing).
        assert!(res.iterations <= 2, "{}", res.iterations);
        // And its argmax is the plain argmax: everything on code 0.
        assert!(res.assignments().iter().all(|&c| c == 0));
        // The real algorithm on the same input balances.
        let real = sinkhorn(&h, rows, cols, &opts).unwrap();
        assert!(real.marginal_error <= 1e-9);
    }
}

#[test]
fn huge_scores_and_small_epsilon_stay_finite() {
    for &(rows, cols) in &[(32, 8), (8, 32)] {
        let h = uniform(rows, cols, 1e4, 5);
        let opts = SinkhornOptions {
            epsilon: 1e-2,
            rescale: false,
            max_iters: 200,
            ..Default::default()
        };
        let res = sinkhorn(&h, rows, cols, &opts).unwrap();
        assert!(res
            .log_plan
            .iter()
            .all(|x| !x.is_nan() && *x < f64::INFINITY));
        assert!(res.plan().iter().all(|p| p.is_finite()));
        assert!(res.marginal_error.is_finite());
        let a = res.assignments();
        assert!(a.iter().all(|&c| c < cols));

        let one = one_sided_authors_variant(&h, rows, cols, &opts).unwrap();
        assert!(one.log_plan.iter().all(|x| !x.is_nan()));
        assert!(one.marginal_error.is_finite());
    }
    // Huge but separable scores are still balanced, to the precision f64 leaves: with
    // |H / eps| ~ 5e8 one ulp of a log is ~6e-8, so only eps = 1 meets tol = 1e-9.
    let (rows, cols) = (20, 10);
    let h: Vec<f64> = (0..rows * cols)
        .map(|idx| 1e4 * ((idx / cols) as f64 - 3.0 * (idx % cols) as f64))
        .collect();
    for eps in [1.0, 1e-3] {
        let opts = SinkhornOptions {
            epsilon: eps,
            rescale: false,
            ..Default::default()
        };
        let res = sinkhorn(&h, rows, cols, &opts).unwrap();
        assert!(res.converged || eps < 1.0, "{}", res.marginal_error);
        assert_balanced(&res.plan(), rows, cols, 1e-6);
    }
}

#[test]
fn ties_go_to_the_lowest_index() {
    let res = sinkhorn(&[0.0; 12], 4, 3, &SinkhornOptions::default()).unwrap();
    assert!(res.converged);
    assert_eq!(res.assignments(), vec![0; 4]);
}

#[test]
fn iteration_cap_is_reported() {
    let h = uniform(30, 10, 1.0, 8);
    let opts = SinkhornOptions {
        max_iters: 1,
        rescale: false,
        epsilon: 0.05,
        ..Default::default()
    };
    let res = sinkhorn(&h, 30, 10, &opts).unwrap();
    assert_eq!(res.iterations, 1);
    assert!(!res.converged);
    assert!(res.marginal_error > 1e-9);
}

#[test]
fn bad_inputs_are_errors() {
    let o = SinkhornOptions::default();
    assert!(matches!(
        sinkhorn(&[], 0, 3, &o),
        Err(ClusterError::InvalidShape { .. })
    ));
    assert!(matches!(
        sinkhorn(&[1.0; 5], 2, 3, &o),
        Err(ClusterError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        sinkhorn(&[1.0, f64::NAN], 1, 2, &o),
        Err(ClusterError::NonFinite { index: 1, .. })
    ));
    for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let opts = SinkhornOptions {
            epsilon: eps,
            ..Default::default()
        };
        assert!(matches!(
            balanced_assign(&[1.0, 2.0], 1, 2, &opts),
            Err(ClusterError::InvalidParameter { .. })
        ));
    }
    let opts = SinkhornOptions {
        tol: -1.0,
        ..Default::default()
    };
    assert!(one_sided_authors_variant(&[1.0, 2.0], 1, 2, &opts).is_err());
}
