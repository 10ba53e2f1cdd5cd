//! What the server holds: one model worker per system, read connections to the document
//! store, and the add path that keeps every system's view of the collection in step.
//!
//! * Each system (GenRet, and BM25 and dense when asked for) lives on its own worker thread
//!   behind the pipeline's [`SharedRetriever`]: concurrent requests with the same `k` and
//!   `beam` are batched into one model call. Handlers call it from `spawn_blocking`.
//! * The GenRet index's SQLite store is the one source of truth. An add goes to the GenRet
//!   index first (one transaction, fsynced before it returns); BM25 and dense are views kept in
//!   memory and brought up to date next, before the request is answered. At start they are
//!   built from the store, so a restart sees exactly what was acknowledged.
//! * Adds are serialised by one lock and run whole on a blocking thread, so a client that gives
//!   up (or a request timeout) never leaves a view half updated.
//! * Titles, docids and texts of hits, and `GET /documents/{id}`, are read on separate SQLite
//!   connections, off the model workers.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use genret_data::Document;
use genret_dense::DenseIndex;
use genret_eval::FusionMethod;
use genret_index::{DocStore, Index, StoredDoc};
use genret_model::checkpoint::Checkpoint;
use genret_model::embed::Embedder;
use genret_pipeline::retriever::bm25_over_documents;
use genret_pipeline::{
    Bm25Retriever, DenseRetriever, Error, Fusion, GenretRetriever, QueueOptions, Retriever,
    SearchParams, SharedRetriever,
};

use crate::api;
use crate::error::ApiError;
use crate::metrics::{Metrics, QueueView};

/// Systems a server can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Genret,
    Bm25,
    Dense,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::Genret => "genret",
            System::Bm25 => "bm25",
            System::Dense => "dense",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "genret" => Some(System::Genret),
            "bm25" => Some(System::Bm25),
            "dense" => Some(System::Dense),
            _ => None,
        }
    }
}

/// A retriever that can be taken out of its worker at shutdown, so the index (and its store
/// connection) is closed on the shutting-down thread, not whenever the worker thread ends.
pub struct Owned<R>(Option<R>);

impl<R> Owned<R> {
    fn get_mut(&mut self) -> Result<&mut R, Error> {
        self.0.as_mut().ok_or_else(closed)
    }
}

fn closed() -> Error {
    Error::Internal(anyhow::anyhow!("the server is shutting down"))
}

impl<R: Retriever> Retriever for Owned<R> {
    fn name(&self) -> String {
        self.0.as_ref().map_or_else(|| "closed".into(), R::name)
    }
    fn search(
        &self,
        queries: &[&str],
        params: &SearchParams,
    ) -> Result<Vec<Vec<genret_data::ScoredDoc>>, Error> {
        self.0.as_ref().ok_or_else(closed)?.search(queries, params)
    }
    fn num_docs(&self) -> usize {
        self.0.as_ref().map_or(0, R::num_docs)
    }
}

type Shared<R> = SharedRetriever<Owned<R>>;

/// How the server was configured (see `Args` for the meaning of each).
#[derive(Debug, Clone)]
pub struct Settings {
    pub queue: QueueOptions,
    pub max_body_bytes: usize,
    pub max_queries: usize,
    pub max_documents: usize,
    pub request_timeout: Duration,
    pub add_timeout: Duration,
    pub add_batch_size: usize,
    pub bm25_threads: usize,
    pub snippet_chars: usize,
}

/// Where the dense view's encoder comes from.
#[derive(Debug, Clone)]
pub struct DenseSettings {
    /// Checkpoint folder or hub id.
    pub model: String,
    pub max_len: usize,
    /// Folder of cached document embeddings; `None`: encode at every start.
    pub cache_dir: Option<PathBuf>,
}

/// The server's shared state.
pub struct AppState {
    pub genret: Shared<GenretRetriever>,
    pub bm25: Option<Shared<Bm25Retriever>>,
    pub dense: Option<Shared<DenseRetriever>>,
    pub settings: Settings,
    pub metrics: Metrics,
    store: StorePool,
    /// Held for the whole of an add; holds every document when BM25 is served (its view is
    /// rebuilt from them).
    adds: Mutex<AddState>,
    index_dir: PathBuf,
    model_spec: String,
    backbone: String,
    codebook_size: i64,
    docid_steps: usize,
    scoring: String,
    default_beam: usize,
    started: Instant,
}

