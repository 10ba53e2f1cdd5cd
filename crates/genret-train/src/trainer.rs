//! Progressive training (specification, "Progressive training").
//!
//! A run is a fixed plan of units: for each docid step T, warm-up epochs, codebook
//! initialisation by balanced k-means, main epochs, and the greedy assignment of every
//! document's code `z_T`; then collision handling and final fine-tuning epochs. The trainer
//! checkpoints after every unit (weights, optimizer state, codes so far) with an atomic directory
//! swap, and seeds every unit from the run seed and the unit's index, so a run killed at any
//! point and resumed ends with exactly the docids of an uninterrupted run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use genret_cluster::{BalancedKMeans, DocidHealth, SinkhornOptions};
use genret_data::{Corpus, Qrels, Queries};
use genret_docids::{Assignment, SchemeKind, SchemeState};
use genret_model::checkpoint::Checkpoint;
use genret_model::embed::l2_normalize;
use genret_model::genret::{BackboneConfig, GenRet, HeadsConfig, RECONSTRUCTION};
use genret_model::losses::{self, LossTerms};
use genret_model::tokenize::TextTokenizer;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::codebook;
use crate::config::{CollisionPolicy, TrainConfig, TrainMode};
use crate::manifest::{self, Manifest};
use crate::memory::{cache_path, StateCache, TextStates};
use crate::optim::AdamW;
use crate::progress;
use crate::signal::{SignalStats, TrainingSignal};
use genret_records::{LossTerms as LoggedTerms, TrainEvent};

/// One resumable piece of the training plan. `step` is 0-based (docid position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "unit", rename_all = "kebab-case")]
pub enum Unit {
    /// Encoder adaptation (before any docid): the top encoder layers fine-tuned as a dense
    /// retriever on the judged pairs (see `AdaptSection`).
    Adapt {
        epoch: usize,
    },
    Warmup {
        step: usize,
        epoch: usize,
    },
    InitCodebook {
        step: usize,
    },
    Main {
        step: usize,
        epoch: usize,
    },
    Assign {
        step: usize,
    },
    Collisions,
    Final {
        epoch: usize,
    },
    /// Joint training (ablation): every codebook initialised at once...
    InitAll,
    /// ...then epochs with all losses at every step, targets balanced step by step...
    Joint {
        epoch: usize,
    },
    /// ...then every document's codes assigned.
    AssignAll,
    /// Rule-based docids: retriever training on the fixed docids.
    Fixed {
        epoch: usize,
    },
}

/// The plan a configuration implies.
pub fn plan(cfg: &TrainConfig) -> Vec<Unit> {
    let mut units: Vec<Unit> = (0..cfg.adapt.epochs)
        .map(|epoch| Unit::Adapt { epoch })
        .collect();
    if cfg.fixed_docids() {
        units.extend((0..cfg.schedule.fixed_epochs).map(|epoch| Unit::Fixed { epoch }));
        return units;
    }
    if !cfg.schedule.progressive {
        units.extend((0..cfg.schedule.warmup_epochs).map(|epoch| Unit::Warmup { step: 0, epoch }));
        units.push(Unit::InitAll);
        units.extend((0..cfg.schedule.joint_epochs).map(|epoch| Unit::Joint { epoch }));
        units.push(Unit::AssignAll);
        units.push(Unit::Collisions);
        units.extend((0..cfg.schedule.final_epochs).map(|epoch| Unit::Final { epoch }));
        return units;
    }
    for step in 0..cfg.docids.steps {
        units.extend((0..cfg.schedule.warmup_epochs).map(|epoch| Unit::Warmup { step, epoch }));
        units.push(Unit::InitCodebook { step });
        units.extend((0..cfg.schedule.main_epochs).map(|epoch| Unit::Main { step, epoch }));
        units.push(Unit::Assign { step });
    }
    units.push(Unit::Collisions);
    units.extend((0..cfg.schedule.final_epochs).map(|epoch| Unit::Final { epoch }));
    units
}

/// What a checkpoint remembers besides weights and optimizer moments.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    next_unit: usize,
    /// Codes assigned so far, per training document (index into `train_docs`).
    codes: Vec<Vec<u32>>,
    health: Vec<DocidHealth>,
    elapsed_secs: f64,
    batches: u64,
}

/// The data a run trains on.
pub struct TrainInputs<'a> {
    pub dataset: String,
    pub corpus: &'a Corpus,
    /// Judged training queries, when the dataset has a training split.
    pub train_qrels: Option<(&'a Qrels, &'a Queries)>,
    /// Files whose bytes identify the data (hashed into the manifest).
    pub data_files: Vec<PathBuf>,
}

/// A finished training run.
pub struct TrainOutput {
    pub vs: nn::VarStore,
    pub model: GenRet,
    pub checkpoint: Checkpoint,
    pub config: TrainConfig,
    /// Corpus positions of the documents trained on, and their final docids.
    pub train_docs: Vec<usize>,
    pub codes: Vec<Vec<u32>>,
    /// Corpus positions held out of training (to be added as new documents).
    pub held_out: Vec<usize>,
    pub health: DocidHealth,
    pub signal: SignalStats,
    pub wall_secs: f64,
    /// Rule-based docids: the scheme's state (how new documents get docids).
    pub scheme: Option<SchemeState>,
    /// Each training document's states for the index (see `genret_index::states`): the
    /// decoder state at [`TrainOutput::state_position`] given its docid, and the mean-pooled
    /// encoder output; `[N, D]` each, on the CPU.
    pub doc_states: (Tensor, Tensor),
    /// The decoder position of `doc_states.0`.
    pub state_position: usize,
}

/// Files inside a run directory.
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint")
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    pub fn manifest(&self) -> PathBuf {
        self.root.join("manifest.json")
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn docids(&self) -> PathBuf {
        self.root.join("docids.tsv")
    }
    pub fn index(&self) -> PathBuf {
        self.root.join("index")
    }

    /// Deletes what a training run writes into its folder (see [`RUN_FILES`]), saying what it
    /// deletes; anything else in the folder stays.
    pub fn clear(&self) -> Result<()> {
        let present: Vec<PathBuf> = RUN_FILES
            .iter()
            .map(|f| self.root.join(f))
            .filter(|p| p.exists())
            .collect();
        if present.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            "--restart: deleting {}",
            present
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for p in present {
            let done = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            done.with_context(|| format!("--restart: deleting {}", p.display()))?;
        }
        Ok(())
    }
}

/// What a training run writes into its folder (all that `--restart` deletes).
pub const RUN_FILES: [&str; 8] = [
    "checkpoint",
    "checkpoint.old",
    "checkpoint.tmp",
    "metrics.jsonl",
    "manifest.json",
    "config.toml",
    "docids.tsv",
    "index",
];

/// Deterministic seed of a unit: the run seed mixed with the unit's position in the plan.
fn unit_seed(seed: u64, unit: usize) -> u64 {
    let mut z = seed ^ (unit as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Trainer<'a> {
    cfg: TrainConfig,
    run: RunDir,
    model: GenRet,
    vs: nn::VarStore,
    optimizer: AdamW,
    docs: TextStates,
    queries: TextStates,
    /// Corpus positions of the training documents.
    train_docs: Vec<usize>,
    /// Query indices (into the query text table) of each training document.
    doc_queries: Vec<Vec<usize>>,
    /// Encoder adaptation's (training document, query) pairs.
    specific_pairs: Vec<(usize, usize)>,
    state: RunState,
    metrics: std::fs::File,
    started: Instant,
    encoder_layers: Option<usize>,
    _corpus: &'a Corpus,
}

/// How to run (not part of the configuration: none of it changes the result).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Continue from the run directory's checkpoint.
    pub resume: bool,
    /// Delete the run directory's own files (see [`RUN_FILES`]) and start over.
    pub restart: bool,
    pub device: Device,
    /// Stop (with an error) after this many units of the plan, as a kill would; for tests.
    pub stop_after_units: Option<usize>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            resume: false,
            restart: false,
            device: Device::Cpu,
            stop_after_units: None,
        }
    }
}

