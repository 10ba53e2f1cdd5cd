//! Fusing ranked lists: hybrid retrieval from two systems' runs.
//!
//! A generative retriever and a lexical one fail on different queries, so combining their
//! rankings beats either (PAG, GDR). Two standard fusions, each over the union of the systems'
//! top lists for a query:
//!
//! * [`FusionMethod::MinMax`]: each system's scores are rescaled per query to `[0, 1]`
//!   (`(s − min) / (max − min)` over that system's list; a list whose scores are all equal maps
//!   to 1), then summed with weights; a document missing from a list gets 0 for it.
//! * [`FusionMethod::ZScore`]: each system's scores are standardised per query
//!   (`(s − mean) / std` over that system's list), then summed with weights; a document missing
//!   from a list gets that list's lowest standardised score. A list with no spread (one document,
//!   or all scores equal) puts its documents as far above those it lacks as the top of the
//!   widest other list stands above its floor (1 if there is none), as min-max maps a flat list
//!   to 1: a document that one system alone finds (a rare word) keeps that system's full say.
//!   Unlike min-max, one outlying top score does not squeeze the rest of its list together.
//! * [`FusionMethod::Rrf`] (reciprocal rank fusion, Cormack et al. 2009): `Σ w / (k + rank)`,
//!   ranks from 1 in each list, the constant k (60 in the paper) damping the top ranks.
//!
//! Ties are broken by document id (ascending), so a fused run is deterministic.

use std::collections::HashMap;

use genret_data::{Run, ScoredDoc};

/// How scores from several runs are combined.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "method")]
pub enum FusionMethod {
    /// Per-query min-max normalisation, then a weighted sum.
    MinMax,
    /// Per-query standardisation (z-scores), then a weighted sum.
    ZScore,
    /// Reciprocal rank fusion with constant `k`.
    Rrf { k: f64 },
}

impl std::fmt::Display for FusionMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FusionMethod::MinMax => f.write_str("min-max"),
            FusionMethod::ZScore => f.write_str("z-score"),
            FusionMethod::Rrf { k } => write!(f, "rrf(k={k})"),
        }
    }
}

