//! Residual code scores: a docid scored by the dense model's geometry, from its codes alone.
//!
//! # The idea
//!
//! A docid `z_1 .. z_L` can be read as a recipe for a vector: one row per code from `L`
//! codebooks `C_1 .. C_L` (each `[K, D]`), added up, `ê(d) = Σ_t C_t[z_t]`. When the rows are
//! fitted so that `ê(d)` approximates the document's embedding `e(d)` (the mean-pooled,
//! normalised encoder output, what dense retrieval compares), a query `q` scores a docid by
//!
//! ```text
//! s(q, z) = Σ_t q · C_t[z_t] = q · ê(d)
//! ```
//!
//! which is dense retrieval against the reconstruction, computed from a `[L, K]` table of dot
//! products per query and `L` look-ups per docid. This is the additive dot-product score of
//! RIPOR over residual-quantisation codebooks (see quality-levers.md): the index needs the
//! docids and `L · K · D` numbers, not a vector per document.
//!
//! # Fitting the rows to any docids
//!
//! The rows are fitted step by step, as residual quantisation builds them: `C_1[j]` is the mean
//! embedding of the documents whose first code is `j`; `C_t[j]` is the mean of what the earlier
//! rows leave, `e(d) − Σ_{s<t} C_s[z_s]`, over the documents whose code `t` is `j`. For docids
//! made by residual k-means (the `rq` scheme) this gives back its centroids; for GenRet's own
//! docids, whose code `t` means something different under each prefix, it gives the additive
//! codebooks that fit them best in this greedy sense, and the score shows how much of the
//! embedding the codes carry.
//!
//! Every docid is scored (exactly, no beam): `N · L` look-ups per query, a few milliseconds
//! for a million documents.

use anyhow::{ensure, Result};
use tch::{Device, Kind, Tensor};

/// Fitted residual codebooks and every document's codes.
#[derive(Debug)]
pub struct ResidualCodebooks {
    /// `C_t`, `[K, D]` float32 each, t = 1..L.
    pub codebooks: Vec<Tensor>,
    /// `[N, L]` int64, rows by document position.
    codes: Tensor,
}

impl ResidualCodebooks {
    /// Fits `steps` codebooks of `k` rows to `embeddings` (`[N, D]`) and each document's
    /// first `steps` codes. A code no document uses gets a zero row.
    pub fn fit(embeddings: &Tensor, codes: &[Vec<u32>], steps: usize, k: usize) -> Result<Self> {
        let (n, dim) = embeddings.size2()?;
        ensure!(
            n as usize == codes.len(),
            "{n} embeddings but {} docids",
            codes.len()
        );
        ensure!(
            steps >= 1,
            "residual codebooks need at least one code per docid"
        );
        let mut flat = Vec::with_capacity(codes.len() * steps);
        for (pos, z) in codes.iter().enumerate() {
            ensure!(
                z.len() >= steps,
                "document at position {pos} has {} codes, fewer than {steps}",
                z.len()
            );
            for &c in &z[..steps] {
                ensure!(
                    (c as usize) < k,
                    "document at position {pos} holds code {c}, outside 0..{k}"
                );
                flat.push(i64::from(c));
            }
        }
        let codes = Tensor::from_slice(&flat).view([n, steps as i64]);
        let e = embeddings.to_kind(Kind::Float).to_device(Device::Cpu);
        let mut reconstruction = Tensor::zeros([n, dim], (Kind::Float, Device::Cpu));
        let mut codebooks = Vec::with_capacity(steps);
        for t in 0..steps as i64 {
            let z = codes.select(1, t);
            let residual = &e - &reconstruction;
            let sums = Tensor::zeros([k as i64, dim], (Kind::Float, Device::Cpu))
                .index_add(0, &z, &residual);
            let counts = z
                .bincount::<Tensor>(None, k as i64)
                .to_kind(Kind::Float)
                .clamp_min(1.0)
                .unsqueeze(1);
            let rows = sums / counts;
            reconstruction += rows.index_select(0, &z);
            codebooks.push(rows);
        }
        Ok(Self { codebooks, codes })
    }

    pub fn num_docs(&self) -> usize {
        self.codes.size()[0] as usize
    }

    /// `[N, D]`: each document's `ê(d) = Σ_t C_t[z_t]`.
    pub fn reconstruction(&self) -> Tensor {
        let mut out: Option<Tensor> = None;
        for (t, rows) in self.codebooks.iter().enumerate() {
            let part = rows.index_select(0, &self.codes.select(1, t as i64));
            out = Some(match out {
                Some(acc) => acc + part,
                None => part,
            });
        }
        out.expect("at least one codebook")
    }

    /// `[B, N]`: every document's score `Σ_t q · C_t[z_t]` for queries `[B, D]`, from one
    /// `[B, K]` table per step.
    pub fn scores(&self, queries: &Tensor) -> Tensor {
        let q = queries.to_kind(Kind::Float).to_device(Device::Cpu);
        let mut out = Tensor::zeros(
            [q.size()[0], self.num_docs() as i64],
            (Kind::Float, Device::Cpu),
        );
        for (t, rows) in self.codebooks.iter().enumerate() {
            let table = q.matmul(&rows.tr()); // [B, K]
            out += table.index_select(1, &self.codes.select(1, t as i64));
        }
        out
    }
}

