//! Arguments shared by several subcommands.

use std::path::PathBuf;

use genret_data::{Dataset, DatasetSource};

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

    /// `--metrics-out`, else next to the run (`run.trec` -> `run.metrics.json`).
    pub fn path(&self, out: &std::path::Path) -> PathBuf {
        self.metrics_out
            .clone()
            .unwrap_or_else(|| out.with_extension("metrics.json"))
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

/// The judged queries of `split` and their judgements, checked against the documents a system
/// can return (`has_doc`): unknown queries are dropped, unknown documents kept and counted (or
/// an error under `strict`). `empty_hint` ends the error when no judged query remains.
pub fn judged_split(
    dataset: &Dataset,
    split: &str,
    strict: bool,
    has_doc: impl Fn(&str) -> bool,
    empty_hint: &str,
) -> anyhow::Result<(genret_data::Qrels, Vec<genret_data::Query>)> {
    let queries = dataset.load_queries()?;
    let qrels_path = dataset.qrels_path(split);
    if !qrels_path.exists() {
        anyhow::bail!(
            "{}: dataset has no `{split}` split (available: {})",
            qrels_path.display(),
            dataset.splits().join(", ")
        );
    }
    let mut qrels = dataset.read_qrels(split)?;
    qrels.check_refs(&qrels_path, |q| queries.contains(q), has_doc, strict)?;
    let judged = queries.judged(&qrels);
    if judged.is_empty() {
        anyhow::bail!(
            "{}: no judged query of the split is in the queries file{empty_hint}",
            qrels_path.display()
        );
    }
    Ok((qrels, judged))
}

/// Milliseconds, for reports.
pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The value at quantile `q` of sorted durations (nearest rank, as latency reports use).
pub fn quantile(sorted: &[std::time::Duration], q: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Mean, median, 99th percentile and maximum of measured times (per query or per batch), as
/// every retrieval command reports them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub mean: std::time::Duration,
    pub p50: std::time::Duration,
    pub p99: std::time::Duration,
    pub max: std::time::Duration,
}

impl Latency {
    pub fn of(mut times: Vec<std::time::Duration>) -> Self {
        times.sort();
        let mean = times.iter().sum::<std::time::Duration>() / times.len().max(1) as u32;
        Self {
            mean,
            p50: quantile(&times, 0.5),
            p99: quantile(&times, 0.99),
            max: times.last().copied().unwrap_or_default(),
        }
    }

    /// `mean 1.20 ms, p50 1.10 ms, p99 3.40 ms`, for the summary on standard error.
    pub fn describe(&self) -> String {
        format!(
            "mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms",
            ms(self.mean),
            ms(self.p50),
            ms(self.p99)
        )
    }

    /// Adds `{what}_mean_ms`, `{what}_p50_ms`, `{what}_p99_ms` and `{what}_max_ms` to a JSON
    /// object (the `timings` of a report).
    pub fn add_to(&self, timings: &mut serde_json::Value, what: &str) {
        if let Some(map) = timings.as_object_mut() {
            for (name, d) in [
                ("mean", self.mean),
                ("p50", self.p50),
                ("p99", self.p99),
                ("max", self.max),
            ] {
                map.insert(format!("{what}_{name}_ms"), ms(d).into());
            }
        }
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

/// Total size in bytes of the files under `dir` (recursively).
pub fn dir_bytes(dir: &std::path::Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// What a retrieval command leaves for a caller that composes several (quickstart): the
/// per-query evaluation and the JSON report it wrote.
pub struct Outcome {
    pub evaluation: genret_eval::Evaluation,
    pub report: serde_json::Value,
    /// Seen/unseen query groups, when the index holds documents added after training.
    pub groups: Option<std::collections::HashMap<String, QueryGroup>>,
    /// The hybrid run's evaluation (`genret run --fuse`).
    pub fused: Option<genret_eval::Evaluation>,
}

/// Which documents a test query's relevant documents are, for the seen/unseen split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryGroup {
    /// Every relevant document in the index was trained on.
    Seen,
    /// Every relevant document in the index was added after training (never seen).
    Unseen,
    /// Some of each.
    Mixed,
}

impl QueryGroup {
    pub fn name(self) -> &'static str {
        match self {
            QueryGroup::Seen => "seen",
            QueryGroup::Unseen => "unseen",
            QueryGroup::Mixed => "mixed",
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            QueryGroup::Seen => "every relevant document was trained on",
            QueryGroup::Unseen => "every relevant document was added after training",
            QueryGroup::Mixed => "relevant documents of both kinds",
        }
    }
}

/// Classifies each judged query by the origin of its relevant documents (relevance > 0) that
/// the index holds; queries with none in the index are left out.
pub fn classify_queries(
    qrels: &genret_data::Qrels,
    origins: &std::collections::HashMap<String, genret_index::Origin>,
) -> std::collections::HashMap<String, QueryGroup> {
    let mut out = std::collections::HashMap::new();
    for (qid, judged) in qrels.iter() {
        let (mut seen, mut unseen) = (0, 0);
        for (doc, &rel) in judged {
            match (rel > 0).then(|| origins.get(doc)).flatten() {
                Some(genret_index::Origin::Train) => seen += 1,
                Some(genret_index::Origin::Added) => unseen += 1,
                None => {}
            }
        }
        let group = match (seen, unseen) {
            (0, 0) => continue,
            (_, 0) => QueryGroup::Seen,
            (0, _) => QueryGroup::Unseen,
            _ => QueryGroup::Mixed,
        };
        out.insert(qid.clone(), group);
    }
    out
}

/// The judgements of the documents of one origin, for the queries with at least one relevant
/// document of that origin. Evaluating a run against them measures how well the system finds
/// those documents; on collections with many relevant documents per query (TREC DL), where
/// nearly every query has relevant documents of both origins, this is the seen/unseen split
/// that still says something.
pub fn judgements_of(
    qrels: &genret_data::Qrels,
    origins: &std::collections::HashMap<String, genret_index::Origin>,
    origin: genret_index::Origin,
) -> genret_data::Qrels {
    let mut out = genret_data::Qrels::default();
    for (qid, judged) in qrels.iter() {
        if !judged
            .iter()
            .any(|(d, &rel)| rel > 0 && origins.get(d) == Some(&origin))
        {
            continue;
        }
        for (d, &rel) in judged {
            if origins.get(d) == Some(&origin) {
                out.insert(qid, d, rel);
            }
        }
    }
    out
}

/// Builds a subcommand's arguments from an argument list, exactly as the command line would.
pub fn args_from<A: clap::Args + clap::FromArgMatches>(argv: &[String]) -> anyhow::Result<A> {
    let cmd = A::augment_args(clap::Command::new("genret"));
    let matches = cmd
        .try_get_matches_from(std::iter::once("genret".to_string()).chain(argv.iter().cloned()))?;
    Ok(A::from_arg_matches(&matches)?)
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
    use std::time::Duration;

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
    fn judgements_are_split_by_document_origin() {
        use genret_index::Origin;
        let mut qrels = genret_data::Qrels::default();
        qrels.insert("q1", "a", 2);
        qrels.insert("q1", "b", 1);
        qrels.insert("q1", "c", 0);
        qrels.insert("q2", "a", 1);
        qrels.insert("q2", "c", 0); // only a non-relevant added document
        qrels.insert("q3", "z", 1); // not in the index
        let origins: std::collections::HashMap<String, Origin> = [
            ("a", Origin::Train),
            ("b", Origin::Added),
            ("c", Origin::Added),
        ]
        .into_iter()
        .map(|(d, o)| (d.to_string(), o))
        .collect();
        let seen = judgements_of(&qrels, &origins, Origin::Train);
        assert_eq!(seen.query_ids().cloned().collect::<Vec<_>>(), ["q1", "q2"]);
        assert_eq!(seen.num_judgements(), 2);
        let unseen = judgements_of(&qrels, &origins, Origin::Added);
        assert_eq!(unseen.query_ids().cloned().collect::<Vec<_>>(), ["q1"]);
        assert_eq!(
            unseen.query("q1").unwrap().len(),
            2,
            "b (relevant) and c (judged 0)"
        );
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&d, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&d, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&d[..1], 0.99), Duration::from_millis(1));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn latency_summary_and_report_keys() {
        let lat = Latency::of((1..=4).rev().map(Duration::from_millis).collect());
        assert_eq!(lat.mean, Duration::from_micros(2500));
        assert_eq!(
            (lat.p50, lat.p99, lat.max),
            (
                Duration::from_millis(2),
                Duration::from_millis(4),
                Duration::from_millis(4)
            )
        );
        let mut timings = serde_json::json!({ "wall_s": 1.0 });
        lat.add_to(&mut timings, "query");
        assert_eq!(timings["query_p50_ms"], 2.0);
        assert_eq!(timings["query_mean_ms"], 2.5);
        assert_eq!(timings["wall_s"], 1.0);
        assert_eq!(Latency::of(Vec::new()).mean, Duration::ZERO);
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

    #[test]
    fn metrics_go_next_to_the_run_unless_named() {
        use std::path::Path;
        let mut report = ReportArgs {
            metrics: String::new(),
            metrics_out: None,
        };
        assert_eq!(
            report.path(Path::new("a/run.trec")),
            Path::new("a/run.metrics.json")
        );
        report.metrics_out = Some("m.json".into());
        assert_eq!(report.path(Path::new("a/run.trec")), Path::new("m.json"));
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
    /// The scoring to search with: the index's, changed by the flags given.
    pub fn resolve(&self, index_default: genret_index::Scoring) -> genret_index::Scoring {
        let mut s = index_default;
        if let Some(mode) = self.scoring {
            s.states = match mode {
                ScoringMode::Codes => None,
                ScoringMode::DecoderStates => Some(genret_index::StateKind::Decoder),
                ScoringMode::EncoderStates => Some(genret_index::StateKind::Encoder),
            };
        }
        if let Some(c) = self.code_score {
            s.code = match c {
                CodeScoreArg::LogProb => genret_index::CodeScore::LogProb,
                CodeScoreArg::Logit => genret_index::CodeScore::Logit,
                CodeScoreArg::Residual => genret_index::CodeScore::Residual,
            };
        }
        if let Some(w) = self.code_weight {
            s.code_weight = w;
        }
        if self.candidate_depth.is_some() {
            s.candidate_depth = self.candidate_depth;
        } else if s.states != Some(genret_index::StateKind::Encoder) {
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
    scoring: &genret_index::Scoring,
    exact: bool,
) -> Option<String> {
    let codes_beam =
        scoring.states.is_none() && scoring.code != genret_index::CodeScore::Residual && !exact;
    (codes_beam && depth > beam).then(|| {
        format!("--depth {depth} is larger than --beam {beam}: a codes-only search keeps {beam} docids, so fewer than {depth} documents may come back; raise --beam to at least --depth")
    })
}

/// Hybrid search: a GenRet run fused with BM25 over the index's own documents.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FuseArgs {
    /// Fuse GenRet's ranking with BM25's (tantivy, built in memory over the index's
    /// documents, added ones included). Pure GenRet is always reported beside it.
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub fuse: Option<FuseWith>,
    /// Weight of GenRet in the fusion (BM25 gets 1 − W); min-max fusion only.
    #[arg(long, default_value_t = 0.5, value_name = "W")]
    pub fuse_weight: f64,
    /// `min-max` (per-query normalised scores, weighted sum) or `rrf` (reciprocal rank
    /// fusion, k = 60, equal weights).
    #[arg(long, value_enum, default_value_t = FuseMethodArg::MinMax)]
    pub fuse_method: FuseMethodArg,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuseWith {
    Bm25,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FuseMethodArg {
    #[default]
    MinMax,
    Rrf,
}

impl FuseArgs {
    pub fn method(&self) -> genret_eval::FusionMethod {
        match self.fuse_method {
            FuseMethodArg::MinMax => genret_eval::FusionMethod::MinMax,
            FuseMethodArg::Rrf => genret_eval::FusionMethod::Rrf { k: 60.0 },
        }
    }
    /// `(genret weight, bm25 weight)`.
    pub fn weights(&self) -> anyhow::Result<(f64, f64)> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.fuse_weight),
            "--fuse-weight {} is outside [0, 1]",
            self.fuse_weight
        );
        Ok(match self.fuse_method {
            FuseMethodArg::MinMax => (self.fuse_weight, 1.0 - self.fuse_weight),
            FuseMethodArg::Rrf => (1.0, 1.0),
        })
    }
}

/// A BM25 index (in memory) over every document of a GenRet index, so fusion sees the same
/// collection, added documents included.
pub fn bm25_over_index(index: &genret_index::Index) -> anyhow::Result<genret_bm25::Bm25Index> {
    let positions: Vec<u64> = (0..index.num_docs() as u64).collect();
    let docs: Vec<genret_data::Document> = index
        .documents(&positions)?
        .into_iter()
        .map(|d| genret_data::Document {
            id: d.doc_id,
            title: d.title,
            text: d.text,
        })
        .collect();
    Ok(genret_bm25::Bm25Index::build(
        genret_bm25::IndexLocation::Ram,
        &docs,
        &genret_bm25::BuildOptions::default(),
    )?)
}