/// A list's mean score and population standard deviation.
fn mean_and_std(list: &[ScoredDoc]) -> (f64, f64) {
    let n = list.len().max(1) as f64;
    let mean = list.iter().map(|d| d.score).sum::<f64>() / n;
    let var = list.iter().map(|d| (d.score - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// A list's lowest and highest score (infinities for an empty list).
fn score_range(list: &[ScoredDoc]) -> (f64, f64) {
    list.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), d| {
            (lo.min(d.score), hi.max(d.score))
        })
}

/// The largest `(max − min) / std` among `lists` that have a spread, 1 when none has: how far the
/// top of a z-scored list stands above its floor.
fn widest_z_span(lists: &[(&[ScoredDoc], f64)]) -> f64 {
    lists
        .iter()
        .filter_map(|(list, _)| {
            let (_, std) = mean_and_std(list);
            let (lo, hi) = score_range(list);
            (std > 0.0).then(|| (hi - lo) / std)
        })
        .fold(None, |best: Option<f64>, x| {
            Some(best.map_or(x, |b| b.max(x)))
        })
        .unwrap_or(1.0)
}

/// One query's fused list from its lists in each system (each best first), cut at `depth`.
pub fn fuse_lists(
    lists: &[(&[ScoredDoc], f64)],
    method: FusionMethod,
    depth: usize,
) -> Vec<ScoredDoc> {
    let mut total: HashMap<&str, f64> = HashMap::new();
    // Z-scores: each list's contribution is shifted so that its lowest document adds 0, which
    // is what a document missing from the list gets; the shifts are added back at the end.
    let mut floors: Vec<(f64, f64)> = Vec::new();
    for &(list, weight) in lists {
        match method {
            FusionMethod::MinMax => {
                let (lo, hi) = score_range(list);
                for d in list {
                    let norm = if hi > lo {
                        (d.score - lo) / (hi - lo)
                    } else {
                        1.0
                    };
                    *total.entry(&d.doc_id).or_insert(0.0) += weight * norm;
                }
            }
            FusionMethod::ZScore => {
                let (mean, std) = mean_and_std(list);
                if std > 0.0 {
                    // Each document adds its z-score above the list's floor, (s − lo) / std;
                    // the floor itself, (lo − mean) / std, comes back in the shift.
                    let (lo, _) = score_range(list);
                    floors.push((weight, (lo - mean) / std));
                    for d in list {
                        *total.entry(&d.doc_id).or_insert(0.0) += weight * (d.score - lo) / std;
                    }
                } else {
                    // A list with no spread (one document, or equal scores) still says which
                    // documents it found: each stands as high above those it lacks as the top
                    // of the widest other list stands above that list's floor (min-max's "a
                    // flat list maps to 1", in z-score units).
                    let span = widest_z_span(lists);
                    for d in list {
                        *total.entry(&d.doc_id).or_insert(0.0) += weight * span;
                    }
                }
            }
            FusionMethod::Rrf { k } => {
                // Rank by score (the list's own order may not be sorted), ties by id.
                let mut order: Vec<&ScoredDoc> = list.iter().collect();
                order.sort_by(|a, b| {
                    b.score
                        .total_cmp(&a.score)
                        .then_with(|| a.doc_id.cmp(&b.doc_id))
                });
                for (r, d) in order.into_iter().enumerate() {
                    *total.entry(&d.doc_id).or_insert(0.0) += weight / (k + (r + 1) as f64);
                }
            }
        }
    }
    let shift: f64 = floors.iter().map(|(w, f)| w * f).sum();
    let mut fused: Vec<ScoredDoc> = total
        .into_iter()
        .map(|(id, score)| ScoredDoc {
            doc_id: id.to_string(),
            score: score + shift,
        })
        .collect();
    fused.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.doc_id.cmp(&b.doc_id))
    });
    fused.truncate(depth);
    fused
}