/// The `n` best positions of one query's `scores`, best first, ties by ascending position.
pub fn top_positions(scores: &[f32], n: usize) -> Vec<(u64, f32)> {
    let mut order: Vec<(u64, f32)> = scores
        .iter()
        .enumerate()
        .map(|(p, &s)| (p as u64, s))
        .collect();
    let cmp = |a: &(u64, f32), b: &(u64, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if order.len() > n && n > 0 {
        order.select_nth_unstable_by(n - 1, cmp);
        order.truncate(n);
    }
    order.truncate(n);
    order.sort_unstable_by(cmp);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Embeddings that two additive codebooks reproduce exactly: every pair (z1, z2) once,
    /// `e = A[z1] + B[z2]` with B's rows summing to zero (A's do not).
    fn exact_data() -> (Tensor, Vec<Vec<u32>>, Tensor, Tensor) {
        tch::manual_seed(11);
        let (k, d) = (4i64, 6i64);
        let a = Tensor::randn([k, d], (Kind::Float, Device::Cpu)) + 2.0;
        let b = Tensor::randn([k, d], (Kind::Float, Device::Cpu));
        let b = &b - b.mean_dim([0i64].as_slice(), true, Kind::Float);
        let (mut rows, mut codes) = (Vec::new(), Vec::new());
        for i in 0..k {
            for j in 0..k {
                rows.push(a.get(i) + b.get(j));
                codes.push(vec![i as u32, j as u32, 0]);
            }
        }
        (Tensor::stack(&rows, 0), codes, a, b)
    }

    #[test]
    fn fitting_recovers_additive_codebooks_and_scores_equal_exact_dot_products() {
        let (e, codes, a, b) = exact_data();
        let fit = ResidualCodebooks::fit(&e, &codes, 2, 4).unwrap();
        assert!(
            (&fit.codebooks[0] - &a).abs().max().double_value(&[]) < 1e-5,
            "step 1 rows are the group means"
        );
        assert!(
            (&fit.codebooks[1] - &b).abs().max().double_value(&[]) < 1e-5,
            "step 2 rows fit the residuals"
        );
        assert!((fit.reconstruction() - &e).abs().max().double_value(&[]) < 1e-5);
        let q = Tensor::randn([3, 6], (Kind::Float, Device::Cpu));
        let want = q.matmul(&e.tr());
        assert!(
            (fit.scores(&q) - want).abs().max().double_value(&[]) < 1e-4,
            "table look-ups equal q . e"
        );
    }

    #[test]
    fn scores_are_dot_products_with_the_reconstruction() {
        tch::manual_seed(3);
        let e = Tensor::randn([20, 5], (Kind::Float, Device::Cpu));
        let codes: Vec<Vec<u32>> = (0..20u32)
            .map(|i| vec![i % 3, (i / 3) % 4, i % 2])
            .collect();
        let fit = ResidualCodebooks::fit(&e, &codes, 3, 4).unwrap();
        assert_eq!(fit.codebooks.len(), 3);
        // Code 3 of step 1 is unused: a zero row.
        assert_eq!(
            fit.codebooks[0]
                .get(3)
                .abs()
                .sum(Kind::Float)
                .double_value(&[]),
            0.0
        );
        let q = Tensor::randn([2, 5], (Kind::Float, Device::Cpu));
        let want = q.matmul(&fit.reconstruction().tr());
        assert!((fit.scores(&q) - want).abs().max().double_value(&[]) < 1e-4);
        // Each step lowers the reconstruction error (least squares within each code's group).
        let mut last = f64::INFINITY;
        for steps in 1..=3 {
            let err = (ResidualCodebooks::fit(&e, &codes, steps, 4)
                .unwrap()
                .reconstruction()
                - &e)
                .square()
                .sum(Kind::Float)
                .double_value(&[]);
            assert!(err <= last + 1e-6, "{steps} steps: {err} > {last}");
            last = err;
        }
    }

    #[test]
    fn bad_codes_are_refused_with_the_position() {
        let e = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
        let err = ResidualCodebooks::fit(&e, &[vec![0, 1], vec![5, 0]], 2, 4)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("position 1") && err.contains("code 5"),
            "{err}"
        );
        let err = ResidualCodebooks::fit(&e, &[vec![0, 1], vec![0]], 2, 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("position 1"), "{err}");
    }

    #[test]
    fn top_positions_break_ties_by_position() {
        let s = [0.5f32, 0.9, 0.5, 0.1, 0.9];
        assert_eq!(top_positions(&s, 3), vec![(1, 0.9), (4, 0.9), (0, 0.5)]);
        assert_eq!(top_positions(&s, 10).len(), 5);
        assert!(top_positions(&s, 0).is_empty());
    }
}
