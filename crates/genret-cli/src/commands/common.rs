//! Arguments shared by several subcommands.

use std::path::PathBuf;

use genret_data::{Dataset, DatasetSource};
pub use genret_pipeline::experiment::depth_beyond_beam;
use genret_pipeline::experiment::{Experiment, FuseWithBm25, ScoringChoice};

/// Where the data comes from: a BEIR dataset by name, or a local folder.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// BEIR dataset name (scifact, nfcorpus, fiqa, msmarco, ...), fetched into the cache when missing.
    #[arg(long, conflicts_with = "data")]
    pub dataset: Option<String>,
    /// A local folder in BEIR layout (corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Fail on judgements that name unknown queries or documents instead of warning.
    #[arg(long)]
    pub strict: bool,
}

impl DataArgs {
    pub fn source(&self) -> anyhow::Result<DatasetSource> {
        match (&self.dataset, &self.data) {
            (_, Some(dir)) => Ok(DatasetSource::Dir(dir.clone())),
            (Some(name), None) => Ok(DatasetSource::Named(name.clone())),
            (None, None) => anyhow::bail!("say which data to use: --dataset NAME or --data DIR"),
        }
    }
    pub fn open(&self) -> anyhow::Result<Dataset> {
        Ok(Dataset::resolve(&self.source()?)?)
    }
}

/// What a retrieval command reports: which measures, and where its JSON report goes. One
/// default for every system, so BM25, dense and GenRet runs of a dataset print the same table.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// Measures to report (genret eval's syntax).
    #[arg(
        long,
        short = 'm',
        value_name = "LIST",
        default_value = "nDCG@10,R@1,R@10,R@100,R@1000,MRR@10,MAP"
    )]
    pub metrics: String,
    /// Write metrics, timings and settings as JSON here (default: `<run>.metrics.json`).
    #[arg(long, value_name = "OUT.json")]
    pub metrics_out: Option<PathBuf>,
}

impl ReportArgs {
    pub fn metrics(&self) -> anyhow::Result<Vec<genret_eval::Metric>> {
        use anyhow::Context;
        genret_eval::Metric::parse_list(&self.metrics).context("--metrics")
    }

    /// The experiment these arguments describe: the data, the split, the run and report paths.
    pub fn experiment(
        &self,
        data: &DataArgs,
        split: &str,
        run_path: &std::path::Path,
        tag: &str,
    ) -> anyhow::Result<Experiment> {
        Ok(Experiment {
            dataset: data.open()?,
            split: split.to_string(),
            strict: data.strict,
            metrics: self.metrics()?,
            run_path: run_path.to_path_buf(),
            tag: tag.to_string(),
            report_path: self.metrics_out.clone(),
        })
    }
}

/// `cpu`, `cuda`, `cuda:N`, or `auto` (a GPU when libtorch sees one). Naming a GPU that
/// libtorch cannot use is an error here rather than a crash at the first tensor.
pub fn parse_device(s: &str) -> anyhow::Result<tch::Device> {
    let device = match s {
        "auto" => return Ok(tch::Device::cuda_if_available()),
        "cpu" => return Ok(tch::Device::Cpu),
        "cuda" => tch::Device::Cuda(0),
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => tch::Device::Cuda(n),
            None => anyhow::bail!("unknown device `{other}` (cpu, cuda, cuda:N, auto)"),
        },
    };
    let visible = if tch::Cuda::is_available() {
        tch::Cuda::device_count().max(0) as usize
    } else {
        0
    };
    match device {
        tch::Device::Cuda(n) if n < visible => Ok(device),
        _ => anyhow::bail!(
            "--device {s}: libtorch sees {visible} usable CUDA device(s) (is genret built with the `cuda` feature?)"
        ),
    }
}

/// libtorch's intra-op thread count after applying `--threads` (0 leaves libtorch's default,
/// one per core).
pub fn set_torch_threads(threads: usize) -> usize {
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
    tch::get_num_threads().max(1) as usize
}

/// Prints an evaluation's table of means on standard output.
pub fn print_table(evaluation: &genret_eval::Evaluation) -> anyhow::Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write!(out, "{}", evaluation.table())?;
    out.flush()?;
    Ok(())
}

