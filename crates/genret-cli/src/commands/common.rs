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

/// `cpu`, `cuda`, `cuda:N`, or `auto` (a GPU when libtorch sees one).
pub fn parse_device(s: &str) -> anyhow::Result<tch::Device> {
    Ok(match s {
        "auto" => tch::Device::cuda_if_available(),
        "cpu" => tch::Device::Cpu,
        "cuda" => tch::Device::Cuda(0),
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => tch::Device::Cuda(n),
            None => anyhow::bail!("unknown device `{other}` (cpu, cuda, cuda:N, auto)"),
        },
    })
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
    let mut qrels = genret_data::Qrels::load(&qrels_path)?;
    qrels.check_refs(&qrels_path, |q| queries.contains(q), has_doc, strict)?;
    let judged = queries.judged(&qrels);
    if judged.is_empty() {
        anyhow::bail!("{}: no judged query of the split is in the queries file{empty_hint}", qrels_path.display());
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

/// Writes a JSON report atomically (pretty, newline-terminated).
pub fn write_json(path: &std::path::Path, value: &serde_json::Value) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    genret_data::run::write_atomically(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(std::io::Error::other)?;
        writeln!(w)
    })
    .with_context(|| format!("writing {}", path.display()))
}

/// Total size in bytes of the files under `dir` (recursively).
pub fn dir_bytes(dir: &std::path::Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_bytes(&entry.path())? } else { meta.len() };
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

/// Builds a subcommand's arguments from an argument list, exactly as the command line would.
pub fn args_from<A: clap::Args + clap::FromArgMatches>(argv: &[String]) -> anyhow::Result<A> {
    let cmd = A::augment_args(clap::Command::new("genret"));
    let matches = cmd.try_get_matches_from(std::iter::once("genret".to_string()).chain(argv.iter().cloned()))?;
    Ok(A::from_arg_matches(&matches)?)
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
    fn quantiles_use_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&d, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&d, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&d[..1], 0.99), Duration::from_millis(1));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}