/// Trains GenRet on `inputs` into `run_dir`: checks everything that can be checked before
/// writing anything, builds the model and its inputs, runs (or resumes) the plan, and returns
/// what an index needs.
pub fn train(
    run_dir: &Path,
    cfg: TrainConfig,
    inputs: &TrainInputs<'_>,
    opts: &TrainOptions,
) -> Result<TrainOutput> {
    let started = Instant::now();
    let (run, has_checkpoint) = prepare_run_dir(run_dir, opts)?;
    let mut cfg = resolve_config(cfg, inputs.corpus.len())?;
    if cfg.threads > 0 {
        tch::set_num_threads(cfg.threads as i32);
    }
    let ckpt = Checkpoint::resolve(&cfg.model.checkpoint)?;
    tracing::info!("hashing data and model");
    let data_files: Vec<&Path> = inputs.data_files.iter().map(PathBuf::as_path).collect();
    let data_hash = manifest::hash_files(&data_files)?;
    let model_hash = manifest::hash_files(&[&ckpt.weights])?;
    let data = TrainingData::select(&cfg, inputs)?;

    // Model: backbone from the checkpoint, heads with M (+1 for disambiguation) steps.
    let mut heads = heads_config(&cfg);
    tch::manual_seed(cfg.seed as i64);
    let mut vs = nn::VarStore::new(opts.device);
    let mut model = GenRet::from_checkpoint(&vs, &ckpt, &heads)?.0;
    let encoder_layers = model.backbone().encoder_layers();
    if let Some(reason) = adaptation_skipped(&cfg, &data, encoder_layers) {
        tracing::warn!(
            "encoder adaptation (adapt.epochs = {}) skipped: {reason}",
            cfg.adapt.epochs
        );
        cfg.adapt.epochs = 0;
    }
    let (docs, queries) = encoder_states(&cfg, &model, &ckpt, &model_hash, inputs.corpus, &data)?;

    // Rule-based docids: assign them now (deterministic, so a resumed run recomputes the
    // same), and size the heads by the scheme's shape instead of K and M.
    let mut scheme = None;
    if cfg.fixed_docids() {
        let ids: Vec<String> = data
            .train_docs
            .iter()
            .map(|&p| inputs.corpus.documents()[p].id.clone())
            .collect();
        let assignment = assign_scheme(&cfg, &model, &docs, &ids)?;
        cfg.docids.steps = assignment.steps;
        // Atomic docids of documents added later are codes beyond the trained ones: reserve
        // their rows now (never a training target), since the model's shape is fixed.
        let reserve = if cfg.scheme.kind == SchemeKind::Atomic {
            data.n_held
        } else {
            0
        };
        cfg.docids.codebook_size = assignment.codebook_size + reserve;
        heads = heads_config(&cfg);
        tch::manual_seed(cfg.seed as i64);
        vs = nn::VarStore::new(opts.device);
        model = GenRet::from_checkpoint(&vs, &ckpt, &heads)?.0;
        tracing::info!(
            "{} docids: {} codes per docid, {} codes per step, {} distinct of {} documents",
            cfg.scheme.kind,
            assignment.steps,
            cfg.docids.codebook_size,
            assignment.health()?.distinct_docids,
            assignment.codes.len()
        );
        scheme = Some(assignment);
    }

    // Manifest and effective configuration: the first files the run writes.
    let mut manifest = Manifest {
        genret_version: env!("CARGO_PKG_VERSION").into(),
        git_revision: manifest::GIT_REVISION.into(),
        command: std::env::args().collect(),
        started_at: genret_data::utc_now_rfc3339(),
        seed: cfg.seed,
        threads: tch::get_num_threads(),
        device: format!("{:?}", opts.device),
        dataset: inputs.dataset.clone(),
        data_hash,
        model: ckpt.spec.clone(),
        model_hash,
        config: serde_json::to_value(&cfg)?,
        result: None,
    };
    std::fs::create_dir_all(&run.root)
        .with_context(|| format!("creating {}", run.root.display()))?;
    genret_data::write_json_atomically(&run.manifest(), &manifest)?;
    genret_data::write_atomically(&run.config(), |w| w.write_all(cfg.to_toml().as_bytes()))?;

    // A new run starts its log afresh (a run that failed before its first checkpoint left
    // lines that describe nothing); a resumed one appends.
    let continuing = opts.resume && has_checkpoint;
    let metrics = OpenOptions::new()
        .create(true)
        .append(continuing)
        .write(true)
        .truncate(!continuing)
        .open(run.metrics())
        .with_context(|| format!("opening {}", run.metrics().display()))?;
    let TrainingData {
        train_docs,
        doc_queries,
        specific_pairs,
        signal,
        ..
    } = data;
    let mut trainer = Trainer {
        optimizer: AdamW::new(cfg.optim.lr, cfg.optim.weight_decay),
        cfg,
        run,
        model,
        vs,
        docs,
        queries,
        state: RunState {
            next_unit: 0,
            codes: scheme
                .as_ref()
                .map_or_else(|| vec![Vec::new(); train_docs.len()], |a| a.codes.clone()),
            health: Vec::new(),
            elapsed_secs: 0.0,
            batches: 0,
        },
        train_docs,
        doc_queries,
        specific_pairs,
        metrics,
        started,
        encoder_layers,
        _corpus: inputs.corpus,
    };
    if let Some(a) = &scheme {
        let health = a.health()?;
        trainer.report_health(&health, a.steps - 1, "scheme")?;
        trainer.state.health.push(health);
    }
    if continuing {
        trainer.load_checkpoint()?;
    }
    trainer.run_plan(opts.stop_after_units)?;

    let state_position = trainer.cfg.docids.steps.min(trainer.cfg.model_steps() - 1);
    let doc_states = trainer.doc_states(state_position)?;
    let health = trainer
        .state
        .health
        .last()
        .cloned()
        .context("training produced no docids")?;
    let wall_secs = trainer.state.elapsed_secs;
    manifest.result = Some(genret_records::TrainResult {
        health: health.clone(),
        wall_secs,
        signal: serde_json::to_value(&signal.stats)?,
    });
    genret_data::write_json_atomically(&trainer.run.manifest(), &manifest)?;
    trainer.write_docids(inputs.corpus)?;
    // Held out, and documents the signal gave no query (e.g. qrels-only training): both are
    // added to the index afterwards as unseen documents.
    let held_out: Vec<usize> = {
        let trained: HashSet<usize> = trainer.train_docs.iter().copied().collect();
        (0..inputs.corpus.len())
            .filter(|p| !trained.contains(p))
            .collect()
    };
    Ok(TrainOutput {
        vs: trainer.vs,
        model: trainer.model,
        checkpoint: ckpt,
        config: trainer.cfg,
        train_docs: trainer.train_docs,
        codes: trainer.state.codes,
        held_out,
        health,
        signal: signal.stats,
        wall_secs,
        scheme: scheme.map(|a| a.state),
        doc_states,
        state_position,
    })
}

/// The run folder, after `--restart` cleared it; whether it holds a checkpoint. A folder with
/// a run in it is refused unless the run is resumed or restarted.
fn prepare_run_dir(run_dir: &Path, opts: &TrainOptions) -> Result<(RunDir, bool)> {
    anyhow::ensure!(
        !(opts.resume && opts.restart),
        "--resume and --restart exclude each other"
    );
    let run = RunDir {
        root: run_dir.to_path_buf(),
    };
    if opts.restart {
        run.clear()?;
    }
    let has_checkpoint = run.checkpoint().exists() || run.root.join("checkpoint.old").exists();
    if has_checkpoint && !opts.resume {
        bail!(
            "{} already holds a training run; pass --resume to continue it, --restart to delete it and start over, or choose another --out",
            run.root.display()
        );
    }
    if opts.resume && !has_checkpoint {
        tracing::info!(
            "{}: no checkpoint to resume from; starting a new run",
            run.root.display()
        );
    }
    Ok((run, has_checkpoint))
}

/// The configuration with automatic sizes filled in from the corpus size (and logged).
fn resolve_config(cfg: TrainConfig, num_docs: usize) -> Result<TrainConfig> {
    let (auto_k, auto_m) = (cfg.docids.codebook_size == 0, cfg.docids.steps == 0);
    let cfg = cfg.resolve(num_docs)?;
    if (auto_k || auto_m) && !cfg.fixed_docids() {
        let note = |auto: bool, field: &str| {
            if auto {
                format!(" (docids.{field} = 0: automatic)")
            } else {
                String::new()
            }
        };
        tracing::info!(
            "docid shape from the corpus size ({num_docs} documents): K = {}{}, M = {}{}",
            cfg.docids.codebook_size,
            note(auto_k, "codebook_size"),
            cfg.docids.steps,
            note(auto_m, "steps")
        );
    }
    Ok(cfg)
}

/// The heads a configuration implies: M (+1 for disambiguation) steps of K codes.
fn heads_config(cfg: &TrainConfig) -> HeadsConfig {
    HeadsConfig {
        num_steps: cfg.model_steps() as i64,
        codebook_size: cfg.docids.codebook_size as i64,
        temperature: cfg.docids.temperature,
        decoder: cfg.decoder.clone(),
        residual: cfg.residual_decoding(),
    }
}

/// What the run trains on: the documents left after the holdout, each with its queries.
struct TrainingData {
    /// Documents held out (added to the index after training).
    n_held: usize,
    signal: TrainingSignal,
    /// Corpus positions of the training documents.
    train_docs: Vec<usize>,
    /// Distinct query texts, and each training document's queries as indices into them.
    query_texts: Vec<String>,
    doc_queries: Vec<Vec<usize>>,
    /// (training document, query) pairs of specific judged or pseudo queries (see
    /// `TrainingSignal::specific`): encoder adaptation's training data.
    specific_pairs: Vec<(usize, usize)>,
}

