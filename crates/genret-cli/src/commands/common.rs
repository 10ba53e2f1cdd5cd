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
