//! Training a run and handing it to search: the run folder's index.
//!
//! [`train_and_index`] reads the dataset, trains (docids and retriever, resumable), and writes
//! the searchable index into `<run>/index`: the trained documents with their docids, then the
//! held-out documents added with the trained tokenizer alone, as any new document would be.

use std::path::{Path, PathBuf};

use anyhow::Context;
use genret_data::{Corpus, Dataset, Document};
use genret_index::{Index, IndexConfig, Origin};
use genret_train::{train, TrainConfig, TrainInputs, TrainOptions, TrainOutput};

/// Settings a command line changes on top of a configuration file.
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    /// Checkpoint folder or hub id.
    pub model: Option<String>,
    /// Run seed (also the docid scheme's).
    pub seed: Option<u64>,
    pub docids: Option<genret_docids::SchemeKind>,
    pub threads: Option<usize>,
    pub holdout_docs: Option<f64>,
}

impl ConfigOverrides {
    /// The configuration of `path` (defaults where absent), with these overrides applied.
    pub fn load(&self, path: Option<&Path>) -> anyhow::Result<TrainConfig> {
        let mut cfg = match path {
            Some(path) => TrainConfig::load(path)?,
            None => TrainConfig::default(),
        };
        self.apply(&mut cfg);
        Ok(cfg)
    }

    pub fn apply(&self, cfg: &mut TrainConfig) {
        if let Some(m) = &self.model {
            cfg.model.checkpoint = m.clone();
        }
        if let Some(s) = self.seed {
            cfg.seed = s;
            cfg.scheme.seed = s;
        }
        if let Some(kind) = self.docids {
            cfg.scheme.kind = kind;
        }
        if let Some(t) = self.threads {
            cfg.threads = t;
        }
        if let Some(h) = self.holdout_docs {
            cfg.holdout_docs = h;
        }
    }
}

/// One training run to make.
pub struct TrainJob<'a> {
    pub dataset: &'a Dataset,
    /// Fail on judgements naming unknown queries or documents instead of warning.
    pub strict: bool,
    pub config: TrainConfig,
    /// The run folder.
    pub out: PathBuf,
    pub options: TrainOptions,
}

/// A finished run and its index.
pub struct Trained {
    pub output: TrainOutput,
    pub index: Index,
    /// Held-out documents added to the index after training.
    pub added_held_out: usize,
}

impl Trained {
    pub fn index_dir(&self) -> &Path {
        self.index.dir()
    }
    pub fn wall_secs(&self) -> f64 {
        self.output.wall_secs
    }
    pub fn health(&self) -> &genret_cluster::DocidHealth {
        &self.output.health
    }
}

/// Trains into `job.out` (resuming when asked) and writes `<out>/index`.
pub fn train_and_index(job: TrainJob) -> anyhow::Result<Trained> {
    let dataset = job.dataset;
    let corpus = dataset.load_corpus()?;
    let split = job.config.signal.train_split.clone();
    let queries;
    let mut data_files = vec![dataset.corpus_path()?];
    let qrels = if dataset.has_split(&split) {
        queries = dataset.load_queries()?;
        let (qrels, _) = dataset.load_qrels(&split, &queries, &corpus, job.strict)?;
        data_files.push(dataset.queries_path());
        data_files.push(dataset.qrels_path(&split));
        Some(qrels)
    } else {
        queries = genret_data::Queries::default();
        None
    };
    let inputs = TrainInputs {
        dataset: dataset.name.clone(),
        corpus: &corpus,
        train_qrels: qrels.as_ref().map(|q| (q, &queries)),
        data_files,
    };
    let output = train(&job.out, job.config, &inputs, &job.options)
        .with_context(|| format!("training into {}", job.out.display()))?;
    let (index, added_held_out) = build_index(&job.out.join("index"), &output, &corpus)?;
    Ok(Trained {
        output,
        index,
        added_held_out,
    })
}

