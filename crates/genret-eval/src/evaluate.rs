//! Evaluating a run against judgements: the per-query loop, means and subsets (the options
//! are in [`crate::options`]).

use std::collections::BTreeMap;
use std::fmt;

use genret_data::{Qrels, Run};
use serde::Serialize;

use crate::error::{EvalError, Result};
use crate::measures::{trec_order, QueryJudged};
use crate::metric::Metric;
pub use crate::options::{DuplicateDocs, EvalOptions, MissingQueries, ScorePrecision};

/// The outcome of an evaluation. Serializes to JSON with the canonical metric names as keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The measures, in the order asked for (duplicates removed).
    pub metrics: Vec<Metric>,
    pub options: EvalOptions,
    /// Queries the means are over.
    pub num_queries: usize,
    /// Arithmetic mean of each measure over the evaluated queries (empty when there are none).
    pub mean: BTreeMap<String, f64>,
    /// For the counting measures only: the total over queries, which is what trec_eval prints
    /// in its `all` row for `num_ret`, `num_rel` and `num_rel_ret`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub totals: BTreeMap<String, f64>,
    /// Every evaluated query: query id -> metric name -> value.
    pub per_query: BTreeMap<String, BTreeMap<String, f64>>,
    /// Judged queries absent from the run: zero-filled under [`MissingQueries::Zero`] (and then
    /// also in `per_query`), left out under [`MissingQueries::Skip`].
    pub missing_queries: Vec<String>,
    /// Queries of the run without any judgement: never evaluated (trec_eval ignores them too).
    pub unjudged_queries: Vec<String>,
}

/// Evaluates `run` against `qrels` on `metrics`. See the crate documentation for the semantics.
pub fn evaluate(
    qrels: &Qrels,
    run: &Run,
    metrics: &[Metric],
    options: &EvalOptions,
) -> Result<Evaluation> {
    evaluate_subset(qrels, run, metrics, options, |_| true)
}

/// Like [`evaluate`], over only the queries for which `keep` is true (e.g. the queries whose
/// documents were seen in training, or those that were not). Missing and unjudged queries are
/// reported among the kept ones only.
pub fn evaluate_subset(
    qrels: &Qrels,
    run: &Run,
    metrics: &[Metric],
    options: &EvalOptions,
    keep: impl Fn(&str) -> bool,
) -> Result<Evaluation> {
    if options.relevance_level < 1 {
        return Err(EvalError::InvalidOption(format!(
            "relevance level must be at least 1, got {}",
            options.relevance_level
        )));
    }
    let mut unique: Vec<Metric> = Vec::with_capacity(metrics.len());
    for m in metrics {
        m.validate()?;
        if !unique.contains(m) {
            unique.push(*m);
        }
    }
    if unique.is_empty() {
        return Err(EvalError::InvalidOption("no measure to compute".into()));
    }
    let names: Vec<String> = unique.iter().map(Metric::name).collect();

    let mut per_query = BTreeMap::new();
    let mut missing_queries = Vec::new();
    for (qid, judgements) in qrels.iter().filter(|(q, _)| keep(q)) {
        let ranked = match run.get(qid) {
            Some(docs) => trec_order(qid, docs, options)?,
            None => {
                missing_queries.push(qid.clone());
                match options.missing {
                    MissingQueries::Zero => Vec::new(),
                    MissingQueries::Skip => continue,
                }
            }
        };
        let judged = QueryJudged::new(&ranked, judgements, options.relevance_level);
        let values = unique
            .iter()
            .zip(&names)
            .map(|(m, n)| (n.clone(), judged.value(*m)))
            .collect();
        per_query.insert(qid.clone(), values);
    }
    let unjudged_queries = run
        .iter()
        .map(|(q, _)| q)
        .filter(|q| keep(q) && !qrels.contains_query(q))
        .cloned()
        .collect();

    let mut evaluation = Evaluation {
        metrics: unique,
        options: *options,
        num_queries: 0,
        mean: BTreeMap::new(),
        totals: BTreeMap::new(),
        per_query,
        missing_queries,
        unjudged_queries,
    };
    evaluation.summarize();
    Ok(evaluation)
}

