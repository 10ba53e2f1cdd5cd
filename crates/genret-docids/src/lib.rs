//! Rule-based and clustering docid schemes for generative retrieval, to compare against
//! GenRet's learned docids (issue #5).
//!
//! # What a docid scheme is
//!
//! A generative retriever maps a query to a *docid*: a sequence of codes, one per decoding
//! step, each from a codebook of `K` codes. GenRet *learns* these sequences with a neural
//! tokenizer (crate `genret-train`). The schemes here instead **assign** every document a
//! fixed code sequence up front; the same retriever network is then trained to generate
//! them, and a prefix trie with constrained beam search retrieves. Comparing the schemes
//! under one retriever isolates what the docids themselves contribute.
//!
//! Every assignment satisfies two invariants the retrieval side relies on:
//!
//! - **unique**: no two documents share a docid;
//! - **fixed length**: all docids of one assignment have the same number of steps. The beam
//!   search has no end-of-sequence token, so no docid may be a strict prefix of another;
//!   equal lengths guarantee that. Schemes with naturally variable lengths pad with code 0
//!   in a way that cannot collide (see each module).
//!
//! # The schemes
//!
//! | [`SchemeKind`] | module | docid | codebook `K` |
//! |---|---|---|---|
//! | `atomic` | [`atomic`] | the document's position, one step (DSI atomic ids) | `N` |
//! | `naive` | [`naive`] | the characters of its string id, 0-padded (DSI naive ids) | alphabet + 1 |
//! | `hkmeans` | [`hkmeans`] | path in a hierarchical k-means tree + position in leaf (DSI semantic ids, NCI) | `max(k, leaf_size)` |
//! | `rq` | [`rq`] | `M` residual-quantisation codes + a collision suffix (TIGER) | `max(k, largest collision group)` |
//! | `genret` | — | learned by training; [`assign`] refuses it | — |
//!
//! The clustering schemes use plain Lloyd k-means with k-means++ seeding from a seeded
//! ChaCha8 generator, so an assignment is a deterministic function of its inputs and
//! [`SchemeConfig::seed`].
//!
//! # New documents
//!
//! Each [`Assignment`] carries a [`SchemeState`], which serialises to JSON to be kept with
//! an index. [`SchemeState::assign_new`] gives a document added after training a docid of
//! the same length, distinct from every docid given before (training or new), and updates
//! the state so that the next one is distinct too. The rules differ per scheme and are
//! described in its module.
//!
//! # Example
//!
//! ```
//! use genret_docids::{assign, SchemeConfig, SchemeKind};
//!
//! let ids: Vec<String> = ["d1", "d2", "d10"].iter().map(|s| s.to_string()).collect();
//! let cfg = SchemeConfig { kind: SchemeKind::Naive, ..SchemeConfig::default() };
//! let mut a = assign(&cfg, &ids, None)?;
//! assert_eq!(a.steps, 5); // longest id (3) + slack (2)
//! assert_eq!(a.codes[0], vec![4, 2, 0, 0, 0]); // alphabet "012d": d -> 4, 1 -> 2
//! let new = a.state.assign_new("d12", None)?;
//! assert_eq!(new, vec![4, 2, 3, 0, 0]);
//! assert!(a.state.assign_new("x1", None).is_err()); // 'x' is not in the alphabet
//! # Ok::<(), genret_docids::DocidError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use genret_cluster::DocidHealth;
use serde::{Deserialize, Serialize};

pub mod atomic;
pub mod error;
pub mod hkmeans;
mod kmeans;
pub mod naive;
pub mod rq;

pub use atomic::AtomicState;
pub use error::{DocidError, Result};
pub use hkmeans::HKMeansState;
pub use naive::NaiveState;
pub use rq::RqState;

/// Which docid scheme to use. Serialises as `"genret"`, `"atomic"`, `"naive"`, `"hkmeans"`
/// or `"rq"`; [`FromStr`] and [`Display`](fmt::Display) use the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SchemeKind {
    /// Docids learned by GenRet's tokenizer (not assigned by this crate).
    #[default]
    #[serde(rename = "genret")]
    GenRet,
    /// One code per document: its position.
    #[serde(rename = "atomic")]
    Atomic,
    /// The characters of the document's string id.
    #[serde(rename = "naive")]
    Naive,
    /// Hierarchical k-means over document embeddings.
    #[serde(rename = "hkmeans")]
    HKMeans,
    /// Residual quantisation of document embeddings plus a collision suffix.
    #[serde(rename = "rq")]
    Rq,
}

