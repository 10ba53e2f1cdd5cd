//! Residual-quantisation docids (k-means RQ, the first version of TIGER's semantic ids).
//!
//! # The idea
//!
//! Instead of a tree whose shape follows the data, use `M` fixed levels of `k` codes each,
//! every level refining what the previous levels missed:
//!
//! 1. level 1 runs k-means on the embeddings; a document's first code is its cluster;
//! 2. level `l + 1` runs k-means on the **residuals** `x - c_1 - ... - c_l` left after
//!    subtracting each document's chosen centroids so far;
//! 3. after `M` levels, documents may still share the whole `M`-code prefix (identical or
//!    very close embeddings). As TIGER does, one more **collision suffix** code numbers the
//!    documents of each prefix `0, 1, 2, ...` in document order.
//!
//! The suffix step is always present, so every docid has length `M + 1`, and the codebook
//! has `K = max(k, largest collision group)` codes. (With fewer than `k` distinct points, a
//! level may use fewer than `k` codes: k-means drops empty clusters.) `sum_l c_l` is the
//! reconstruction of the embedding, and each level lowers its error.
//!
//! # New documents
//!
//! The state holds the codebooks and, per prefix, how many documents use it. A new
//! document is quantised greedily, level by level, to the nearest centroid (squared L2) of
//! its residual, and takes the next free suffix of that prefix. Suffixes stay below `K`: if
//! the prefix already holds `K` documents, the search backtracks depth-first to the
//! next-nearest code at the last level, then at the level above, and so on, taking the first
//! prefix with room (usually an unused one). Only when every prefix is full is there no free
//! docid (an error).
//!
//! Because training codes are each document's nearest returned centroid at every level, a
//! new document with a training document's embedding gets that document's prefix.

use std::collections::{BTreeMap, HashMap};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{DocidError, Result};
use crate::{check_embeddings, check_new_embedding, kmeans, Assignment, SchemeConfig, SchemeState};

/// The RQ codebooks and the number of documents per `M`-code prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawState")]
pub struct RqState {
    dim: usize,
    codebook_size: usize,
    /// Level `l`'s centroids, row-major, `dim` columns.
    codebooks: Vec<Vec<f32>>,
    /// Documents per prefix; keys are the prefix codes joined by `-` (e.g. `"3-17"`).
    counts: BTreeMap<String, u32>,
}

/// [`RqState`] as stored, before its consistency is checked.
#[derive(Deserialize)]
struct RawState {
    dim: usize,
    codebook_size: usize,
    codebooks: Vec<Vec<f32>>,
    counts: BTreeMap<String, u32>,
}

impl TryFrom<RawState> for RqState {
    type Error = DocidError;

    fn try_from(raw: RawState) -> Result<Self> {
        let bad = |reason: String| DocidError::CorruptState {
            scheme: "rq",
            reason,
        };
        if raw.dim == 0
            || raw.codebooks.is_empty()
            || raw.codebook_size == 0
            || raw.codebook_size > u32::MAX as usize
        {
            return Err(bad(
                "dim, codebook_size and the level list must be non-empty and in range".into(),
            ));
        }
        for (l, cb) in raw.codebooks.iter().enumerate() {
            if cb.is_empty() || cb.len() % raw.dim != 0 || cb.len() / raw.dim > raw.codebook_size {
                return Err(bad(format!(
                    "level {l}'s codebook has {} values for dim {}",
                    cb.len(),
                    raw.dim
                )));
            }
        }
        for (key, &count) in &raw.counts {
            let codes: Vec<&str> = key.split('-').collect();
            let ok = codes.len() == raw.codebooks.len()
                && codes
                    .iter()
                    .zip(&raw.codebooks)
                    .all(|(c, cb)| c.parse::<usize>().is_ok_and(|c| c < cb.len() / raw.dim))
                && count as usize <= raw.codebook_size;
            if !ok {
                return Err(bad(format!(
                    "prefix entry `{key}`: {count} does not match the codebooks"
                )));
            }
        }
        Ok(Self {
            dim: raw.dim,
            codebook_size: raw.codebook_size,
            codebooks: raw.codebooks,
            counts: raw.counts,
        })
    }
}

fn key(prefix: &[u32]) -> String {
    prefix
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("-")
}

/// `r -= c`, elementwise (the same operation in training and for new documents, so that
/// identical embeddings give bit-identical residuals).
fn subtract(r: &mut [f32], c: &[f32]) {
    r.iter_mut().zip(c).for_each(|(a, b)| *a -= b);
}