impl Evaluation {
    /// The mean of one measure, if it was computed and there was at least one query.
    pub fn mean_of(&self, metric: Metric) -> Option<f64> {
        self.mean.get(&metric.name()).copied()
    }

    /// The same evaluation restricted to the queries for which `keep` is true, with means and
    /// totals recomputed: how to report seen and unseen query subsets from one evaluation.
    pub fn restrict(&self, keep: impl Fn(&str) -> bool) -> Evaluation {
        let mut out = Evaluation {
            metrics: self.metrics.clone(),
            options: self.options,
            num_queries: 0,
            mean: BTreeMap::new(),
            totals: BTreeMap::new(),
            per_query: self
                .per_query
                .iter()
                .filter(|(q, _)| keep(q))
                .map(|(q, v)| (q.clone(), v.clone()))
                .collect(),
            missing_queries: self
                .missing_queries
                .iter()
                .filter(|q| keep(q))
                .cloned()
                .collect(),
            unjudged_queries: self
                .unjudged_queries
                .iter()
                .filter(|q| keep(q))
                .cloned()
                .collect(),
        };
        out.summarize();
        out
    }

    /// Recomputes `num_queries`, `mean` and `totals` from `per_query`, summing in query-id
    /// order as trec_eval does.
    fn summarize(&mut self) {
        self.num_queries = self.per_query.len();
        self.mean.clear();
        self.totals.clear();
        if self.num_queries == 0 {
            return;
        }
        for metric in &self.metrics {
            let name = metric.name();
            let total: f64 = self
                .per_query
                .values()
                .map(|v| v.get(&name).copied().unwrap_or(0.0))
                .sum();
            self.mean
                .insert(name.clone(), total / self.num_queries as f64);
            if metric.is_count() {
                self.totals.insert(name, total);
            }
        }
    }

    /// A two-column table: each measure and its mean (for counting measures, marked
    /// `(total)`, the total over queries, as trec_eval prints them), then the number of queries.
    pub fn table(&self) -> String {
        let label = |m: &Metric| {
            if m.is_count() {
                format!("{} (total)", m.name())
            } else {
                m.name()
            }
        };
        let width = self
            .metrics
            .iter()
            .map(|m| label(m).len())
            .max()
            .unwrap_or(0)
            .max("queries".len());
        let mut out = String::new();
        out.push_str(&format!("{:<width$}  {:>10}\n", "measure", "value"));
        for metric in &self.metrics {
            let name = metric.name();
            let shown = label(metric);
            let value = if metric.is_count() {
                self.totals.get(&name)
            } else {
                self.mean.get(&name)
            };
            let cell = match value {
                Some(v) => format_value(*metric, *v),
                None => "-".to_string(),
            };
            out.push_str(&format!("{shown:<width$}  {cell:>10}\n"));
        }
        out.push_str(&format!(
            "{:<width$}  {:>10}\n",
            "queries", self.num_queries
        ));
        out
    }

    /// One row per evaluated query, one column per measure.
    pub fn per_query_table(&self) -> String {
        let qid_width = self
            .per_query
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max("query".len());
        let names: Vec<String> = self.metrics.iter().map(Metric::name).collect();
        let widths: Vec<usize> = names.iter().map(|n| n.len().max(6)).collect();
        let mut out = format!("{:<qid_width$}", "query");
        for (n, w) in names.iter().zip(&widths) {
            out.push_str(&format!("  {n:>w$}"));
        }
        out.push('\n');
        for (qid, values) in &self.per_query {
            out.push_str(&format!("{qid:<qid_width$}"));
            for ((metric, n), w) in self.metrics.iter().zip(&names).zip(&widths) {
                let cell = values
                    .get(n)
                    .map_or_else(|| "-".to_string(), |v| format_value(*metric, *v));
                out.push_str(&format!("  {cell:>w$}"));
            }
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table())
    }
}

