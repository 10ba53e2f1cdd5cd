//! One system on one split: retrieve the judged queries, write the TREC run, evaluate, and
//! record what was done in a [`RetrievalReport`].
//!
//! [`run_bm25`], [`run_dense`] and [`run_genret`] differ only in how their retriever is made
//! (and what their report records about it); the retrieval, timing and evaluation are
//! [`crate::split`]'s, so every system's numbers mean the same thing. `genret bm25`, `genret
//! dense`, `genret run` and `genret quickstart` are these functions behind argument parsing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use genret_bm25::Bm25Config;
use genret_data::Dataset;
use genret_eval::{evaluate, EvalOptions, Evaluation, FusionMethod, Metric};
use genret_index::{CodeScore, Index, Origin, Scoring, SearchOptions, StateKind};
use genret_model::checkpoint::Checkpoint;
use genret_model::embed::Embedder;
use genret_records::{
    EvaluationCounts, FusedReport, GenretSearch, RetrievalReport, System, Timings,
};

use crate::baselines::{self, Bm25Source, DenseSource};
use crate::retriever::{
    bm25_over_index, Bm25Retriever, DenseRetriever, Fusion, GenretRetriever, Retriever,
    SearchParams,
};
use crate::split::{judged_split, query_bar, retrieve, JudgedQueries, Retrieval, SeenUnseen};

/// What every system's run shares: the data, the split, the measures, and where results go.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub dataset: Dataset,
    pub split: String,
    /// Fail on judgements naming unknown queries or documents instead of warning.
    pub strict: bool,
    pub metrics: Vec<Metric>,
    /// The TREC run to write.
    pub run_path: PathBuf,
    /// Tag in the run file's last column.
    pub tag: String,
    /// Where the report goes (default: next to the run, `run.trec` -> `run.metrics.json`).
    pub report_path: Option<PathBuf>,
}

impl Experiment {
    pub fn report_path(&self) -> PathBuf {
        self.report_path
            .clone()
            .unwrap_or_else(|| self.run_path.with_extension("metrics.json"))
    }
}

/// What one system did on the split.
#[derive(Debug)]
pub struct Outcome {
    pub evaluation: Evaluation,
    pub report: RetrievalReport,
    /// Where the report was written.
    pub report_path: PathBuf,
    /// Seen/unseen evaluation, when the index holds documents added after training.
    pub seen_unseen: Option<SeenUnseen>,
    /// The hybrid run's evaluation (GenRet fused with BM25).
    pub fused: Option<Evaluation>,
}

impl Outcome {
    /// The hybrid run as an outcome of its own (its evaluation, its report's latencies).
    pub fn fused_outcome(&self) -> Option<Outcome> {
        let (evaluation, fused) = (self.fused.clone()?, self.report.fused.as_ref()?);
        let mut report = self.report.clone();
        report.metrics = fused.metrics.clone();
        report.timings = fused.timings.clone();
        report.run = fused.run.clone();
        report.fused = None;
        Some(Outcome {
            evaluation,
            report,
            report_path: self.report_path.clone(),
            seen_unseen: None,
            fused: None,
        })
    }
}

impl std::fmt::Debug for SeenUnseen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeenUnseen")
            .field("queries", &self.class.len())
            .finish()
    }
}

