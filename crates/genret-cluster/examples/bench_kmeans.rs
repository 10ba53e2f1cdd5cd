//! Quick speed check of balanced k-means on random data.
//!
//! ```text
//! cargo run --release -p genret-cluster --example bench_kmeans [-- N K DIM ITERS]
//! ```
//!
//! Without arguments it runs the two reference sizes. Every run does exactly `ITERS` Lloyd
//! iterations (tol = 0) unless the labels stop changing first.

use std::time::Instant;

use genret_cluster::{balanced_assignment, BalancedKMeans};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let cases = match args.as_slice() {
        [] => vec![(5183, 64, 384, 20), (20000, 256, 384, 20)],
        [n, k, dim, iters] => vec![(*n, *k, *dim, *iters)],
        _ => return Err("usage: bench_kmeans [N K DIM ITERS]".into()),
    };
    println!(
        "{:>7} {:>5} {:>5} {:>6} {:>9} {:>10} {:>11} {:>9}",
        "N", "K", "dim", "iters", "seconds", "s/iter", "assign_s", "sizes"
    );
    for (n, k, dim, iters) in cases {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let data: Vec<f32> = (0..n * dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut km = BalancedKMeans::new(k);
        km.max_iters = iters;
        km.tol = 0.0;
        let start = Instant::now();
        let res = km.fit(&data, n, dim)?;
        let secs = start.elapsed().as_secs_f64();

        // Time one assignment step on its own (costs from the final centroids).
        let costs: Vec<f64> = (0..n * k)
            .map(|idx| {
                let (i, j) = (idx / k, idx % k);
                (0..dim)
                    .map(|f| (data[i * dim + f] as f64 - res.centroids[j * dim + f]).powi(2))
                    .sum()
            })
            .collect();
        let t = Instant::now();
        balanced_assignment(&costs, n, k, n / k, n.div_ceil(k))?;
        let assign_secs = t.elapsed().as_secs_f64();

        let lo = res.sizes.iter().min().copied().unwrap_or(0);
        let hi = res.sizes.iter().max().copied().unwrap_or(0);
        println!(
            "{:>7} {:>5} {:>5} {:>6} {:>9.3} {:>10.4} {:>11.4} {:>4}-{:<4}",
            n,
            k,
            dim,
            res.iterations,
            secs,
            secs / res.iterations as f64,
            assign_secs,
            lo,
            hi
        );
    }
    Ok(())
}