/// Four decimals as trec_eval prints, integers for counts.
fn format_value(metric: Metric, value: f64) -> String {
    if metric.is_count() {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genret_data::ScoredDoc;

    fn fixture() -> (Qrels, Run) {
        let mut qrels = Qrels::default();
        qrels.insert("q1", "a", 1);
        qrels.insert("q1", "b", 0);
        qrels.insert("q2", "c", 2);
        qrels.insert("q3", "d", 0); // judged, nothing relevant
        let mut run = Run::new();
        run.insert(
            "q1",
            vec![ScoredDoc {
                doc_id: "a".into(),
                score: 1.0,
            }],
        );
        run.insert(
            "q3",
            vec![ScoredDoc {
                doc_id: "d".into(),
                score: 1.0,
            }],
        );
        run.insert(
            "q9",
            vec![ScoredDoc {
                doc_id: "a".into(),
                score: 1.0,
            }],
        ); // unjudged
        (qrels, run)
    }

    #[test]
    fn missing_queries_count_as_zero_or_are_skipped() {
        let (qrels, run) = fixture();
        let metrics = [Metric::RecipRank(None), Metric::NumRel];
        let zero = evaluate(&qrels, &run, &metrics, &EvalOptions::default()).unwrap();
        assert_eq!(zero.num_queries, 3);
        assert_eq!(zero.missing_queries, ["q2"]);
        assert_eq!(zero.unjudged_queries, ["q9"]);
        assert_eq!(zero.mean_of(Metric::RecipRank(None)), Some(1.0 / 3.0));
        assert_eq!(
            zero.per_query["q2"]["num_rel"], 1.0,
            "a missing query keeps its num_rel"
        );
        assert_eq!(zero.totals["num_rel"], 2.0);

        let opts = EvalOptions {
            missing: MissingQueries::Skip,
            ..EvalOptions::default()
        };
        let skip = evaluate(&qrels, &run, &metrics, &opts).unwrap();
        assert_eq!(skip.num_queries, 2);
        assert!(!skip.per_query.contains_key("q2"));
        assert_eq!(skip.mean_of(Metric::RecipRank(None)), Some(0.5));
    }

    #[test]
    fn subsets_and_restrict_agree() {
        let (qrels, run) = fixture();
        let metrics = Metric::default_set();
        let all = evaluate(&qrels, &run, &metrics, &EvalOptions::default()).unwrap();
        let keep = |q: &str| q != "q1";
        let sub = evaluate_subset(&qrels, &run, &metrics, &EvalOptions::default(), keep).unwrap();
        assert_eq!(sub, all.restrict(keep));
        assert_eq!(sub.num_queries, 2);
        assert_eq!(sub.mean_of(Metric::RecipRank(Some(10))), Some(0.0));
        let none = all.restrict(|_| false);
        assert_eq!(none.num_queries, 0);
        assert!(none.mean.is_empty());
        assert!(none.table().contains('-'));
    }

    #[test]
    fn rejects_bad_options() {
        let (qrels, run) = fixture();
        let opts = EvalOptions {
            relevance_level: 0,
            ..EvalOptions::default()
        };
        assert!(matches!(
            evaluate(&qrels, &run, &[Metric::Map(None)], &opts),
            Err(EvalError::InvalidOption(_))
        ));
        assert!(evaluate(&qrels, &run, &[], &EvalOptions::default()).is_err());
        assert!(evaluate(
            &qrels,
            &run,
            &[Metric::Precision(0)],
            &EvalOptions::default()
        )
        .is_err());
    }

    #[test]
    fn tables_list_every_measure() {
        let (qrels, run) = fixture();
        let metrics = [Metric::Ndcg(10), Metric::NumRelRet];
        let e = evaluate(&qrels, &run, &metrics, &EvalOptions::default()).unwrap();
        let table = e.table();
        assert!(
            table.contains("nDCG@10") && table.contains("0.3333"),
            "{table}"
        );
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("num_rel_ret (total)") && l.trim_end().ends_with(" 1")),
            "{table}"
        );
        let pq = e.per_query_table();
        assert_eq!(pq.lines().count(), 4, "{pq}");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["metrics"][0], "nDCG@10");
        assert_eq!(json["options"]["missing"], "zero");
        assert_eq!(json["per_query"]["q1"]["nDCG@10"], 1.0);
    }
}
