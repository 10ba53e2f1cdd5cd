//! How to evaluate: what a missing query counts for, what to do with duplicate documents, the
//! precision scores are compared at, and the relevance level. Read by both the evaluation loop
//! ([`crate::evaluate`]) and the measures ([`crate::measures`]), so it depends on neither.

use serde::Serialize;

/// What a judged query that the run never mentions counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingQueries {
    /// It is evaluated as an empty ranking: 0 for every measure, and the mean is over every
    /// judged query (`trec_eval -c`). A system that answers fewer queries scores lower.
    #[default]
    Zero,
    /// It is left out: the mean is over the queries both judged and in the run (trec_eval
    /// without `-c`, pytrec_eval, and BEIR's `EvaluateRetrieval.evaluate`).
    Skip,
}

/// What to do with a document ranked twice for one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateDocs {
    /// Fail with [`EvalError::DuplicateDoc`], as trec_eval does ("duplicate docs").
    #[default]
    Error,
    /// Keep the occurrence that ranks highest in trec_eval's order (the best score) and drop
    /// the others before ranks are assigned.
    KeepBest,
}

/// The precision at which scores are compared when ordering a ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScorePrecision {
    /// Scores are rounded to `f32` before comparing, as trec_eval up to 9.0.7 stores them and
    /// as pytrec_eval (0.5, and pytrec-eval-terrier 0.5.x), hence BEIR, evaluates: scores equal
    /// in `f32` tie and the tie is broken by document id.
    #[default]
    F32,
    /// Scores are compared as `f64`, as trec_eval 9.0.8 and later do.
    F64,
}

/// How to evaluate. `EvalOptions::default()` matches `trec_eval -c` as bundled in pytrec_eval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EvalOptions {
    pub missing: MissingQueries,
    pub duplicates: DuplicateDocs,
    pub score_precision: ScorePrecision,
    /// The least grade that counts as relevant for the binary measures (trec_eval `-l`,
    /// default 1). nDCG uses grades as gains whatever this is. Must be at least 1.
    pub relevance_level: i32,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            missing: MissingQueries::default(),
            duplicates: DuplicateDocs::default(),
            score_precision: ScorePrecision::default(),
            relevance_level: 1,
        }
    }
}