/// Retrieves and evaluates, writing the run; the timings of the retrieval.
fn retrieve_and_evaluate(
    exp: &Experiment,
    retriever: &dyn Retriever,
    judged: &JudgedQueries,
    params: &SearchParams,
    batch_size: usize,
) -> anyhow::Result<(Retrieval, Evaluation)> {
    let bar = query_bar(judged.queries.len());
    let retrieval = retrieve(retriever, &judged.queries, params, batch_size, |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    if retrieval.empty > 0 {
        tracing::warn!(
            "{} queries retrieved nothing (they score 0)",
            retrieval.empty
        );
    }
    retrieval
        .run
        .write_trec(&exp.run_path, &exp.tag)
        .with_context(|| format!("writing {}", exp.run_path.display()))?;
    let evaluation = evaluate(
        &judged.qrels,
        &retrieval.run,
        &exp.metrics,
        &EvalOptions::default(),
    )?;
    Ok((retrieval, evaluation))
}

fn counts(e: &Evaluation) -> EvaluationCounts {
    EvaluationCounts {
        num_queries: e.num_queries,
        missing_queries: e.missing_queries.clone(),
    }
}

fn write_report(exp: &Experiment, report: &RetrievalReport) -> anyhow::Result<PathBuf> {
    let path = exp.report_path();
    genret_data::write_json_atomically(&path, report)
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!("wrote {}", path.display());
    Ok(path)
}

/// BM25's settings for [`run_bm25`].
#[derive(Debug, Clone)]
pub struct Bm25Job {
    pub config: Bm25Config,
    /// The index folder; `None`: the default cache folder.
    pub index_dir: Option<PathBuf>,
    pub rebuild: bool,
    /// Threads for indexing and searching (0: all cores).
    pub threads: usize,
    pub k: usize,
}

/// The BM25 baseline on the split.
pub fn run_bm25(exp: &Experiment, job: &Bm25Job) -> anyhow::Result<Outcome> {
    let opened = baselines::open_or_build_bm25(&Bm25Source {
        dataset: &exp.dataset,
        config: job.config,
        dir: job.index_dir.clone(),
        rebuild: job.rebuild,
        threads: job.threads,
    })?;
    let threads = if job.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        job.threads
    };
    let ids: HashSet<String> = opened.index.doc_ids().iter().cloned().collect();
    let judged = judged_split(
        &exp.dataset,
        &exp.split,
        exp.strict,
        |d| ids.contains(d),
        "",
    )?;
    let (dir, built_in) = (opened.dir.clone(), opened.built_in);
    let retriever = Bm25Retriever {
        index: opened.index,
        threads,
    };
    // One query at a time: per-query latency as a live service sees it.
    let (retrieval, evaluation) =
        retrieve_and_evaluate(exp, &retriever, &judged, &SearchParams::top(job.k), 1)?;
    let report = RetrievalReport {
        system: System::Bm25 {
            k: job.k,
            bm25: serde_json::json!({
                "engine": "tantivy 0.27",
                "k1": genret_bm25::K1,
                "b": genret_bm25::B,
                "config": job.config,
            }),
            index_dir: dir.clone(),
        },
        dataset: exp.dataset.name.clone(),
        split: exp.split.clone(),
        num_docs: retriever.num_docs(),
        num_queries: judged.queries.len(),
        metrics: evaluation.mean.clone(),
        evaluation: counts(&evaluation),
        timings: Timings {
            index_built: Some(built_in.is_some()),
            index_s: built_in.map(|d| d.as_secs_f64()),
            search_threads: Some(threads),
            search_wall_s: Some(retrieval.wall.as_secs_f64()),
            ..Default::default()
        }
        .with_query_latency(&retrieval.query_latency),
        run: exp.run_path.clone(),
        index_bytes: Some(baselines::dir_bytes(&dir)?),
        index_bytes_beyond_weights: None,
        fused: None,
        seen_unseen: None,
        seen_unseen_judgements: None,
    };
    let report_path = write_report(exp, &report)?;
    Ok(Outcome {
        evaluation,
        report,
        report_path,
        seen_unseen: None,
        fused: None,
    })
}

/// The dense baseline's settings for [`run_dense`].
#[derive(Debug, Clone)]
pub struct DenseJob {
    /// Checkpoint folder or hub id.
    pub model: String,
    pub max_len: usize,
    pub k: usize,
    /// Documents per forward pass while encoding the corpus.
    pub batch_size: usize,
    pub device: tch::Device,
    /// The embeddings cache folder; `None`: no cache.
    pub cache_dir: Option<PathBuf>,
    pub rebuild: bool,
}

