//! One query: trec_eval's ordering of the ranking, then every measure on it.
//!
//! This mirrors trec_eval's `form_res_rels.c` (ordering, duplicate check, relevance list) and the
//! `m_*.c` files of the measures (sums accumulated in the same order, so the values agree with
//! trec_eval to the last bit or nearly).

use std::collections::{BTreeMap, HashSet};

use genret_data::ScoredDoc;

use crate::error::{EvalError, Result};
use crate::metric::Metric;
use crate::options::{DuplicateDocs, EvalOptions, ScorePrecision};

/// The ranked documents of one query in trec_eval's order: score decreasing, ties broken by
/// document id decreasing (byte-wise, as `strcmp`); the run's own order and rank column play no
/// part. Scores are compared at the precision `options.score_precision` names.
pub fn trec_order<'a>(
    qid: &str,
    docs: &'a [ScoredDoc],
    options: &EvalOptions,
) -> Result<Vec<&'a ScoredDoc>> {
    if let Some(d) = docs.iter().find(|d| d.score.is_nan()) {
        return Err(EvalError::NanScore {
            qid: qid.to_string(),
            doc_id: d.doc_id.clone(),
        });
    }
    let key = |d: &ScoredDoc| match options.score_precision {
        ScorePrecision::F32 => d.score as f32 as f64,
        ScorePrecision::F64 => d.score,
    };
    let mut keyed: Vec<(f64, &ScoredDoc)> = docs.iter().map(|d| (key(d), d)).collect();
    // No NaN is left, so `partial_cmp` is total; -0.0 and 0.0 tie as they do in C.
    keyed.sort_by(|(sa, a), (sb, b)| {
        sb.partial_cmp(sa)
            .expect("NaN scores were rejected above")
            .then_with(|| b.doc_id.cmp(&a.doc_id))
    });
    let mut seen: HashSet<&str> = HashSet::with_capacity(keyed.len());
    let mut ranked = Vec::with_capacity(keyed.len());
    for (_, d) in keyed {
        if seen.insert(d.doc_id.as_str()) {
            ranked.push(d);
        } else if options.duplicates == DuplicateDocs::Error {
            return Err(EvalError::DuplicateDoc {
                qid: qid.to_string(),
                doc_id: d.doc_id.clone(),
            });
        }
        // DuplicateDocs::KeepBest: the first occurrence in trec_eval's order is the best scored.
    }
    Ok(ranked)
}

/// What the measures need to know about one query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueryJudged {
    /// Grade of each retrieved document in rank order; unjudged and negative grades are 0
    /// (trec_eval's RELVALUE_NONPOOL / RELVALUE_UNJUDGED, never relevant, never a gain).
    ranked: Vec<i32>,
    /// Every positive grade in the judgements, highest first: the ideal ranking.
    ideal: Vec<i32>,
    /// Judged documents with grade >= relevance level.
    num_rel: usize,
    relevance_level: i32,
}

impl QueryJudged {
    pub(crate) fn new(
        ranked: &[&ScoredDoc],
        judgements: &BTreeMap<String, i32>,
        relevance_level: i32,
    ) -> Self {
        let ranked = ranked
            .iter()
            .map(|d| judgements.get(&d.doc_id).map_or(0, |&g| g.max(0)))
            .collect();
        let mut ideal: Vec<i32> = judgements.values().copied().filter(|&g| g > 0).collect();
        ideal.sort_unstable_by(|a, b| b.cmp(a));
        let num_rel = judgements
            .values()
            .filter(|&&g| g >= relevance_level)
            .count();
        QueryJudged {
            ranked,
            ideal,
            num_rel,
            relevance_level,
        }
    }

    fn is_rel(&self, grade: i32) -> bool {
        grade >= self.relevance_level
    }

    fn rel_in_top(&self, k: usize) -> usize {
        self.ranked
            .iter()
            .take(k)
            .filter(|&&g| self.is_rel(g))
            .count()
    }

