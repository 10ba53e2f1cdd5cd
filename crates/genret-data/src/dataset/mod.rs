//! Datasets by name or by folder.
//!
//! `--dataset scifact` resolves to `$GENRET_HOME/datasets/scifact` (default
//! `~/.cache/genret/datasets/scifact`, or `$XDG_CACHE_HOME/genret/...`). When that folder is
//! missing, the dataset is downloaded from the public BEIR archive
//! (`{base}/{name}.zip`, base overridable with `GENRET_BEIR_URL`), checked, unpacked into a
//! staging folder under the cache and renamed into place in one step, so the cache never holds a
//! half-unpacked dataset. `GENRET_OFFLINE=1` (or `HF_HUB_OFFLINE=1`) turns the network off.
//! `--data DIR` reads a local folder in the same layout.
//!
//! The names genret knows are in [`KNOWN_DATASETS`]. CQADupStack is one archive holding twelve
//! forums; name one as `cqadupstack/android`. A folder in BEIR layout placed into the cache by
//! hand (`$GENRET_HOME/datasets/NAME`) is found by its name too, known or not.

mod catalogue;
mod download;

use std::path::{Path, PathBuf};

pub use catalogue::{known_dataset, known_names, KnownDataset, BEIR_BASE_URL, KNOWN_DATASETS};
use download::{download_archive, DownloadError};

use crate::corpus::{Corpus, CorpusReader};
use crate::error::{DataError, Result};
use crate::qrels::{Qrels, UnknownRefs};
use crate::queries::Queries;

/// The training split's name.
pub const TRAIN_SPLIT: &str = "train";
/// The development split's name (a file of its own, or carved from `train`).
pub const DEV_SPLIT: &str = "dev";

/// Where a dataset comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetSource {
    /// A BEIR dataset name, fetched into the cache when missing.
    Named(String),
    /// A local folder in BEIR layout.
    Dir(PathBuf),
}

/// A dataset folder in BEIR layout that exists on disk.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub root: PathBuf,
}

/// One split of a dataset loaded for evaluation or training: see [`Dataset::load_split`].
#[derive(Debug, Clone)]
pub struct SplitData {
    /// The split's name (`test`, `dev`, `train`, ...).
    pub split: String,
    /// The whole corpus, in file order.
    pub corpus: Corpus,
    /// Only the queries that have judgements in `qrels` (after unknown rows were dropped), in
    /// the order of the queries file.
    pub queries: Queries,
    /// The split's judgements, without rows that name unknown queries or documents.
    pub qrels: Qrels,
    /// How many judgement rows named a query or document the dataset lacks (dropped).
    pub unknown: UnknownRefs,
}

/// The cache directory genret keeps datasets, models' encoded states and runs under.
pub fn genret_home() -> PathBuf {
    if let Some(dir) = std::env::var_os("GENRET_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("genret")
}

/// How [`Dataset::resolve_with`] finds and fetches a named dataset. `Default` reads the
/// environment (see [`ResolveOptions::from_env`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOptions {
    /// The cache root; datasets live under `{home}/datasets/{name}`.
    pub home: PathBuf,
    /// Never touch the network; a dataset missing from the cache is an error.
    pub offline: bool,
    /// Where archives are fetched from: `{base_url}/{archive}.zip`.
    pub base_url: String,
    /// Draw a progress bar on stderr while downloading (only when stderr is a terminal).
    pub progress: bool,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        Self::from_env()
    }
}

impl ResolveOptions {
    /// `GENRET_HOME` (see [`genret_home`]), `GENRET_OFFLINE` or `HF_HUB_OFFLINE` set to
    /// `1`/`true`/`yes`/`on`, and `GENRET_BEIR_URL` (default [`BEIR_BASE_URL`]).
    pub fn from_env() -> Self {
        Self::from_vars(genret_home(), |k| std::env::var(k).ok())
    }

    fn from_vars(home: PathBuf, var: impl Fn(&str) -> Option<String>) -> Self {
        let truthy = |k: &str| {
            var(k).is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
        };
        let base_url = var("GENRET_BEIR_URL")
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| BEIR_BASE_URL.to_string());
        Self {
            home,
            offline: truthy("GENRET_OFFLINE") || truthy("HF_HUB_OFFLINE"),
            base_url,
            progress: true,
        }
    }

    /// The cache folder of datasets.
    pub fn datasets_dir(&self) -> PathBuf {
        self.home.join("datasets")
    }
}

fn has_corpus(dir: &Path) -> bool {
    dir.join("corpus.jsonl").is_file() || dir.join("corpus.jsonl.gz").is_file()
}