/// The dense baseline (exact cosine over mean-pooled embeddings) on the split.
pub fn run_dense(exp: &Experiment, job: &DenseJob) -> anyhow::Result<Outcome> {
    anyhow::ensure!(job.max_len >= 2, "--max-len must be at least 2");
    anyhow::ensure!(job.batch_size >= 1, "--batch-size must be at least 1");
    let split = exp.dataset.load_split(&exp.split, exp.strict)?;
    if split.unknown.dropped_rows > 0 {
        tracing::warn!(
            "{}: dropped {} judgement rows naming unknown queries ({}) or documents ({})",
            exp.dataset.qrels_path(&exp.split).display(),
            split.unknown.dropped_rows,
            split.unknown.unknown_queries,
            split.unknown.unknown_documents
        );
    }
    anyhow::ensure!(
        !split.corpus.is_empty(),
        "{}: the corpus is empty",
        exp.dataset.root.display()
    );
    anyhow::ensure!(
        !split.queries.is_empty(),
        "split `{}` has no judged query",
        exp.split
    );
    let ckpt = Checkpoint::resolve(&job.model)?;
    let embedder = Embedder::load(&ckpt, job.max_len, job.device)?;
    let opened = baselines::open_or_encode_dense(
        &DenseSource {
            dataset: &exp.dataset,
            corpus: &split.corpus,
            model_name: &job.model,
            checkpoint: &ckpt,
            max_len: job.max_len,
            batch_size: job.batch_size,
            cache_dir: job.cache_dir.clone(),
            rebuild: job.rebuild,
        },
        &embedder,
    )?;
    let (cache, encoded_in) = (opened.cache.clone(), opened.encoded_in);
    let retriever = DenseRetriever {
        embedder,
        index: opened.index,
        doc_ids: split.corpus.iter().map(|d| d.id.clone()).collect(),
    };
    let judged = JudgedQueries {
        queries: split.queries.iter().cloned().collect(),
        qrels: split.qrels,
    };
    // A warm-up query first (not timed), then one query at a time.
    if let Some(first) = judged.queries.first() {
        retriever.search(&[first.text.as_str()], &SearchParams::top(job.k))?;
    }
    let (retrieval, evaluation) =
        retrieve_and_evaluate(exp, &retriever, &judged, &SearchParams::top(job.k), 1)?;
    let (n, dim) = (retriever.index.len(), retriever.index.dim());
    let report = RetrievalReport {
        system: System::Dense {
            model: job.model.clone(),
            max_len: job.max_len,
            k: job.k,
            dim,
            cache,
        },
        dataset: exp.dataset.name.clone(),
        split: exp.split.clone(),
        num_docs: n,
        num_queries: judged.queries.len(),
        metrics: evaluation.mean.clone(),
        evaluation: counts(&evaluation),
        timings: Timings {
            device: Some(if job.device.is_cuda() { "cuda" } else { "cpu" }.into()),
            threads: Some(tch::get_num_threads().max(1) as usize),
            batch_size: Some(job.batch_size),
            encoded: Some(encoded_in.is_some()),
            encode_s: encoded_in.map(|t| t.as_secs_f64()),
            docs_per_s: encoded_in.map(|t| n as f64 / t.as_secs_f64().max(1e-9)),
            search_wall_s: Some(retrieval.wall.as_secs_f64()),
            ..Default::default()
        }
        .with_query_latency(&retrieval.query_latency),
        run: exp.run_path.clone(),
        // The f32 embedding matrix an exact search holds (what the cache file stores).
        index_bytes: Some((n * dim * 4) as u64),
        index_bytes_beyond_weights: None,
        fused: None,
        seen_unseen: None,
        seen_unseen_judgements: None,
    };
    let report_path = write_report(exp, &report)?;
    Ok(Outcome {
        evaluation,
        report,
        report_path,
        seen_unseen: None,
        fused: None,
    })
}

/// Changes to an index's own scoring, each left out keeping the index's value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoringChoice {
    /// `Some(None)`: codes only; `Some(Some(kind))`: states of that kind.
    pub states: Option<Option<StateKind>>,
    pub code: Option<CodeScore>,
    pub code_weight: Option<f64>,
    pub candidate_depth: Option<usize>,
}

impl ScoringChoice {
    /// The scoring to search with: the index's, changed by the choices made.
    pub fn resolve(&self, index_default: Scoring) -> Scoring {
        let mut s = index_default;
        if let Some(states) = self.states {
            s.states = states;
        }
        if let Some(c) = self.code {
            s.code = c;
        } else if s.code == CodeScore::Residual && s.states == Some(StateKind::Decoder) {
            // Residual code scores use the query's encoder embedding; a search that switches a
            // residual index to decoder states scores its codes by the decoder too.
            s.code = CodeScore::LogProb;
        }
        if let Some(w) = self.code_weight {
            s.code_weight = w;
        }
        if self.candidate_depth.is_some() {
            s.candidate_depth = self.candidate_depth;
        } else if s.states != Some(StateKind::Encoder) {
            // The index's candidate depth belongs to its encoder-state default; a search that
            // switches to codes or decoder states uses every learned code.
            s.candidate_depth = None;
        }
        s
    }
}

