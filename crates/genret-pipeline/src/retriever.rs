//! One way to ask any system for documents.
//!
//! BM25 searches text, dense retrieval searches a query embedding, GenRet decodes docids with a
//! beam; each crate keeps the signature natural to it. [`Retriever`] is the one a caller needs:
//! texts in, ranked document ids out, so that an evaluation, a fusion, a benchmark or an HTTP
//! handler treats every system alike.
//!
//! Errors separate the caller's mistakes ([`InputError`]: an empty query, `k` of 0) from faults
//! ([`Error::Internal`]). Every retriever refuses the same inputs the same way
//! ([`check_request`]), so a blank query is an error for BM25 too, not an empty answer.

use genret_bm25::Bm25Index;
use genret_data::ScoredDoc;
use genret_dense::DenseIndex;
use genret_eval::FusionMethod;
use genret_index::{Index, SearchOptions};
use genret_model::embed::Embedder;

pub use genret_index::{Error, InputError};

/// The largest `k` any retriever answers; a bound on the memory one request can ask for.
pub const MAX_K: usize = 10_000;

/// What a search asks for besides the query texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SearchParams {
    /// Documents returned per query, best first.
    pub k: usize,
    /// GenRet's beam width; `None`: the retriever's own. Other systems ignore it.
    pub beam: Option<usize>,
}

impl SearchParams {
    pub fn top(k: usize) -> Self {
        Self { k, beam: None }
    }
}

/// A system that ranks documents for query texts.
pub trait Retriever {
    /// Short name for reports and logs: `bm25`, `dense`, `genret`, `genret+bm25`.
    fn name(&self) -> String;

    /// Up to `params.k` documents for each query, best first, in the order of `queries`.
    fn search(&self, queries: &[&str], params: &SearchParams)
        -> Result<Vec<Vec<ScoredDoc>>, Error>;

    /// Number of documents it searches.
    fn num_docs(&self) -> usize;
}

/// The checks every retriever applies before any work: at least one query, none blank, and
/// `1 <= k <= MAX_K`.
pub fn check_request(queries: &[&str], params: &SearchParams) -> Result<(), InputError> {
    InputError::check_range("k", params.k, 1, MAX_K)?;
    if let Some(beam) = params.beam {
        InputError::check_range("beam", beam, 1, genret_index::MAX_BEAM)?;
    }
    if let Some(i) = queries.iter().position(|q| q.trim().is_empty()) {
        return Err(InputError::EmptyQuery { index: i + 1 });
    }
    Ok(())
}

impl<R: Retriever + ?Sized> Retriever for Box<R> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn search(
        &self,
        queries: &[&str],
        params: &SearchParams,
    ) -> Result<Vec<Vec<ScoredDoc>>, Error> {
        (**self).search(queries, params)
    }
    fn num_docs(&self) -> usize {
        (**self).num_docs()
    }
}

/// BM25 (tantivy) over a [`Bm25Index`]; a batch of queries is searched on `threads` threads.
pub struct Bm25Retriever {
    pub index: Bm25Index,
    pub threads: usize,
}

impl Retriever for Bm25Retriever {
    fn name(&self) -> String {
        "bm25".into()
    }
    fn search(
        &self,
        queries: &[&str],
        params: &SearchParams,
    ) -> Result<Vec<Vec<ScoredDoc>>, Error> {
        check_request(queries, params)?;
        let results = if queries.len() == 1 {
            vec![self.index.search(queries[0], params.k).map_err(internal)?]
        } else {
            self.index
                .search_batch(queries, params.k, self.threads.max(1))
                .map_err(internal)?
        };
        Ok(results)
    }
    fn num_docs(&self) -> usize {
        self.index.num_docs()
    }
}

/// Exact cosine search over mean-pooled embeddings ([`DenseIndex`]), queries encoded by the
/// same encoder as the documents.
pub struct DenseRetriever {
    pub embedder: Embedder,
    pub index: DenseIndex,
    /// Document ids by row of the index.
    pub doc_ids: Vec<String>,
}

impl Retriever for DenseRetriever {
    fn name(&self) -> String {
        "dense".into()
    }
    fn search(
        &self,
        queries: &[&str],
        params: &SearchParams,
    ) -> Result<Vec<Vec<ScoredDoc>>, Error> {
        check_request(queries, params)?;
        let q = genret_dense::encode_queries(&self.embedder, queries, queries.len().max(1))
            .map_err(internal)?;
        let hits = self.index.search(&q, params.k).map_err(internal)?;
        hits.into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|(pos, score)| {
                        let doc_id = self.doc_ids.get(pos).ok_or_else(|| {
                            Error::Internal(anyhow::anyhow!(
                                "the dense index returned row {pos}, beyond its {} documents",
                                self.doc_ids.len()
                            ))
                        })?;
                        Ok(ScoredDoc {
                            doc_id: doc_id.clone(),
                            score: f64::from(score),
                        })
                    })
                    .collect()
            })
            .collect()
    }
    fn num_docs(&self) -> usize {
        self.doc_ids.len()
    }
}

/// GenRet: docids decoded with a constrained beam, scored as the index (or `options.scoring`)
/// says. `options.depth` is replaced by each request's `k`, and `options.beam` by its beam
/// when it names one.
pub struct GenretRetriever {
    pub index: Index,
    pub options: SearchOptions,
}

impl GenretRetriever {
    /// Searches with the index's own scoring and beam (100 where the scoring names none).
    pub fn new(index: Index) -> Self {
        let scoring = index.config().scoring;
        let options = SearchOptions {
            beam: scoring.beam.unwrap_or(100),
            depth: 100,
            batch_size: 32,
            scoring: Some(scoring),
            exact: false,
        };
        Self { index, options }
    }

