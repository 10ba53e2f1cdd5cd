//! Per-query diagnostics: the queries where GenRet does worst against BM25, with the docids of
//! the documents that should have been found beside the docids GenRet returned. A relevant
//! document whose docid shares no prefix with anything returned points at the docids (the
//! document sits in the wrong branch of the tree); one that shares a long prefix but ranks low
//! points at the scoring within the branch.
//!
//! nDCG@10 per query comes from `genret_eval` (trec_eval's semantics, missing queries score 0),
//! so the numbers agree with the run's report.

use std::collections::HashMap;
use std::path::Path;

use genret_data::{Qrels, Run};
use genret_eval::{evaluate, trec_order, DuplicateDocs, EvalOptions, Metric};

use crate::error::ReportError;

/// A document of a query's ranking or judgements, with its docid.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedDoc {
    pub doc_id: String,
    /// The document's docid, when the run's `docids.tsv` has it (added documents do not).
    pub docid: Option<String>,
    /// Relevance grade (0: unjudged or judged non-relevant).
    pub grade: i32,
}

/// A relevant document and where each system ranked it.
#[derive(Debug, Clone, PartialEq)]
pub struct RelevantDoc {
    pub doc: RankedDoc,
    /// 1-based rank in the GenRet run (None: not retrieved).
    pub genret_rank: Option<usize>,
    pub bm25_rank: Option<usize>,
}

/// One query's comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryComparison {
    pub query_id: String,
    pub genret_ndcg: f64,
    pub bm25_ndcg: Option<f64>,
    pub relevant: Vec<RelevantDoc>,
    /// GenRet's top documents.
    pub genret_top: Vec<RankedDoc>,
}

impl QueryComparison {
    /// GenRet minus BM25 (or GenRet's own score without BM25): lower is worse.
    pub fn deficit(&self) -> f64 {
        self.genret_ndcg - self.bm25_ndcg.unwrap_or(0.0)
    }
}

/// Options every evaluation here uses: trec_eval's defaults, but a duplicated document is kept
/// at its best rank instead of failing the report.
fn options() -> EvalOptions {
    EvalOptions {
        duplicates: DuplicateDocs::KeepBest,
        ..EvalOptions::default()
    }
}

/// nDCG@10 of every judged query.
pub fn ndcg10_per_query(
    qrels: &Qrels,
    run: &Run,
    run_path: &Path,
) -> Result<HashMap<String, f64>, ReportError> {
    let evaluation = evaluate(qrels, run, &[Metric::Ndcg(10)], &options()).map_err(|source| {
        ReportError::Eval {
            path: run_path.to_path_buf(),
            source,
        }
    })?;
    let name = Metric::Ndcg(10).name();
    Ok(evaluation
        .per_query
        .into_iter()
        .map(|(q, values)| (q, values.get(&name).copied().unwrap_or(0.0)))
        .collect())
}

/// Document ids of a query's ranking, in trec_eval's order.
fn ranking(run: &Run, qid: &str, run_path: &Path) -> Result<Vec<String>, ReportError> {
    let Some(docs) = run.get(qid) else {
        return Ok(Vec::new());
    };
    let ordered = trec_order(qid, docs, &options()).map_err(|source| ReportError::Eval {
        path: run_path.to_path_buf(),
        source,
    })?;
    Ok(ordered.into_iter().map(|d| d.doc_id.clone()).collect())
}

/// A run and the file it came from (named in errors).
pub struct LoadedRun<'a> {
    pub run: &'a Run,
    pub path: &'a Path,
}

/// The `n` judged queries where GenRet's nDCG@10 falls furthest below BM25's (or, without BM25,
/// the lowest), ties by GenRet's score then query id; each with its relevant documents and
/// GenRet's top `top` documents, all with docids. Queries GenRet answers perfectly
/// (nDCG@10 = 1) have nothing to diagnose and are left out.
pub fn worst_queries(
    qrels: &Qrels,
    genret: &LoadedRun,
    bm25: Option<&LoadedRun>,
    docids: &HashMap<String, String>,
    n: usize,
    top: usize,
) -> Result<Vec<QueryComparison>, ReportError> {
    let genret_ndcg = ndcg10_per_query(qrels, genret.run, genret.path)?;
    let bm25_ndcg = bm25
        .map(|b| ndcg10_per_query(qrels, b.run, b.path))
        .transpose()?;
    let mut order: Vec<(&String, f64, Option<f64>)> = genret_ndcg
        .iter()
        .filter(|(_, &g)| g < 1.0 - 1e-12)
        .map(|(q, &g)| {
            (
                q,
                g,
                bm25_ndcg.as_ref().map(|b| b.get(q).copied().unwrap_or(0.0)),
            )
        })
        .collect();
    order.sort_by(|a, b| {
        let deficit = |x: &(&String, f64, Option<f64>)| x.1 - x.2.unwrap_or(0.0);
        deficit(a)
            .total_cmp(&deficit(b))
            .then(a.1.total_cmp(&b.1))
            .then(a.0.cmp(b.0))
    });
    let doc = |id: &str, grade: i32| RankedDoc {
        doc_id: id.to_string(),
        docid: docids.get(id).cloned(),
        grade,
    };
    let mut out = Vec::new();
    for (qid, g, b) in order.into_iter().take(n) {
        let judgements = qrels.query(qid);
        let grade = |id: &str| judgements.and_then(|j| j.get(id)).copied().unwrap_or(0);
        let genret_ranking = ranking(genret.run, qid, genret.path)?;
        let bm25_ranking = match bm25 {
            Some(b) => ranking(b.run, qid, b.path)?,
            None => Vec::new(),
        };
        let rank_in =
            |ranking: &[String], id: &str| ranking.iter().position(|d| d == id).map(|r| r + 1);
        let mut relevant: Vec<RelevantDoc> = judgements
            .into_iter()
            .flatten()
            .filter(|(_, &grade)| grade > 0)
            .map(|(id, &grade)| RelevantDoc {
                doc: doc(id, grade),
                genret_rank: rank_in(&genret_ranking, id),
                bm25_rank: rank_in(&bm25_ranking, id),
            })
            .collect();
        relevant.sort_by(|a, b| {
            b.doc
                .grade
                .cmp(&a.doc.grade)
                .then(a.doc.doc_id.cmp(&b.doc.doc_id))
        });
        out.push(QueryComparison {
            query_id: qid.clone(),
            genret_ndcg: g,
            bm25_ndcg: b,
            relevant,
            genret_top: genret_ranking
                .iter()
                .take(top)
                .map(|id| doc(id, grade(id)))
                .collect(),
        });
    }
    Ok(out)
}