impl SchemeKind {
    /// Every scheme, in declaration order.
    pub const ALL: [SchemeKind; 5] = [
        Self::GenRet,
        Self::Atomic,
        Self::Naive,
        Self::HKMeans,
        Self::Rq,
    ];

    /// The scheme's name, as in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Self::GenRet => "genret",
            Self::Atomic => "atomic",
            Self::Naive => "naive",
            Self::HKMeans => "hkmeans",
            Self::Rq => "rq",
        }
    }
}

impl fmt::Display for SchemeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SchemeKind {
    type Err = DocidError;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| DocidError::UnknownScheme { name: s.to_owned() })
    }
}

/// Settings of the docid schemes, shaped to be a `[docids]`-like TOML section; every field
/// has a default, and unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemeConfig {
    /// Which scheme (default `genret`).
    pub kind: SchemeKind,
    /// `hkmeans`: clusters per tree node (default 10, at least 2).
    pub hkmeans_k: usize,
    /// `hkmeans`: most documents in a leaf (default 100, at least 1).
    pub leaf_size: usize,
    /// `rq`: quantisation levels `M` before the collision suffix (default 2, at least 1).
    pub rq_levels: usize,
    /// `rq`: codes per level (default 64, at least 1).
    pub rq_k: usize,
    /// `naive`: extra positions beyond the longest training id (default 2).
    pub naive_slack: usize,
    /// Seed of k-means++ initialisation (default 42).
    pub seed: u64,
    /// Most Lloyd iterations per k-means (default 25; 0 keeps the k-means++ seeds).
    pub kmeans_iters: usize,
}

impl Default for SchemeConfig {
    fn default() -> Self {
        Self {
            kind: SchemeKind::GenRet,
            hkmeans_k: 10,
            leaf_size: 100,
            rq_levels: 2,
            rq_k: 64,
            naive_slack: 2,
            seed: 42,
            kmeans_iters: 25,
        }
    }
}

/// Docids for a corpus, and what is needed to give new documents docids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// `codes[i]` is document `i`'s docid; all have length `steps`.
    pub codes: Vec<Vec<u32>>,
    /// `K`: every training code is below it (atomic new documents go beyond it).
    pub codebook_size: usize,
    /// Docid length.
    pub steps: usize,
    /// State for [`SchemeState::assign_new`]; store it with the index.
    pub state: SchemeState,
}

impl Assignment {
    /// Per-step diversity and collision summary of the training docids.
    pub fn health(&self) -> Result<DocidHealth> {
        Ok(DocidHealth::compute(&self.codes, self.codebook_size)?)
    }
}

/// A scheme's state after assignment; serialises as
/// `{"scheme": "<name>", "state": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", content = "state")]
pub enum SchemeState {
    /// See [`atomic`].
    #[serde(rename = "atomic")]
    Atomic(AtomicState),
    /// See [`naive`].
    #[serde(rename = "naive")]
    Naive(NaiveState),
    /// See [`hkmeans`].
    #[serde(rename = "hkmeans")]
    HKMeans(HKMeansState),
    /// See [`rq`].
    #[serde(rename = "rq")]
    Rq(RqState),
}

impl SchemeState {
    /// Gives a new document a docid of length [`docid_len`](Self::docid_len), distinct from
    /// all docids given so far, and records it. `id` is the document's string id (used by
    /// `naive`, and in error messages); `embedding` is required by `hkmeans` and `rq` and
    /// ignored by the others.
    pub fn assign_new(&mut self, id: &str, embedding: Option<&[f32]>) -> Result<Vec<u32>> {
        match self {
            Self::Atomic(s) => s.assign_new(id),
            Self::Naive(s) => s.encode(id),
            Self::HKMeans(s) => s.assign_new(id, embedding),
            Self::Rq(s) => s.assign_new(id, embedding),
        }
    }

    /// Which scheme this state belongs to.
    pub fn kind(&self) -> SchemeKind {
        match self {
            Self::Atomic(_) => SchemeKind::Atomic,
            Self::Naive(_) => SchemeKind::Naive,
            Self::HKMeans(_) => SchemeKind::HKMeans,
            Self::Rq(_) => SchemeKind::Rq,
        }
    }