struct AddState {
    bm25_docs: Vec<Document>,
}

impl AppState {
    /// Opens the index (on the CPU) and builds the views asked for.
    pub fn open(
        index_dir: &Path,
        bm25: bool,
        dense: Option<&DenseSettings>,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let index = Index::open(index_dir, tch::Device::Cpu)
            .with_context(|| format!("opening the index {}", index_dir.display()))?;
        let config = index.config().clone();
        let store_path = index.store().path().to_path_buf();
        let docs = if bm25 || dense.is_some() {
            index.store().all_documents()?
        } else {
            Vec::new()
        };
        let bm25_view = if bm25 {
            let t = Instant::now();
            let index = bm25_over_documents(&docs)?;
            tracing::info!(
                "BM25 view over {} documents built in {:.2} s",
                docs.len(),
                t.elapsed().as_secs_f64()
            );
            Some(SharedRetriever::spawn(
                Owned(Some(Bm25Retriever {
                    index,
                    threads: settings.bm25_threads,
                })),
                settings.queue,
            )?)
        } else {
            None
        };
        let dense_view = match dense {
            Some(d) => Some(SharedRetriever::spawn(
                Owned(Some(open_dense(d, &docs, index_dir)?)),
                settings.queue,
            )?),
            None => None,
        };
        let retriever = GenretRetriever::new(index);
        let default_beam = retriever.options.beam;
        let genret = SharedRetriever::spawn(Owned(Some(retriever)), settings.queue)?;
        let backbone = match &config.backbone {
            genret_model::genret::BackboneConfig::Bert(b) => format!(
                "bert ({} layers, hidden {})",
                b.num_hidden_layers, b.hidden_size
            ),
            genret_model::genret::BackboneConfig::T5(t) => {
                format!("t5 ({} layers, d_model {})", t.num_layers, t.d_model)
            }
        };
        tracing::info!(
            "opened {} ({} documents) in {:.2} s",
            index_dir.display(),
            genret.num_docs(),
            started.elapsed().as_secs_f64()
        );
        Ok(Self {
            genret,
            bm25: bm25_view,
            dense: dense_view,
            store: StorePool::new(store_path),
            adds: Mutex::new(AddState {
                bm25_docs: if bm25 { docs } else { Vec::new() },
            }),
            index_dir: index_dir.to_path_buf(),
            model_spec: config.model_spec.clone(),
            backbone,
            codebook_size: config.heads.codebook_size,
            docid_steps: config.docid_steps,
            scoring: config.scoring.describe(),
            default_beam,
            settings,
            metrics: Metrics::default(),
            started,
        })
    }

    /// Systems this server answers, in the order `GET /info` lists them.
    pub fn systems(&self) -> Vec<System> {
        let mut out = vec![System::Genret];
        if self.bm25.is_some() {
            out.push(System::Bm25);
        }
        if self.dense.is_some() {
            out.push(System::Dense);
        }
        out
    }

