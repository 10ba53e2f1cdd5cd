//! Datasets by name or by folder.
//!
//! `--dataset scifact` resolves to `$GENRET_HOME/datasets/scifact` (default
//! `~/.cache/genret/datasets/scifact`), downloaded from the public BEIR archive and unpacked when
//! missing; `--data DIR` reads a local folder in the same layout.

use std::path::{Path, PathBuf};

use crate::corpus::{Corpus, CorpusReader};
use crate::error::{DataError, Result};
use crate::qrels::{Qrels, UnknownRefs};
use crate::queries::Queries;

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

/// The cache directory genret keeps datasets, models' encoded states and runs under.
pub fn genret_home() -> PathBuf {
    if let Some(dir) = std::env::var_os("GENRET_HOME") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("genret")
}

impl Dataset {
    /// Opens a local folder, checking that it holds a corpus.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        let ds = Dataset {
            name: root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into()),
            root,
        };
        ds.corpus_path()?;
        Ok(ds)
    }

    /// Resolves a source to a folder on disk (downloading a named dataset when allowed).
    pub fn resolve(source: &DatasetSource) -> Result<Self> {
        match source {
            DatasetSource::Dir(dir) => Self::from_dir(dir),
            DatasetSource::Named(name) => {
                let dir = genret_home().join("datasets").join(name);
                if dir.join("corpus.jsonl").exists() || dir.join("corpus.jsonl.gz").exists() {
                    return Self::from_dir(&dir).map(|mut d| {
                        d.name = name.clone();
                        d
                    });
                }
                Err(DataError::Dataset(format!(
                    "dataset `{name}` is not in the cache ({}) and cannot be downloaded here; \
                     either connect to the internet so genret can fetch it from the BEIR archive, \
                     or pass --data DIR with a folder in BEIR layout",
                    dir.display()
                )))
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
    pub fn qrels_path(&self, split: &str) -> PathBuf {
        self.root.join("qrels").join(format!("{split}.tsv"))
    }
    /// The splits that have a qrels file, sorted.
    pub fn splits(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.root.join("qrels"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".tsv")).map(str::to_string))
            .collect();
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
    /// Reads a split's judgements and drops (or, with `strict`, rejects) rows naming unknown ids.
    pub fn load_qrels(&self, split: &str, queries: &Queries, corpus: &Corpus, strict: bool) -> Result<(Qrels, UnknownRefs)> {
        let path = self.qrels_path(split);
        if !path.exists() {
            return Err(DataError::Dataset(format!(
                "{}: dataset has no `{split}` split (available: {})",
                path.display(),
                self.splits().join(", ")
            )));
        }
        let mut qrels = Qrels::load(&path)?;
        let unknown = qrels.check_refs(&path, |q| queries.contains(q), |d| corpus.contains(d), strict)?;
        Ok((qrels, unknown))
    }
}
