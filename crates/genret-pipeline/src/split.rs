//! Retrieving a split's judged queries and evaluating the run: the same flow for every system.
//!
//! 1. [`judged_split`]: the split's judged queries and their judgements, checked against the
//!    documents the system can return.
//! 2. [`retrieve`]: every query through a [`Retriever`] in batches, each batch timed, into a
//!    TREC [`Run`].
//! 3. `genret_eval::evaluate` on the run (trec_eval semantics), and, for an index holding
//!    documents added after training, the seen/unseen split ([`classify_queries`],
//!    [`judgements_of`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use genret_data::{Dataset, Qrels, Query, Run};
use genret_index::Origin;
use genret_records::{GroupMetrics, Latency};

use crate::retriever::{Error, Retriever, SearchParams};

/// The judged queries of a split and their judgements.
pub struct JudgedQueries {
    pub qrels: Qrels,
    pub queries: Vec<Query>,
}

/// The judged queries of `split` and their judgements, checked against the documents a system
/// can return (`has_doc`): unknown queries are dropped, unknown documents kept and counted (or
/// an error under `strict`). `empty_hint` ends the error when no judged query remains.
pub fn judged_split(
    dataset: &Dataset,
    split: &str,
    strict: bool,
    has_doc: impl Fn(&str) -> bool,
    empty_hint: &str,
) -> anyhow::Result<JudgedQueries> {
    let queries = dataset.load_queries()?;
    let qrels_path = dataset.qrels_path(split);
    if !qrels_path.exists() {
        anyhow::bail!(
            "{}: dataset has no `{split}` split (available: {})",
            qrels_path.display(),
            dataset.splits().join(", ")
        );
    }
    let mut qrels = dataset.read_qrels(split)?;
    qrels.check_refs(&qrels_path, |q| queries.contains(q), has_doc, strict)?;
    let judged = queries.judged(&qrels);
    if judged.is_empty() {
        anyhow::bail!(
            "{}: no judged query of the split is in the queries file{empty_hint}",
            qrels_path.display()
        );
    }
    Ok(JudgedQueries {
        qrels,
        queries: judged,
    })
}

/// A run and how long it took.
pub struct Retrieval {
    pub run: Run,
    /// Per query: a batch's time divided among its queries (with batches of one, the true
    /// latency of each query).
    pub query_latency: Latency,
    pub batch_latency: Latency,
    pub wall: Duration,
    /// Queries that retrieved nothing (BM25: no indexable term).
    pub empty: usize,
}

/// Searches every query with `retriever`, `batch_size` at a time, timing each batch;
/// `on_batch(n)` follows progress.
pub fn retrieve(
    retriever: &dyn Retriever,
    queries: &[Query],
    params: &SearchParams,
    batch_size: usize,
    mut on_batch: impl FnMut(usize),
) -> Result<Retrieval, Error> {
    genret_index::InputError::check_range("batch size", batch_size, 1, usize::MAX)?;
    let mut run = Run::new();
    let mut query_times = Vec::with_capacity(queries.len());
    let mut batch_times = Vec::new();
    let mut empty = 0;
    let start = Instant::now();
    for chunk in queries.chunks(batch_size) {
        let texts: Vec<&str> = chunk.iter().map(|q| q.text.as_str()).collect();
        let t = Instant::now();
        let results = retriever.search(&texts, params)?;
        let took = t.elapsed();
        batch_times.push(took);
        query_times.extend(std::iter::repeat_n(took / chunk.len() as u32, chunk.len()));
        for (query, docs) in chunk.iter().zip(results) {
            empty += usize::from(docs.is_empty());
            run.insert(query.id.clone(), docs);
        }
        on_batch(chunk.len());
    }
    Ok(Retrieval {
        run,
        query_latency: Latency::of(query_times),
        batch_latency: Latency::of(batch_times),
        wall: start.elapsed(),
        empty,
    })
}

/// A progress bar over queries, for the commands that retrieve a split.
pub fn query_bar(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} queries ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Which documents a test query's relevant documents are, for the seen/unseen split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryGroup {
    /// Every relevant document in the index was trained on.
    Seen,
    /// Every relevant document in the index was added after training (never seen).
    Unseen,
    /// Some of each.
    Mixed,
}

impl QueryGroup {
    pub const ALL: [QueryGroup; 3] = [QueryGroup::Seen, QueryGroup::Unseen, QueryGroup::Mixed];

    pub fn name(self) -> &'static str {
        match self {
            QueryGroup::Seen => "seen",
            QueryGroup::Unseen => "unseen",
            QueryGroup::Mixed => "mixed",
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            QueryGroup::Seen => "every relevant document was trained on",
            QueryGroup::Unseen => "every relevant document was added after training",
            QueryGroup::Mixed => "relevant documents of both kinds",
        }
    }
}

/// Classifies each judged query by the origin of its relevant documents (relevance > 0) that
/// the index holds; queries with none in the index are left out.
pub fn classify_queries(
    qrels: &Qrels,
    origins: &HashMap<String, Origin>,
) -> HashMap<String, QueryGroup> {
    let mut out = HashMap::new();
    for (qid, judged) in qrels.iter() {
        let (mut seen, mut unseen) = (0, 0);
        for (doc, &rel) in judged {
            match (rel > 0).then(|| origins.get(doc)).flatten() {
                Some(Origin::Train) => seen += 1,
                Some(Origin::Added) => unseen += 1,
                None => {}
            }
        }
        let group = match (seen, unseen) {
            (0, 0) => continue,
            (_, 0) => QueryGroup::Seen,
            (0, _) => QueryGroup::Unseen,
            _ => QueryGroup::Mixed,
        };
        out.insert(qid.clone(), group);
    }
    out
}

