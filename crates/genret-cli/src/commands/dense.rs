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

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use genret_data::{Run, ScoredDoc};
use genret_dense::{encode_queries, BuildOptions, DenseIndex, Fingerprint};
use genret_eval::{evaluate, EvalOptions};
use genret_model::checkpoint::Checkpoint;
use genret_model::embed::Embedder;
use serde_json::json;

use super::common::{
    parse_device, print_table, set_torch_threads, write_json, DataArgs, Latency, Outcome,
    ReportArgs,
};

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

/// A file-name-safe version of a dataset or model name.
fn safe_name(s: &str) -> String {
    let name = s.rsplit(['/', '\\']).find(|p| !p.is_empty()).unwrap_or(s);
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The cache key of a corpus encoding: model files, length, corpus file, and how texts are made.
fn cache_key(ckpt: &Checkpoint, max_len: usize, corpus: &Path) -> anyhow::Result<String> {
    let mut fp = Fingerprint::new();
    fp.add("genret-dense/1 mean-pool l2 title+space+text");
    fp.add_file(&ckpt.config)?
        .add_file(&ckpt.weights)?
        .add_file(&ckpt.tokenizer)?;
    fp.add(max_len.to_string()).add_file(corpus)?;
    Ok(fp.hex())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    execute(args).map(|_| ())
}

/// Runs the command; returns the evaluation and the report it wrote.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let metrics = args.report.metrics()?;
    anyhow::ensure!(args.k >= 1, "--k must be at least 1");
    anyhow::ensure!(args.max_len >= 2, "--max-len must be at least 2");
    anyhow::ensure!(args.batch_size >= 1, "--batch-size must be at least 1");
    let threads = set_torch_threads(args.threads);
    let device = parse_device(&args.device)?;

    // 1. Data: corpus, judged queries, judgements.
    let dataset = args.data.open()?;
    let split = dataset.load_split(&args.split, args.data.strict)?;
    if split.unknown.dropped_rows > 0 {
        tracing::warn!(
            "{}: dropped {} judgement rows naming unknown queries ({}) or documents ({})",
            dataset.qrels_path(&args.split).display(),
            split.unknown.dropped_rows,
            split.unknown.unknown_queries,
            split.unknown.unknown_documents
        );
    }
    anyhow::ensure!(
        !split.corpus.is_empty(),
        "{}: the corpus is empty",
        dataset.root.display()
    );
    anyhow::ensure!(
        !split.queries.is_empty(),
        "split `{}` has no judged query",
        args.split
    );

    // 2. The encoder.
    let ckpt = Checkpoint::resolve(&args.model)?;
    let embedder = Embedder::load(&ckpt, args.max_len, device)?;

    // 3. Document embeddings: cached or encoded.
    let key = cache_key(&ckpt, args.max_len, &dataset.corpus_path()?)?;
    let cache_path = (!args.no_cache).then(|| {
        let dir = args
            .cache_dir
            .clone()
            .unwrap_or_else(|| genret_data::genret_home().join("dense"));
        dir.join(format!(
            "{}-{}-{key}.safetensors",
            safe_name(&dataset.name),
            safe_name(&args.model)
        ))
    });
    let cached = match &cache_path {
        Some(path) if path.exists() && !args.rebuild => match DenseIndex::load(path) {
            Ok(index)
                if index.meta.get("key") == Some(&key) && index.len() == split.corpus.len() =>
            {
                tracing::info!("reusing document embeddings {}", path.display());
                Some(index)
            }
            Ok(_) => {
                tracing::warn!(
                    "{}: does not match this model and corpus, encoding again",
                    path.display()
                );
                None
            }
            Err(e) => {
                tracing::warn!("{e}; encoding again");
                None
            }
        },
        _ => None,
    };
    let (index, encode_time) = match cached {
        Some(index) => (index.to_device(device), None),
        None => {
            let texts: Vec<String> = split.corpus.iter().map(|d| d.full_text()).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let start = Instant::now();
            let options = BuildOptions {
                batch_size: args.batch_size,
                ..Default::default()
            };
            let mut index = DenseIndex::build_with(&embedder, &refs, &options)?;
            let took = start.elapsed();
            index.meta.insert("key".into(), key.clone());
            index.meta.insert("model".into(), args.model.clone());
            index.meta.insert("dataset".into(), dataset.name.clone());
            index
                .meta
                .insert("max_len".into(), args.max_len.to_string());
            if let Some(path) = &cache_path {
                index.save(path)?;
                tracing::info!("saved document embeddings to {}", path.display());
            }
            (index, Some(took))
        }
    };

    // 4. Queries, one at a time (a warm-up query first, not timed).
    let queries: Vec<&genret_data::Query> = split.queries.iter().collect();
    if let Some(first) = queries.first() {
        let q = encode_queries(&embedder, &[first.text.as_str()], 1)?;
        index.search(&q, args.k)?;
    }
    let mut run = Run::new();
    let mut latencies = Vec::with_capacity(queries.len());
    let search_start = Instant::now();
    for query in &queries {
        let start = Instant::now();
        let q = encode_queries(&embedder, &[query.text.as_str()], 1)?;
        let hits = index.search(&q, args.k)?;
        latencies.push(start.elapsed());
        let docs = hits
            .into_iter()
            .next()
            .unwrap_or_default()
            .into_iter()
            .map(|(pos, score)| {
                let doc = split
                    .corpus
                    .get(pos)
                    .context("search returned a position outside the corpus")?;
                Ok(ScoredDoc {
                    doc_id: doc.id.clone(),
                    score: f64::from(score),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        run.insert(query.id.clone(), docs);
    }
    let search_wall = search_start.elapsed();
    let latency = Latency::of(latencies);
    run.write_trec(&args.out, &args.tag)
        .with_context(|| format!("writing {}", args.out.display()))?;

    // 5. Evaluation.
    let evaluation = evaluate(&split.qrels, &run, &metrics, &EvalOptions::default())?;
    let docs_per_s = encode_time.map(|t| split.corpus.len() as f64 / t.as_secs_f64().max(1e-9));
    let encode_note = match (encode_time, docs_per_s) {
        (Some(t), Some(r)) => format!("encoded in {:.1} s ({r:.1} docs/s)", t.as_secs_f64()),
        _ => "reused from the cache".to_string(),
    };
    eprintln!(
        "index: {} documents x {} dims ({encode_note}){}\nsearch: {} queries, top {}, {threads} threads, {}: \
         {:.3} s wall, per query (encode + search) {}\nrun: {}",
        index.len(),
        index.dim(),
        cache_path.as_ref().map(|p| format!(" at {}", p.display())).unwrap_or_default(),
        queries.len(),
        args.k,
        if device.is_cuda() { "cuda" } else { "cpu" },
        search_wall.as_secs_f64(),
        latency.describe(),
        args.out.display()
    );
    print_table(&evaluation)?;

    let metrics_path = args.report.path(&args.out);
    let mut report = json!({
        "dataset": dataset.name,
        "split": args.split,
        "model": args.model,
        "max_len": args.max_len,
        "k": args.k,
        "num_docs": index.len(),
        "dim": index.dim(),
        // The f32 embedding matrix an exact search holds (what the cache file stores).
        "index_bytes": index.len() * index.dim() * 4,
        "num_queries": queries.len(),
        "metrics": evaluation.mean,
        "timings": {
            "device": if device.is_cuda() { "cuda" } else { "cpu" },
            "threads": threads,
            "batch_size": args.batch_size,
            "encoded": encode_time.is_some(),
            "encode_s": encode_time.map(|t| t.as_secs_f64()),
            "docs_per_s": docs_per_s,
            "search_wall_s": search_wall.as_secs_f64(),
        },
        "cache": cache_path,
        "run": args.out,
    });
    latency.add_to(&mut report["timings"], "query");
    write_json(&metrics_path, &report)?;
    tracing::info!("wrote {}", metrics_path.display());
    Ok(Outcome {
        evaluation,
        report,
        groups: None,
        fused: None,
    })
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

    #[test]
    fn names_are_file_safe() {
        assert_eq!(
            safe_name("sentence-transformers/all-MiniLM-L6-v2"),
            "all-MiniLM-L6-v2"
        );
        assert_eq!(
            safe_name("../shared/models/all-MiniLM-L6-v2/"),
            "all-MiniLM-L6-v2"
        );
        assert_eq!(safe_name("a b:c"), "a_b_c");
    }
}
