//! `genret bm25`: the BM25 baseline (tantivy) on a dataset split: index, retrieve, write the run,
//! evaluate.
//!
//! The index is kept on disk and reused: by default under
//! `$GENRET_HOME/bm25/<dataset>-<fingerprint>`, where the fingerprint covers the corpus file
//! (path, size, modification time) and the analysis settings, so a changed corpus or setting
//! builds a new index instead of reading a stale one. `--index DIR` puts it elsewhere;
//! `--rebuild` forces a fresh build. Timings (index build, per-query search) are printed and
//! written with the metrics as JSON (`--metrics-out`, default `<run>.metrics.json`).

use std::path::PathBuf;

use genret_bm25::{
    AnalyzerOptions, Bm25Config, FieldLayout, StemmerKind, StopWords, TokenizerKind,
};
use genret_pipeline::experiment::{run_bm25, Bm25Job, Outcome};
use genret_pipeline::records::System;

use super::common::{print_table, DataArgs, ReportArgs};

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

/// Runs the command; returns what the pipeline reports.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.k >= 1, "--k must be at least 1");
    let experiment = args
        .report
        .experiment(&args.data, &args.split, &args.out, &args.tag)?;
    let job = Bm25Job {
        config: args.config(),
        index_dir: args.index.clone(),
        rebuild: args.rebuild,
        threads: args.threads,
        k: args.k,
    };
    let outcome = run_bm25(&experiment, &job)?;
    let r = &outcome.report;
    let t = &r.timings;
    let build_note = match t.index_s {
        Some(s) => format!("built in {s:.2} s"),
        None => "reused".to_string(),
    };
    let index_dir = match &r.system {
        System::Bm25 { index_dir, .. } => index_dir.display().to_string(),
        _ => String::new(),
    };
    eprintln!(
        "index: {} documents ({build_note}) at {index_dir}\nsearch: {} queries, top {}: {:.3} s wall, \
         per query p50 {:.2} ms, p99 {:.2} ms\nrun: {}",
        r.num_docs,
        r.num_queries,
        args.k,
        t.search_wall_s.unwrap_or_default(),
        t.query_p50_ms.unwrap_or_default(),
        t.query_p99_ms.unwrap_or_default(),
        args.out.display()
    );
    print_table(&outcome.evaluation)?;
    Ok(outcome)
}