    /// The value of one measure for this query.
    pub(crate) fn value(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Ndcg(k) => {
                let idcg = dcg(self.ideal.iter().take(k).copied());
                // trec_eval leaves the (necessarily zero) DCG unnormalised when no judged
                // document has a positive grade.
                if idcg > 0.0 {
                    dcg(self.ranked.iter().take(k).copied()) / idcg
                } else {
                    0.0
                }
            }
            Metric::Recall(k) => {
                if self.num_rel == 0 {
                    0.0
                } else {
                    self.rel_in_top(k) as f64 / self.num_rel as f64
                }
            }
            Metric::Precision(k) => self.rel_in_top(k) as f64 / k as f64,
            Metric::RecipRank(cut) => self
                .ranked
                .iter()
                .take(cut.unwrap_or(usize::MAX))
                .position(|&g| self.is_rel(g))
                .map_or(0.0, |i| 1.0 / (i + 1) as f64),
            Metric::Map(cut) => {
                if self.num_rel == 0 {
                    return 0.0;
                }
                let mut rel_so_far = 0usize;
                let mut sum = 0.0f64;
                for (i, &g) in self
                    .ranked
                    .iter()
                    .take(cut.unwrap_or(usize::MAX))
                    .enumerate()
                {
                    if self.is_rel(g) {
                        rel_so_far += 1;
                        sum += rel_so_far as f64 / (i + 1) as f64;
                    }
                }
                sum / self.num_rel as f64
            }
            Metric::NumRet => self.ranked.len() as f64,
            Metric::NumRel => self.num_rel as f64,
            Metric::NumRelRet => self.ranked.iter().filter(|&&g| self.is_rel(g)).count() as f64,
        }
    }
}

