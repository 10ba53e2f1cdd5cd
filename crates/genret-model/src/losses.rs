//! GenRet's training objectives at progressive step T (specification, "Losses").
//!
//! All scores are raw dot products divided by a temperature (default 1.0). Codes of the steps
//! before T are fixed data; step T's targets come from Sinkhorn-balanced assignment.

use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

/// Weights of the loss terms. Defaults are the authors' code values (the paper uses 1 for all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossWeights {
    pub ranking: f64,
    pub generation: f64,
    pub prefix: f64,
    pub reconstruction: f64,
    /// Distillation from the frozen encoder's geometry ([`distill_loss`]); 0 turns it off.
    /// Not in the paper: it keeps the decoder states that order documents at least as good a
    /// ranker as the encoder they start from, where training queries are few.
    pub distill: f64,
    /// Temperature of teacher and student cosines in [`distill_loss`].
    pub distill_temperature: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self {
            ranking: 0.5,
            generation: 0.5,
            prefix: 0.5,
            reconstruction: 0.1,
            distill: 0.0,
            distill_temperature: 0.05,
        }
    }
}

/// Listwise distillation over the batch: for each query i, the KL divergence from the
/// teacher's distribution `softmax_j(cos(tq_i, td_j) / τ)` to the student's
/// `softmax_j(cos(q_i, d_j) / τ)`, averaged over queries. The teacher (`tq`, `td`: `[B, D']`, for
/// example the frozen encoder's pooled states) gets no gradient; 0 when the student's cosines
/// equal the teacher's.
pub fn distill_loss(q: &Tensor, d: &Tensor, tq: &Tensor, td: &Tensor, temperature: f64) -> Tensor {
    let cos = |a: &Tensor, b: &Tensor| {
        let n = |x: &Tensor| {
            x / x
                .norm_scalaropt_dim(2.0, [-1i64].as_slice(), true)
                .clamp_min(1e-12)
        };
        n(a).matmul(&n(b).tr()) / temperature
    };
    let teacher = tch::no_grad(|| cos(tq, td)).detach();
    let p_teacher = teacher.softmax(-1, teacher.kind());
    let log_teacher = teacher.log_softmax(-1, teacher.kind());
    let log_student = cos(q, d).log_softmax(-1, teacher.kind());
    (&p_teacher * (log_teacher - log_student))
        .sum_dim_intlist([-1i64].as_slice(), false, teacher.kind())
        .mean(teacher.kind())
}

/// In-batch softmax cross-entropy over `q_i . d_j / temperature`, positive on the diagonal.
/// `q`, `d`: `[B, D]`.
pub fn ranking_loss(q: &Tensor, d: &Tensor, temperature: f64) -> Tensor {
    let scores = q.matmul(&d.tr()) / temperature;
    diagonal_cross_entropy(&scores)
}

/// Mean cross-entropy of logits `[N, K]` against integer targets `[N]`.
pub fn generation_loss(logits: &Tensor, targets: &Tensor) -> Tensor {
    logits.cross_entropy_loss::<Tensor>(targets, None, Reduction::Mean, -100, 0.0)
}

/// Reconstruction with the straight-through estimator: in-batch softmax cross-entropy over
/// `e_i . sg(d_j) / temperature`, where `e_i` is the codebook row of document i's code `z_T(i)`
/// in its forward value, and its gradient also reaches `d_T(i)` through `e + d - sg(d)`.
/// `codebook`: `[K, D]`; `codes`: `[B]`; `d`: `[B, D]`.
pub fn reconstruction_loss(
    codebook: &Tensor,
    codes: &Tensor,
    d: &Tensor,
    temperature: f64,
) -> Tensor {
    let e = codebook.index_select(0, codes);
    let d_sg = d.detach();
    let e_st = &e + d - &d_sg;
    let scores = e_st.matmul(&d_sg.tr()) / temperature;
    diagonal_cross_entropy(&scores)
}

fn diagonal_cross_entropy(scores: &Tensor) -> Tensor {
    let n = scores.size()[0];
    let targets = Tensor::arange(n, (Kind::Int64, scores.device()));
    scores.cross_entropy_loss::<Tensor>(&targets, None, Reduction::Mean, -100, 0.0)
}

