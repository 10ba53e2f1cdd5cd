//! `genret train`: learn docids and the retriever on a corpus.

use std::path::PathBuf;

use anyhow::Result;
use genret_pipeline::training::{train_and_index, ConfigOverrides, TrainJob, Trained};
use genret_train::{TrainConfig, TrainOptions};

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

impl Args {
    /// The settings these flags change in the configuration file.
    pub fn overrides(&self) -> ConfigOverrides {
        ConfigOverrides {
            model: self.model.clone(),
            seed: self.seed,
            docids: self.docids,
            threads: self.threads,
            holdout_docs: self.holdout_docs,
        }
    }
}

/// Reads the configuration file (if any) and applies command-line overrides.
pub fn load_config(args: &Args) -> Result<TrainConfig> {
    args.overrides().load(args.config.as_deref())
}

pub fn run(args: Args) -> Result<()> {
    execute(args).map(|_| ())
}

/// Trains, writes the run's index, and reports.
pub fn execute(args: Args) -> Result<Trained> {
    let config = load_config(&args)?;
    let dataset = args.data.open()?;
    let trained = train_and_index(TrainJob {
        dataset: &dataset,
        strict: args.data.strict,
        config,
        out: args.out.clone(),
        options: TrainOptions {
            resume: args.resume,
            restart: args.restart,
            device: parse_device(&args.device)?,
            stop_after_units: None,
        },
    })?;
    let h = trained.health();
    if trained.added_held_out > 0 {
        println!(
            "added {} held-out documents after training (no retraining)",
            trained.added_held_out
        );
    }
    println!(
        "trained in {:.0}s: {} documents, {} distinct docids of length {}, largest collision group {}, step-1 diversity {:.3}",
        trained.wall_secs(),
        h.n_docs,
        h.distinct_docids,
        h.docid_len,
        h.largest_collision_group,
        h.steps.first().map_or(0.0, |s| s.diversity)
    );
    println!("run directory: {}", args.out.display());
    println!(
        "index: {} ({} documents)",
        trained.index_dir().display(),
        trained.index.num_docs()
    );
    Ok(trained)
}