/// The warning for a codes-only beam search asked for more documents than it keeps docids:
/// at most `beam` docids come back (more documents only where docids are shared), so `depth`
/// is cut short without a word otherwise. `None` where the scoring gives `depth` anyway.
pub fn depth_beyond_beam(
    depth: usize,
    beam: usize,
    scoring: &Scoring,
    exact: bool,
) -> Option<String> {
    let codes_beam = scoring.states.is_none() && scoring.code != CodeScore::Residual && !exact;
    (codes_beam && depth > beam).then(|| {
        format!("--depth {depth} is larger than --beam {beam}: a codes-only search keeps {beam} docids, so fewer than {depth} documents may come back; raise --beam to at least --depth")
    })
}

/// GenRet fused with BM25 over the index's own documents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FuseWithBm25 {
    pub method: FusionMethod,
    pub genret_weight: f64,
    pub bm25_weight: f64,
}

/// GenRet's settings for [`run_genret`].
#[derive(Debug, Clone)]
pub struct GenretJob {
    pub index: PathBuf,
    pub device: tch::Device,
    /// Beam width; `None`: the scoring's, else 100.
    pub beam: Option<usize>,
    /// Documents per query.
    pub depth: usize,
    /// Queries searched together.
    pub batch_size: usize,
    pub scoring: ScoringChoice,
    /// Score every docid (no beam).
    pub exact: bool,
    pub fuse: Option<FuseWithBm25>,
}

/// GenRet on the split, optionally fused with BM25, with the seen/unseen split when the index
/// holds added documents.
pub fn run_genret(exp: &Experiment, job: &GenretJob) -> anyhow::Result<Outcome> {
    anyhow::ensure!(job.depth >= 1, "--depth must be at least 1");
    let index = Index::open(&job.index, job.device)?;
    let ids: HashSet<&str> = index.doc_ids().iter().map(String::as_str).collect();
    let judged = judged_split(
        &exp.dataset,
        &exp.split,
        exp.strict,
        |d| ids.contains(d),
        " (or in the index)",
    )?;
    let scoring = job.scoring.resolve(index.config().scoring);
    let beam = job.beam.or(scoring.beam).unwrap_or(100);
    if let Some(w) = depth_beyond_beam(job.depth, beam, &scoring, job.exact) {
        tracing::warn!("{w}");
    }
    let origins: HashMap<String, Origin> = index.store().all_origins()?.into_iter().collect();
    let (num_docids, model) = (index.trie().num_docids(), index.config().model_spec.clone());
    let device = format!("{:?}", index.device());
    let bm25 = match job.fuse {
        Some(_) => {
            let t0 = std::time::Instant::now();
            Some((bm25_over_index(&index)?, t0.elapsed()))
        }
        None => None,
    };
    let genret = GenretRetriever {
        index,
        options: SearchOptions {
            beam,
            depth: job.depth,
            batch_size: job.batch_size,
            scoring: Some(scoring),
            exact: job.exact,
        },
    };
    let params = SearchParams {
        k: job.depth,
        beam: Some(beam),
    };
    let (retrieval, evaluation) =
        retrieve_and_evaluate(exp, &genret, &judged, &params, job.batch_size)?;
    let num_docs = genret.num_docs();

    // Hybrid: the same queries through GenRet and BM25 together, timed as one system.
    let (fused_report, fused_eval) = match (job.fuse, bm25) {
        (Some(fuse), Some((bm25, build))) => {
            let fusion = Fusion {
                parts: vec![
                    (
                        Box::new(genret) as Box<dyn Retriever + Send>,
                        fuse.genret_weight,
                    ),
                    (
                        Box::new(Bm25Retriever {
                            index: bm25,
                            threads: 1,
                        }),
                        fuse.bm25_weight,
                    ),
                ],
                method: fuse.method,
                candidates: job.depth.max(100),
            };
            let fused_exp = Experiment {
                run_path: exp.run_path.with_extension("fused.trec"),
                tag: format!("{}+bm25", exp.tag),
                ..exp.clone()
            };
            let (r, e) =
                retrieve_and_evaluate(&fused_exp, &fusion, &judged, &params, job.batch_size)?;
            let report = FusedReport {
                method: serde_json::to_value(fuse.method)?,
                genret_weight: fuse.genret_weight,
                bm25_weight: fuse.bm25_weight,
                run: fused_exp.run_path.clone(),
                metrics: e.mean.clone(),
                timings: Timings {
                    bm25_build_s: Some(build.as_secs_f64()),
                    search_wall_s: Some(r.wall.as_secs_f64()),
                    ..Default::default()
                }
                .with_query_latency(&r.query_latency),
            };
            (Some(report), Some(e))
        }
        _ => (None, None),
    };

    let seen_unseen = SeenUnseen::evaluate(
        &judged.qrels,
        &retrieval.run,
        &evaluation,
        &origins,
        &exp.metrics,
    )?;
    let (by_query, by_judgement) = match &seen_unseen {
        Some(s) => {
            let (q, j) = s.records();
            (Some(q), Some(j))
        }
        None => (None, None),
    };
    let index_bytes_beyond_weights = baselines::dir_bytes(&job.index)?.saturating_sub(
        std::fs::metadata(job.index.join(genret_index::WEIGHTS_FILE)).map_or(0, |m| m.len()),
    );
    let report = RetrievalReport {
        system: System::Genret {
            index: job.index.clone(),
            model,
            num_docids,
            search: GenretSearch {
                beam,
                depth: job.depth,
                batch_size: job.batch_size,
                device,
                scoring: serde_json::to_value(scoring)?,
                scoring_name: scoring.describe(),
                exact: job.exact,
            },
        },
        dataset: exp.dataset.name.clone(),
        split: exp.split.clone(),
        num_docs,
        num_queries: judged.queries.len(),
        metrics: evaluation.mean.clone(),
        evaluation: counts(&evaluation),
        timings: Timings {
            search_wall_s: Some(retrieval.wall.as_secs_f64()),
            ..Default::default()
        }
        .with_query_latency(&retrieval.query_latency)
        .with_batch_latency(&retrieval.batch_latency),
        run: exp.run_path.clone(),
        index_bytes: None,
        // Everything in the index folder except the network's weights: the document store,
        // configuration and tokenizer.
        index_bytes_beyond_weights: Some(index_bytes_beyond_weights),
        fused: fused_report,
        seen_unseen: by_query,
        seen_unseen_judgements: by_judgement,
    };
    let report_path = write_report(exp, &report)?;
    Ok(Outcome {
        evaluation,
        report,
        report_path,
        seen_unseen,
        fused: fused_eval,
    })
}

