//! A retriever that many threads can use at once.
//!
//! The models behind GenRet and dense retrieval hold libtorch tensors, which may move between
//! threads but not be shared by them; and a model answers a batch of queries in little more
//! time than one query. Both point to the design of text-embeddings-inference: one worker
//! thread owns the retriever, callers put requests on a queue, and the worker takes every
//! request waiting with the same parameters as one batch (up to [`QueueOptions::max_batch`]
//! queries), so throughput grows with concurrency instead of requests waiting in line.
//!
//! Changes to the retriever (adding documents to a GenRet index) go through the same queue
//! ([`SharedRetriever::with_mut`]) and run between two batches, so a search sees the index
//! either before or after a whole batch of documents, never half of one. Reads that need no
//! model (fetching a stored document) belong on their own store connection, off the queue.
//!
//! The handle is `Clone + Send + Sync` and is itself a [`Retriever`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use genret_data::ScoredDoc;

use crate::retriever::{check_request, Error, Retriever, SearchParams};

/// How the worker batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueOptions {
    /// Most queries searched in one model call.
    pub max_batch: usize,
    /// How long the worker waits for more requests once it has one. Zero (the default) takes
    /// only what is already queued: while the model works on one batch the next one gathers,
    /// so batches grow with load without delaying a lone request.
    pub max_wait: Duration,
    /// Requests that may wait; beyond it, callers are refused with an overload error.
    pub capacity: usize,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            max_batch: 32,
            max_wait: Duration::ZERO,
            capacity: 1024,
        }
    }
}

/// Batch size buckets of [`QueueStats::batch_sizes`] (upper bounds; the last is open).
pub const BATCH_BUCKETS: [usize; 8] = [1, 2, 4, 8, 16, 32, 64, usize::MAX];

/// Counters of the queue, for monitoring.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Requests waiting for the worker.
    pub queued: AtomicUsize,
    /// Model calls made.
    pub batches: AtomicU64,
    /// Queries answered.
    pub queries: AtomicU64,
    /// Model calls by number of queries, bucketed by [`BATCH_BUCKETS`].
    pub batch_sizes: [AtomicU64; 8],
    /// Requests refused because the queue was full.
    pub refused: AtomicU64,
}

impl QueueStats {
    fn record_batch(&self, queries: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.queries.fetch_add(queries as u64, Ordering::Relaxed);
        let bucket = BATCH_BUCKETS
            .iter()
            .position(|&b| queries <= b)
            .unwrap_or(BATCH_BUCKETS.len() - 1);
        self.batch_sizes[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

type Exclusive<R> = Box<dyn FnOnce(&mut R) + Send>;

enum Job<R> {
    Search {
        queries: Vec<String>,
        params: SearchParams,
        reply: Sender<Result<Vec<Vec<ScoredDoc>>, Error>>,
    },
    Exclusive(Exclusive<R>),
}

/// A handle to a retriever owned by a worker thread. Cloning is cheap; the worker stops when
/// the last handle is dropped, after answering what is queued.
pub struct SharedRetriever<R> {
    sender: SyncSender<Job<R>>,
    /// Requests that may wait (the channel's bound), named in overload errors.
    capacity: usize,
    stats: Arc<QueueStats>,
    name: Arc<String>,
    num_docs: Arc<AtomicUsize>,
}

impl<R> Clone for SharedRetriever<R> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            capacity: self.capacity,
            stats: self.stats.clone(),
            name: self.name.clone(),
            num_docs: self.num_docs.clone(),
        }
    }
}