impl Dataset {
    /// Opens a local folder, checking that it holds a corpus.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(DataError::Dataset(format!(
                "{}: no such folder (--data expects a folder in BEIR layout: corpus.jsonl[.gz], \
                 queries.jsonl, qrels/<split>.tsv)",
                root.display()
            )));
        }
        let name = root
            .canonicalize()
            .ok()
            .as_deref()
            .unwrap_or(&root)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dataset".into());
        let ds = Dataset { name, root };
        ds.corpus_path()?;
        Ok(ds)
    }

    /// Resolves a source to a folder on disk, downloading a named dataset when it is missing
    /// from the cache and the network is allowed; options come from the environment.
    pub fn resolve(source: &DatasetSource) -> Result<Self> {
        Self::resolve_with(source, &ResolveOptions::from_env())
    }

    /// [`Dataset::resolve`] with explicit options (cache root, offline, archive URL).
    pub fn resolve_with(source: &DatasetSource, opts: &ResolveOptions) -> Result<Self> {
        match source {
            DatasetSource::Dir(dir) => Self::from_dir(dir),
            DatasetSource::Named(name) => {
                let name = name.trim();
                // A folder the user put into the cache by hand is used under its own name.
                let cached = opts.datasets_dir().join(name);
                let plain = !name.is_empty()
                    && Path::new(name)
                        .components()
                        .all(|c| matches!(c, std::path::Component::Normal(_)));
                if plain && has_corpus(&cached) {
                    return Ok(Dataset {
                        name: name.to_string(),
                        root: cached,
                    });
                }
                let (entry, sub) = known_dataset(name)?;
                let archive_dir = opts.datasets_dir().join(entry.name);
                let root = match sub {
                    Some(s) => archive_dir.join(s),
                    None => archive_dir.clone(),
                };
                if !has_corpus(&root) {
                    let url = format!("{}/{}.zip", opts.base_url, entry.name);
                    if opts.offline {
                        return Err(DataError::Dataset(format!(
                            "dataset `{name}` is not in the cache ({}) and the network is off \
                             (GENRET_OFFLINE or HF_HUB_OFFLINE is set); either unset it and connect \
                             to the internet so genret can fetch {url}, or pass --data DIR with a \
                             folder in BEIR layout",
                            root.display()
                        )));
                    }
                    if archive_dir.exists() {
                        return Err(DataError::Dataset(format!(
                            "{}: the cache folder of `{name}` exists but holds no corpus.jsonl[.gz] \
                             at {}; remove it so genret can download {url} again, or pass --data DIR",
                            archive_dir.display(),
                            root.display()
                        )));
                    }
                    download_archive(entry, &url, opts).map_err(|e| match e {
                        DownloadError::Network(msg) => DataError::Dataset(format!(
                            "dataset `{name}` is not in the cache ({}) and downloading it failed: \
                             {url}: {msg}; either connect to the internet so genret can fetch it \
                             (set GENRET_BEIR_URL for a mirror), or pass --data DIR with a folder \
                             in BEIR layout (corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv)",
                            root.display()
                        )),
                        DownloadError::Data(e) => e,
                    })?;
                    if !has_corpus(&root) {
                        return Err(DataError::Dataset(format!(
                            "{url} unpacked to {} but {} holds no corpus.jsonl[.gz]",
                            archive_dir.display(),
                            root.display()
                        )));
                    }
                }
                Ok(Dataset {
                    name: name.to_string(),
                    root,
                })
            }
        }
    }

    /// `corpus.jsonl`, or `corpus.jsonl.gz` when only that exists.
    pub fn corpus_path(&self) -> Result<PathBuf> {
        for name in ["corpus.jsonl", "corpus.jsonl.gz"] {
            let p = self.root.join(name);
            if p.exists() {
                return Ok(p);
            }
        }
        Err(DataError::Dataset(format!(
            "{}: no corpus.jsonl or corpus.jsonl.gz (is this a BEIR dataset folder?)",
            self.root.display()
        )))
    }
    pub fn queries_path(&self) -> PathBuf {
        self.root.join("queries.jsonl")
    }
    /// The judgement file a split reads. The carved development split (see [`crate::dev`])
    /// reads the training file.
    pub fn qrels_path(&self, split: &str) -> PathBuf {
        let file = if split == DEV_SPLIT && self.carves_dev() {
            TRAIN_SPLIT
        } else {
            split
        };
        self.root.join("qrels").join(format!("{file}.tsv"))
    }

    /// True when this dataset's `dev` split is carved out of its training judgements: it has a
    /// `train` file and no `dev` file of its own. Then `train` means the training judgements
    /// without the carved queries, and `dev` means those queries (see [`crate::dev`]).
    pub fn carves_dev(&self) -> bool {
        let dir = self.root.join("qrels");
        dir.join(format!("{TRAIN_SPLIT}.tsv")).exists()
            && !dir.join(format!("{DEV_SPLIT}.tsv")).exists()
    }

    /// Reads a split's judgements, unchecked; for a carved development split (and the training
    /// split it is carved from) only that split's queries are kept.
    pub fn read_qrels(&self, split: &str) -> Result<Qrels> {
        let mut qrels = Qrels::load(self.split_path(split)?)?;
        self.restrict_to_split(split, &mut qrels);
        Ok(qrels)
    }

    fn restrict_to_split(&self, split: &str, qrels: &mut Qrels) {
        if self.carves_dev() {
            match split {
                DEV_SPLIT => qrels.retain_queries(crate::dev::in_dev),
                TRAIN_SPLIT => qrels.retain_queries(|q| !crate::dev::in_dev(q)),
                _ => {}
            }
        }
    }

    /// The splits that have a qrels file, sorted, with `dev` when it is carved from `train`.
    pub fn splits(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.root.join("qrels"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".tsv"))
                    .map(str::to_string)
            })
            .collect();
        if self.carves_dev() {
            out.push(DEV_SPLIT.to_string());
        }
        out.sort();
        out
    }
    pub fn has_split(&self, split: &str) -> bool {
        self.qrels_path(split).exists()
    }

    pub fn corpus_reader(&self) -> Result<CorpusReader> {
        CorpusReader::open(self.corpus_path()?)
    }
    pub fn load_corpus(&self) -> Result<Corpus> {
        Corpus::load(self.corpus_path()?)
    }
    pub fn load_queries(&self) -> Result<Queries> {
        Queries::load(self.queries_path())
    }

    fn split_path(&self, split: &str) -> Result<PathBuf> {
        let path = self.qrels_path(split);
        if !path.exists() {
            let splits = self.splits();
            return Err(DataError::Dataset(format!(
                "{}: dataset `{}` has no `{split}` split (available: {})",
                path.display(),
                self.name,
                if splits.is_empty() {
                    "none".to_string()
                } else {
                    splits.join(", ")
                }
            )));
        }
        Ok(path)
    }

    /// Reads a split's judgements and drops (or, with `strict`, rejects with the line and
    /// field) rows naming unknown ids; the counts of dropped rows come back.
    pub fn load_qrels(
        &self,
        split: &str,
        queries: &Queries,
        corpus: &Corpus,
        strict: bool,
    ) -> Result<(Qrels, UnknownRefs)> {
        let path = self.split_path(split)?;
        let (mut qrels, unknown) = Qrels::load_checked(
            &path,
            |q| queries.contains(q),
            |d| corpus.contains(d),
            strict,
        )?;
        self.restrict_to_split(split, &mut qrels);
        Ok((qrels, unknown))
    }

    /// Everything an evaluation or a training run of one split needs, checked: the corpus, the
    /// queries that have judgements in this split, the judgements, and how many judgement rows
    /// named unknown queries or documents (dropped with a warning, or an error under `strict`).
    ///
    /// ```no_run
    /// # use genret_data::{Dataset, DatasetSource};
    /// let ds = Dataset::resolve(&DatasetSource::Named("scifact".into()))?;
    /// let test = ds.load_split("test", false)?;
    /// assert_eq!(test.queries.len(), test.qrels.len());
    /// # Ok::<(), genret_data::DataError>(())
    /// ```
    pub fn load_split(&self, split: &str, strict: bool) -> Result<SplitData> {
        // The split's file is checked before the corpus is read.
        self.split_path(split)?;
        let corpus = self.load_corpus()?;
        let all_queries = self.load_queries()?;
        let (qrels, unknown) = self.load_qrels(split, &all_queries, &corpus, strict)?;
        let queries = Queries::from_queries(all_queries.judged(&qrels));
        Ok(SplitData {
            split: split.to_string(),
            corpus,
            queries,
            qrels,
            unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(vars: &[(&str, &str)]) -> ResolveOptions {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ResolveOptions::from_vars(PathBuf::from("/h"), |k| {
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn options_from_environment() {
        let o = opts(&[]);
        assert!(!o.offline);
        assert_eq!(o.base_url, BEIR_BASE_URL);
        assert_eq!(o.datasets_dir(), PathBuf::from("/h/datasets"));
        assert!(opts(&[("GENRET_OFFLINE", "1")]).offline);
        assert!(opts(&[("HF_HUB_OFFLINE", "true")]).offline);
        assert!(!opts(&[("GENRET_OFFLINE", "0")]).offline);
        assert_eq!(
            opts(&[("GENRET_BEIR_URL", "http://127.0.0.1:9/x/")]).base_url,
            "http://127.0.0.1:9/x"
        );
    }
}