impl TrainingData {
    /// Holds out a seeded random fraction of the documents, builds the training signal for the
    /// rest, and refuses sizes that cannot train (fewer documents than a batch or a codebook).
    fn select(cfg: &TrainConfig, inputs: &TrainInputs<'_>) -> Result<Self> {
        let n = inputs.corpus.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x484F_4C44));
        let n_held = (cfg.holdout_docs * n as f64).round() as usize;
        let mut in_training = vec![true; n];
        for &p in &order[..n_held] {
            in_training[p] = false;
        }
        let signal = TrainingSignal::build(
            &cfg.signal,
            inputs.corpus,
            &in_training,
            inputs.train_qrels,
            cfg.seed,
        )?;
        let train_docs: Vec<usize> = (0..n)
            .filter(|&p| in_training[p] && !signal.queries[p].is_empty())
            .collect();
        anyhow::ensure!(
            train_docs.len() >= cfg.optim.batch_size,
            "only {} documents to train on, fewer than one batch (optim.batch_size = {}); lower optim.batch_size",
            train_docs.len(),
            cfg.optim.batch_size
        );
        if !cfg.fixed_docids() && cfg.clustering.balanced_init {
            anyhow::ensure!(
                train_docs.len() >= cfg.docids.codebook_size,
                "{} training documents cannot fill a codebook of {} codes; lower docids.codebook_size (0 picks one from the corpus size)",
                train_docs.len(),
                cfg.docids.codebook_size
            );
        }
        let mut query_texts: Vec<String> = Vec::new();
        let mut query_index: BTreeMap<String, usize> = BTreeMap::new();
        let doc_queries: Vec<Vec<usize>> = train_docs
            .iter()
            .map(|&p| {
                signal.queries[p]
                    .iter()
                    .map(|q| {
                        *query_index.entry(q.clone()).or_insert_with(|| {
                            query_texts.push(q.clone());
                            query_texts.len() - 1
                        })
                    })
                    .collect()
            })
            .collect();
        let specific_pairs: Vec<(usize, usize)> = train_docs
            .iter()
            .enumerate()
            .flat_map(|(i, &p)| {
                let specific = &signal.specific[p];
                doc_queries[i]
                    .iter()
                    .zip(specific)
                    .filter(|(_, &j)| j)
                    .map(move |(&q, _)| (i, q))
            })
            .collect();
        tracing::info!(
            docs = train_docs.len(),
            held_out = n_held,
            queries = query_texts.len(),
            "training signal: {} qrels, {} pseudo, {} fallback pairs",
            signal.stats.qrels_pairs,
            signal.stats.pseudo_pairs,
            signal.stats.fallback_pairs
        );
        Ok(Self {
            n_held,
            signal,
            train_docs,
            query_texts,
            doc_queries,
            specific_pairs,
        })
    }
}

/// The encoder inputs of documents and queries: tokenised live when the encoder trains, else
/// encoder states computed once and cached by model, texts and length.
fn encoder_states(
    cfg: &TrainConfig,
    model: &GenRet,
    ckpt: &Checkpoint,
    model_hash: &str,
    corpus: &Corpus,
    data: &TrainingData,
) -> Result<(TextStates, TextStates)> {
    let home = genret_data::dataset::genret_home();
    let doc_texts: Vec<String> = data
        .train_docs
        .iter()
        .map(|&p| corpus.documents()[p].full_text())
        .collect();
    let doc_tok = TextTokenizer::from_file(&ckpt.tokenizer, cfg.model.doc_max_len)?;
    let query_tok = TextTokenizer::from_file(&ckpt.tokenizer, cfg.model.query_max_len)?;
    let frozen = match cfg.model.mode {
        TrainMode::Frozen if cfg.adapt.epochs > 0 => {
            let layers = model.backbone().encoder_layers().context(
                "this backbone cannot train only its top layers, which encoder adaptation needs; set adapt.epochs = 0",
            )?;
            // A smaller encoder than the preset assumes adapts all its layers.
            Some(Some(layers.saturating_sub(cfg.adapt.layers)))
        }
        TrainMode::Frozen => Some(None),
        TrainMode::TopLayers => {
            let layers = model.backbone().encoder_layers().context(
                "this backbone cannot train only its top layers; use mode = \"frozen\" or \"full\"",
            )?;
            anyhow::ensure!(
                cfg.model.trainable_layers <= layers,
                "trainable_layers {} > encoder layers {layers}",
                cfg.model.trainable_layers
            );
            Some(Some(layers - cfg.model.trainable_layers))
        }
        TrainMode::Full => None,
    };
    let make_states = |texts: Vec<String>,
                       tok: TextTokenizer,
                       max_len: usize,
                       what: &str|
     -> Result<TextStates> {
        match frozen {
            None => Ok(TextStates::Live {
                tokenizer: Box::new(tok),
                texts,
            }),
            Some(lower) => {
                let path = cache_path(&home, model_hash, &texts, max_len, lower);
                let cache = StateCache::load_or_build(&path, || {
                    StateCache::build(
                        model,
                        &tok,
                        &texts,
                        lower,
                        cfg.model.encode_batch_size,
                        what,
                    )
                })?;
                Ok(match lower {
                    None => TextStates::Cached(cache),
                    Some(frozen) => TextStates::Lower { cache, frozen },
                })
            }
        }
    };
    let docs = make_states(doc_texts, doc_tok, cfg.model.doc_max_len, "documents")?;
    let queries = make_states(
        data.query_texts.clone(),
        query_tok,
        cfg.model.query_max_len,
        "queries",
    )?;
    Ok((docs, queries))
}