impl<R: Retriever + Send + 'static> SharedRetriever<R> {
    /// Moves `retriever` onto a worker thread of its own.
    pub fn spawn(retriever: R, options: QueueOptions) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::sync_channel(options.capacity.max(1));
        let stats = Arc::new(QueueStats::default());
        let name = Arc::new(retriever.name());
        let num_docs = Arc::new(AtomicUsize::new(retriever.num_docs()));
        let worker = Worker {
            retriever,
            receiver,
            pending: VecDeque::new(),
            options,
            stats: stats.clone(),
            num_docs: num_docs.clone(),
        };
        std::thread::Builder::new()
            .name(format!("genret-{name}-worker"))
            .spawn(move || worker.run())?;
        Ok(Self {
            sender,
            capacity: options.capacity.max(1),
            stats,
            name,
            num_docs,
        })
    }

    /// Runs `f` on the worker with the retriever to itself, between two batches, and returns
    /// its result (adding documents, reloading). Requests queued after it see its changes.
    pub fn with_mut<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut R) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let (tx, rx) = mpsc::channel();
        self.submit(Job::Exclusive(Box::new(move |r: &mut R| {
            let _ = tx.send(f(r));
        })))?;
        rx.recv().map_err(|_| stopped())
    }

    /// The queue's counters.
    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }

    fn submit(&self, job: Job<R>) -> Result<(), Error> {
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        match self.sender.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                match e {
                    TrySendError::Full(_) => {
                        self.stats.refused.fetch_add(1, Ordering::Relaxed);
                        Err(Error::Overloaded {
                            capacity: self.capacity,
                        })
                    }
                    TrySendError::Disconnected(_) => Err(stopped()),
                }
            }
        }
    }
}

impl<R: Retriever + Send + 'static> Retriever for SharedRetriever<R> {
    fn name(&self) -> String {
        self.name.to_string()
    }

    /// Queues the request and waits for its answer (checked here, so one caller's bad request
    /// never fails a batch that others share).
    fn search(
        &self,
        queries: &[&str],
        params: &SearchParams,
    ) -> Result<Vec<Vec<ScoredDoc>>, Error> {
        check_request(queries, params)?;
        let (reply, answer) = mpsc::channel();
        self.submit(Job::Search {
            queries: queries.iter().map(|q| q.to_string()).collect(),
            params: *params,
            reply,
        })?;
        answer.recv().map_err(|_| stopped())?
    }

    /// Documents after the last change the worker made.
    fn num_docs(&self) -> usize {
        self.num_docs.load(Ordering::Acquire)
    }
}

fn stopped() -> Error {
    Error::Internal(anyhow::anyhow!("the search worker has stopped"))
}

struct Worker<R> {
    retriever: R,
    receiver: Receiver<Job<R>>,
    /// Requests taken off the channel that did not fit the batch being formed.
    pending: VecDeque<Job<R>>,
    options: QueueOptions,
    stats: Arc<QueueStats>,
    num_docs: Arc<AtomicUsize>,
}

impl<R: Retriever> Worker<R> {
    fn run(mut self) {
        while let Some(job) = self.next() {
            match job {
                Job::Exclusive(f) => {
                    f(&mut self.retriever);
                    self.num_docs
                        .store(self.retriever.num_docs(), Ordering::Release);
                }
                Job::Search {
                    queries,
                    params,
                    reply,
                } => self.search_batch(queries, params, reply),
            }
        }
    }

    /// The next job: a pending one first, else from the channel, waiting as long as it takes.
    /// `None` once every handle is gone and nothing is left.
    fn next(&mut self) -> Option<Job<R>> {
        let job = match self.pending.pop_front() {
            Some(job) => Some(job),
            None => self.receiver.recv().ok(),
        };
        if job.is_some() {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
        }
        job
    }