/// Assigns residual-quantisation docids to the rows of `embeddings` (`n x dim`, row-major),
/// using `cfg.rq_levels`, `cfg.rq_k`, `cfg.kmeans_iters` and `cfg.seed`.
pub fn assign(cfg: &SchemeConfig, embeddings: &[f32], dim: usize) -> Result<Assignment> {
    let n = check_embeddings(embeddings, dim)?;
    let (levels, k) = (cfg.rq_levels, cfg.rq_k);
    if levels == 0 {
        return Err(DocidError::InvalidConfig {
            name: "rq_levels",
            reason: "must be at least 1".into(),
        });
    }
    if k == 0 || k > u32::MAX as usize {
        return Err(DocidError::InvalidConfig {
            name: "rq_k",
            reason: format!("must be in 1..=u32::MAX, got {k}"),
        });
    }

    if n > u32::MAX as usize {
        return Err(DocidError::TooManyCodes {
            reason: format!("{n} documents could overflow a u32 collision suffix"),
        });
    }

    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let all: Vec<usize> = (0..n).collect();
    let mut residual = embeddings.to_vec();
    let mut codes: Vec<Vec<u32>> = vec![Vec::with_capacity(levels + 1); n];
    let mut codebooks = Vec::with_capacity(levels);
    for _ in 0..levels {
        let fit = kmeans::fit(&residual, dim, &all, k, cfg.kmeans_iters, &mut rng);
        for (d, &j) in fit.labels.iter().enumerate() {
            codes[d].push(j as u32);
            subtract(
                &mut residual[d * dim..(d + 1) * dim],
                &fit.centroids[j * dim..(j + 1) * dim],
            );
        }
        codebooks.push(fit.centroids);
    }

    let mut groups: HashMap<Vec<u32>, u32> = HashMap::new();
    for c in &mut codes {
        let count = groups.entry(c.clone()).or_insert(0);
        c.push(*count);
        *count += 1; // no overflow: n <= u32::MAX is checked above
    }
    let largest = groups.values().copied().max().unwrap_or(0) as usize;
    let codebook_size = k.max(largest);
    let counts = groups.iter().map(|(p, &c)| (key(p), c)).collect();
    Ok(Assignment {
        codes,
        codebook_size,
        steps: levels + 1,
        state: SchemeState::Rq(RqState {
            dim,
            codebook_size,
            codebooks,
            counts,
        }),
    })
}

impl RqState {
    pub(crate) fn assign_new(&mut self, id: &str, embedding: Option<&[f32]>) -> Result<Vec<u32>> {
        let x = check_new_embedding("rq", id, embedding, self.dim)?;
        let levels = self.codebooks.len();
        let mut stack = vec![(Vec::<u32>::new(), x.to_vec())];
        while let Some((prefix, r)) = stack.pop() {
            let level = prefix.len();
            if level == levels {
                let count = self.counts.entry(key(&prefix)).or_insert(0);
                if (*count as usize) < self.codebook_size {
                    let mut docid = prefix;
                    docid.push(*count);
                    *count += 1;
                    return Ok(docid);
                }
                continue;
            }
            let cb = &self.codebooks[level];
            for &j in kmeans::ranked(cb, self.dim, &r).iter().rev() {
                let mut p = Vec::with_capacity(levels + 1);
                p.extend_from_slice(&prefix);
                p.push(j as u32);
                let mut rj = r.clone();
                subtract(&mut rj, &cb[j * self.dim..(j + 1) * self.dim]);
                stack.push((p, rj));
            }
        }
        Err(DocidError::NoFreeDocid {
            id: id.to_owned(),
            reason: format!(
                "every RQ prefix already holds K = {} documents",
                self.codebook_size
            ),
        })
    }

    pub(crate) fn docid_len(&self) -> usize {
        self.codebooks.len() + 1
    }

    pub(crate) fn codebook_size(&self) -> usize {
        self.codebook_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_support::clustered;
    use crate::SchemeKind;

    /// Mean squared error of reconstructing each document from its first `levels` codes.
    fn mse(st: &RqState, x: &[f32], codes: &[Vec<u32>], levels: usize) -> f64 {
        let dim = st.dim;
        let mut total = 0.0;
        for (d, c) in codes.iter().enumerate() {
            let mut r = x[d * dim..(d + 1) * dim].to_vec();
            for (&j, cb) in c.iter().zip(&st.codebooks).take(levels) {
                let j = j as usize;
                subtract(&mut r, &cb[j * dim..(j + 1) * dim]);
            }
            total += r.iter().map(|v| f64::from(v * v)).sum::<f64>();
        }
        total / codes.len() as f64
    }

    #[test]
    fn second_level_lowers_reconstruction_error() {
        let (x, dim) = clustered(500, 8, 6, 5);
        let cfg = SchemeConfig {
            kind: SchemeKind::Rq,
            rq_levels: 3,
            rq_k: 8,
            ..SchemeConfig::default()
        };
        let a = assign(&cfg, &x, dim).unwrap();
        let SchemeState::Rq(st) = &a.state else {
            panic!()
        };
        let e: Vec<f64> = (0..=3).map(|l| mse(st, &x, &a.codes, l)).collect();
        assert!(
            e[1] < e[0] && e[2] < 0.9 * e[1] && e[3] < e[2],
            "errors by level: {e:?}"
        );
    }

    #[test]
    fn full_prefix_falls_back_to_next_nearest_code() {
        // Two well separated groups; k = 2 at one level, so K = max(2, 30) = 30 and the
        // prefix of the 30 identical points is full.
        let mut x = vec![0.0f32; 30 * 2];
        x.extend(std::iter::repeat_n([10.0f32, 10.0], 5).flatten());
        let cfg = SchemeConfig {
            kind: SchemeKind::Rq,
            rq_levels: 1,
            rq_k: 2,
            ..SchemeConfig::default()
        };
        let a = assign(&cfg, &x, 2).unwrap();
        assert_eq!(a.codebook_size, 30);
        let mut st = a.state.clone();
        let full_prefix = a.codes[0][0];
        let new = st.assign_new("n", Some(&[0.0, 0.0])).unwrap();
        assert_ne!(new[0], full_prefix);
        assert_eq!(new[1], 5, "takes the next suffix of the other prefix");
        assert!(new.iter().all(|&c| (c as usize) < a.codebook_size));
    }
}