/// Each term's value (for logging) and their weighted sum (for backpropagation).
pub struct LossTerms {
    pub total: Tensor,
    pub ranking: f64,
    pub generation: f64,
    pub prefix: f64,
    pub reconstruction: f64,
    pub distill: f64,
}

impl LossTerms {
    /// Adds the distillation term with its weight.
    pub fn with_distill(mut self, term: Option<Tensor>, weight: f64) -> Self {
        if let Some(t) = term {
            self.distill = t.double_value(&[]);
            self.total = &self.total + t * weight;
        }
        self
    }
}

/// Weighted sum of whichever terms are present (warm-up has no generation or reconstruction).
pub fn combine(
    w: &LossWeights,
    ranking: Option<Tensor>,
    generation: Option<Tensor>,
    prefix: Option<Tensor>,
    reconstruction: Option<Tensor>,
) -> LossTerms {
    let mut total: Option<Tensor> = None;
    let mut add = |t: &Option<Tensor>, weight: f64| -> f64 {
        match t {
            Some(t) => {
                let v = t.double_value(&[]);
                let term = t * weight;
                total = Some(match total.take() {
                    Some(acc) => acc + term,
                    None => term,
                });
                v
            }
            None => f64::NAN,
        }
    };
    let ranking = add(&ranking, w.ranking);
    let generation = add(&generation, w.generation);
    let prefix = add(&prefix, w.prefix);
    let reconstruction = add(&reconstruction, w.reconstruction);
    LossTerms {
        total: total.unwrap_or_else(|| Tensor::zeros([], (Kind::Float, tch::Device::Cpu))),
        ranking,
        generation,
        prefix,
        reconstruction,
        distill: f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64], shape: &[i64]) -> Tensor {
        Tensor::from_slice(v).reshape(shape).to_kind(Kind::Double)
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn ranking_loss_matches_hand_computation() {
        // q = [[1,0],[0,2]], d = [[1,1],[0,1]]: scores [[1,0],[2,2]].
        let q = t(&[1., 0., 0., 2.], &[2, 2]).set_requires_grad(true);
        let d = t(&[1., 1., 0., 1.], &[2, 2]);
        let loss = ranking_loss(&q, &d, 1.0);
        // row 0: -log(e^1/(e^1+e^0)); row 1: -log(e^2/(e^2+e^2)) = ln 2.
        let r0 = -(1f64.exp() / (1f64.exp() + 1.0)).ln();
        let r1 = 2f64.ln();
        close(loss.double_value(&[]), (r0 + r1) / 2.0);
        // Temperature divides the scores.
        let l2 = ranking_loss(&q, &d, 2.0).double_value(&[]);
        let r0 = -(0.5f64.exp() / (0.5f64.exp() + 1.0)).ln();
        close(l2, (r0 + 2f64.ln()) / 2.0);
        // Gradient w.r.t. q row 0: (softmax - onehot) @ d / B.
        loss.backward();
        let p = 1f64.exp() / (1f64.exp() + 1.0);
        let g = q.grad();
        // softmax row 0 = [p, 1-p]; minus onehot [1,0] -> [p-1, 1-p]; times d rows -> (p-1)*[1,1] + (1-p)*[0,1].
        close(g.double_value(&[0, 0]), (p - 1.0) / 2.0);
        close(g.double_value(&[0, 1]), ((p - 1.0) + (1.0 - p)) / 2.0);
        // row 1: softmax [0.5,0.5] - [0,1] = [0.5,-0.5]; @ d = 0.5*[1,1] - 0.5*[0,1] = [0.5, 0].
        close(g.double_value(&[1, 0]), 0.25);
        close(g.double_value(&[1, 1]), 0.0);
    }

    #[test]
    fn generation_loss_is_mean_cross_entropy() {
        let logits = t(&[0., 1., 2., 0., 0., 0.], &[2, 3]);
        let targets = Tensor::from_slice(&[2i64, 0]);
        let lse0 = (1f64 + 1f64.exp() + 2f64.exp()).ln();
        let expected = ((lse0 - 2.0) + 3f64.ln()) / 2.0;
        close(
            generation_loss(&logits, &targets).double_value(&[]),
            expected,
        );
    }

    #[test]
    fn reconstruction_uses_codebook_rows_forward_and_straight_through_backward() {
        // K=3 codebook, two documents on codes 2 and 0.
        let cb = t(&[1., 0., 0., 1., 2., 1.], &[3, 2]).set_requires_grad(true);
        let codes = Tensor::from_slice(&[2i64, 0]);
        let d = t(&[0., 1., 1., 1.], &[2, 2]).set_requires_grad(true);
        let loss = reconstruction_loss(&cb, &codes, &d, 1.0);
        // e = [[2,1],[1,0]]; scores e @ d^T = [[1,3],[0,1]].
        let l0 = (1f64.exp() + 3f64.exp()).ln() - 1.0;
        let l1 = (1f64 + 1f64.exp()).ln() - 1.0;
        close(loss.double_value(&[]), (l0 + l1) / 2.0);
        loss.backward();
        // dL/de_i = sum_j (softmax_ij - 1[i=j]) d_j / B; row 0 softmax [s, 1-s], s = e/(e+e^3).
        let s0 = 1f64.exp() / (1f64.exp() + 3f64.exp());
        let ge0 = [
            (s0 - 1.0) * 0.0 + (1.0 - s0) * 1.0,
            (s0 - 1.0) * 1.0 + (1.0 - s0) * 1.0,
        ]
        .map(|x| x / 2.0);
        let s1 = 1.0 / (1.0 + 1f64.exp());
        let ge1 = [
            s1 * 0.0 + (s1 - 1.0) * 0.0 + (1.0 - s1 - 1.0 + 1.0) * 0.0,
            0.0,
        ];
        let _ = ge1;
        let gcb = cb.grad();
        close(gcb.double_value(&[2, 0]), ge0[0]);
        close(gcb.double_value(&[2, 1]), ge0[1]);
        // Code 1 is used by nobody: no gradient.
        close(gcb.double_value(&[1, 0]), 0.0);
        // Straight-through: d_i receives exactly the gradient of e_i (the sg(d_j) side gets none).
        let gd = d.grad();
        close(gd.double_value(&[0, 0]), ge0[0]);
        close(gd.double_value(&[0, 1]), ge0[1]);
        close(gd.double_value(&[1, 0]), gcb.double_value(&[0, 0]));
        close(gd.double_value(&[1, 1]), gcb.double_value(&[0, 1]));
    }

    #[test]
    fn distillation_is_the_kl_divergence_between_the_cosine_softmaxes() {
        // Student cosines [[1, 0], [0, 1]] (orthonormal rows), teacher [[1, 0.6], [0.6, 1]].
        let q = t(&[1., 0., 0., 1.], &[2, 2]).set_requires_grad(true);
        let d = t(&[2., 0., 0., 3.], &[2, 2]);
        let tq = t(&[1., 0., 0.6, 0.8], &[2, 2]);
        let td = t(&[1., 0., 0., 1.], &[2, 2]);
        let tau = 0.5;
        let kl = |p: [f64; 2], s: [f64; 2]| {
            let soft = |x: [f64; 2]| {
                let z = (x[0] / tau).exp() + (x[1] / tau).exp();
                [(x[0] / tau).exp() / z, (x[1] / tau).exp() / z]
            };
            let (pt, ps) = (soft(p), soft(s));
            pt[0] * (pt[0] / ps[0]).ln() + pt[1] * (pt[1] / ps[1]).ln()
        };
        // Teacher rows: q0·d = [1, 0]; q1·d = [0.6, 0.8].
        let want = (kl([1.0, 0.0], [1.0, 0.0]) + kl([0.6, 0.8], [0.0, 1.0])) / 2.0;
        let got = distill_loss(&q, &d, &tq, &td, tau);
        close(got.double_value(&[]), want);
        got.backward();
        assert!(q.grad().abs().sum(Kind::Double).double_value(&[]) > 0.0);
        // Equal cosines: nothing to learn.
        close(distill_loss(&tq, &td, &tq, &td, tau).double_value(&[]), 0.0);
    }

    #[test]
    fn combine_weights_terms_and_skips_absent_ones() {
        let w = LossWeights::default();
        let a = Tensor::from(2.0f64);
        let b = Tensor::from(4.0f64);
        let terms = combine(&w, Some(a), None, Some(b), None);
        close(terms.total.double_value(&[]), 0.5 * 2.0 + 0.5 * 4.0);
        assert!(terms.generation.is_nan());
        close(terms.prefix, 4.0);
    }
}
