//! # genret-serve: a GenRet index as an HTTP search service
//!
//! `genret serve --index DIR` answers searches over HTTP (axum on tokio) and takes new
//! documents while it serves, the GenRet promise that matters to a search engineer: a document
//! added now is searchable on the next query, with no retraining and no restart.
//!
//! ## The idea
//!
//! * **One worker per model, batched.** A libtorch model may not be shared between threads,
//!   and it answers a batch of queries in little more time than one. Each system (GenRet, and
//!   BM25 and dense when asked for) is owned by a worker thread behind the pipeline's
//!   [`genret_pipeline::SharedRetriever`]: concurrent requests wait in its queue and are
//!   searched together, up to `--max-batch` queries per model call, as
//!   text-embeddings-inference does. Throughput then grows with concurrency.
//! * **The store is the truth.** `POST /documents` adds to the GenRet index (one SQLite
//!   transaction, fsynced, before it returns; the trie changes between two search batches, so
//!   no search sees half a batch), then brings the in-memory BM25 and dense views up to date,
//!   then answers. A crash loses nothing acknowledged and leaves no batch half stored; at start
//!   the views are rebuilt from the store.
//! * **Errors name the field.** Bad requests get a 4xx JSON [`api::ErrorResponse`] naming the
//!   field at fault (`k`, `queries[2]`, `documents[0]._id`, `body`); faults get a 500 that
//!   reveals nothing of the machine, with the detail in the log.
//! * **Described by its types.** `/openapi.json` is generated (utoipa) from the handlers and
//!   the body types of [`api`]; `/docs` shows it with a page that needs no network.
//!
//! Routes: `POST /search`, `POST /documents`, `GET /documents/{id}`, `GET /health`,
//! `GET /info`, `GET /metrics` (Prometheus), `GET /openapi.json`, `GET /docs`.
//!
//! ```no_run
//! let args = genret_serve::Args::for_index("runs/quickstart/train/index".into());
//! genret_serve::run(args)?; // serves until SIGTERM or Ctrl-C
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod api;
pub mod body;
pub mod client;
pub mod docs;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use genret_pipeline::QueueOptions;

pub use docs::openapi;
pub use error::ApiError;
pub use routes::router;
pub use state::{AppState, DenseSettings, Settings};

/// `genret serve`'s arguments.
#[derive(clap::Args, Debug, Clone)]
#[command(
    about = "Serve an index over HTTP: search (GenRet, BM25, dense, fusions), add documents live, OpenAPI at /openapi.json, viewer at /docs, Prometheus metrics at /metrics",
    after_help = "Example:\n  genret serve --index runs/quickstart/train/index --bm25 --addr 127.0.0.1:8080\n  curl -s localhost:8080/search -d '{\"query\": \"vitamin c deficiency\", \"k\": 5}'\n\nStops gracefully on SIGTERM or Ctrl-C: requests in flight finish, then the index closes."
)]
pub struct Args {
    /// The index folder (from `genret train` or `genret quickstart`); documents added through
    /// the server are written into it.
    #[arg(long)]
    pub index: PathBuf,
    /// Also serve BM25 (`system: "bm25"` and fusions), built in memory over the index's
    /// documents, added ones included.
    #[arg(long)]
    pub bm25: bool,
    /// Also serve dense retrieval (`system: "dense"` and fusions): exact cosine search over
    /// mean-pooled embeddings of every document, added ones included.
    #[arg(long)]
    pub dense: bool,
    /// The dense encoder: a checkpoint folder or hub id (default: the index's own base model,
    /// its `model_spec`).
    #[arg(long, value_name = "MODEL")]
    pub dense_model: Option<String>,
    /// Tokens per text for the dense encoder.
    #[arg(long, default_value_t = 256)]
    pub dense_max_len: usize,
    /// Folder of cached document embeddings for the dense view (default: $GENRET_HOME/dense);
    /// reused when the model and the documents match.
    #[arg(long, value_name = "DIR")]
    pub dense_cache: Option<PathBuf>,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Most queries searched in one model call (concurrent requests are batched up to it).
    #[arg(long, default_value_t = 32)]
    pub max_batch: usize,
    /// How long a model worker waits for more requests once it has one, in milliseconds (0:
    /// takes only what is already waiting; batches still grow while the model is busy).
    #[arg(long, default_value_t = 0)]
    pub max_wait_ms: u64,
    /// Requests that may wait per model worker; beyond it requests get 503.
    #[arg(long, default_value_t = 1024)]
    pub queue_capacity: usize,
    /// Largest request body accepted, in bytes (413 beyond).
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// Most queries in one search request.
    #[arg(long, default_value_t = 256)]
    pub max_queries: usize,
    /// Most documents in one add request.
    #[arg(long, default_value_t = 10_000)]
    pub max_documents: usize,
    /// Seconds a request may take before it is answered with 503 (adds: --add-timeout-s).
    #[arg(long, default_value_t = 30.0)]
    pub request_timeout_s: f64,
    /// Seconds an add may take before its client is answered with 503 (the add itself then
    /// still completes or fails whole).
    #[arg(long, default_value_t = 600.0)]
    pub add_timeout_s: f64,
    /// Documents encoded together when adding.
    #[arg(long, default_value_t = 32)]
    pub add_batch_size: usize,
    /// Characters of text per snippet (`snippets: true`).
    #[arg(long, default_value_t = 240)]
    pub snippet_chars: usize,
    /// libtorch intra-op threads (0: libtorch's default, one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Threads answering HTTP (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub http_threads: usize,
}