/// The path of a report relative to `base` when it lies below it (for summaries that move with
/// their folder).
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_go_next_to_the_run_unless_named() {
        let dir = std::env::temp_dir().join(format!("genret-exp-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("qrels")).unwrap();
        std::fs::write(dir.join("corpus.jsonl"), "").unwrap();
        std::fs::write(dir.join("queries.jsonl"), "").unwrap();
        let mut exp = Experiment {
            dataset: Dataset::from_dir(&dir).unwrap(),
            split: "test".into(),
            strict: false,
            metrics: Vec::new(),
            run_path: "a/run.trec".into(),
            tag: "t".into(),
            report_path: None,
        };
        assert_eq!(exp.report_path(), Path::new("a/run.metrics.json"));
        exp.report_path = Some("m.json".into());
        assert_eq!(exp.report_path(), Path::new("m.json"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn switching_away_from_encoder_states_drops_the_index_candidate_depth() {
        let index_default = Scoring {
            states: Some(StateKind::Encoder),
            candidate_depth: Some(2),
            beam: Some(300),
            ..Scoring::codes_only()
        };
        let choice = |states, depth| ScoringChoice {
            states: Some(states),
            candidate_depth: depth,
            ..Default::default()
        };
        let depth = |c: ScoringChoice| c.resolve(index_default).candidate_depth;
        assert_eq!(depth(choice(Some(StateKind::Decoder), None)), None);
        assert_eq!(depth(choice(None, None)), None);
        assert_eq!(depth(choice(Some(StateKind::Encoder), None)), Some(2));
        assert_eq!(depth(choice(Some(StateKind::Encoder), Some(1))), Some(1));
        assert_eq!(
            ScoringChoice::default().resolve(index_default),
            index_default
        );
    }

    #[test]
    fn a_residual_index_switched_to_decoder_states_scores_codes_by_the_decoder() {
        let residual = crate::training::default_scoring(true);
        assert_eq!(residual.code, CodeScore::Residual);
        let decoder = ScoringChoice {
            states: Some(Some(StateKind::Decoder)),
            ..Default::default()
        };
        assert_eq!(decoder.resolve(residual).code, CodeScore::LogProb);
        let asked = ScoringChoice {
            code: Some(CodeScore::Logit),
            ..decoder
        };
        assert_eq!(asked.resolve(residual).code, CodeScore::Logit);
        // Codes only keeps the index's residual code scores.
        let codes = ScoringChoice {
            states: Some(None),
            ..Default::default()
        };
        assert_eq!(codes.resolve(residual).code, CodeScore::Residual);
    }
}