    /// Length of every docid of this scheme.
    pub fn docid_len(&self) -> usize {
        match self {
            Self::Atomic(_) => 1,
            Self::Naive(s) => s.docid_len(),
            Self::HKMeans(s) => s.docid_len(),
            Self::Rq(s) => s.docid_len(),
        }
    }

    /// Codebook size `K` of the training assignment.
    pub fn codebook_size(&self) -> usize {
        match self {
            Self::Atomic(s) => s.codebook_size(),
            Self::Naive(s) => s.codebook_size(),
            Self::HKMeans(s) => s.codebook_size(),
            Self::Rq(s) => s.codebook_size(),
        }
    }
}

/// Assigns docids with the scheme `cfg.kind` to the documents with string ids `ids` and,
/// for `hkmeans` and `rq`, embeddings `(values, dim)`: `ids.len() x dim` values, row-major,
/// row `i` for document `i`.
///
/// Errors for `genret` (its docids are learned), an empty corpus, missing or misshapen
/// embeddings, invalid settings, and duplicate ids under `naive`.
pub fn assign(
    cfg: &SchemeConfig,
    ids: &[String],
    embeddings: Option<(&[f32], usize)>,
) -> Result<Assignment> {
    let embedded = |scheme: &'static str| -> Result<(&[f32], usize)> {
        let (values, dim) = embeddings.ok_or(DocidError::MissingEmbeddings { scheme })?;
        let n = check_embeddings(values, dim)?;
        if n != ids.len() {
            return Err(DocidError::BadEmbeddings {
                reason: format!("{n} rows of dimension {dim} for {} documents", ids.len()),
            });
        }
        Ok((values, dim))
    };
    match cfg.kind {
        SchemeKind::GenRet => Err(DocidError::Learned),
        SchemeKind::Atomic => atomic::assign(ids.len()),
        SchemeKind::Naive => naive::assign(ids, cfg.naive_slack),
        SchemeKind::HKMeans => {
            let (values, dim) = embedded("hkmeans")?;
            hkmeans::assign(cfg, values, dim)
        }
        SchemeKind::Rq => {
            let (values, dim) = embedded("rq")?;
            rq::assign(cfg, values, dim)
        }
    }
}

/// Checks a row-major embedding matrix and returns its number of rows (at least 1).
pub(crate) fn check_embeddings(values: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(DocidError::BadEmbeddings {
            reason: "dimension must be at least 1".into(),
        });
    }
    if !values.len().is_multiple_of(dim) {
        return Err(DocidError::BadEmbeddings {
            reason: format!(
                "{} values is not a whole number of rows of dimension {dim}",
                values.len()
            ),
        });
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(DocidError::BadEmbeddings {
            reason: format!(
                "non-finite value {} in row {}, column {}",
                values[i],
                i / dim,
                i % dim
            ),
        });
    }
    match values.len() / dim {
        0 => Err(DocidError::EmptyCorpus),
        n => Ok(n),
    }
}

/// Checks a new document's embedding against the scheme's dimension.
pub(crate) fn check_new_embedding<'a>(
    scheme: &str,
    id: &str,
    embedding: Option<&'a [f32]>,
    dim: usize,
) -> Result<&'a [f32]> {
    let bad = |reason: String| DocidError::NewDocument {
        id: id.to_owned(),
        reason,
    };
    let x = embedding.ok_or_else(|| {
        bad(format!(
            "the `{scheme}` scheme needs the document's embedding"
        ))
    })?;
    if x.len() != dim {
        return Err(bad(format!(
            "embedding has dimension {}, the scheme was built with {dim}",
            x.len()
        )));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "non-finite embedding value {} at index {i}",
            x[i]
        )));
    }
    Ok(x)
}

#[cfg(test)]
pub(crate) mod tests_support {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `n` points in `dim` dimensions around `centers` well separated centres; returns the
    /// row-major values and `dim`.
    pub fn clustered(n: usize, dim: usize, centers: usize, seed: u64) -> (Vec<f32>, usize) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let c: Vec<f32> = (0..centers * dim)
            .map(|_| rng.gen_range(-10.0..10.0))
            .collect();
        let mut x = Vec::with_capacity(n * dim);
        for i in 0..n {
            let j = i % centers;
            x.extend((0..dim).map(|t| c[j * dim + t] + rng.gen_range(-1.0..1.0)));
        }
        (x, dim)
    }
}