/// The judgements of the documents of one origin, for the queries with at least one relevant
/// document of that origin. Evaluating a run against them measures how well the system finds
/// those documents; on collections with many relevant documents per query (TREC DL), where
/// nearly every query has relevant documents of both origins, this is the seen/unseen split
/// that still says something.
pub fn judgements_of(qrels: &Qrels, origins: &HashMap<String, Origin>, origin: Origin) -> Qrels {
    let mut out = Qrels::default();
    for (qid, judged) in qrels.iter() {
        if !judged
            .iter()
            .any(|(d, &rel)| rel > 0 && origins.get(d) == Some(&origin))
        {
            continue;
        }
        for (d, &rel) in judged {
            if origins.get(d) == Some(&origin) {
                out.insert(qid, d, rel);
            }
        }
    }
    out
}

/// The seen/unseen evaluation of a run over an index with added documents.
pub struct SeenUnseen {
    /// Each judged query's group.
    pub class: HashMap<String, QueryGroup>,
    /// Queries grouped by the origin of their relevant documents.
    pub by_query: Vec<(QueryGroup, genret_eval::Evaluation)>,
    /// The judgements of trained (`seen`) and added (`unseen`) documents alone.
    pub by_judgement: Vec<(&'static str, genret_eval::Evaluation)>,
}

impl SeenUnseen {
    /// `None` when the index holds no added document.
    pub fn evaluate(
        qrels: &Qrels,
        run: &Run,
        evaluation: &genret_eval::Evaluation,
        origins: &HashMap<String, Origin>,
        metrics: &[genret_eval::Metric],
    ) -> anyhow::Result<Option<Self>> {
        if !origins.values().any(|&o| o == Origin::Added) {
            return Ok(None);
        }
        let class = classify_queries(qrels, origins);
        let by_query = QueryGroup::ALL
            .iter()
            .map(|&g| (g, evaluation.restrict(|q| class.get(q) == Some(&g))))
            .collect();
        let mut by_judgement = Vec::new();
        for (name, origin) in [("seen", Origin::Train), ("unseen", Origin::Added)] {
            let sub = judgements_of(qrels, origins, origin);
            by_judgement.push((
                name,
                genret_eval::evaluate(&sub, run, metrics, &genret_eval::EvalOptions::default())?,
            ));
        }
        Ok(Some(Self {
            class,
            by_query,
            by_judgement,
        }))
    }

    /// The groups as report records.
    pub fn records(
        &self,
    ) -> (
        std::collections::BTreeMap<String, GroupMetrics>,
        std::collections::BTreeMap<String, GroupMetrics>,
    ) {
        let group = |e: &genret_eval::Evaluation| GroupMetrics {
            num_queries: e.num_queries,
            metrics: e.mean.clone(),
        };
        (
            self.by_query
                .iter()
                .map(|(g, e)| (g.name().to_string(), group(e)))
                .collect(),
            self.by_judgement
                .iter()
                .map(|(n, e)| (n.to_string(), group(e)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_split_by_the_origin_of_their_relevant_documents() {
        let mut qrels = Qrels::default();
        qrels.insert("q1", "a", 1);
        qrels.insert("q1", "b", 0); // not relevant: ignored
        qrels.insert("q2", "b", 2);
        qrels.insert("q3", "a", 1);
        qrels.insert("q3", "b", 1);
        qrels.insert("q4", "missing", 1);
        let origins: HashMap<String, Origin> = [
            ("a".to_string(), Origin::Train),
            ("b".to_string(), Origin::Added),
        ]
        .into();
        let class = classify_queries(&qrels, &origins);
        assert_eq!(class.get("q1"), Some(&QueryGroup::Seen));
        assert_eq!(class.get("q2"), Some(&QueryGroup::Unseen));
        assert_eq!(class.get("q3"), Some(&QueryGroup::Mixed));
        assert_eq!(class.get("q4"), None);
    }

    #[test]
    fn judgements_are_split_by_document_origin() {
        let mut qrels = Qrels::default();
        qrels.insert("q1", "a", 2);
        qrels.insert("q1", "b", 1);
        qrels.insert("q1", "c", 0);
        qrels.insert("q2", "a", 1);
        qrels.insert("q2", "c", 0); // only a non-relevant added document
        qrels.insert("q3", "z", 1); // not in the index
        let origins: HashMap<String, Origin> = [
            ("a", Origin::Train),
            ("b", Origin::Added),
            ("c", Origin::Added),
        ]
        .into_iter()
        .map(|(d, o)| (d.to_string(), o))
        .collect();
        let seen = judgements_of(&qrels, &origins, Origin::Train);
        assert_eq!(seen.query_ids().cloned().collect::<Vec<_>>(), ["q1", "q2"]);
        assert_eq!(seen.num_judgements(), 2);
        let unseen = judgements_of(&qrels, &origins, Origin::Added);
        assert_eq!(unseen.query_ids().cloned().collect::<Vec<_>>(), ["q1"]);
        assert_eq!(
            unseen.query("q1").unwrap().len(),
            2,
            "b (relevant) and c (judged 0)"
        );
    }
}