    /// The options one request searches with.
    pub fn options_for(&self, params: &SearchParams, batch: usize) -> SearchOptions {
        SearchOptions {
            beam: params.beam.unwrap_or(self.options.beam),
            depth: params.k,
            batch_size: batch.max(1),
            ..self.options
        }
    }
}

impl Retriever for GenretRetriever {
    fn name(&self) -> String {
        "genret".into()
    }
    fn search(
        &self,
        queries: &[&str],
        params: &SearchParams,
    ) -> Result<Vec<Vec<ScoredDoc>>, Error> {
        check_request(queries, params)?;
        let options = self.options_for(params, queries.len());
        let hits = self.index.search_with(queries, &options, |_, _| {})?;
        Ok(hits
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|h| ScoredDoc {
                        doc_id: h.doc_id,
                        score: f64::from(h.score),
                    })
                    .collect()
            })
            .collect())
    }
    fn num_docs(&self) -> usize {
        self.index.num_docs()
    }
}

/// Several retrievers' rankings fused into one (z-score or min-max normalised weighted sum, or
/// reciprocal rank fusion). Each part is asked for `max(k, candidates)` documents.
pub struct Fusion {
    pub parts: Vec<(Box<dyn Retriever + Send>, f64)>,
    pub method: FusionMethod,
    /// Documents each part contributes at least (the fusion reorders a deeper pool than `k`).
    pub candidates: usize,
}

impl Retriever for Fusion {
    fn name(&self) -> String {
        self.parts
            .iter()
            .map(|(r, _)| r.name())
            .collect::<Vec<_>>()
            .join("+")
    }
    fn search(
        &self,
        queries: &[&str],
        params: &SearchParams,
    ) -> Result<Vec<Vec<ScoredDoc>>, Error> {
        check_request(queries, params)?;
        let deeper = SearchParams {
            k: params.k.max(self.candidates).min(MAX_K),
            ..*params
        };
        let lists: Vec<Vec<Vec<ScoredDoc>>> = self
            .parts
            .iter()
            .map(|(r, _)| r.search(queries, &deeper))
            .collect::<Result<_, _>>()?;
        Ok((0..queries.len())
            .map(|q| {
                let inputs: Vec<(&[ScoredDoc], f64)> = self
                    .parts
                    .iter()
                    .zip(&lists)
                    .map(|((_, w), l)| (l[q].as_slice(), *w))
                    .collect();
                genret_eval::fuse_lists(&inputs, self.method, params.k)
            })
            .collect())
    }
    fn num_docs(&self) -> usize {
        self.parts.first().map_or(0, |(r, _)| r.num_docs())
    }
}

/// A BM25 index (in memory) over every document of a GenRet index, so a fusion sees the same
/// collection, added documents included.
pub fn bm25_over_index(index: &Index) -> anyhow::Result<Bm25Index> {
    bm25_over_documents(&index.store().all_documents()?)
}

/// A BM25 index (in memory, default analysis) over `docs`.
pub fn bm25_over_documents(docs: &[genret_data::Document]) -> anyhow::Result<Bm25Index> {
    Ok(Bm25Index::build(
        genret_bm25::IndexLocation::Ram,
        docs,
        &genret_bm25::BuildOptions::default(),
    )?)
}

fn internal(e: impl Into<anyhow::Error>) -> Error {
    Error::Internal(e.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use genret_data::Document;

    fn doc(id: &str, text: &str) -> Document {
        Document {
            id: id.into(),
            title: String::new(),
            text: text.into(),
        }
    }

    fn bm25(docs: &[Document]) -> Bm25Retriever {
        Bm25Retriever {
            index: Bm25Index::build(
                genret_bm25::IndexLocation::Ram,
                docs,
                &genret_bm25::BuildOptions::default(),
            )
            .unwrap(),
            threads: 2,
        }
    }

    #[test]
    fn every_retriever_refuses_the_same_bad_requests() {
        let r = bm25(&[doc("a", "apple banana"), doc("b", "cherry")]);
        let err = r
            .search(&["apple", " "], &SearchParams::top(5))
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Input(InputError::EmptyQuery { index: 2 })
        ));
        let err = r.search(&["apple"], &SearchParams::top(0)).unwrap_err();
        assert!(err.is_input());
        assert!(err.to_string().contains("k is 0"), "{err}");
        let err = r
            .search(&["apple"], &SearchParams::top(MAX_K + 1))
            .unwrap_err();
        assert!(err.is_input());
    }

    #[test]
    fn fusion_combines_rankings_by_weight() {
        // Two BM25 views of different corpora disagree; the fusion's order follows the weights.
        let a = [doc("x", "apple apple"), doc("y", "apple pie crust")];
        let b = [doc("y", "apple apple"), doc("x", "apple pie crust")];
        let fused = |wa: f64| Fusion {
            parts: vec![
                (Box::new(bm25(&a)) as Box<dyn Retriever + Send>, wa),
                (Box::new(bm25(&b)) as Box<dyn Retriever + Send>, 1.0 - wa),
            ],
            method: FusionMethod::MinMax,
            candidates: 10,
        };
        let top = |f: &Fusion| {
            f.search(&["apple"], &SearchParams::top(2)).unwrap()[0][0]
                .doc_id
                .clone()
        };
        assert_eq!(top(&fused(0.9)), "x");
        assert_eq!(top(&fused(0.1)), "y");
        assert_eq!(fused(0.5).name(), "bm25+bm25");
    }
}
