//! `genret dense`: the dense retrieval baseline on a dataset split: encode the corpus with a
//! BERT-family checkpoint (mean pooling, L2 normalisation), search each judged query exactly by
//! cosine, write the TREC run, evaluate.
//!
//! The document embeddings are cached as a safetensors file and reused: by default under
//! `$GENRET_HOME/dense/`, or in `--cache-dir` (for example the run's folder). The file name
//! carries a fingerprint of the model files, the maximum length and the corpus file (paths,
//! sizes, modification times), and the same fingerprint is stored inside the file and checked
//! on load, so a changed model, corpus or length never reads stale vectors.
//!
//! Query latency is measured per query, one at a time as a live service would see them:
//! tokenisation, encoding and the exact search over the whole index.

use std::path::PathBuf;

use genret_pipeline::experiment::{run_dense, DenseJob, Outcome};
use genret_pipeline::records::System;

use super::common::{parse_device, print_table, set_torch_threads, DataArgs, ReportArgs};

const AFTER_HELP: &str = "\
Examples:
  genret dense --model sentence-transformers/all-MiniLM-L6-v2 --dataset scifact --split test --out runs/scifact.dense.trec
  genret dense --model ../shared/models/all-MiniLM-L6-v2 --data data/msmarco-dl19-5k --out run.trec \\
      --threads 2 --cache-dir runs/

Documents are encoded as `title + \" \" + text` (BEIR's convention), truncated at --max-len tokens
(all-MiniLM-L6-v2 was trained with 256). Queries use the same encoder and length.";

/// Arguments of `genret dense`.
#[derive(clap::Args, Debug)]
#[command(about = "Dense retrieval baseline: exact cosine search over mean-pooled embeddings, then evaluate", after_help = AFTER_HELP)]
pub struct Args {
    /// Checkpoint: a folder with config.json, model.safetensors, tokenizer.json, or a hub id.
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// The split whose judged queries are run (a file `qrels/<split>.tsv`).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// The TREC run to write (atomically).
    #[arg(long, value_name = "RUN")]
    pub out: PathBuf,
    /// Tokens per text (documents and queries), special tokens included.
    #[arg(long, default_value_t = 256)]
    pub max_len: usize,
    /// Documents retrieved per query.
    #[arg(long, default_value_t = 1000)]
    pub k: usize,
    /// Documents per forward pass while encoding the corpus.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// libtorch intra-op threads (0: libtorch's default, one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where the model runs: `cpu`, `cuda`, `cuda:N`, or `auto` (a GPU when one is visible).
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Folder of the embeddings cache (default: `$GENRET_HOME/dense`).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Neither read nor write the embeddings cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Encode the corpus again even when a matching cache exists (and replace it).
    #[arg(long)]
    pub rebuild: bool,
    /// Tag in the run file's last column.
    #[arg(long, default_value = "genret-dense")]
    pub tag: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    execute(args).map(|_| ())
}

/// Runs the command; returns what the pipeline reports.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.k >= 1, "--k must be at least 1");
    let threads = set_torch_threads(args.threads);
    let experiment = args
        .report
        .experiment(&args.data, &args.split, &args.out, &args.tag)?;
    let job = DenseJob {
        model: args.model.clone(),
        max_len: args.max_len,
        k: args.k,
        batch_size: args.batch_size,
        device: parse_device(&args.device)?,
        cache_dir: (!args.no_cache).then(|| {
            args.cache_dir
                .clone()
                .unwrap_or_else(genret_pipeline::baselines::default_dense_cache)
        }),
        rebuild: args.rebuild,
    };
    let outcome = run_dense(&experiment, &job)?;
    let r = &outcome.report;
    let t = &r.timings;
    let (dim, cache) = match &r.system {
        System::Dense { dim, cache, .. } => (*dim, cache.clone()),
        _ => (0, None),
    };
    let encode_note = match (t.encode_s, t.docs_per_s) {
        (Some(s), Some(rate)) => format!("encoded in {s:.1} s ({rate:.1} docs/s)"),
        _ => "reused from the cache".to_string(),
    };
    eprintln!(
        "index: {} documents x {dim} dims ({encode_note}){}\nsearch: {} queries, top {}, {threads} threads, {}: \
         {:.3} s wall, per query (encode + search) p50 {:.2} ms, p99 {:.2} ms\nrun: {}",
        r.num_docs,
        cache.map(|p| format!(" at {}", p.display())).unwrap_or_default(),
        r.num_queries,
        args.k,
        t.device.as_deref().unwrap_or("cpu"),
        t.search_wall_s.unwrap_or_default(),
        t.query_p50_ms.unwrap_or_default(),
        t.query_p99_ms.unwrap_or_default(),
        args.out.display()
    );
    print_table(&outcome.evaluation)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    type Cli = super::super::common::TestCli<Args>;

    #[test]
    fn every_argument_has_help_and_defaults_parse() {
        super::super::common::assert_every_argument_has_help(&Cli::command());
        let cli = Cli::try_parse_from([
            "dense",
            "--model",
            "m",
            "--dataset",
            "scifact",
            "--out",
            "r.trec",
        ])
        .unwrap();
        assert_eq!(
            (cli.args.max_len, cli.args.k, cli.args.batch_size),
            (256, 1000, 32)
        );
        assert!(cli.args.report.metrics().is_ok());
    }
}
