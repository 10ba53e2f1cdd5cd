//! Everything that can go wrong while naming or computing a measure.

/// An evaluation error. Every variant names the query, document or text at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A measure name that [`crate::Metric`] does not know, or a bad cutoff.
    #[error("unknown measure `{name}`: {reason}")]
    UnknownMetric { name: String, reason: String },
    /// A document appears twice in one query's ranking (trec_eval refuses such runs too).
    #[error(
        "query `{qid}`: document `{doc_id}` is ranked more than once (trec_eval rejects such runs; \
         deduplicate the run or choose DuplicateDocs::KeepBest / --duplicates keep-best)"
    )]
    DuplicateDoc { qid: String, doc_id: String },
    /// A NaN score, which has no place in a ranking.
    #[error("query `{qid}`: document `{doc_id}` has a NaN score")]
    NanScore { qid: String, doc_id: String },
    /// An option outside its domain.
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;