    pub fn num_docs(&self) -> usize {
        self.genret.num_docs()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    fn retriever(&self, system: System) -> Option<Box<dyn Retriever + Send>> {
        match system {
            System::Genret => Some(Box::new(self.genret.clone())),
            System::Bm25 => self
                .bm25
                .as_ref()
                .map(|r| Box::new(r.clone()) as Box<dyn Retriever + Send>),
            System::Dense => self
                .dense
                .as_ref()
                .map(|r| Box::new(r.clone()) as Box<dyn Retriever + Send>),
        }
    }

    /// Checks a search request against this server (systems, fusion, limits) before any work.
    pub fn plan(&self, req: &api::SearchRequest) -> Result<SearchPlan, ApiError> {
        let (queries, query_field) = match (&req.query, &req.queries) {
            (Some(q), None) => (vec![q.clone()], "query"),
            (None, Some(qs)) => {
                if qs.is_empty() {
                    return Err(ApiError::invalid("queries", "`queries` is empty"));
                }
                if qs.len() > self.settings.max_queries {
                    return Err(ApiError::invalid(
                        "queries",
                        format!(
                            "{} queries in one request; the server takes at most {} (--max-queries)",
                            qs.len(),
                            self.settings.max_queries
                        ),
                    ));
                }
                (qs.clone(), "queries")
            }
            (None, None) => {
                return Err(ApiError::invalid(
                    "query",
                    "missing: give `query` (one text) or `queries` (a list)",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "queries",
                    "give either `query` or `queries`, not both",
                ))
            }
        };
        let params = SearchParams {
            k: req.k.unwrap_or(10),
            beam: req.beam,
        };
        // The same checks every retriever makes, here so they name the request's own fields.
        let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
        genret_pipeline::retriever::check_request(&refs, &params)
            .map_err(|e| ApiError::from_input(e, query_field))?;

        let spec = req.system.as_deref().unwrap_or("genret");
        let mut systems = Vec::new();
        for part in spec.split('+') {
            let system = System::parse(part).ok_or_else(|| {
                ApiError::invalid(
                    "system",
                    format!(
                        "unknown system `{}`; this server offers {}",
                        part.trim(),
                        self.offered()
                    ),
                )
            })?;
            if self.retriever(system).is_none() {
                return Err(ApiError::invalid(
                    "system",
                    format!(
                        "`{}` is not served here (start the server with --{}); this server offers {}",
                        system.name(),
                        system.name(),
                        self.offered()
                    ),
                ));
            }
            if systems.contains(&system) {
                return Err(ApiError::invalid(
                    "system",
                    format!("`{}` appears twice in `{spec}`", system.name()),
                ));
            }
            systems.push(system);
        }
        let method = match req.fusion.as_deref() {
            Some("min-max") => FusionMethod::MinMax,
            None | Some("z-score") => FusionMethod::ZScore,
            Some("rrf") => FusionMethod::Rrf { k: 60.0 },
            Some(other) => {
                return Err(ApiError::invalid(
                    "fusion",
                    format!("unknown fusion `{other}`; use `min-max`, `z-score` or `rrf`"),
                ))
            }
        };
        if systems.len() == 1 && (req.fusion.is_some() || req.weights.is_some()) {
            return Err(ApiError::invalid(
                if req.fusion.is_some() {
                    "fusion"
                } else {
                    "weights"
                },
                "only a fusion of systems (e.g. `genret+bm25`) takes `fusion` and `weights`",
            ));
        }
        let weights = match &req.weights {
            None => vec![1.0 / systems.len() as f64; systems.len()],
            Some(w) => {
                if w.len() != systems.len() {
                    return Err(ApiError::invalid(
                        "weights",
                        format!(
                            "{} weights for {} systems; give one per system of `system`",
                            w.len(),
                            systems.len()
                        ),
                    ));
                }
                if w.iter().any(|x| !x.is_finite() || *x < 0.0) {
                    return Err(ApiError::invalid(
                        "weights",
                        "weights must be finite and not negative",
                    ));
                }
                w.clone()
            }
        };
        Ok(SearchPlan {
            queries,
            query_field,
            params,
            systems,
            method,
            weights,
            snippets: req.snippets,
        })
    }

    fn offered(&self) -> String {
        self.systems()
            .iter()
            .map(|s| format!("`{}`", s.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Runs a planned search (blocking: queues on the workers, reads the store).
    pub fn search(&self, plan: SearchPlan) -> Result<api::SearchResponse, ApiError> {
        let start = Instant::now();
        let retriever: Box<dyn Retriever + Send> = if plan.systems.len() == 1 {
            self.retriever(plan.systems[0])
                .ok_or_else(|| ApiError::internal("a planned system vanished"))?
        } else {
            let parts = plan
                .systems
                .iter()
                .zip(&plan.weights)
                .map(|(&s, &w)| {
                    self.retriever(s)
                        .map(|r| (r, w))
                        .ok_or_else(|| ApiError::internal("a planned system vanished"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(Fusion {
                parts,
                method: plan.method,
                candidates: 100,
            })
        };
        let num_docs = self.num_docs();
        let refs: Vec<&str> = plan.queries.iter().map(String::as_str).collect();
        let results = retriever
            .search(&refs, &plan.params)
            .map_err(|e| ApiError::from_search(e, plan.query_field))?;
        let results = self
            .store
            .with(|store| {
                plan.queries
                    .iter()
                    .zip(results)
                    .map(|(query, hits)| {
                        let hits = hits
                            .into_iter()
                            .enumerate()
                            .map(|(i, hit)| {
                                let doc = lookup(store, &hit.doc_id)?.ok_or_else(|| {
                                    anyhow::anyhow!(
                                        "search returned `{}`, which the store does not hold",
                                        hit.doc_id
                                    )
                                })?;
                                Ok(api::SearchHit {
                                    rank: i + 1,
                                    score: hit.score,
                                    snippet: plan.snippets.then(|| {
                                        crate::body::snippet(
                                            &doc.text,
                                            query,
                                            self.settings.snippet_chars,
                                        )
                                    }),
                                    doc_id: hit.doc_id,
                                    docid: doc.codes,
                                    title: doc.title,
                                })
                            })
                            .collect::<anyhow::Result<Vec<_>>>()?;
                        Ok(api::QueryResult {
                            query: query.clone(),
                            hits,
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .map_err(ApiError::internal)?;
        Ok(api::SearchResponse {
            system: plan
                .systems
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join("+"),
            k: plan.params.k,
            beam: plan
                .systems
                .contains(&System::Genret)
                .then(|| plan.params.beam.unwrap_or(self.default_beam)),
            num_docs,
            took_ms: start.elapsed().as_secs_f64() * 1e3,
            results,
        })
    }

    /// Adds documents to every system (blocking). All or nothing for the index, which is
    /// durable before this returns; the views follow before the answer.
    pub fn add(&self, docs: Vec<Document>) -> Result<api::AddResponse, ApiError> {
        let start = Instant::now();
        // A poisoned lock: an earlier add panicked mid-way; the store is still consistent (it
        // commits or not), and the views are rebuilt from what the lock protects.
        let mut adds = self.adds.lock().unwrap_or_else(|p| p.into_inner());
        let batch = self.settings.add_batch_size;
        let for_index = docs.clone();
        let report = self
            .genret
            .with_mut(move |r| {
                let retriever = r.get_mut()?;
                retriever.index.add_documents(&for_index, batch)
            })
            .and_then(|r| r)
            .map_err(|e| {
                let mut error = ApiError::from_search(e, "documents");
                // Name the document whose id the index already holds.
                if let Some(i) = error
                    .message
                    .split('`')
                    .nth(1)
                    .and_then(|id| docs.iter().position(|d| d.id == id))
                {
                    if error.code == "duplicate_id" {
                        error.field = Some(format!("documents[{i}]._id"));
                    }
                }
                error
            })?;
        // Committed: from here on the documents exist; the views must catch up.
        if let Some(bm25) = &self.bm25 {
            adds.bm25_docs.extend(docs.iter().cloned());
            // Built off the worker (searches go on meanwhile), swapped in between batches.
            let index = bm25_over_documents(&adds.bm25_docs).map_err(|e| {
                ApiError::internal(format!(
                    "documents were stored, but the BM25 view failed to update: {e:#}"
                ))
            })?;
            bm25.with_mut(move |r| r.get_mut().map(|r| r.index = index))
                .and_then(|r| r)
                .map_err(|e| ApiError::internal(format!("updating the BM25 view: {e:#}")))?;
        }
        if let Some(dense) = &self.dense {
            let for_dense = docs.clone();
            dense
                .with_mut(move |r| -> anyhow::Result<()> {
                    let r = r.get_mut()?;
                    extend_dense(r, &for_dense)
                })
                .map_err(anyhow::Error::from)
                .and_then(|r| r)
                .map_err(|e| {
                    ApiError::internal(format!(
                        "documents were stored, but the dense view failed to update: {e:#}"
                    ))
                })?;
        }
        drop(adds);
        Ok(api::AddResponse {
            added: report.added,
            new_docids: report.new_docids,
            collisions_with_existing: report.collisions_with_existing,
            num_docs: self.num_docs(),
            documents: report
                .documents
                .into_iter()
                .map(|d| api::AddedDocument {
                    doc_id: d.doc_id,
                    pos: d.pos,
                    docid: d.codes,
                })
                .collect(),
            took_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// A stored document by id (blocking).
    pub fn document(&self, id: &str) -> Result<Option<StoredDoc>, ApiError> {
        self.store
            .with(|store| lookup(store, id))
            .map_err(ApiError::internal)
    }

    /// `GET /info` (blocking: the trie's counts are read on the GenRet worker).
    pub fn info(&self) -> Result<api::InfoResponse, ApiError> {
        let info = self
            .genret
            .with_mut(|r| r.get_mut().and_then(|r| Ok(r.index.info()?)))
            .and_then(|r| r)
            .map_err(|e| ApiError::internal(format!("{e:#}")))?;
        let s = &self.settings;
        Ok(api::InfoResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            index: self.index_dir.display().to_string(),
            model: self.model_spec.clone(),
            backbone: self.backbone.clone(),
            codebook_size: self.codebook_size,
            docid_steps: self.docid_steps,
            scoring: self.scoring.clone(),
            default_beam: self.default_beam,
            documents: api::DocumentCounts {
                total: info.num_docs,
                train: info.num_train_docs,
                added: info.num_added_docs,
                last_added_at: info.last_added_at,
            },
            docids: api::DocidHealth {
                distinct: info.num_docids,
                colliding_docs: info.colliding_docs,
                largest_collision_group: info.largest_collision_group,
                distinct_ratio: if info.num_docs == 0 {
                    1.0
                } else {
                    info.num_docids as f64 / info.num_docs as f64
                },
                trie_nodes: info.trie_nodes,
            },
            systems: self
                .systems()
                .iter()
                .map(|s| s.name().to_string())
                .collect(),
            queue: api::QueueSettings {
                max_batch: s.queue.max_batch,
                max_wait_ms: s.queue.max_wait.as_secs_f64() * 1e3,
                capacity: s.queue.capacity,
            },
            limits: api::Limits {
                max_body_bytes: s.max_body_bytes,
                max_queries: s.max_queries,
                max_documents: s.max_documents,
                request_timeout_s: s.request_timeout.as_secs_f64(),
                add_timeout_s: s.add_timeout.as_secs_f64(),
            },
        })
    }

    /// `GET /metrics`.
    pub fn metrics_text(&self) -> String {
        let mut queues = vec![QueueView {
            system: "genret",
            stats: self.genret.stats(),
        }];
        if let Some(b) = &self.bm25 {
            queues.push(QueueView {
                system: "bm25",
                stats: b.stats(),
            });
        }
        if let Some(d) = &self.dense {
            queues.push(QueueView {
                system: "dense",
                stats: d.stats(),
            });
        }
        self.metrics.render(&queues, self.num_docs())
    }

    /// Finishes what the workers hold and closes the index (blocking). Requests after this
    /// are answered with an error.
    pub fn close(&self) {
        // Waits for any add in progress.
        let _adds = self.adds.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(Some(index)) = self.genret.with_mut(|r| r.0.take()) {
            let dir = index.index.dir().display().to_string();
            drop(index);
            tracing::info!("closed the index {dir}");
        }
        if let Some(b) = &self.bm25 {
            let _ = b.with_mut(|r| r.0.take());
        }
        if let Some(d) = &self.dense {
            let _ = d.with_mut(|r| r.0.take());
        }
        self.store.close();
    }
}

/// A search checked against the server, ready to run.
#[derive(Debug, Clone)]
pub struct SearchPlan {
    pub queries: Vec<String>,
    pub query_field: &'static str,
    pub params: SearchParams,
    pub systems: Vec<System>,
    pub method: FusionMethod,
    pub weights: Vec<f64>,
    pub snippets: bool,
}

fn lookup(store: &DocStore, id: &str) -> anyhow::Result<Option<StoredDoc>> {
    match store.position_of(id)? {
        Some(pos) => Ok(Some(store.get(pos)?)),
        None => Ok(None),
    }
}

/// Read connections to the store, reused between requests (SQLite connections may move
/// between threads but not be shared).
struct StorePool {
    path: PathBuf,
    idle: Mutex<Vec<DocStore>>,
}

impl StorePool {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&DocStore) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let store = match taken {
            Some(s) => s,
            None => DocStore::open(&self.path)?,
        };
        let out = f(&store);
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(store);
        out
    }

    fn close(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The dense view: the encoder, and every document's embedding (from the cache when it
/// matches the model and the documents, else encoded now and cached).
fn open_dense(
    settings: &DenseSettings,
    docs: &[Document],
    index_dir: &Path,
) -> anyhow::Result<DenseRetriever> {
    let ckpt = Checkpoint::resolve(&settings.model)
        .with_context(|| format!("the dense model `{}` (--dense-model)", settings.model))?;
    let embedder = Embedder::load(&ckpt, settings.max_len, tch::Device::Cpu)?;
    let mut model_fp = genret_dense::Fingerprint::new();
    model_fp.add("genret-serve dense/2 mean-pool l2 title+space+text");
    model_fp
        .add_file(&ckpt.config)?
        .add_file(&ckpt.weights)?
        .add_file(&ckpt.tokenizer)?;
    model_fp.add(settings.max_len.to_string());
    let model_key = model_fp.hex();
    // The key of the first `n` documents: documents are only ever appended, so a cache written
    // before some adds still holds the right rows for the documents it covers.
    let docs_key = |n: usize| {
        let mut fp = genret_dense::Fingerprint::new();
        fp.add(&model_key);
        for d in &docs[..n] {
            fp.add(&d.id).add([0u8]).add(d.full_text()).add([0u8]);
        }
        fp.hex()
    };
    let cache = settings.cache_dir.as_ref().map(|dir| {
        let name = genret_pipeline::baselines::safe_name(&index_dir.display().to_string());
        dir.join(format!(
            "serve-{name}-{}-{model_key}.safetensors",
            genret_pipeline::baselines::safe_name(&settings.model)
        ))
    });
    let doc_ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
    let mut cached: Option<DenseIndex> = None;
    if let Some(path) = cache.as_ref().filter(|p| p.exists()) {
        match DenseIndex::load(path) {
            Ok(index)
                if index.len() <= docs.len()
                    && index.meta.get("docs_key") == Some(&docs_key(index.len())) =>
            {
                tracing::info!(
                    "dense view: reusing the embeddings of {} documents from {}",
                    index.len(),
                    path.display()
                );
                cached = Some(index);
            }
            Ok(_) => tracing::warn!("{}: stale, encoding again", path.display()),
            Err(e) => tracing::warn!("{e}; encoding again"),
        }
    }
    let have = cached.as_ref().map_or(0, DenseIndex::len);
    if have == docs.len() {
        if let Some(index) = cached {
            return Ok(DenseRetriever {
                embedder,
                index,
                doc_ids,
            });
        }
    }
    anyhow::ensure!(
        !docs.is_empty(),
        "the dense view needs at least one document"
    );
    let t = Instant::now();
    tracing::info!(
        "dense view: encoding {} documents with {} (cached afterwards)",
        docs.len() - have,
        settings.model
    );
    let texts: Vec<String> = docs[have..].iter().map(Document::full_text).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let encoded = DenseIndex::build_with(
        &embedder,
        &refs,
        &genret_dense::BuildOptions {
            batch_size: 32,
            progress: false,
            ..Default::default()
        },
    )?;
    let mut index = match cached {
        Some(old) => DenseIndex::from_embeddings(&tch::Tensor::f_cat(
            &[
                old.embeddings().shallow_clone(),
                encoded.embeddings().shallow_clone(),
            ],
            0,
        )?)?,
        None => encoded,
    };
    index.meta.insert("docs_key".into(), docs_key(docs.len()));
    tracing::info!("dense view: encoded in {:.1} s", t.elapsed().as_secs_f64());
    if let Some(path) = &cache {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        index.save(path)?;
    }
    Ok(DenseRetriever {
        embedder,
        index,
        doc_ids,
    })
}

/// Appends the embeddings of new documents to the dense view.
fn extend_dense(r: &mut DenseRetriever, docs: &[Document]) -> anyhow::Result<()> {
    let texts: Vec<String> = docs.iter().map(Document::full_text).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let new = r.embedder.embed(&refs, 32, true)?;
    let all = tch::Tensor::f_cat(
        &[
            r.index.embeddings().shallow_clone(),
            new.to_kind(tch::Kind::Float),
        ],
        0,
    )?;
    let meta = std::mem::take(&mut r.index.meta);
    r.index = DenseIndex::from_embeddings(&all)?;
    r.index.meta = meta;
    r.doc_ids.extend(docs.iter().map(|d| d.id.clone()));
    Ok(())
}