/// Docids of a rule-based scheme for the training documents; clustering schemes cluster the
/// mean-pooled, L2-normalised encoder states (what the dense baseline searches).
fn assign_scheme(
    cfg: &TrainConfig,
    model: &GenRet,
    docs: &TextStates,
    ids: &[String],
) -> Result<Assignment> {
    let embeddings = if matches!(cfg.scheme.kind, SchemeKind::HKMeans | SchemeKind::Rq) {
        let idx: Vec<usize> = (0..ids.len()).collect();
        let bar = progress::bar(ids.len() as u64, "document embeddings");
        let mut rows = Vec::new();
        for chunk in idx.chunks(cfg.model.encode_batch_size.max(1) * 2) {
            let e = tch::no_grad(|| -> Result<Tensor> {
                Ok(genret_model::embed::l2_normalize(
                    &docs.encoded(model, chunk, false)?.mean_pool(),
                ))
            })?;
            rows.push(e.to_kind(Kind::Float).to_device(Device::Cpu));
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let all = Tensor::cat(&rows, 0);
        let dim = all.size()[1] as usize;
        Some((Vec::<f32>::try_from(all.reshape([-1]))?, dim))
    } else {
        None
    };
    let t0 = Instant::now();
    let a = genret_docids::assign(
        &cfg.scheme,
        ids,
        embeddings.as_ref().map(|(e, d)| (e.as_slice(), *d)),
    )?;
    tracing::info!(
        "{} docids assigned in {:.1}s",
        cfg.scheme.kind,
        t0.elapsed().as_secs_f64()
    );
    Ok(a)
}

impl Trainer<'_> {
    fn run_plan(&mut self, stop_after: Option<usize>) -> Result<()> {
        let units = plan(&self.cfg);
        let mut done_now = 0;
        let resumed_at = self.state.elapsed_secs;
        let session = Instant::now();
        if stop_after == Some(0) {
            bail!("stopped before the first unit as asked");
        }
        while self.state.next_unit < units.len() {
            let i = self.state.next_unit;
            let unit = units[i];
            let seed = unit_seed(self.cfg.seed, i);
            tch::manual_seed(seed as i64);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let t0 = Instant::now();
            if !matches!(unit, Unit::Adapt { .. }) {
                self.freeze_adapted_states()?;
            }
            match unit {
                Unit::Adapt { epoch } => self.adapt_epoch(unit, epoch, &mut rng)?,
                Unit::Warmup { step, epoch } => self.epoch(unit, step, epoch, false, &mut rng)?,
                Unit::Main { step, epoch } => self.epoch(unit, step, epoch, true, &mut rng)?,
                Unit::InitCodebook { step } => self.init_codebook(step, seed)?,
                Unit::Assign { step } => self.assign(step)?,
                Unit::Collisions => self.resolve_collisions()?,
                Unit::Final { epoch } | Unit::Fixed { epoch } => self.epoch(
                    unit,
                    self.state.codes[0].len().saturating_sub(1),
                    epoch,
                    true,
                    &mut rng,
                )?,
                Unit::InitAll => {
                    for step in 0..self.cfg.docids.steps {
                        self.init_codebook(step, unit_seed(seed, step))?;
                        self.assign_codes(step)?;
                    }
                }
                Unit::Joint { epoch } => {
                    self.epoch(unit, self.cfg.docids.steps - 1, epoch, true, &mut rng)?
                }
                Unit::AssignAll => {
                    for step in 0..self.cfg.docids.steps {
                        self.assign(step)?;
                    }
                }
            }
            self.state.next_unit = i + 1;
            self.state.elapsed_secs = resumed_at + session.elapsed().as_secs_f64();
            let eta = run_eta(&units, i + 1, session.elapsed().as_secs_f64(), done_now + 1);
            self.log(&TrainEvent::UnitDone {
                unit: serde_json::to_value(unit)?,
                secs: t0.elapsed().as_secs_f64(),
                elapsed_s: self.state.elapsed_secs,
                run_eta_s: eta,
            })?;
            if let Some(eta) = eta.filter(|_| i + 1 < units.len()) {
                tracing::info!(
                    "run: {} of {} units done, {:.0} s so far, about {:.0} s left",
                    i + 1,
                    units.len(),
                    self.state.elapsed_secs,
                    eta
                );
            }
            self.save_checkpoint()?;
            done_now += 1;
            if stop_after == Some(done_now) && self.state.next_unit < units.len() {
                bail!("stopped after {done_now} units as asked");
            }
        }
        let _ = self.started;
        Ok(())
    }

    fn log(&mut self, event: &TrainEvent) -> Result<()> {
        let line = serde_json::to_string(event)?;
        writeln!(self.metrics, "{line}").context("writing metrics.jsonl")?;
        Ok(())
    }

    fn codes_tensor(&self, batch: &[usize], len: usize) -> Tensor {
        let flat: Vec<i64> = batch
            .iter()
            .flat_map(|&i| self.state.codes[i][..len].iter().map(|&c| i64::from(c)))
            .collect();
        Tensor::from_slice(&flat)
            .view([batch.len() as i64, len as i64])
            .to_device(self.model.device())
    }

    /// Batches of training documents for one epoch at `step`: documents sharing the prefix
    /// `z_<step` are kept together (they are each other's hard negatives and the reconstructor's
    /// candidate set), groups in random order, topped up by the next groups.
    fn epoch_batches(&self, step: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = codebook::prefix_groups(&self.state.codes, step)
            .into_values()
            .collect();
        groups.shuffle(rng);
        let mut order = Vec::with_capacity(self.state.codes.len());
        for mut g in groups {
            g.shuffle(rng);
            order.extend(g);
        }
        let b = self.cfg.optim.batch_size;
        // A last batch smaller than half the size is folded into the previous one.
        let mut batches: Vec<Vec<usize>> = order.chunks(b).map(<[usize]>::to_vec).collect();
        if batches.len() > 1 && batches.last().is_some_and(|l| l.len() < b / 2) {
            let last = batches.pop().unwrap_or_default();
            if let Some(prev) = batches.last_mut() {
                prev.extend(last);
            }
        }
        batches
    }

    /// One epoch of encoder adaptation: only the top `adapt.layers` encoder layers train, on
    /// the judged pairs, with in-batch negatives over mean-pooled, normalised states.
    fn adapt_epoch(&mut self, unit: Unit, epoch: usize, rng: &mut ChaCha8Rng) -> Result<()> {
        let a = self.cfg.adapt.clone();
        let layers = self
            .encoder_layers
            .context("encoder adaptation needs an encoder split into layers")?;
        let from = layers.saturating_sub(a.layers);
        for (name, t) in self.vs.variables() {
            let _ = t.set_requires_grad(encoder_layer_of(&name).is_some_and(|i| i >= from));
        }
        let params = self.trainable_params();
        self.optimizer.lr = a.lr;
        let mut pairs = self.specific_pairs.clone();
        pairs.shuffle(rng);
        let batches = distinct_doc_batches(&pairs, a.batch_size);
        let hard = if a.hard_negatives > 0 {
            Some(self.mine_hard_negatives(&pairs, a.hard_negatives)?)
        } else {
            None
        };
        let label = format!("adapting the encoder, epoch {}", epoch + 1);
        let bar = progress::bar(batches.len() as u64, &label);
        let mut sum = 0.0;
        for (b, batch) in batches.iter().enumerate() {
            let mut d_idx: Vec<usize> = batch.iter().map(|&(d, _)| d).collect();
            let q_idx: Vec<usize> = batch.iter().map(|&(_, q)| q).collect();
            if let Some(hard) = &hard {
                d_idx.extend(batch_negatives(batch, hard, rng));
            }
            let q = l2_normalize(&self.queries.encoded(&self.model, &q_idx, true)?.mean_pool());
            let d = l2_normalize(&self.docs.encoded(&self.model, &d_idx, true)?.mean_pool());
            let loss = losses::ranking_loss(&q, &d, a.temperature);
            let grad_norm = self.optimize(&loss, &params);
            let total = loss.double_value(&[]);
            anyhow::ensure!(
                total.is_finite(),
                "loss became {total} at {label}, batch {b}; lower adapt.lr"
            );
            sum += total;
            if (b + 1) % self.cfg.schedule.log_every == 0 || b + 1 == batches.len() {
                bar.set_message(format!("loss {total:.3}"));
                self.log(&TrainEvent::Batch {
                    unit: serde_json::to_value(unit)?,
                    batch: b + 1,
                    batches: batches.len(),
                    loss: total,
                    terms: LoggedTerms {
                        ranking: Some(total),
                        ..Default::default()
                    },
                    lr: self.optimizer.lr,
                    grad_norm,
                    elapsed_s: self.state.elapsed_secs + self.started.elapsed().as_secs_f64(),
                })?;
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let mean = sum / batches.len().max(1) as f64;
        tracing::info!("{label}: mean loss {mean:.4}");
        self.log(&TrainEvent::Epoch {
            unit: serde_json::to_value(unit)?,
            mean_loss: mean,
            mean_ranking: mean,
            mean_generation: 0.0,
            mean_prefix: 0.0,
            mean_reconstruction: 0.0,
            mean_distill: 0.0,
        })?;
        Ok(())
    }

    /// Each adaptation query's `n` nearest training documents (pooled, normalised states of the
    /// encoder as it is now) that are not among its own documents, best first.
    fn mine_hard_negatives(
        &self,
        pairs: &[(usize, usize)],
        n: usize,
    ) -> Result<HashMap<usize, Vec<usize>>> {
        let mut own: HashMap<usize, HashSet<usize>> = HashMap::new();
        for (d, qs) in self.doc_queries.iter().enumerate() {
            for &q in qs {
                own.entry(q).or_default().insert(d);
            }
        }
        let mut queries: Vec<usize> = pairs.iter().map(|&(_, q)| q).collect();
        queries.sort_unstable();
        queries.dedup();
        let batch = self.cfg.model.encode_batch_size.max(1);
        let pooled = |states: &TextStates, idx: &[usize]| -> Result<Tensor> {
            let mut rows = Vec::new();
            for chunk in idx.chunks(batch) {
                rows.push(tch::no_grad(|| -> Result<Tensor> {
                    Ok(l2_normalize(
                        &states.encoded(&self.model, chunk, false)?.mean_pool(),
                    ))
                })?);
            }
            Ok(Tensor::cat(&rows, 0).to_kind(Kind::Float))
        };
        let t0 = Instant::now();
        let all_docs: Vec<usize> = (0..self.doc_queries.len()).collect();
        let d = pooled(&self.docs, &all_docs)?;
        let q = pooled(&self.queries, &queries)?;
        let out = nearest_foreign(&q, &d, &queries, &own, n)?;
        tracing::info!(
            "mined {n} hard negatives for each of {} queries in {:.1}s",
            out.len(),
            t0.elapsed().as_secs_f64()
        );
        Ok(out)
    }

    /// One optimiser step on `loss`: gradients, clipping to `optim.grad_clip`, and the update
    /// (skipped, with a warning, when the gradient is not finite). Returns the gradient norm.
    fn optimize(&mut self, loss: &Tensor, params: &[(String, Tensor)]) -> f64 {
        loss.backward();
        let grad_norm = AdamW::clip_grad_norm(params, self.cfg.optim.grad_clip);
        if grad_norm.is_finite() {
            self.optimizer.step(params);
        } else {
            AdamW::zero_grad(params);
            tracing::warn!("skipped a batch with a non-finite gradient");
        }
        self.state.batches += 1;
        grad_norm
    }

    /// After encoder adaptation (or when a run resumes past it): the adapted layers stop
    /// training, so the cached lower states are run through them once and later epochs read
    /// final states again, as with a frozen encoder. A no-op otherwise.
    fn freeze_adapted_states(&mut self) -> Result<()> {
        if self.cfg.adapt.epochs == 0 {
            return Ok(());
        }
        let batch = self.cfg.model.encode_batch_size;
        for (states, what) in [
            (&mut self.docs, "documents"),
            (&mut self.queries, "queries"),
        ] {
            if let TextStates::Lower { cache, frozen } = states {
                let upper = cache.through_upper(&self.model, *frozen, batch, what)?;
                *states = TextStates::Cached(upper);
            }
        }
        Ok(())
    }

    fn set_trainable(&self, codebook: &dyn Fn(usize) -> bool) {
        let mode = self.cfg.model.mode;
        let top_from = match (mode, self.encoder_layers) {
            (TrainMode::TopLayers, Some(l)) => l - self.cfg.model.trainable_layers,
            _ => usize::MAX,
        };
        for (name, t) in self.vs.variables() {
            let trainable = if let Some(rest) = name.strip_prefix("genret.codebook.") {
                rest.parse::<usize>().is_ok_and(codebook)
            } else if name
                .strip_prefix("genret.")
                .is_some_and(|rest| rest.starts_with(RECONSTRUCTION))
            {
                // Fitted by the clustering, not by gradients.
                false
            } else if name.starts_with("genret.") || name.starts_with("backbone.decoder.") {
                true
            } else {
                match mode {
                    TrainMode::Full => true,
                    TrainMode::Frozen => false,
                    TrainMode::TopLayers => encoder_layer_of(&name).is_some_and(|i| i >= top_from),
                }
            };
            let _ = t.set_requires_grad(trainable);
        }
    }

    fn trainable_params(&self) -> Vec<(String, Tensor)> {
        self.vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect()
    }

    /// One epoch at `step`. Warm-up (`main = false`): ranking + prefix losses. Main: all.
    /// Final units fine-tune on the full docids (`step` = last position).
    fn epoch(
        &mut self,
        unit: Unit,
        step: usize,
        epoch: usize,
        main: bool,
        rng: &mut ChaCha8Rng,
    ) -> Result<()> {
        let is_final = matches!(unit, Unit::Final { .. } | Unit::Fixed { .. });
        let joint = matches!(unit, Unit::Joint { .. });
        self.optimizer.lr = self.cfg.optim.lr;
        // Codebooks of earlier steps stay frozen; in the final phase only a disambiguation
        // codebook (if any) still learns. Fixed docids: every codebook is an output layer to
        // learn; joint training: every step's codebook learns at once.
        let disambiguation = self.cfg.collisions == CollisionPolicy::Disambiguate;
        let m = self.cfg.docids.steps;
        let codebooks: Box<dyn Fn(usize) -> bool> = match unit {
            Unit::Fixed { .. } => Box::new(|_| true),
            Unit::Joint { .. } => Box::new(move |c| c < m),
            Unit::Final { .. } => Box::new(move |c| disambiguation && c == m),
            _ => Box::new(move |c| main && c == step),
        };
        self.set_trainable(&*codebooks);
        let params = self.trainable_params();
        let batches = self.epoch_batches(if is_final || joint { 0 } else { step }, rng);
        let label = match unit {
            Unit::Warmup { .. } => format!("step {} warm-up {}", step + 1, epoch + 1),
            Unit::Main { .. } => format!("step {} epoch {}", step + 1, epoch + 1),
            Unit::Joint { .. } => format!("joint epoch {}", epoch + 1),
            Unit::Fixed { .. } => format!("{} docids epoch {}", self.cfg.scheme.kind, epoch + 1),
            _ => format!("final epoch {}", epoch + 1),
        };
        let bar = progress::bar(batches.len() as u64, &label);
        let mut sums = [0f64; 6];
        for (b, batch) in batches.iter().enumerate() {
            let q_idx: Vec<usize> = batch
                .iter()
                .map(|&i| self.doc_queries[i][rng.gen_range(0..self.doc_queries[i].len())])
                .collect();
            let terms = if joint {
                self.joint_batch_loss(batch, &q_idx)?
            } else {
                self.batch_loss(batch, &q_idx, step, main, is_final)?
            };
            let grad_norm = self.optimize(&terms.total, &params);
            let total = terms.total.double_value(&[]);
            anyhow::ensure!(
                total.is_finite(),
                "loss became {total} at {label}, batch {b}; lower optim.lr or check the data"
            );
            for (s, v) in sums.iter_mut().zip([
                total,
                terms.ranking,
                terms.generation,
                terms.prefix,
                terms.reconstruction,
                terms.distill,
            ]) {
                if v.is_finite() {
                    *s += v;
                }
            }
            if (b + 1) % self.cfg.schedule.log_every == 0 || b + 1 == batches.len() {
                bar.set_message(format!("loss {total:.3}"));
                let line = TrainEvent::Batch {
                    unit: serde_json::to_value(unit)?,
                    batch: b + 1,
                    batches: batches.len(),
                    loss: total,
                    terms: LoggedTerms {
                        ranking: finite(terms.ranking),
                        generation: finite(terms.generation),
                        prefix: finite(terms.prefix),
                        reconstruction: finite(terms.reconstruction),
                        distill: finite(terms.distill),
                    },
                    lr: self.optimizer.lr,
                    grad_norm,
                    elapsed_s: self.state.elapsed_secs + self.started.elapsed().as_secs_f64(),
                };
                self.log(&line)?;
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let nb = batches.len().max(1) as f64;
        tracing::info!("{label}: mean loss {:.4}", sums[0] / nb);
        self.log(&TrainEvent::Epoch {
            unit: serde_json::to_value(unit)?,
            mean_loss: sums[0] / nb,
            mean_ranking: sums[1] / nb,
            mean_generation: sums[2] / nb,
            mean_prefix: sums[3] / nb,
            mean_reconstruction: sums[4] / nb,
            mean_distill: sums[5] / nb,
        })?;
        Ok(())
    }

    fn batch_loss(
        &self,
        batch: &[usize],
        q_idx: &[usize],
        step: usize,
        main: bool,
        is_final: bool,
    ) -> Result<LossTerms> {
        let pos: Vec<usize> = batch.to_vec();
        let d_enc = self.docs.encoded(&self.model, &pos, true)?;
        let q_enc = self.queries.encoded(&self.model, q_idx, true)?;
        let temp = self.model.heads.temperature;
        // Teacher forcing on the document's fixed codes before `step`.
        let prefix = self.codes_tensor(batch, step);
        let dd = self.model.decode_states(&d_enc, &prefix, true);
        let dq = self.model.decode_states(&q_enc, &prefix, true);
        let (d_t, q_t) = (dd.select(1, step as i64), dq.select(1, step as i64));
        let ranking = losses::ranking_loss(&q_t, &d_t, temp * self.cfg.docids.ranking_temperature);
        let w = &self.cfg.losses;
        let distill = (w.distill > 0.0).then(|| {
            losses::distill_loss(
                &q_t,
                &d_t,
                &q_enc.mean_pool(),
                &d_enc.mean_pool(),
                w.distill_temperature,
            )
        });
        let prefix_loss = (step > 0).then(|| {
            let terms: Vec<Tensor> = (0..step)
                .map(|s| {
                    let target = prefix.select(1, s as i64);
                    losses::generation_loss(
                        &self.model.step_logits(s, &dq.select(1, s as i64)),
                        &target,
                    ) + losses::generation_loss(
                        &self.model.step_logits(s, &dd.select(1, s as i64)),
                        &target,
                    )
                })
                .collect();
            Tensor::stack(&terms, 0).mean(Kind::Float)
        });
        if !main {
            return Ok(
                losses::combine(&self.cfg.losses, Some(ranking), None, prefix_loss, None)
                    .with_distill(distill, self.cfg.losses.distill),
            );
        }
        let logits_d = self.model.step_logits(step, &d_t);
        let logits_q = self.model.step_logits(step, &q_t);
        let targets = if is_final {
            self.codes_tensor(batch, step + 1).select(1, step as i64)
        } else {
            self.balanced_targets(&logits_d)?
        };
        let generation = losses::generation_loss(&logits_q, &targets)
            + losses::generation_loss(&logits_d, &targets);
        let reconstruction = (!is_final).then(|| {
            losses::reconstruction_loss(&self.model.codebooks[step], &targets, &d_t, temp)
        });
        Ok(losses::combine(
            &self.cfg.losses,
            Some(ranking),
            Some(generation),
            prefix_loss,
            reconstruction,
        )
        .with_distill(distill, self.cfg.losses.distill))
    }

    /// Joint training (ablation of progressive training): all M steps at once. Step t's
    /// prefix is the batch's own balanced targets of steps before t (nothing is fixed yet), and
    /// every step adds its ranking, generation and reconstruction losses.
    fn joint_batch_loss(&self, batch: &[usize], q_idx: &[usize]) -> Result<LossTerms> {
        let d_enc = self.docs.encoded(&self.model, batch, true)?;
        let q_enc = self.queries.encoded(&self.model, q_idx, true)?;
        let temp = self.model.heads.temperature;
        let device = self.model.device();
        let mut prefix = Tensor::zeros([batch.len() as i64, 0], (Kind::Int64, device));
        let (mut ranking, mut generation, mut reconstruction) =
            (Vec::new(), Vec::new(), Vec::new());
        for step in 0..self.cfg.docids.steps {
            let d_t = self
                .model
                .decode_states(&d_enc, &prefix, true)
                .select(1, step as i64);
            let q_t = self
                .model
                .decode_states(&q_enc, &prefix, true)
                .select(1, step as i64);
            ranking.push(losses::ranking_loss(
                &q_t,
                &d_t,
                temp * self.cfg.docids.ranking_temperature,
            ));
            let logits_d = self.model.step_logits(step, &d_t);
            let targets = self.balanced_targets(&logits_d)?;
            generation.push(
                losses::generation_loss(&self.model.step_logits(step, &q_t), &targets)
                    + losses::generation_loss(&logits_d, &targets),
            );
            reconstruction.push(losses::reconstruction_loss(
                &self.model.codebooks[step],
                &targets,
                &d_t,
                temp,
            ));
            prefix = Tensor::cat(&[prefix, targets.unsqueeze(1)], 1);
        }
        let mean = |v: Vec<Tensor>| Tensor::stack(&v, 0).mean(Kind::Float);
        Ok(losses::combine(
            &self.cfg.losses,
            Some(mean(ranking)),
            Some(mean(generation)),
            None,
            Some(mean(reconstruction)),
        ))
    }

    /// Step-T targets: argmax of the Sinkhorn-balanced plan over the batch's scores (or, in
    /// ablations, the plain argmax or the authors' one-sided variant).
    fn balanced_targets(&self, logits: &Tensor) -> Result<Tensor> {
        let (b, k) = logits.size2()?;
        let device = logits.device();
        let scores: Vec<f64> = Vec::try_from(
            logits
                .detach()
                .to_kind(Kind::Double)
                .to_device(Device::Cpu)
                .view([-1]),
        )?;
        let s = &self.cfg.sinkhorn;
        let assign: Vec<usize> = if !s.enabled {
            scores.chunks(k as usize).map(argmax).collect()
        } else {
            let opts = SinkhornOptions {
                epsilon: s.epsilon,
                rescale: s.rescale,
                tol: s.tol,
                max_iters: s.max_iters,
            };
            let result = if s.one_sided {
                genret_cluster::sinkhorn::one_sided_authors_variant(
                    &scores, b as usize, k as usize, &opts,
                )?
            } else {
                genret_cluster::sinkhorn(&scores, b as usize, k as usize, &opts)?
            };
            result.assignments()
        };
        let v: Vec<i64> = assign.into_iter().map(|a| a as i64).collect();
        Ok(Tensor::from_slice(&v).to_device(device))
    }

    /// Decoder states `d_{step+1}` of every training document (no dropout, no gradients),
    /// given their fixed codes before `step`: `[N, D]` on the CPU.
    fn all_doc_states(&self, step: usize, what: &str) -> Result<Tensor> {
        let n = self.train_docs.len();
        let bar = progress::bar(n as u64, what);
        let mut out = Vec::new();
        let idx: Vec<usize> = (0..n).collect();
        for chunk in idx.chunks(self.cfg.model.encode_batch_size.max(1) * 2) {
            let enc = self.docs.encoded(&self.model, chunk, false)?;
            let prefix = self.codes_tensor(chunk, step);
            let d = tch::no_grad(|| {
                self.model
                    .decode_states(&enc, &prefix, false)
                    .select(1, step as i64)
            });
            out.push(d.to_device(Device::Cpu));
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok(Tensor::cat(&out, 0))
    }

    /// Every training document's decoder state at `position` (given its first `position`
    /// codes) and mean-pooled encoder output, `[N, D]` each on the CPU.
    fn doc_states(&self, position: usize) -> Result<(Tensor, Tensor)> {
        let n = self.train_docs.len();
        let bar = progress::bar(n as u64, "document states");
        let (mut dec, mut enc) = (Vec::new(), Vec::new());
        let idx: Vec<usize> = (0..n).collect();
        for chunk in idx.chunks(self.cfg.model.encode_batch_size.max(1) * 2) {
            let encoded = self.docs.encoded(&self.model, chunk, false)?;
            let prefix = self.codes_tensor(chunk, position);
            let d = tch::no_grad(|| {
                self.model
                    .decode_states(&encoded, &prefix, false)
                    .select(1, position as i64)
            });
            dec.push(d.to_device(Device::Cpu));
            enc.push(tch::no_grad(|| encoded.mean_pool()).to_device(Device::Cpu));
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok((Tensor::cat(&dec, 0), Tensor::cat(&enc, 0)))
    }

    /// Diverse clustering, part 1: balanced k-means on prefix-mean-removed `d_T`. With residual
    /// decoding the states are already what the prefix leaves (no prefix means are removed), and
    /// the raw centroids become the step's reconstruction rows.
    fn init_codebook(&mut self, step: usize, seed: u64) -> Result<()> {
        if !self.cfg.clustering.balanced_init {
            tracing::info!("step {}: codebook left random (ablation)", step + 1);
            return Ok(());
        }
        let states = self
            .all_doc_states(step, &format!("step {} states", step + 1))?
            .to_kind(Kind::Double);
        let (n, dim) = states.size2()?;
        let global = states.mean_dim([0i64].as_slice(), true, Kind::Double);
        let groups = codebook::prefix_groups(&self.state.codes, step);
        let mut x = states.shallow_clone();
        let residual = !self.model.reconstruction.is_empty();
        if self.cfg.clustering.remove_prefix_mean && step > 0 && !residual {
            // Subtract each prefix group's mean and add the global mean back, so step T does not
            // re-learn what the prefix already says.
            let mut adjusted = states.copy();
            for rows in groups.values() {
                let idx = codebook::row_index(rows);
                let g = states.index_select(0, &idx);
                let centred = &g - g.mean_dim([0i64].as_slice(), true, Kind::Double) + &global;
                let _ = adjusted.index_copy_(0, &idx, &centred);
            }
            x = adjusted;
        }
        let data: Vec<f64> = Vec::try_from(x.view([-1]))?;
        let k = self.cfg.docids.codebook_size;
        anyhow::ensure!(n as usize >= k, "{n} training documents cannot fill a codebook of {k} codes; lower docids.codebook_size");
        let t0 = Instant::now();
        let km = BalancedKMeans {
            max_iters: self.cfg.clustering.kmeans_iters,
            seed,
            ..BalancedKMeans::new(k)
        };
        let result = km.fit(&data, n as usize, dim as usize)?;
        let mut centroids = Tensor::from_slice(&result.centroids).view([k as i64, dim]);
        if let Some(rows) = self.model.reconstruction.get(step) {
            let fitted = centroids
                .to_kind(Kind::Float)
                .to_device(self.model.device());
            tch::no_grad(|| rows.shallow_clone().copy_(&fitted));
        }
        if self.cfg.clustering.center_codebook {
            // See the `codebook` module: shared mean directions make the argmax ignore the
            // clusters.
            let means = if self.cfg.clustering.project_prefix_means {
                codebook::group_means(&states, &groups)
            } else {
                global
            };
            centroids = codebook::remove_directions(&centroids, &means);
        }
        if self.cfg.clustering.equal_norm_rows {
            centroids = codebook::equalize_norms(&centroids);
        }
        let agreement = {
            let argmax = states.matmul(&centroids.tr()).argmax(-1, false);
            let clusters = Tensor::from_slice(
                &result
                    .assignment
                    .iter()
                    .map(|&a| a as i64)
                    .collect::<Vec<_>>(),
            );
            argmax
                .eq_tensor(&clusters)
                .to_kind(Kind::Double)
                .mean(Kind::Double)
                .double_value(&[])
        };
        let centroids = centroids
            .to_kind(Kind::Float)
            .to_device(self.model.device());
        tch::no_grad(|| self.model.codebooks[step].copy_(&centroids));
        tracing::info!(
            "step {}: balanced k-means (K={k}) in {:.1}s, inertia {:.3}; dot-product argmax agrees with the clusters for {:.1}% of documents",
            step + 1,
            t0.elapsed().as_secs_f64(),
            result.inertia,
            100.0 * agreement
        );
        self.log(&TrainEvent::CodebookInit {
            step: step + 1,
            k,
            inertia: result.inertia,
            iterations: result.iterations,
            argmax_agreement: agreement,
            secs: t0.elapsed().as_secs_f64(),
        })?;
        Ok(())
    }

    /// Greedy `z_T` for every training document given its fixed prefix; then docid health.
    fn assign(&mut self, step: usize) -> Result<()> {
        self.assign_codes(step)?;
        let health = DocidHealth::compute(&self.state.codes, self.cfg.docids.codebook_size)?;
        self.report_health(&health, step, "assigned")?;
        let used = health.steps[step].codes_used;
        let k = self.cfg.docids.codebook_size;
        if (used as f64) < self.cfg.health.collapse_fraction * k as f64 {
            let msg = format!(
                "docid collapse at step {}: only {used} of {k} codes used (diversity {:.3}). \
                 Check that Sinkhorn re-assignment and balanced codebook initialisation are on, \
                 lower optim.lr, or raise schedule.main_epochs. Training goes on unless health.allow_collapse = false \
                 (collisions are disambiguated, and documents that still share a docid are ordered by their states)",
                step + 1,
                health.steps[step].diversity
            );
            if !self.cfg.health.allow_collapse {
                bail!(msg);
            }
            tracing::warn!("{msg}");
        }
        self.state.health.push(health);
        Ok(())
    }

    /// Sets every document's code `z_T` to the greedy choice given its prefix.
    fn assign_codes(&mut self, step: usize) -> Result<()> {
        let states = self.all_doc_states(step, &format!("step {} assign", step + 1))?;
        let codes = tch::no_grad(|| {
            self.model
                .step_logits(step, &states.to_device(self.model.device()))
                .argmax(-1, false)
        });
        let codes: Vec<i64> = Vec::try_from(codes.to_device(Device::Cpu))?;
        for (doc, &z) in self.state.codes.iter_mut().zip(&codes) {
            doc.truncate(step);
            doc.push(z as u32);
        }
        Ok(())
    }

    /// Logs docid health; `stage` says which docids: `assigned` (after a step), `reassigned`
    /// (by the final tokenizer), `disambiguated` (final), or `scheme` (rule-based).
    fn report_health(&mut self, h: &DocidHealth, step: usize, stage: &str) -> Result<()> {
        let s = &h.steps[step.min(h.steps.len() - 1)];
        tracing::info!(
            "docids after step {}: diversity {:.3}, {} codes used, {} distinct docids of {} documents, largest collision group {}",
            step + 1,
            s.diversity,
            s.codes_used,
            h.distinct_docids,
            h.n_docs,
            h.largest_collision_group
        );
        self.log(&TrainEvent::Health {
            after_step: step + 1,
            stage: stage.to_string(),
            health: h.clone(),
        })
    }

    /// After the last step: report collisions and apply the configured policy.
    fn resolve_collisions(&mut self) -> Result<()> {
        let m = self.cfg.docids.steps;
        for c in &mut self.state.codes {
            c.truncate(m);
        }
        if self.cfg.docids.reassign_at_end {
            let before = self.state.codes.clone();
            for step in 0..m {
                self.assign_codes(step)?;
            }
            let kept = |l: usize| {
                before
                    .iter()
                    .zip(&self.state.codes)
                    .filter(|(a, b)| a[..l] == b[..l])
                    .count() as f64
                    / before.len().max(1) as f64
            };
            let kept: Vec<f64> = (1..=m).map(kept).collect();
            tracing::info!("docids re-assigned by the final tokenizer; share of documents keeping their first 1..M codes: {kept:.3?}");
            self.log(&TrainEvent::Reassigned {
                kept_prefix_share: kept,
            })?;
            let health = DocidHealth::compute(&self.state.codes, self.cfg.docids.codebook_size)?;
            self.report_health(&health, m - 1, "reassigned")?;
            let k = self.cfg.docids.codebook_size;
            let stepwise = DocidHealth::compute(&before, k)?.largest_collision_group;
            if self.cfg.collisions == CollisionPolicy::Disambiguate
                && health.largest_collision_group > k.max(stepwise)
            {
                // The final tokenizer merges more than one disambiguation code can separate,
                // and more than the step-by-step docids did: keep those.
                tracing::warn!(
                    "the final tokenizer gives {} documents one docid, more than one disambiguation code can separate (K = {k}); keeping the step-by-step docids (largest group {stepwise})",
                    health.largest_collision_group
                );
                self.log(&TrainEvent::ReassignmentDropped {
                    largest_collision_group: health.largest_collision_group,
                })?;
                self.state.codes = before;
            }
        }
        if self.cfg.collisions == CollisionPolicy::Disambiguate {
            let k = self.cfg.docids.codebook_size as u32;
            let overflow = disambiguate(&mut self.state.codes, k);
            if overflow > 0 {
                // Degrade, do not stop: a group larger than K spreads over the K codes, so a
                // few documents still share a docid. Search returns all of them, ordered by
                // their states.
                tracing::warn!(
                    "{overflow} documents are in collision groups larger than K = {k}; they share disambiguation codes (raise docids.codebook_size or docids.steps to separate them)"
                );
                self.log(&TrainEvent::DisambiguationOverflow {
                    documents: overflow,
                    k: k as usize,
                })?;
            }
        }
        let health = DocidHealth::compute(&self.state.codes, self.cfg.docids.codebook_size)?;
        self.report_health(&health, m - 1, "disambiguated")?;
        self.state.health.push(health);
        Ok(())
    }

    fn save_checkpoint(&self) -> Result<()> {
        let dir = self.run.checkpoint();
        let tmp = self.run.root.join("checkpoint.tmp");
        let old = self.run.root.join("checkpoint.old");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        self.vs
            .save(tmp.join("weights.safetensors"))
            .context("saving weights")?;
        self.optimizer.save(&tmp.join("optimizer.safetensors"))?;
        std::fs::write(tmp.join("state.json"), serde_json::to_vec(&self.state)?)?;
        sync_dir(&tmp)?;
        if dir.exists() {
            if old.exists() {
                std::fs::remove_dir_all(&old)?;
            }
            std::fs::rename(&dir, &old)?;
        }
        std::fs::rename(&tmp, &dir)?;
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        Ok(())
    }

    fn load_checkpoint(&mut self) -> Result<()> {
        let mut dir = self.run.checkpoint();
        if !dir.exists() {
            // Killed between the two renames of a checkpoint swap: the previous one is complete.
            dir = self.run.root.join("checkpoint.old");
        }
        let state: RunState = serde_json::from_slice(
            &std::fs::read(dir.join("state.json"))
                .with_context(|| format!("reading {}", dir.join("state.json").display()))?,
        )
        .with_context(|| format!("{}: unreadable state", dir.display()))?;
        anyhow::ensure!(
            state.codes.len() == self.train_docs.len(),
            "{}: the checkpoint holds docids of {} documents, this run trains {}: the data or holdout_docs changed since it was made; pass --restart to start over",
            dir.display(),
            state.codes.len(),
            self.train_docs.len()
        );
        let weights = dir.join("weights.safetensors");
        genret_model::checkpoint::check_shapes(
            &self.vs,
            &weights,
            "this run's configuration",
            |n| genret_model::genret::setting_of(n, "docids.codebook_size", "docids.steps"),
        )
        .context("resuming: change the configuration back, or pass --restart to start over")?;
        self.vs
            .load(&weights)
            .context("loading checkpoint weights")?;
        self.optimizer
            .load(&dir.join("optimizer.safetensors"), self.model.device())?;
        tracing::info!(
            "resuming after unit {} of {}",
            state.next_unit,
            plan(&self.cfg).len()
        );
        self.state = state;
        self.log(&TrainEvent::Resumed {
            next_unit: self.state.next_unit,
        })?;
        Ok(())
    }

    fn write_docids(&self, corpus: &Corpus) -> Result<()> {
        genret_data::write_atomically(&self.run.docids(), |w| {
            for (i, &p) in self.train_docs.iter().enumerate() {
                let codes: Vec<String> = self.state.codes[i].iter().map(u32::to_string).collect();
                writeln!(w, "{}\t{}", corpus.documents()[p].id, codes.join("-"))?;
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// Appends the disambiguation code to every docid: 0, 1, 2, ... within each group of equal
/// docids, in document order, wrapping round after K - 1. Returns how many documents needed a
/// code past K - 1 (and so share one with an earlier member of their group).
pub fn disambiguate(codes: &mut [Vec<u32>], k: u32) -> usize {
    let mut seen: BTreeMap<Vec<u32>, u32> = BTreeMap::new();
    let mut overflow = 0;
    for c in codes.iter_mut() {
        let next = seen.entry(c.clone()).or_insert(0);
        overflow += usize::from(*next >= k);
        c.push(*next % k);
        *next += 1;
    }
    overflow
}

fn sync_dir(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        std::fs::File::open(entry?.path())?.sync_all()?;
    }
    Ok(())
}

/// Seconds left in the run, from the pace of this session: units cost what they cost, but
/// epochs dominate, so the estimate scales the time per finished epoch-equivalent (an epoch
/// counts 1, any other unit 1/4) by those left. `None` before anything was measured.
fn run_eta(units: &[Unit], next: usize, session_secs: f64, done_in_session: usize) -> Option<f64> {
    let weight = |u: &Unit| match u {
        Unit::Adapt { .. }
        | Unit::Warmup { .. }
        | Unit::Main { .. }
        | Unit::Final { .. }
        | Unit::Joint { .. }
        | Unit::Fixed { .. } => 1.0,
        _ => 0.25,
    };
    let first = next.checked_sub(done_in_session)?;
    let done: f64 = units[first..next].iter().map(weight).sum();
    let left: f64 = units[next..].iter().map(weight).sum();
    (done > 0.0).then(|| (session_secs / done * left).max(0.0))
}

/// Why a run configured with encoder adaptation cannot have it, if it cannot. Adaptation
/// prepares a frozen encoder for learned docids: an encoder that trains with GenRet's losses
/// needs no separate stage, a rule-based scheme assigns its docids before any unit runs, and the
/// stage trains whole top layers on specific judged or pseudo queries.
fn adaptation_skipped(
    cfg: &TrainConfig,
    data: &TrainingData,
    encoder_layers: Option<usize>,
) -> Option<&'static str> {
    if cfg.adapt.epochs == 0 {
        None
    } else if cfg.model.mode != TrainMode::Frozen {
        Some("it applies to a frozen encoder")
    } else if data.specific_pairs.is_empty() {
        Some("no specific judged or pseudo training queries")
    } else if encoder_layers.is_none() {
        Some("this backbone's encoder cannot be split into layers")
    } else {
        None
    }
}

/// The encoder layer a variable belongs to (`backbone.encoder.encoder.layer.<i>.…`).
fn encoder_layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("backbone.encoder.encoder.layer.")
        .and_then(|r| r.split('.').next())
        .and_then(|i| i.parse::<usize>().ok())
}

/// For each query (row `i` of `q` is `queries[i]`), the `n` rows of `d` with the largest dot
/// product, best first, leaving out the documents in `own[query]`.
fn nearest_foreign(
    q: &Tensor,
    d: &Tensor,
    queries: &[usize],
    own: &HashMap<usize, HashSet<usize>>,
    n: usize,
) -> Result<HashMap<usize, Vec<usize>>> {
    let none = HashSet::new();
    let own_of = |q: &usize| own.get(q).unwrap_or(&none);
    let n_docs = d.size()[0] as usize;
    let mut out = HashMap::with_capacity(queries.len());
    for (chunk_q, chunk) in queries.chunks(256).zip(q.split(256, 0)) {
        let take = (n + chunk_q.iter().map(|q| own_of(q).len()).max().unwrap_or(0)).min(n_docs);
        let (_, top) = chunk.matmul(&d.tr()).topk(take as i64, -1, true, true);
        let top = Vec::<Vec<i64>>::try_from(top.to_device(Device::Cpu))?;
        for (qi, row) in chunk_q.iter().zip(top) {
            let foreign = row
                .into_iter()
                .map(|p| p as usize)
                .filter(|p| !own_of(qi).contains(p))
                .take(n)
                .collect();
            out.insert(*qi, foreign);
        }
    }
    Ok(out)
}

/// One hard negative per pair of `batch`, drawn from its query's mined candidates, skipping
/// documents already in the batch (a pair's own document must not also be another column).
/// A query with no candidate left adds none.
fn batch_negatives(
    batch: &[(usize, usize)],
    hard: &HashMap<usize, Vec<usize>>,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let mut taken: HashSet<usize> = batch.iter().map(|&(d, _)| d).collect();
    let mut out = Vec::with_capacity(batch.len());
    for (_, q) in batch {
        let free: Vec<usize> = hard
            .get(q)
            .map(|c| c.iter().copied().filter(|d| !taken.contains(d)).collect())
            .unwrap_or_default();
        if let Some(&d) = free.choose(rng) {
            taken.insert(d);
            out.push(d);
        }
    }
    out
}

/// Batches of `size` (document, query) pairs in the given order, with no document twice in a
/// batch (it would be its own in-batch negative): a pair whose document is already in the
/// batch waits for the next one. Pairs left when only one document remains are dropped (no
/// negative to contrast them with).
fn distinct_doc_batches(pairs: &[(usize, usize)], size: usize) -> Vec<Vec<(usize, usize)>> {
    let mut batches = Vec::new();
    let mut pending: std::collections::VecDeque<(usize, usize)> = pairs.iter().copied().collect();
    while !pending.is_empty() {
        let mut batch: Vec<(usize, usize)> = Vec::with_capacity(size);
        let mut docs = HashSet::new();
        let mut deferred = Vec::new();
        while batch.len() < size {
            let Some(pair) = pending.pop_front() else {
                break;
            };
            if docs.insert(pair.0) {
                batch.push(pair);
            } else {
                deferred.push(pair);
            }
        }
        for pair in deferred.into_iter().rev() {
            pending.push_front(pair);
        }
        if batch.len() >= 2 {
            batches.push(batch);
        } else {
            break;
        }
    }
    batches
}

fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// A loss term as logged: `None` when it is off (NaN) or diverged.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Model variables as the trained index stores them; also used by tests.
pub fn heads_of(model: &GenRet) -> (&HeadsConfig, &BackboneConfig) {
    (&model.heads, &model.backbone_config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disambiguation_numbers_each_group_and_wraps_past_k() {
        let mut codes = vec![
            vec![1, 2],
            vec![1, 2],
            vec![0, 0],
            vec![1, 2],
            vec![1, 2],
            vec![0, 0],
        ];
        let overflow = disambiguate(&mut codes, 3);
        assert_eq!(
            codes,
            vec![
                vec![1, 2, 0],
                vec![1, 2, 1],
                vec![0, 0, 0],
                vec![1, 2, 2],
                vec![1, 2, 0],
                vec![0, 0, 1]
            ]
        );
        assert_eq!(
            overflow, 1,
            "the fourth member of a group of four shares code 0 with the first"
        );
        let mut unique = vec![vec![0], vec![1]];
        assert_eq!(disambiguate(&mut unique, 2), 0);
        assert_eq!(unique, vec![vec![0, 0], vec![1, 0]]);
    }

    #[test]
    fn adaptation_batches_never_hold_a_document_twice_and_keep_every_pair() {
        // Document 0 has five queries: each batch of 3 takes it once, the rest wait.
        let pairs = vec![
            (0, 0),
            (0, 1),
            (1, 2),
            (0, 3),
            (2, 4),
            (0, 5),
            (3, 6),
            (0, 7),
        ];
        let batches = distinct_doc_batches(&pairs, 3);
        for b in &batches {
            let mut docs: Vec<usize> = b.iter().map(|p| p.0).collect();
            docs.sort_unstable();
            docs.dedup();
            assert_eq!(docs.len(), b.len(), "{b:?}");
            assert!(b.len() >= 2 && b.len() <= 3);
        }
        assert_eq!(batches[0], vec![(0, 0), (1, 2), (2, 4)]);
        assert_eq!(batches[1], vec![(0, 1), (3, 6)]);
        // What is left is document 0 alone, with nothing to contrast it with: dropped.
        let kept: Vec<(usize, usize)> = batches.concat();
        let dropped: Vec<&(usize, usize)> = pairs.iter().filter(|p| !kept.contains(p)).collect();
        assert_eq!(dropped, [&(0, 3), &(0, 5), &(0, 7)]);
    }

    #[test]
    fn hard_negatives_are_the_nearest_documents_a_query_does_not_own() {
        // Four documents on a line of angles; query 7 owns document 1, query 9 owns none.
        let d = Tensor::from_slice2(&[[1.0f32, 0.0], [0.9, 0.1], [0.5, 0.5], [0.0, 1.0]]);
        let q = Tensor::from_slice2(&[[1.0f32, 0.0], [0.0, 1.0]]);
        let own: HashMap<usize, HashSet<usize>> = [(7, HashSet::from([1])), (9, HashSet::new())]
            .into_iter()
            .collect();
        let hard = nearest_foreign(&q, &d, &[7, 9], &own, 2).unwrap();
        assert_eq!(hard[&7], vec![0, 2], "document 1 is query 7's own");
        assert_eq!(hard[&9], vec![3, 2]);
        // Asking for more than exist returns what there is.
        let all = nearest_foreign(&q, &d, &[7], &own, 10).unwrap();
        assert_eq!(all[&7], vec![0, 2, 3]);
    }

    #[test]
    fn batch_negatives_never_repeat_a_document_of_the_batch() {
        let hard: HashMap<usize, Vec<usize>> = [(10, vec![1, 5]), (11, vec![5, 6]), (12, vec![0])]
            .into_iter()
            .collect();
        let batch = [(0, 10), (1, 11), (2, 12)];
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let neg = batch_negatives(&batch, &hard, &mut rng);
            // Query 10 may only take 5 (1 is in the batch); query 11 then takes 6; query 12's
            // only candidate is a positive of the batch, so it adds none.
            assert_eq!(neg, vec![5, 6], "seed {seed}");
        }
        let hard: HashMap<usize, Vec<usize>> = [(10, vec![3, 4])].into_iter().collect();
        let seen: HashSet<usize> = (0..50)
            .map(|seed| batch_negatives(&[(0, 10)], &hard, &mut ChaCha8Rng::seed_from_u64(seed))[0])
            .collect();
        assert_eq!(seen, HashSet::from([3, 4]), "drawn from every candidate");
    }

    #[test]
    fn rule_based_schemes_adapt_the_encoder_before_their_epochs() {
        let mut cfg = TrainConfig::default();
        cfg.scheme.kind = SchemeKind::Rq;
        cfg.schedule.fixed_epochs = 2;
        cfg.adapt.epochs = 1;
        assert_eq!(
            plan(&cfg),
            vec![
                Unit::Adapt { epoch: 0 },
                Unit::Fixed { epoch: 0 },
                Unit::Fixed { epoch: 1 }
            ]
        );
    }

    #[test]
    fn run_eta_scales_the_pace_of_finished_epochs() {
        let units = vec![
            Unit::Warmup { step: 0, epoch: 0 },
            Unit::InitCodebook { step: 0 },
            Unit::Main { step: 0, epoch: 0 },
            Unit::Assign { step: 0 },
            Unit::Final { epoch: 0 },
        ];
        assert_eq!(run_eta(&units, 0, 0.0, 0), None);
        // Warm-up done in 10 s: 2.5 epoch-equivalents left (init 0.25, main 1, assign 0.25, final 1).
        assert_eq!(run_eta(&units, 1, 10.0, 1), Some(25.0));
        // Resumed at unit 2 and ran units 2 and 3 (1.25) in 5 s: 1 left.
        assert_eq!(run_eta(&units, 4, 5.0, 2), Some(4.0));
        assert_eq!(run_eta(&units, 5, 30.0, 5), Some(0.0));
    }
}