impl Args {
    /// The defaults, serving `index`.
    pub fn for_index(index: PathBuf) -> Self {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        use clap::Parser;
        let mut args = Cli::parse_from(["genret-serve", "--index", "."]).args;
        args.index = index;
        args
    }

    fn settings(&self) -> anyhow::Result<Settings> {
        anyhow::ensure!(self.max_batch >= 1, "--max-batch must be at least 1");
        anyhow::ensure!(
            self.queue_capacity >= 1,
            "--queue-capacity must be at least 1"
        );
        anyhow::ensure!(self.max_queries >= 1, "--max-queries must be at least 1");
        anyhow::ensure!(
            self.max_documents >= 1,
            "--max-documents must be at least 1"
        );
        anyhow::ensure!(
            self.add_batch_size >= 1,
            "--add-batch-size must be at least 1"
        );
        anyhow::ensure!(
            self.snippet_chars >= 10,
            "--snippet-chars must be at least 10"
        );
        for (name, s) in [
            ("--request-timeout-s", self.request_timeout_s),
            ("--add-timeout-s", self.add_timeout_s),
        ] {
            anyhow::ensure!(
                s.is_finite() && s > 0.0 && s < 1e7,
                "{name} must be a positive number of seconds"
            );
        }
        Ok(Settings {
            queue: QueueOptions {
                max_batch: self.max_batch,
                max_wait: Duration::from_millis(self.max_wait_ms),
                capacity: self.queue_capacity,
            },
            max_body_bytes: self.max_body_bytes,
            max_queries: self.max_queries,
            max_documents: self.max_documents,
            request_timeout: Duration::from_secs_f64(self.request_timeout_s),
            add_timeout: Duration::from_secs_f64(self.add_timeout_s),
            add_batch_size: self.add_batch_size,
            bm25_threads: 1,
            snippet_chars: self.snippet_chars,
        })
    }

    /// Opens the index and builds the views (slow: loads the model).
    pub fn open_state(&self) -> anyhow::Result<AppState> {
        let settings = self.settings()?;
        if self.threads > 0 {
            tch::set_num_threads(self.threads as i32);
        }
        let dense = if self.dense {
            let model = match &self.dense_model {
                Some(m) => m.clone(),
                None => {
                    let text =
                        std::fs::read_to_string(self.index.join(genret_index::index::CONFIG_FILE))
                            .with_context(|| format!("reading {}", self.index.display()))?;
                    let config: genret_index::IndexConfig = serde_json::from_str(&text)
                        .with_context(|| {
                            format!("{}: index configuration", self.index.display())
                        })?;
                    config.model_spec
                }
            };
            Some(DenseSettings {
                model,
                max_len: self.dense_max_len,
                cache_dir: Some(
                    self.dense_cache
                        .clone()
                        .unwrap_or_else(genret_pipeline::baselines::default_dense_cache),
                ),
            })
        } else {
            None
        };
        AppState::open(&self.index, self.bm25, dense.as_ref(), settings)
    }

    fn runtime(&self) -> anyhow::Result<tokio::runtime::Runtime> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if self.http_threads > 0 {
            builder.worker_threads(self.http_threads);
        }
        builder
            .thread_name("genret-http")
            .enable_all()
            .build()
            .context("starting the async runtime")
    }
}

/// Serves `state` on `listener` until `shutdown` completes; then stops taking connections,
/// lets requests in flight finish (at most `grace`), and closes the index.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> anyhow::Result<()> {
    let app = router(state.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    shutdown.await;
    tracing::info!("shutting down: finishing requests in flight");
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!("the server stopped with an error: {e}"),
        Ok(Err(e)) => tracing::warn!("the server task failed: {e}"),
        Err(_) => tracing::warn!(
            "requests still running after {:.0} s; closing anyway",
            grace.as_secs_f64()
        ),
    }
    tokio::task::spawn_blocking(move || state.close()).await?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn termination() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// `genret serve`: opens the index, listens on `args.addr`, serves until SIGTERM or Ctrl-C.
pub fn run(args: Args) -> anyhow::Result<()> {
    let state = Arc::new(args.open_state()?);
    let grace = state
        .settings
        .add_timeout
        .max(state.settings.request_timeout);
    let runtime = args.runtime()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("listening on {}", args.addr))?;
        let addr = listener.local_addr()?;
        tracing::info!(
            "serving {} on http://{addr} (systems: {}; API at http://{addr}/docs)",
            args.index.display(),
            state
                .systems()
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        serve(listener, state, termination(), grace).await
    })?;
    tracing::info!("stopped");
    Ok(())
}

/// A server running on a thread of its own (tests, embedding): its address, and a way to stop
/// it gracefully.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops taking requests, waits for those in flight, closes the index.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("the server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// Opens the index and serves it on a background thread (bound before this returns, so the
/// address answers at once).
pub fn start(args: Args) -> anyhow::Result<Running> {
    let state = Arc::new(args.open_state()?);
    let grace = state
        .settings
        .add_timeout
        .max(state.settings.request_timeout);
    let runtime = args.runtime()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(args.addr))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = state.clone();
    let thread = std::thread::Builder::new()
        .name("genret-serve".into())
        .spawn(move || {
            runtime.block_on(serve(
                listener,
                served,
                async move {
                    let _ = stopped.await;
                },
                grace,
            ))
        })?;
    Ok(Running {
        addr,
        state,
        stop: Some(stop),
        thread: Some(thread),
    })
}
