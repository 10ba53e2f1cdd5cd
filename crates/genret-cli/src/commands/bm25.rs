//! `genret bm25`: the BM25 baseline (tantivy) on a dataset split: index, retrieve, write the run,
//! evaluate.
//!
//! The index is kept on disk and reused: by default under
//! `$GENRET_HOME/bm25/<dataset>-<fingerprint>`, where the fingerprint covers the corpus file
//! (path, size, modification time) and the analysis settings, so a changed corpus or setting
//! builds a new index instead of reading a stale one. `--index DIR` puts it elsewhere;
//! `--rebuild` forces a fresh build. Timings (index build, per-query search) are printed and
//! written with the metrics as JSON (`--metrics-out`, default `<run>.metrics.json`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use genret_bm25::{
    corpus_fingerprint, AnalyzerOptions, Bm25Builder, Bm25Config, Bm25Index, BuildOptions,
    FieldLayout, IndexLocation, StemmerKind, StopWords, TokenizerKind,
};
use genret_data::{Dataset, Run};
use genret_eval::{evaluate, EvalOptions, Evaluation};
use serde_json::json;

use super::common::{print_table, write_json, DataArgs, Latency, Outcome, ReportArgs};

const AFTER_HELP: &str = "\
Examples:
  genret bm25 --dataset scifact --split test --out runs/scifact.bm25.trec
  genret bm25 --data data/msmarco-dl19-5k --split test --out run.trec --metrics-out bm25.json

Scoring: tantivy's BM25 with k1 = 1.2, b = 0.75 (fixed in tantivy), Lucene's idf. By default
documents are analysed like Elasticsearch's `english` analyzer, with title and text as one field
(Pyserini's flat BEIR baseline); `--fields title-text` searches them like BEIR's Elasticsearch
`multi_match` (best_fields over title and text, tie_breaker 0.5).";

/// Arguments of `genret bm25`.
#[derive(clap::Args, Debug)]
#[command(about = "BM25 baseline (tantivy): index a corpus, retrieve for a split's queries, evaluate", after_help = AFTER_HELP)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// The split whose judged queries are run (a file `qrels/<split>.tsv`).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// The TREC run to write (atomically).
    #[arg(long, value_name = "RUN")]
    pub out: PathBuf,
    /// Documents retrieved per query.
    #[arg(long, default_value_t = 1000)]
    pub k: usize,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Index folder (reused when it holds an index of the same corpus and settings).
    #[arg(long, value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// Build the index again even when a matching one exists.
    #[arg(long)]
    pub rebuild: bool,
    /// Threads for indexing and for searching (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Tag in the run file's last column.
    #[arg(long, default_value = "genret-bm25")]
    pub tag: String,
    /// How title and text are indexed: two fields searched like Elasticsearch's multi_match
    /// best_fields (BEIR), or one field holding both.
    #[arg(long, value_enum, default_value_t = Fields::Combined)]
    pub fields: Fields,
    /// With `--fields title-text`: weight of the weaker field's score (BEIR: 0.5).
    #[arg(long, default_value_t = 0.5)]
    pub tie_breaker: f32,
    /// Word splitting: Unicode word boundaries (Lucene's standard tokenizer) or tantivy's
    /// simple tokenizer (runs of letters and digits).
    #[arg(long, value_enum, default_value_t = Tokenizer::Unicode)]
    pub tokenizer: Tokenizer,
    /// Stemmer: porter (Lucene/Elasticsearch `english`), snowball-english (Porter2, tantivy's
    /// `Stemmer`), or none.
    #[arg(long, value_enum, default_value_t = Stemmer::Porter)]
    pub stemmer: Stemmer,
    /// Stop words: Lucene's 33 English ones, or none.
    #[arg(long, value_enum, default_value_t = Stop::LuceneEnglish)]
    pub stop_words: Stop,
    /// Keep case (no lower-casing).
    #[arg(long)]
    pub no_lowercase: bool,
    /// Keep a trailing `'s` (no possessive removal).
    #[arg(long)]
    pub no_possessive: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    TitleText,
    Combined,
}
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokenizer {
    Unicode,
    Simple,
}
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stemmer {
    Porter,
    SnowballEnglish,
    None,
}
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    LuceneEnglish,
    None,
}

