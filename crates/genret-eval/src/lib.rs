//! # genret-eval: retrieval measures with trec_eval's semantics
//!
//! Numbers in IR papers, BEIR included, come from `trec_eval` (directly or through
//! `pytrec_eval`). Small differences in how a ranking is read change them, so this crate follows
//! trec_eval 9.0 (`form_res_rels.c` and the `m_*.c` measure files) rule by rule, and its test
//! suite compares every value with pytrec_eval's on committed fixtures
//! (`tests/fixtures/make_reference.py`, `tests/reference.rs`).
//!
//! ## Reading a ranking
//!
//! * **Order.** A query's documents are sorted by score, highest first; equal scores are broken
//!   by document id in *decreasing* byte order (`strcmp`, so `"d9"` ranks above `"d10"`). The
//!   order of lines in the run file and its rank column are ignored.
//! * **Score precision.** trec_eval up to 9.0.7, and the pytrec_eval that BEIR uses, hold
//!   scores as `f32`: scores that differ only beyond `f32` precision tie, and the tie goes to the
//!   document id. That is the default ([`ScorePrecision::F32`]); trec_eval 9.0.8 and later compare
//!   `f64` ([`ScorePrecision::F64`]). NaN scores are an error.
//! * **Duplicates.** A document ranked twice for a query is an error, as in trec_eval
//!   ([`DuplicateDocs::Error`]); [`DuplicateDocs::KeepBest`] keeps its best-scored occurrence.
//!
//! ## Relevance
//!
//! * A judged document is *relevant* when its grade is at least the relevance level (1 by
//!   default, trec_eval's `-l`). Grade 0 is judged non-relevant; negative grades count as
//!   non-relevant too (trec_eval reads them as "in the pool but unjudged"); unjudged documents
//!   are non-relevant.
//! * nDCG uses the grade itself as the gain (not `2^grade - 1`), only positive grades gain.
//!
//! ## Measures (per query; k is a cutoff, ranks start at 1)
//!
//! * `nDCG@k` (trec_eval `ndcg_cut.k`): `DCG@k / IDCG@k` with `DCG@k = Σ_{r≤k} grade_r /
//!   log2(r + 1)`; the ideal ranking sorts *all* positive judgements of the query (retrieved or
//!   not) by grade. 0 when the query has no positive judgement.
//! * `R@k` (`recall.k`): relevant in the top k / relevant judged; 0 when none is relevant.
//! * `P@k` (`P.k`): relevant in the top k / k, even when fewer than k were retrieved.
//! * `MRR@k`: `1 / rank` of the first relevant document if it is within the top k, else 0:
//!   trec_eval's `recip_rank` on the ranking cut at k (ir-measures `RR@k`). `MRR` is uncut
//!   `recip_rank`.
//! * `MAP` (`map`): Σ over relevant retrieved documents of precision at their rank, divided by
//!   the number of relevant judged documents. `MAP@k` (`map_cut.k`) sums over the top k only.
//! * `num_ret`, `num_rel`, `num_rel_ret`: counts, whose trec_eval summary is a total
//!   ([`Evaluation::totals`]).
//!
//! ## Which queries
//!
//! * Queries in the run but not in the judgements are ignored (listed in
//!   [`Evaluation::unjudged_queries`]), as in trec_eval.
//! * A judged query with no relevant document is evaluated: every measure is 0 and it counts in
//!   the mean (as trec_eval and pytrec_eval do).
//! * A judged query missing from the run: by default ([`MissingQueries::Zero`], `trec_eval -c`)
//!   it scores 0 and the mean is over all judged queries, so a run cannot gain by skipping
//!   hard queries. [`MissingQueries::Skip`] averages over the queries both judged and in the run,
//!   which is trec_eval's default and what BEIR's pytrec_eval-based numbers are.
//! * Means are arithmetic means over the evaluated queries; [`evaluate_subset`] and
//!   [`Evaluation::restrict`] give the same for a subset (e.g. seen vs unseen queries).
//!
//! ```
//! use genret_data::{Qrels, Run, ScoredDoc};
//! use genret_eval::{evaluate, EvalOptions, Metric};
//!
//! let mut qrels = Qrels::default();
//! qrels.insert("q1", "d1", 2);
//! let mut run = Run::new();
//! run.insert("q1", vec![ScoredDoc { doc_id: "d0".into(), score: 0.9 }, ScoredDoc { doc_id: "d1".into(), score: 0.5 }]);
//! let metrics = Metric::parse_list("nDCG@10,MRR@10").unwrap();
//! let eval = evaluate(&qrels, &run, &metrics, &EvalOptions::default()).unwrap();
//! assert_eq!(eval.mean["MRR@10"], 0.5);
//! print!("{}", eval.table());
//! ```

mod error;
mod evaluate;
pub mod fusion;
mod measures;
mod metric;
mod options;

pub use error::{EvalError, Result};
pub use evaluate::{
    evaluate, evaluate_subset, DuplicateDocs, EvalOptions, Evaluation, MissingQueries,
    ScorePrecision,
};
pub use fusion::{fuse_lists, fuse_runs, FusionMethod};
pub use measures::trec_order;
pub use metric::Metric;