/// Writes a JSON report atomically (pretty, newline-terminated).
pub fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    use anyhow::Context;
    genret_data::write_json_atomically(path, value)
        .with_context(|| format!("writing {}", path.display()))
}

/// Test helper: a command line made of one subcommand's arguments
/// (`type Cli = TestCli<Args>;`, then `Cli::try_parse_from(argv)` and `Cli::command()`).
#[cfg(test)]
#[derive(clap::Parser, Debug)]
pub struct TestCli<A: clap::Args> {
    #[command(flatten)]
    pub args: A,
}

/// Test helper: clap's own consistency checks, and a help text on every argument.
#[cfg(test)]
pub fn assert_every_argument_has_help(cmd: &clap::Command) {
    cmd.clone().debug_assert();
    for arg in cmd.get_arguments() {
        assert!(arg.get_help().is_some(), "--{} has no help", arg.get_id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_missing_gpus_are_refused() {
        assert_eq!(parse_device("cpu").unwrap(), tch::Device::Cpu);
        assert!(parse_device("gpu")
            .unwrap_err()
            .to_string()
            .contains("unknown device"));
        if !tch::Cuda::is_available() {
            assert_eq!(parse_device("auto").unwrap(), tch::Device::Cpu);
            let err = parse_device("cuda:1").unwrap_err().to_string();
            assert!(
                err.contains("--device cuda:1") && err.contains("0 usable"),
                "{err}"
            );
        }
    }

    #[test]
    fn switching_away_from_encoder_states_drops_the_index_candidate_depth() {
        let index_default = genret_index::Scoring {
            states: Some(genret_index::StateKind::Encoder),
            candidate_depth: Some(2),
            beam: Some(300),
            ..genret_index::Scoring::codes_only()
        };
        let args = |mode, depth| ScoringArgs {
            scoring: Some(mode),
            candidate_depth: depth,
            ..Default::default()
        };
        assert_eq!(
            args(ScoringMode::DecoderStates, None)
                .resolve(index_default)
                .candidate_depth,
            None
        );
        assert_eq!(
            args(ScoringMode::Codes, None)
                .resolve(index_default)
                .candidate_depth,
            None
        );
        assert_eq!(
            args(ScoringMode::EncoderStates, None)
                .resolve(index_default)
                .candidate_depth,
            Some(2)
        );
        assert_eq!(
            args(ScoringMode::EncoderStates, Some(1))
                .resolve(index_default)
                .candidate_depth,
            Some(1)
        );
        assert_eq!(ScoringArgs::default().resolve(index_default), index_default);
    }

    #[test]
    fn a_depth_beyond_the_beam_is_warned_about_only_where_it_cuts() {
        let codes = genret_index::Scoring::codes_only();
        assert!(depth_beyond_beam(100, 10, &codes, false)
            .unwrap()
            .contains("--depth 100 is larger than --beam 10"));
        assert!(depth_beyond_beam(10, 10, &codes, false).is_none());
        assert!(
            depth_beyond_beam(100, 10, &codes, true).is_none(),
            "an exact search scores every docid"
        );
        let states = genret_index::Scoring {
            states: Some(genret_index::StateKind::Encoder),
            ..codes
        };
        assert!(depth_beyond_beam(100, 10, &states, false).is_none());
    }
}

/// How a GenRet search scores documents (`genret run`, `genret search`): every flag left out
/// keeps the index's own scoring (`scoring` in its `index.json`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ScoringArgs {
    /// Order documents by `codes` alone (the paper: documents sharing a docid tie), or by the
    /// cosine of the query's and each document's stored `decoder-states` (GenRet's ranking
    /// state) or `encoder-states` (the pooled encoder output) plus the weighted docid score.
    #[arg(long, value_enum, value_name = "MODE")]
    pub scoring: Option<ScoringMode>,
    /// How code scores add up: `log-prob` (per-step log-softmax over allowed codes), `logit`
    /// (raw dot products, RIPOR's additive score), or `residual` (the query's encoder
    /// embedding against additive codebooks fitted to the docids: dense geometry from the codes
    /// alone; every docid scored, and with states the best `--beam` documents re-ordered).
    #[arg(long, value_enum, value_name = "KIND")]
    pub code_score: Option<CodeScoreArg>,
    /// Weight of the docid's score beside the state cosine.
    #[arg(long, value_name = "W")]
    pub code_weight: Option<f64>,
    /// With encoder states: search only the first N codes and order every document below the
    /// kept prefixes (more candidates from coarser codes).
    #[arg(long, value_name = "N")]
    pub candidate_depth: Option<usize>,
    /// Score every docid instead of keeping a beam (one query at a time; small collections).
    #[arg(long)]
    pub exact: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoringMode {
    Codes,
    DecoderStates,
    EncoderStates,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeScoreArg {
    LogProb,
    Logit,
    Residual,
}

impl ScoringArgs {
    /// The flags as changes to an index's scoring.
    pub fn choice(&self) -> ScoringChoice {
        ScoringChoice {
            states: self.scoring.map(|mode| match mode {
                ScoringMode::Codes => None,
                ScoringMode::DecoderStates => Some(genret_index::StateKind::Decoder),
                ScoringMode::EncoderStates => Some(genret_index::StateKind::Encoder),
            }),
            code: self.code_score.map(|c| match c {
                CodeScoreArg::LogProb => genret_index::CodeScore::LogProb,
                CodeScoreArg::Logit => genret_index::CodeScore::Logit,
                CodeScoreArg::Residual => genret_index::CodeScore::Residual,
            }),
            code_weight: self.code_weight,
            candidate_depth: self.candidate_depth,
        }
    }

    /// The scoring to search with: the index's, changed by the flags given.
    pub fn resolve(&self, index_default: genret_index::Scoring) -> genret_index::Scoring {
        self.choice().resolve(index_default)
    }
}

/// Hybrid search: a GenRet run fused with BM25 over the index's own documents.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FuseArgs {
    /// Fuse GenRet's ranking with BM25's (tantivy, built in memory over the index's
    /// documents, added ones included). Pure GenRet is always reported beside it.
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub fuse: Option<FuseWith>,
    /// Weight of GenRet in the fusion (BM25 gets 1 − W); min-max and z-score fusion. The
    /// default was chosen on SciFact dev.
    #[arg(long, default_value_t = genret_pipeline::training::DEFAULT_FUSE_WEIGHT, value_name = "W")]
    pub fuse_weight: f64,
    /// `z-score` (per-query standardised scores, weighted sum; the default, chosen on SciFact
    /// dev), `min-max` (per-query min-max normalised scores, weighted sum) or `rrf` (reciprocal
    /// rank fusion, k = 60, equal weights).
    #[arg(long, value_enum, default_value_t = FuseMethodArg::ZScore)]
    pub fuse_method: FuseMethodArg,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuseWith {
    Bm25,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FuseMethodArg {
    MinMax,
    #[default]
    ZScore,
    Rrf,
}

impl FuseArgs {
    pub fn method(&self) -> genret_eval::FusionMethod {
        match self.fuse_method {
            FuseMethodArg::MinMax => genret_eval::FusionMethod::MinMax,
            FuseMethodArg::ZScore => genret_eval::FusionMethod::ZScore,
            FuseMethodArg::Rrf => genret_eval::FusionMethod::Rrf { k: 60.0 },
        }
    }
    /// The fusion asked for, if any.
    pub fn job(&self) -> anyhow::Result<Option<FuseWithBm25>> {
        if self.fuse.is_none() {
            return Ok(None);
        }
        let (genret_weight, bm25_weight) = self.weights()?;
        Ok(Some(FuseWithBm25 {
            method: self.method(),
            genret_weight,
            bm25_weight,
        }))
    }

    /// `(genret weight, bm25 weight)`.
    pub fn weights(&self) -> anyhow::Result<(f64, f64)> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.fuse_weight),
            "--fuse-weight {} is outside [0, 1]",
            self.fuse_weight
        );
        Ok(match self.fuse_method {
            FuseMethodArg::MinMax | FuseMethodArg::ZScore => {
                (self.fuse_weight, 1.0 - self.fuse_weight)
            }
            FuseMethodArg::Rrf => (1.0, 1.0),
        })
    }
}