impl Args {
    fn config(&self) -> Bm25Config {
        Bm25Config {
            analyzer: AnalyzerOptions {
                tokenizer: match self.tokenizer {
                    Tokenizer::Unicode => TokenizerKind::Unicode,
                    Tokenizer::Simple => TokenizerKind::Simple,
                },
                possessive: !self.no_possessive,
                lowercase: !self.no_lowercase,
                stop_words: match self.stop_words {
                    Stop::LuceneEnglish => StopWords::LuceneEnglish,
                    Stop::None => StopWords::None,
                },
                stemmer: match self.stemmer {
                    Stemmer::Porter => StemmerKind::Porter,
                    Stemmer::SnowballEnglish => StemmerKind::SnowballEnglish,
                    Stemmer::None => StemmerKind::None,
                },
            },
            fields: match self.fields {
                Fields::TitleText => FieldLayout::TitleText {
                    tie_breaker: self.tie_breaker,
                },
                Fields::Combined => FieldLayout::Combined,
            },
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    execute(args).map(|_| ())
}

/// Runs the command; returns the evaluation and the report it wrote.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let metrics = args.report.metrics()?;
    if args.k == 0 {
        anyhow::bail!("--k must be at least 1");
    }
    let dataset = args.data.open()?;
    let config = args.config();
    let corpus_path = dataset.corpus_path()?;
    let fingerprint = corpus_fingerprint(&corpus_path, &config)?;
    let index_dir = match &args.index {
        Some(dir) => dir.clone(),
        None => {
            let safe: String = dataset
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            genret_data::dataset::genret_home()
                .join("bm25")
                .join(format!("{safe}-{fingerprint}"))
        }
    };

    // 1. The index: reuse a matching one, or build it.
    let (index, build_time) = open_or_build(&args, &dataset, &config, &fingerprint, &index_dir)?;
    let index_seconds = build_time.map(|d| d.as_secs_f64());

    // 2. The split's judged queries.
    let ids: HashSet<&str> = index.doc_ids().iter().map(String::as_str).collect();
    let (qrels, judged) = super::common::judged_split(
        &dataset,
        &args.split,
        args.data.strict,
        |d| ids.contains(d),
        "",
    )?;

    // 3. Retrieval.
    let texts: Vec<&str> = judged.iter().map(|q| q.text.as_str()).collect();
    let threads = if args.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        args.threads
    };
    let start = Instant::now();
    let results = index.search_batch_timed(&texts, args.k, threads)?;
    let search_wall = start.elapsed();
    let latency = Latency::of(results.iter().map(|(_, d)| *d).collect());

    let mut run = Run::new();
    let mut empty = 0usize;
    for (query, (docs, _)) in judged.iter().zip(results) {
        empty += usize::from(docs.is_empty());
        run.insert(query.id.clone(), docs);
    }
    if empty > 0 {
        tracing::warn!(
            "{empty} queries have no indexable term and retrieved nothing (they score 0)"
        );
    }
    run.write_trec(&args.out, &args.tag)
        .with_context(|| format!("writing {}", args.out.display()))?;

    // 4. Evaluation.
    let evaluation: Evaluation = evaluate(&qrels, &run, &metrics, &EvalOptions::default())?;

    let build_note = match index_seconds {
        Some(s) => format!("built in {s:.2} s"),
        None => "reused".to_string(),
    };
    eprintln!(
        "index: {} documents ({build_note}) at {}\nsearch: {} queries, top {}, {} threads: {:.3} s wall, \
         per query {}\nrun: {}",
        index.num_docs(),
        index_dir.display(),
        judged.len(),
        args.k,
        threads,
        search_wall.as_secs_f64(),
        latency.describe(),
        args.out.display()
    );
    print_table(&evaluation)?;

