//! The baselines' indexes, built once and reused.
//!
//! * BM25: a tantivy index under `$GENRET_HOME/bm25/<dataset>-<fingerprint>` (or a chosen
//!   folder); the fingerprint covers the corpus file (path, size, modification time) and the
//!   analysis settings, so a changed corpus or setting builds a new index instead of reading a
//!   stale one.
//! * Dense: the document embeddings as a safetensors file under `$GENRET_HOME/dense` (or a
//!   chosen folder), named and stamped with a fingerprint of the model files, the maximum length
//!   and the corpus file, checked on load.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use genret_bm25::{Bm25Builder, Bm25Config, Bm25Index, BuildOptions, IndexLocation};
use genret_data::Dataset;
use genret_dense::{DenseIndex, Fingerprint};
use genret_model::checkpoint::Checkpoint;
use genret_model::embed::Embedder;

/// A file-name-safe version of a dataset or model name (its last path component).
pub fn safe_name(s: &str) -> String {
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

/// Where a BM25 index of `dataset` with these settings lives by default.
pub fn default_bm25_dir(dataset: &Dataset, config: &Bm25Config) -> anyhow::Result<PathBuf> {
    let fingerprint = genret_bm25::corpus_fingerprint(&dataset.corpus_path()?, config)?;
    Ok(genret_data::dataset::genret_home()
        .join("bm25")
        .join(format!("{}-{fingerprint}", safe_name(&dataset.name))))
}

/// How to find or make a BM25 index.
pub struct Bm25Source<'a> {
    pub dataset: &'a Dataset,
    pub config: Bm25Config,
    /// The folder; `None`: [`default_bm25_dir`].
    pub dir: Option<PathBuf>,
    /// Build even when a matching index exists.
    pub rebuild: bool,
    /// Indexing threads (0: all cores).
    pub threads: usize,
}

/// A BM25 index and where it came from.
pub struct Bm25Opened {
    pub index: Bm25Index,
    pub dir: PathBuf,
    /// How long building took; `None` when an existing index was reused.
    pub built_in: Option<Duration>,
}

/// Opens the BM25 index of the source when it matches the corpus and settings, else builds it.
/// A folder that holds something else is refused rather than overwritten; a chosen folder
/// holding another corpus's index needs `rebuild`.
pub fn open_or_build_bm25(source: &Bm25Source) -> anyhow::Result<Bm25Opened> {
    let corpus_path = source.dataset.corpus_path()?;
    let fingerprint = genret_bm25::corpus_fingerprint(&corpus_path, &source.config)?;
    let dir = match &source.dir {
        Some(d) => d.clone(),
        None => default_bm25_dir(source.dataset, &source.config)?,
    };
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        if !dir.join("genret-bm25.json").exists() {
            anyhow::bail!(
                "{}: exists and is not a genret BM25 index; choose another --index",
                dir.display()
            );
        }
        if !source.rebuild {
            match Bm25Index::open(&dir) {
                Ok(index)
                    if index.fingerprint() == Some(fingerprint.as_str())
                        && index.config() == &source.config =>
                {
                    tracing::info!("reusing the BM25 index at {}", dir.display());
                    return Ok(Bm25Opened {
                        index,
                        dir,
                        built_in: None,
                    });
                }
                Ok(_) if source.dir.is_some() => anyhow::bail!(
                    "{}: holds an index of another corpus version or other settings; pass --rebuild to replace it",
                    dir.display()
                ),
                Ok(_) => tracing::info!("{}: stale index, rebuilding", dir.display()),
                Err(e) => tracing::warn!("{}: cannot open ({e}), rebuilding", dir.display()),
            }
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }

    let options = BuildOptions {
        config: source.config,
        threads: source.threads,
        ..BuildOptions::default()
    };
    let start = Instant::now();
    let mut builder =
        Bm25Builder::new(IndexLocation::Dir(dir.clone()), &options)?.with_fingerprint(&fingerprint);
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} indexing {human_pos} documents ({per_sec}) {elapsed} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    // Streamed, so a duplicate id is caught here, where both of its lines are known.
    let mut reader = source.dataset.corpus_reader()?;
    let mut first_line: std::collections::HashMap<String, usize> = Default::default();
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
    Ok(Bm25Opened {
        index,
        dir,
        built_in: Some(took),
    })
}