/// The scoring a new index searches with by default, chosen on SciFact's development split
/// (bench/quality, docs/benchmarks.md).
///
/// With residual decoding (the default preset): every docid scored by residual code scores (the
/// query's encoder embedding against the docid's reconstruction), and the 100 best ordered by
/// the documents' stored encoder states plus half their code score (dev nDCG@10 0.7573 against
/// 0.7572 with the states alone and 0.6837 with the codes alone). Otherwise (the paper's
/// docids): the beam keeps the 300 best two-code prefixes, and every document below them is
/// ordered by its stored encoder state. Adding the code score (code_weight > 0) lowered dev
/// nDCG@10 at every weight tried.
pub fn default_scoring(residual: bool) -> genret_index::Scoring {
    if residual {
        return genret_index::Scoring {
            code: genret_index::CodeScore::Residual,
            states: Some(genret_index::StateKind::Encoder),
            code_weight: 0.5,
            candidate_depth: None,
            beam: Some(100),
        };
    }
    genret_index::Scoring {
        code: genret_index::CodeScore::LogProb,
        states: Some(genret_index::StateKind::Encoder),
        code_weight: 0.0,
        candidate_depth: Some(2),
        beam: Some(300),
    }
}

/// GenRet's weight when fused with BM25 by default, chosen on SciFact's development split: 0.6
/// for the residual-decoding default (z-score fusion, dev nDCG@10 0.7833 against 0.7820 at 0.5),
/// as for the previous default when its weight was chosen again (session 8).
pub const DEFAULT_FUSE_WEIGHT: f64 = 0.6;

/// How GenRet and BM25 are fused by default: z-score fusion beat min-max at every weight tried
/// on SciFact's development split (docs/benchmarks.md, "Z-score fusion").
pub const DEFAULT_FUSION: genret_eval::FusionMethod = genret_eval::FusionMethod::ZScore;

/// Writes the searchable index of a finished run: the trained documents with their docids, then
/// the held-out documents added with the tokenizer alone (as any new document would be).
/// Returns the index and the number of held-out documents added.
pub fn build_index(
    dir: &Path,
    out: &TrainOutput,
    corpus: &Corpus,
) -> anyhow::Result<(Index, usize)> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("replacing {}", dir.display()))?;
    }
    let mut config = IndexConfig::for_model(
        &out.model,
        &out.checkpoint.spec,
        out.config.model.query_max_len,
        out.config.model.doc_max_len,
    );
    config.docid_steps = out.codes.first().map_or(config.docid_steps, Vec::len);
    config.disambiguation = !out.config.fixed_docids()
        && out.config.collisions == genret_train::config::CollisionPolicy::Disambiguate;
    config.scoring = default_scoring(out.model.heads.residual);
    let states = genret_index::states::DocStates::to_blobs(&out.doc_states.0, &out.doc_states.1)?;
    let docs: Vec<(Document, Vec<u32>, Origin)> = out
        .train_docs
        .iter()
        .zip(&out.codes)
        .map(|(&p, codes)| (corpus.documents()[p].clone(), codes.clone(), Origin::Train))
        .collect();
    config.docid_scheme = out.config.scheme.kind.to_string();
    let mut index = Index::create_with_states(
        dir,
        &config,
        &out.vs,
        &out.checkpoint.tokenizer,
        &docs,
        out.scheme.as_ref(),
        Some(&states),
    )?;
    anyhow::ensure!(
        index.state_position() == out.state_position,
        "internal error: the index reads document states at position {}, training wrote them at {}",
        index.state_position(),
        out.state_position
    );
    let mut added = 0;
    if !out.held_out.is_empty() {
        let held: Vec<Document> = out
            .held_out
            .iter()
            .map(|&p| corpus.documents()[p].clone())
            .collect();
        added = index
            .add_documents(&held, out.config.model.encode_batch_size)?
            .added;
        let rule = if out.scheme.is_some() {
            "the scheme's rule for new documents"
        } else {
            "the trained tokenizer"
        };
        tracing::info!("added {added} held-out documents with {rule} (no retraining)");
    }
    Ok((index, added))
}