    let index_bytes = super::common::dir_bytes(&index_dir)?;
    let mut report = json!({
        "dataset": dataset.name,
        "split": args.split,
        "k": args.k,
        "bm25": {
            "engine": "tantivy 0.27",
            "k1": genret_bm25::K1,
            "b": genret_bm25::B,
            "config": config,
        },
        "num_docs": index.num_docs(),
        "num_queries": judged.len(),
        "metrics": evaluation.mean,
        "evaluation": { "num_queries": evaluation.num_queries, "missing_queries": evaluation.missing_queries },
        "timings": {
            "index_built": index_seconds.is_some(),
            "index_s": index_seconds,
            "search_threads": threads,
            "search_wall_s": search_wall.as_secs_f64(),
        },
        "index_dir": index_dir,
        "index_bytes": index_bytes,
        "run": args.out,
    });
    latency.add_to(&mut report["timings"], "query");
    let metrics_path = args.report.path(&args.out);
    write_json(&metrics_path, &report)?;
    tracing::info!("wrote {}", metrics_path.display());
    Ok(Outcome {
        evaluation,
        report,
        groups: None,
        fused: None,
    })
}

/// Opens the index at `dir` when it matches the corpus and settings, else builds it there.
/// Returns the build time when it was built.
fn open_or_build(
    args: &Args,
    dataset: &Dataset,
    config: &Bm25Config,
    fingerprint: &str,
    dir: &Path,
) -> anyhow::Result<(Bm25Index, Option<Duration>)> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        let is_ours = dir.join("genret-bm25.json").exists();
        if !is_ours {
            anyhow::bail!(
                "{}: exists and is not a genret BM25 index; choose another --index",
                dir.display()
            );
        }
        if !args.rebuild {
            match Bm25Index::open(dir) {
                Ok(index) if index.fingerprint() == Some(fingerprint) && index.config() == config => {
                    tracing::info!("reusing the BM25 index at {}", dir.display());
                    return Ok((index, None));
                }
                Ok(_) if args.index.is_some() => anyhow::bail!(
                    "{}: holds an index of another corpus version or other settings; pass --rebuild to replace it",
                    dir.display()
                ),
                Ok(_) => tracing::info!("{}: stale index, rebuilding", dir.display()),
                Err(e) => tracing::warn!("{}: cannot open ({e}), rebuilding", dir.display()),
            }
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }

    let options = BuildOptions {
        config: *config,
        threads: args.threads,
        ..BuildOptions::default()
    };
    let start = Instant::now();
    let mut builder = Bm25Builder::new(IndexLocation::Dir(dir.to_path_buf()), &options)?
        .with_fingerprint(fingerprint);
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} indexing {human_pos} documents ({per_sec}) {elapsed} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    // Streamed, so a duplicate id is caught here, where both of its lines are known.
    let corpus_path = dataset.corpus_path()?;
    let mut reader = dataset.corpus_reader()?;
    let mut first_line: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    while let Some((line, doc)) = reader.next_document()? {
        if let Some(&first) = first_line.get(&doc.id) {
            return Err(genret_data::DataError::DuplicateId {
                loc: genret_data::Location::line(&corpus_path, line),
                id: doc.id,
                first_line: first,
            }
            .into());
        }
        first_line.insert(doc.id.clone(), line);
        builder.add(&doc)?;
        bar.inc(1);
    }
    bar.set_message("committing");
    let index = builder.finish()?;
    bar.finish_and_clear();
    let took = start.elapsed();
    tracing::info!(
        "indexed {} documents in {:.2} s into {}",
        index.num_docs(),
        took.as_secs_f64(),
        dir.display()
    );
    Ok((index, Some(took)))
}