    /// Gathers the requests waiting with the same parameters (up to `max_batch` queries),
    /// searches them in one call and answers each.
    #[allow(clippy::type_complexity)]
    fn search_batch(
        &mut self,
        queries: Vec<String>,
        params: SearchParams,
        reply: Sender<Result<Vec<Vec<ScoredDoc>>, Error>>,
    ) {
        let mut batch: Vec<(Vec<String>, Sender<Result<Vec<Vec<ScoredDoc>>, Error>>)> =
            vec![(queries, reply)];
        let mut total = batch[0].0.len();
        let deadline = Instant::now() + self.options.max_wait;
        // Same-parameter requests already pending join; others keep their place.
        // A change waiting in line stops the gathering: requests behind it must see it.
        let mut keep = VecDeque::new();
        let mut change_waiting = false;
        while let Some(job) = self.pending.pop_front() {
            change_waiting |= matches!(job, Job::Exclusive(_));
            match job {
                Job::Search {
                    queries,
                    params: p,
                    reply,
                } if !change_waiting
                    && p == params
                    && total + queries.len() <= self.options.max_batch =>
                {
                    self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                    total += queries.len();
                    batch.push((queries, reply));
                }
                other => keep.push_back(other),
            }
        }
        self.pending = keep;
        // Then what arrives on the channel, while the batch has room and no change to the
        // retriever is waiting (a change must not be overtaken by later searches).
        if !change_waiting {
            while total < self.options.max_batch {
                let job = if self.options.max_wait.is_zero() {
                    match self.receiver.try_recv() {
                        Ok(job) => job,
                        Err(_) => break,
                    }
                } else {
                    match self
                        .receiver
                        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    {
                        Ok(job) => job,
                        Err(_) => break,
                    }
                };
                match job {
                    Job::Search {
                        queries,
                        params: p,
                        reply,
                    } if p == params && total + queries.len() <= self.options.max_batch => {
                        self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                        total += queries.len();
                        batch.push((queries, reply));
                    }
                    other => {
                        // Kept for later, still counted as waiting.
                        let is_change = matches!(other, Job::Exclusive(_));
                        self.pending.push_back(other);
                        if is_change {
                            break;
                        }
                    }
                }
            }
        }
        let texts: Vec<&str> = batch
            .iter()
            .flat_map(|(q, _)| q.iter().map(String::as_str))
            .collect();
        self.stats.record_batch(texts.len());
        match self.retriever.search(&texts, &params) {
            Ok(mut results) => {
                for (queries, reply) in batch.into_iter().rev() {
                    let mine = results.split_off(results.len() - queries.len());
                    let _ = reply.send(Ok(mine));
                }
            }
            Err(e) => {
                for (_, reply) in batch {
                    let copy = match &e {
                        Error::Input(i) => Error::Input(i.clone()),
                        Error::Internal(x) => Error::Internal(anyhow::anyhow!("{x:#}")),
                        Error::Overloaded { capacity } => Error::Overloaded {
                            capacity: *capacity,
                        },
                    };
                    let _ = reply.send(Err(copy));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A retriever that answers every query with its own text as the only document.
    struct Echo;

    impl Retriever for Echo {
        fn name(&self) -> String {
            "echo".into()
        }
        fn search(&self, queries: &[&str], _: &SearchParams) -> Result<Vec<Vec<ScoredDoc>>, Error> {
            Ok(queries
                .iter()
                .map(|q| {
                    vec![ScoredDoc {
                        doc_id: q.to_string(),
                        score: 1.0,
                    }]
                })
                .collect())
        }
        fn num_docs(&self) -> usize {
            0
        }
    }

    #[test]
    fn a_full_queue_refuses_with_a_typed_overload() {
        let shared = SharedRetriever::spawn(
            Echo,
            QueueOptions {
                capacity: 1,
                ..Default::default()
            },
        )
        .unwrap();
        // Hold the worker inside a change until released.
        let (release, wait) = mpsc::channel::<()>();
        let (started, has_started) = mpsc::channel::<()>();
        let holder = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                shared
                    .with_mut(move |_| {
                        started.send(()).unwrap();
                        wait.recv().unwrap();
                    })
                    .unwrap()
            })
        };
        has_started.recv().unwrap();
        // One request may wait; the next is refused without waiting.
        let waiting = {
            let shared = shared.clone();
            std::thread::spawn(move || shared.search(&["a"], &SearchParams::top(1)))
        };
        while shared.stats().queued.load(Ordering::Relaxed) < 1 {
            std::thread::yield_now();
        }
        let err = shared.search(&["b"], &SearchParams::top(1)).unwrap_err();
        assert!(matches!(err, Error::Overloaded { capacity: 1 }), "{err}");
        assert!(!err.is_input());
        assert_eq!(shared.stats().refused.load(Ordering::Relaxed), 1);
        release.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(waiting.join().unwrap().unwrap()[0][0].doc_id, "a");
    }
}