/// How many leading codes two docids (`3-25-19-0`) share.
pub fn shared_prefix(a: &str, b: &str) -> usize {
    a.split('-')
        .zip(b.split('-'))
        .take_while(|(x, y)| x == y)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use genret_data::ScoredDoc;

    fn run(lists: &[(&str, &[&str])]) -> Run {
        let mut run = Run::new();
        for (q, docs) in lists {
            run.insert(
                *q,
                docs.iter()
                    .enumerate()
                    .map(|(i, d)| ScoredDoc {
                        doc_id: d.to_string(),
                        score: 10.0 - i as f64,
                    })
                    .collect(),
            );
        }
        run
    }

    #[test]
    fn worst_queries_are_those_furthest_below_bm25() {
        let mut qrels = Qrels::default();
        for q in ["q1", "q2", "q3"] {
            qrels.insert(q, &format!("{q}-rel"), 1);
        }
        // q1: both find it first (deficit 0). q2: GenRet misses it, BM25 first (deficit -1).
        // q3: GenRet misses it, BM25 misses it too (deficit 0, GenRet 0).
        let genret = run(&[
            ("q1", &["q1-rel", "x"]),
            ("q2", &["x", "y"]),
            ("q3", &["x"]),
        ]);
        let bm25 = run(&[
            ("q1", &["q1-rel"]),
            ("q2", &["q2-rel", "x"]),
            ("q3", &["y"]),
        ]);
        let docids: HashMap<String, String> = [
            ("q2-rel".to_string(), "1-2-3".to_string()),
            ("x".to_string(), "1-2-0".to_string()),
        ]
        .into();
        let path = Path::new("genret.trec");
        let worst = worst_queries(
            &qrels,
            &LoadedRun { run: &genret, path },
            Some(&LoadedRun {
                run: &bm25,
                path: Path::new("bm25.trec"),
            }),
            &docids,
            2,
            1,
        )
        .unwrap();
        let ids: Vec<&str> = worst.iter().map(|q| q.query_id.as_str()).collect();
        assert_eq!(ids, ["q2", "q3"]);
        let q2 = &worst[0];
        assert_eq!((q2.genret_ndcg, q2.bm25_ndcg), (0.0, Some(1.0)));
        assert_eq!(q2.relevant.len(), 1);
        assert_eq!(q2.relevant[0].doc.docid.as_deref(), Some("1-2-3"));
        assert_eq!(
            (q2.relevant[0].genret_rank, q2.relevant[0].bm25_rank),
            (None, Some(1))
        );
        assert_eq!(q2.genret_top.len(), 1);
        assert_eq!(q2.genret_top[0].doc_id, "x");
        assert_eq!(q2.genret_top[0].docid.as_deref(), Some("1-2-0"));
        assert_eq!(shared_prefix("1-2-3", "1-2-0"), 2);
    }

    #[test]
    fn without_bm25_the_lowest_genret_scores_come_first() {
        let mut qrels = Qrels::default();
        qrels.insert("a", "d1", 1);
        qrels.insert("b", "d2", 1);
        qrels.insert("c", "d3", 1);
        let genret = run(&[("a", &["d1"]), ("b", &["x", "d2"]), ("c", &["x"])]);
        let worst = worst_queries(
            &qrels,
            &LoadedRun {
                run: &genret,
                path: Path::new("g.trec"),
            },
            None,
            &HashMap::new(),
            5,
            3,
        )
        .unwrap();
        // c misses (0), b finds it second; a is perfect and left out.
        let ids: Vec<&str> = worst.iter().map(|q| q.query_id.as_str()).collect();
        assert_eq!(ids, ["c", "b"]);
        assert_eq!(worst[1].relevant[0].genret_rank, Some(2));
        assert_eq!(worst[0].relevant[0].genret_rank, None);
    }
}