/// The cache key of a corpus encoding: model files, length, corpus file, and how texts are made.
pub fn dense_cache_key(ckpt: &Checkpoint, max_len: usize, corpus: &Path) -> anyhow::Result<String> {
    let mut fp = Fingerprint::new();
    fp.add("genret-dense/1 mean-pool l2 title+space+text");
    fp.add_file(&ckpt.config)?
        .add_file(&ckpt.weights)?
        .add_file(&ckpt.tokenizer)?;
    fp.add(max_len.to_string()).add_file(corpus)?;
    Ok(fp.hex())
}

/// How to find or make the dense baseline's document embeddings.
pub struct DenseSource<'a> {
    pub dataset: &'a Dataset,
    /// The documents to encode, in corpus order (their row order in the index).
    pub corpus: &'a genret_data::Corpus,
    /// The model as the user named it (a folder or hub id), for the cache file's name.
    pub model_name: &'a str,
    pub checkpoint: &'a Checkpoint,
    pub max_len: usize,
    pub batch_size: usize,
    /// The cache folder; `None`: no cache (neither read nor written).
    pub cache_dir: Option<PathBuf>,
    /// Encode even when a matching cache exists (and replace it).
    pub rebuild: bool,
}

/// Document embeddings and where they came from.
pub struct DenseOpened {
    pub index: DenseIndex,
    pub cache: Option<PathBuf>,
    /// How long encoding took; `None` when the cache was reused.
    pub encoded_in: Option<Duration>,
}

/// The default cache folder of dense embeddings.
pub fn default_dense_cache() -> PathBuf {
    genret_data::genret_home().join("dense")
}

/// Reads the embeddings from the cache when its fingerprint matches, else encodes the corpus
/// (and writes the cache).
pub fn open_or_encode_dense(
    source: &DenseSource,
    embedder: &Embedder,
) -> anyhow::Result<DenseOpened> {
    let key = dense_cache_key(
        source.checkpoint,
        source.max_len,
        &source.dataset.corpus_path()?,
    )?;
    let cache = source.cache_dir.as_ref().map(|dir| {
        dir.join(format!(
            "{}-{}-{key}.safetensors",
            safe_name(&source.dataset.name),
            safe_name(source.model_name)
        ))
    });
    if let Some(path) = cache.as_ref().filter(|p| p.exists() && !source.rebuild) {
        match DenseIndex::load(path) {
            Ok(index)
                if index.meta.get("key") == Some(&key) && index.len() == source.corpus.len() =>
            {
                tracing::info!("reusing document embeddings {}", path.display());
                return Ok(DenseOpened {
                    index: index.to_device(embedder.device()),
                    cache,
                    encoded_in: None,
                });
            }
            Ok(_) => tracing::warn!(
                "{}: does not match this model and corpus, encoding again",
                path.display()
            ),
            Err(e) => tracing::warn!("{e}; encoding again"),
        }
    }
    let texts: Vec<String> = source.corpus.iter().map(|d| d.full_text()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let start = Instant::now();
    let options = genret_dense::BuildOptions {
        batch_size: source.batch_size,
        ..Default::default()
    };
    let mut index = DenseIndex::build_with(embedder, &refs, &options)?;
    let took = start.elapsed();
    index.meta.insert("key".into(), key);
    index
        .meta
        .insert("model".into(), source.model_name.to_string());
    index
        .meta
        .insert("dataset".into(), source.dataset.name.clone());
    index
        .meta
        .insert("max_len".into(), source.max_len.to_string());
    if let Some(path) = &cache {
        index.save(path)?;
        tracing::info!("saved document embeddings to {}", path.display());
    }
    Ok(DenseOpened {
        index,
        cache,
        encoded_in: Some(took),
    })
}

/// Total size in bytes of the files under `dir` (recursively).
pub fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
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

#[cfg(test)]
mod tests {
    use super::*;

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
