//! `genret train`: learn docids and the retriever on a corpus.

use std::path::PathBuf;

use anyhow::{Context, Result};
use genret_index::{Index, IndexConfig, Origin};
use genret_train::{train, TrainConfig, TrainInputs, TrainOptions};

use super::common::{parse_device, DataArgs};

#[derive(clap::Args, Debug)]
#[command(
    about = "Train GenRet (docids and retriever) on a corpus and build its searchable index",
    after_help = "Example:\n  genret train --data ../shared/data/scifact --model ../shared/models/all-MiniLM-L6-v2 --out runs/scifact\n  genret train --dataset scifact --out runs/scifact --config genret.toml --resume"
)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Run directory: checkpoints, metrics.jsonl, manifest.json, config.toml, docids.tsv, index/.
    #[arg(long)]
    pub out: PathBuf,
    /// Checkpoint folder or Hugging Face hub id (overrides the config's model.checkpoint).
    #[arg(long)]
    pub model: Option<String>,
    /// TOML training configuration; unset fields take defaults chosen from the corpus size.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long, conflicts_with = "restart")]
    pub resume: bool,
    /// Delete what an earlier run left in --out (checkpoint, metrics.jsonl, manifest.json,
    /// config.toml, docids.tsv, index/; each is named as it goes) and start over.
    #[arg(long)]
    pub restart: bool,
    /// Random seed of the run (overrides the config's `seed`, default 42): data order, holdout,
    /// initialisation and clustering all follow it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Torch threads (default: the config's, else libtorch's choice).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Leave this fraction of documents out of training (they are added afterwards as unseen).
    #[arg(long)]
    pub holdout_docs: Option<f64>,
    /// Docid scheme: genret (learned, default), atomic, naive, hkmeans or rq (overrides the
    /// config's scheme.kind). Every scheme trains the same retriever network.
    #[arg(long, value_name = "SCHEME")]
    pub docids: Option<genret_docids::SchemeKind>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Reads the configuration file (if any) and applies command-line overrides.
pub fn load_config(args: &Args) -> Result<TrainConfig> {
    let mut cfg = match &args.config {
        Some(path) => TrainConfig::load(path)?,
        None => TrainConfig::default(),
    };
    if let Some(m) = &args.model {
        cfg.model.checkpoint = m.clone();
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
        cfg.scheme.seed = s;
    }
    if let Some(kind) = args.docids {
        cfg.scheme.kind = kind;
    }
    if let Some(t) = args.threads {
        cfg.threads = t;
    }
    if let Some(h) = args.holdout_docs {
        cfg.holdout_docs = h;
    }
    Ok(cfg)
}

pub fn run(args: Args) -> Result<()> {
    execute(args).map(|_| ())
}

/// What `quickstart` needs of a finished training run.
pub struct Trained {
    pub wall_secs: f64,
    pub health: genret_cluster::DocidHealth,
    pub index_dir: PathBuf,
}

/// Trains, writes the run's index, and reports.
pub fn execute(args: Args) -> Result<Trained> {
    let cfg = load_config(&args)?;
    let device = parse_device(&args.device)?;
    let dataset = args.data.open()?;
    let corpus = dataset.load_corpus()?;
    let split = cfg.signal.train_split.clone();
    let queries;
    let mut data_files = vec![dataset.corpus_path()?];
    let qrels = if dataset.has_split(&split) {
        queries = dataset.load_queries()?;
        let (qrels, _) = dataset.load_qrels(&split, &queries, &corpus, args.data.strict)?;
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
    let opts = TrainOptions {
        resume: args.resume,
        restart: args.restart,
        device,
        stop_after_units: None,
    };
    let out = train(&args.out, cfg, &inputs, &opts)
        .with_context(|| format!("training into {}", args.out.display()))?;
    let index = build_index(&args.out.join("index"), &out, &corpus)?;
    let h = &out.health;
    println!(
        "trained in {:.0}s: {} documents, {} distinct docids of length {}, largest collision group {}, step-1 diversity {:.3}",
        out.wall_secs,
        h.n_docs,
        h.distinct_docids,
        h.docid_len,
        h.largest_collision_group,
        h.steps.first().map_or(0.0, |s| s.diversity)
    );
    println!("run directory: {}", args.out.display());
    println!(
        "index: {} ({} documents)",
        index.dir().display(),
        index.num_docs()
    );
    Ok(Trained {
        wall_secs: out.wall_secs,
        health: out.health.clone(),
        index_dir: index.dir().to_path_buf(),
    })
}

/// The scoring a new index searches with by default, chosen on SciFact's development split
/// (bench/quality, docs/benchmarks.md): the beam keeps the 300 best two-code prefixes, and
/// every document below them is ordered by its stored encoder state. Adding the docid's
/// log-probability (code_weight > 0) lowered dev nDCG@10 at every weight tried.
pub fn default_scoring() -> genret_index::Scoring {
    genret_index::Scoring {
        code: genret_index::CodeScore::LogProb,
        states: Some(genret_index::StateKind::Encoder),
        code_weight: 0.0,
        candidate_depth: Some(2),
        beam: Some(300),
    }
}

/// GenRet's weight when `quickstart` fuses it with BM25 (chosen on SciFact's development split).
pub const DEFAULT_FUSE_WEIGHT: f64 = 0.5;

/// Writes the searchable index of a finished run: the trained documents with their docids, then
/// the held-out documents added with the tokenizer alone (as any new document would be).
pub fn build_index(
    dir: &std::path::Path,
    out: &genret_train::TrainOutput,
    corpus: &genret_data::Corpus,
) -> Result<Index> {
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
    config.scoring = default_scoring();
    let states = genret_index::states::DocStates::to_blobs(&out.doc_states.0, &out.doc_states.1)?;
    let docs: Vec<(genret_data::Document, Vec<u32>, Origin)> = out
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
    if !out.held_out.is_empty() {
        let held: Vec<genret_data::Document> = out
            .held_out
            .iter()
            .map(|&p| corpus.documents()[p].clone())
            .collect();
        let report = index.add_documents(&held, out.config.model.encode_batch_size)?;
        let rule = if out.scheme.is_some() {
            "the scheme's rule for new documents"
        } else {
            "the trained tokenizer"
        };
        println!(
            "added {} held-out documents with {rule} (no retraining)",
            report.added
        );
    }
    Ok(index)
}