/// Fuses whole runs query by query (a query missing from a run has an empty list there).
pub fn fuse_runs(runs: &[(&Run, f64)], method: FusionMethod, depth: usize) -> Run {
    let mut queries: Vec<&String> = runs
        .iter()
        .flat_map(|(r, _)| r.iter().map(|(q, _)| q))
        .collect();
    queries.sort();
    queries.dedup();
    let mut out = Run::new();
    for q in queries {
        let lists: Vec<(&[ScoredDoc], f64)> = runs
            .iter()
            .map(|(r, w)| (r.get(q).unwrap_or(&[]), *w))
            .collect();
        out.insert(q.clone(), fuse_lists(&lists, method, depth));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[(&str, f64)]) -> Vec<ScoredDoc> {
        items
            .iter()
            .map(|&(id, score)| ScoredDoc {
                doc_id: id.into(),
                score,
            })
            .collect()
    }

    #[test]
    fn min_max_normalises_each_list_then_weights() {
        let a = list(&[("x", 10.0), ("y", 5.0), ("z", 0.0)]);
        let b = list(&[("z", -1.0), ("w", -3.0)]);
        let fused = fuse_lists(&[(&a, 0.25), (&b, 0.75)], FusionMethod::MinMax, 10);
        let got: Vec<(&str, f64)> = fused.iter().map(|d| (d.doc_id.as_str(), d.score)).collect();
        // x: 0.25·1; y: 0.25·0.5; z: 0.25·0 + 0.75·1; w: 0.75·0.
        assert_eq!(
            got,
            vec![("z", 0.75), ("x", 0.25), ("y", 0.125), ("w", 0.0)]
        );
        // A weight of 1 on one list gives its order back.
        let only_a = fuse_lists(&[(&a, 1.0), (&b, 0.0)], FusionMethod::MinMax, 3);
        // x 1, y 0.5, then z and w tie at 0 and go by id.
        assert_eq!(
            only_a.iter().map(|d| d.doc_id.as_str()).collect::<Vec<_>>(),
            vec!["x", "y", "w"]
        );
    }

    #[test]
    fn z_score_standardises_each_list_and_missing_documents_get_its_floor() {
        // a: mean 5, population std sqrt(50/3); b: mean -2, std 1.
        let a = list(&[("x", 10.0), ("y", 5.0), ("z", 0.0)]);
        let b = list(&[("z", -1.0), ("w", -3.0)]);
        let fused = fuse_lists(&[(&a, 0.25), (&b, 0.75)], FusionMethod::ZScore, 10);
        let sa = (50.0f64 / 3.0).sqrt();
        let za = |s: f64| (s - 5.0) / sa;
        let zb = |s: f64| s + 2.0;
        let want = [
            ("z", 0.25 * za(0.0) + 0.75 * zb(-1.0)),
            ("x", 0.25 * za(10.0) + 0.75 * zb(-3.0)),
            ("y", 0.25 * za(5.0) + 0.75 * zb(-3.0)),
            ("w", 0.25 * za(0.0) + 0.75 * zb(-3.0)),
        ];
        assert_eq!(fused.len(), 4);
        for (got, (id, score)) in fused.iter().zip(want) {
            assert_eq!(got.doc_id, id);
            assert!(
                (got.score - score).abs() < 1e-12,
                "{id}: {} vs {score}",
                got.score
            );
        }
        // A list with no spread, alone, puts its documents 1 above the ones it lacks...
        let flat = list(&[("x", 2.0), ("y", 2.0)]);
        let fused = fuse_lists(&[(&flat, 1.0)], FusionMethod::ZScore, 10);
        assert!(fused.iter().all(|d| d.score == 1.0));
        // ...and beside other lists, as far as the widest one's top stands above its floor
        // (a's: (10 − 0) / sa), so a document found by one system alone keeps its full say: v,
        // at the floor of a, ties a's top document x, which the other system lacks.
        let alone = list(&[("v", 7.0)]);
        let fused = fuse_lists(&[(&a, 0.5), (&alone, 0.5)], FusionMethod::ZScore, 10);
        let span = 10.0 / sa;
        let v = fused.iter().find(|d| d.doc_id == "v").unwrap();
        let x = fused.iter().find(|d| d.doc_id == "x").unwrap();
        assert!(
            (v.score - (0.5 * za(0.0) + 0.5 * span)).abs() < 1e-12,
            "{fused:?}"
        );
        assert!((v.score - x.score).abs() < 1e-12, "{fused:?}");
    }

    #[test]
    fn rrf_follows_the_formula_and_breaks_ties_by_id() {
        let a = list(&[("x", 3.0), ("y", 2.0)]);
        let b = list(&[("y", 9.0), ("x", 1.0)]);
        let fused = fuse_lists(&[(&a, 1.0), (&b, 1.0)], FusionMethod::Rrf { k: 60.0 }, 10);
        // Both get 1/61 + 1/62: a tie, broken by id.
        assert_eq!(fused[0].doc_id, "x");
        assert!((fused[0].score - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12);
        assert!((fused[0].score - fused[1].score).abs() < 1e-12);
        let c = list(&[("z", 1.0)]);
        let fused = fuse_lists(&[(&a, 1.0), (&c, 2.0)], FusionMethod::Rrf { k: 1.0 }, 2);
        assert_eq!(
            fused.iter().map(|d| d.doc_id.as_str()).collect::<Vec<_>>(),
            vec!["z", "x"]
        );
        assert!((fused[0].score - 1.0).abs() < 1e-12);
    }

    #[test]
    fn runs_fuse_query_by_query() {
        let mut a = Run::new();
        a.insert("q1", list(&[("x", 1.0)]));
        let mut b = Run::new();
        b.insert("q2", list(&[("y", 1.0)]));
        let fused = fuse_runs(&[(&a, 0.5), (&b, 0.5)], FusionMethod::MinMax, 10);
        assert_eq!(fused.len(), 2);
        assert_eq!(fused.get("q1").unwrap()[0].doc_id, "x");
        assert_eq!(fused.get("q2").unwrap()[0].score, 0.5);
    }
}