/// Discounted cumulative gain with linear gains and `log2(rank + 1)` discounts (rank from 1),
/// summed in rank order as trec_eval's `m_ndcg_cut.c` does.
fn dcg(grades: impl Iterator<Item = i32>) -> f64 {
    let mut sum = 0.0f64;
    for (i, g) in grades.enumerate() {
        if g > 0 {
            sum += g as f64 / ((i + 2) as f64).log2();
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sd(doc_id: &str, score: f64) -> ScoredDoc {
        ScoredDoc {
            doc_id: doc_id.to_string(),
            score,
        }
    }

    fn judgements(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    fn ids(v: &[&ScoredDoc]) -> Vec<String> {
        v.iter().map(|d| d.doc_id.clone()).collect()
    }

    #[test]
    fn ties_break_by_docid_descending_bytewise() {
        let docs = vec![
            sd("a", 1.0),
            sd("d10", 1.0),
            sd("z", 0.5),
            sd("d9", 1.0),
            sd("b", 2.0),
        ];
        let order = trec_order("q", &docs, &EvalOptions::default()).unwrap();
        // "d9" > "d10" byte-wise (strcmp), whatever a numeric sort would say.
        assert_eq!(ids(&order), ["b", "d9", "d10", "a", "z"]);
    }

    #[test]
    fn f32_precision_merges_close_scores_f64_does_not() {
        let docs = vec![sd("a", 0.1000000002), sd("b", 0.1000000001)];
        let f32_order = trec_order("q", &docs, &EvalOptions::default()).unwrap();
        assert_eq!(
            ids(&f32_order),
            ["b", "a"],
            "f32: a tie, broken by docid descending"
        );
        let opts = EvalOptions {
            score_precision: ScorePrecision::F64,
            ..EvalOptions::default()
        };
        assert_eq!(ids(&trec_order("q", &docs, &opts).unwrap()), ["a", "b"]);
    }

    #[test]
    fn duplicates_are_an_error_or_keep_the_best() {
        let docs = vec![sd("x", 0.2), sd("y", 0.5), sd("x", 0.9)];
        let err = trec_order("q1", &docs, &EvalOptions::default()).unwrap_err();
        assert_eq!(
            err,
            EvalError::DuplicateDoc {
                qid: "q1".into(),
                doc_id: "x".into()
            }
        );
        let opts = EvalOptions {
            duplicates: DuplicateDocs::KeepBest,
            ..EvalOptions::default()
        };
        let order = trec_order("q1", &docs, &opts).unwrap();
        assert_eq!(ids(&order), ["x", "y"]);
        assert_eq!(order[0].score, 0.9);
    }

    #[test]
    fn nan_is_an_error() {
        let docs = vec![sd("x", f64::NAN)];
        assert!(matches!(
            trec_order("q", &docs, &EvalOptions::default()),
            Err(EvalError::NanScore { .. })
        ));
    }

    #[test]
    fn ndcg_uses_linear_gains_and_an_ideal_over_all_judgements() {
        // Retrieved: rel 1 at rank 1, rel 0 at rank 2. Judged but not retrieved: a 3 and a 2.
        let docs = vec![sd("a", 2.0), sd("b", 1.0)];
        let j = judgements(&[("a", 1), ("b", 0), ("c", 3), ("d", 2), ("e", -1)]);
        let order = trec_order("q", &docs, &EvalOptions::default()).unwrap();
        let q = QueryJudged::new(&order, &j, 1);
        let ideal = 3.0 + 2.0 / 3f64.log2() + 1.0 / 2.0;
        assert!((q.value(Metric::Ndcg(10)) - 1.0 / ideal).abs() < 1e-15);
        // Ideal cut at k: at k = 1 only the grade-3 document counts.
        assert!((q.value(Metric::Ndcg(1)) - 1.0 / 3.0).abs() < 1e-15);
        // Not 2^rel - 1 gains: those would give 1 / (7 + 3/log2(3) + 1/2).
        assert!((q.value(Metric::Ndcg(10)) - 1.0 / (7.0 + 3.0 / 3f64.log2() + 0.5)).abs() > 1e-3);
        assert_eq!(q.value(Metric::NumRel), 3.0);
    }

    #[test]
    fn rr_is_cut_at_k_and_counts_use_the_relevance_level() {
        let mut docs: Vec<ScoredDoc> = (0..12)
            .map(|i| sd(&format!("n{i:02}"), 100.0 - i as f64))
            .collect();
        docs.push(sd("rel", 1.0)); // rank 13
        let j = judgements(&[("rel", 2), ("n00", 0), ("other", 1)]);
        let order = trec_order("q", &docs, &EvalOptions::default()).unwrap();
        let q = QueryJudged::new(&order, &j, 1);
        assert_eq!(q.value(Metric::RecipRank(Some(10))), 0.0);
        assert_eq!(q.value(Metric::RecipRank(None)), 1.0 / 13.0);
        assert_eq!(q.value(Metric::RecipRank(Some(13))), 1.0 / 13.0);
        assert_eq!(q.value(Metric::Recall(100)), 0.5);
        assert_eq!(q.value(Metric::Precision(20)), 1.0 / 20.0);
        assert_eq!(q.value(Metric::Map(None)), (1.0 / 13.0) / 2.0);
        assert_eq!(q.value(Metric::Map(Some(10))), 0.0);
        assert_eq!(q.value(Metric::NumRet), 13.0);
        assert_eq!(q.value(Metric::NumRelRet), 1.0);
        // With relevance level 2, "other" (grade 1) is no longer relevant.
        let q2 = QueryJudged::new(&order, &j, 2);
        assert_eq!(q2.value(Metric::Recall(100)), 1.0);
    }

    #[test]
    fn a_query_without_relevant_documents_scores_zero() {
        let docs = vec![sd("a", 1.0)];
        let j = judgements(&[("a", 0), ("b", -2)]);
        let order = trec_order("q", &docs, &EvalOptions::default()).unwrap();
        let q = QueryJudged::new(&order, &j, 1);
        for m in [
            Metric::Ndcg(10),
            Metric::Recall(10),
            Metric::Precision(1),
            Metric::RecipRank(None),
            Metric::Map(None),
        ] {
            assert_eq!(q.value(m), 0.0, "{m}");
        }
    }
}
