//! The index directory: everything needed to search a corpus with a trained GenRet model, and
//! to add documents to it later without retraining.
//!
//! # Layout
//!
//! ```text
//! DIR/
//!   index.json          IndexConfig: schema version, backbone and heads configuration, text
//!                       lengths, model spec, docid scheme, docid length, creation time
//!   model.safetensors   every variable of the GenRet model (VarStore::save)
//!   tokenizer.json      the checkpoint's tokenizer, copied
//!   store.sqlite        documents, their docids and origin (see crate::store)
//! ```
//!
//! # Lifecycle
//!
//! * [`Index::create`] writes all four files into a temporary sibling folder and renames it
//!   into place, so `DIR` either does not exist or is a complete index.
//! * [`Index::open`] reads the configuration, rebuilds the model and loads its weights, and
//!   rebuilds the [`DocidTrie`] from the store. Every missing or unreadable file is an error
//!   naming it.
//! * [`Index::search`] tokenises queries (at `query_max_len`), encodes them and runs the
//!   constrained beam search of [`crate::search`], in batches.
//! * [`Index::add_documents`] is GenRet's answer to a growing corpus: a new document gets its
//!   docid from the tokenizer `Q(z|d)` alone (greedy decoding, at `doc_max_len`), then all the
//!   batch's documents go into the store in ONE transaction and, only once it has committed,
//!   into the in-memory trie. A refused or failed batch changes nothing, on disk or in memory.
//!
//! `index.json` is written once, at creation; what changes afterwards (documents, and
//! bookkeeping such as the time of the last addition) lives in the transactional store.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use genret_index::Index;
//!
//! let index = Index::open("runs/scifact.index".as_ref(), tch::Device::cuda_if_available())?;
//! for hit in &index.search(&["what causes scurvy"], 10, 10)?[0] {
//!     println!("{} {:.3}", hit.doc_id, hit.score);
//! }
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use genret_data::Document;
use genret_docids::{SchemeKind, SchemeState};
use genret_model::backbone::Encoded;
use genret_model::genret::{BackboneConfig, GenRet, HeadsConfig};
use genret_model::tokenize::TextTokenizer;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::error::IndexError;
use crate::integrity::{Checksums, CHECKSUMS_FILE};
use crate::residual::{self, ResidualCodebooks};
use crate::search::{self, CodeScore};
use crate::states::{DocStates, StateKind};
use crate::store::{DocStore, Origin, StateBlobs, StoredDoc};
use crate::trie::DocidTrie;

/// Version of the index layout written in `index.json`.
pub const INDEX_SCHEMA_VERSION: u32 = 1;
pub const CONFIG_FILE: &str = "index.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const STORE_FILE: &str = "store.sqlite";
/// Store `meta` key of a rule-based scheme's state (JSON), updated with every `index add`.
pub const SCHEME_STATE_KEY: &str = "docid_scheme_state";

/// `index.json`: how to rebuild the model and read text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexConfig {
    pub schema_version: u32,
    pub backbone: BackboneConfig,
    pub heads: HeadsConfig,
    /// Token budget of a query (truncation).
    pub query_max_len: usize,
    /// Token budget of a document when it is given a docid (truncation).
    pub doc_max_len: usize,
    /// What the model was built from (checkpoint folder or hub id), for the record.
    pub model_spec: String,
    /// How the docids were made, e.g. `genret`.
    pub docid_scheme: String,
    /// Codes per docid in the trie (at most `heads.num_steps`).
    pub docid_steps: usize,
    /// RFC 3339 UTC time of creation.
    pub created_at: String,
    /// The docid's last code is a disambiguation code (0, 1, 2, ... within a group that shared
    /// the first codes), not a learned one. Searches that order documents by their states then
    /// search the learned codes only and take every document below them.
    #[serde(default)]
    pub disambiguation: bool,
    /// How searches score documents unless they say otherwise.
    #[serde(default)]
    pub scoring: Scoring,
}

/// How a search scores the documents it returns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scoring {
    /// How step scores add up into a docid's score.
    pub code: CodeScore,
    /// Order documents by the cosine of the query's and the document's stored state (see
    /// [`crate::states`]) plus `code_weight` times the docid's score; `None`: by the docid's
    /// score alone ("codes only": documents that share a docid tie).
    pub states: Option<StateKind>,
    /// Weight of the docid's score beside the state cosine.
    pub code_weight: f64,
    /// With encoder states: search only the first this many codes, and take every document
    /// below the kept prefixes as a candidate (fewer codes: more candidates, found by coarser
    /// codes). `None`: every learned code. Decoder states always use every learned code (the
    /// document's state is the one after them).
    pub candidate_depth: Option<usize>,
    /// The beam width this scoring was chosen with; searches that name none use it.
    pub beam: Option<usize>,
}

impl Default for Scoring {
    fn default() -> Self {
        Self {
            code: CodeScore::LogProb,
            states: None,
            code_weight: 0.0,
            candidate_depth: None,
            beam: None,
        }
    }
}

impl Scoring {
    /// Codes only, the paper's scoring.
    pub fn codes_only() -> Self {
        Self::default()
    }
    /// A short name for reports, e.g. `codes`, `codes(logit)+decoder-states(0.05)`.
    pub fn describe(&self) -> String {
        let code = match self.code {
            CodeScore::LogProb => "codes",
            CodeScore::Logit => "codes(logit)",
            CodeScore::Residual => "codes(residual)",
        };
        let depth = self
            .candidate_depth
            .map_or(String::new(), |d| format!(", first {d} codes"));
        match self.states {
            None => code.to_string(),
            Some(kind) => format!("{code}+{kind}-states({}{depth})", self.code_weight),
        }
    }
}

impl IndexConfig {
    /// A configuration for `model`, with docids of all its `num_steps` codes.
    pub fn for_model(
        model: &GenRet,
        model_spec: &str,
        query_max_len: usize,
        doc_max_len: usize,
    ) -> Self {
        Self {
            schema_version: INDEX_SCHEMA_VERSION,
            backbone: model.backbone_config.clone(),
            heads: model.heads.clone(),
            query_max_len,
            doc_max_len,
            model_spec: model_spec.to_string(),
            docid_scheme: "genret".to_string(),
            docid_steps: model.num_steps() as usize,
            created_at: genret_data::utc_now_rfc3339(),
            disambiguation: false,
            scoring: Scoring::default(),
        }
    }

    fn validate(&self) -> Result<()> {
        ensure!(
            self.schema_version == INDEX_SCHEMA_VERSION,
            "index schema version {}, this build of genret reads version {INDEX_SCHEMA_VERSION}",
            self.schema_version
        );
        ensure!(
            self.docid_steps >= 1 && self.docid_steps as i64 <= self.heads.num_steps,
            "docid_steps is {}, it must be between 1 and the model's num_steps ({})",
            self.docid_steps,
            self.heads.num_steps
        );
        ensure!(
            self.query_max_len >= 1 && self.doc_max_len >= 1,
            "query_max_len and doc_max_len must be at least 1"
        );
        self.check_sizes()
    }

    /// Every size the model is built from lies in a sane range, so that a damaged or edited
    /// configuration is refused before it allocates (a K of 10^12 would not fit any machine).
    fn check_sizes(&self) -> Result<()> {
        fn within(name: &str, v: i64, lo: i64, hi: i64) -> Result<()> {
            ensure!((lo..=hi).contains(&v), "{name} is {v}, outside {lo}..={hi}");
            Ok(())
        }
        let h = &self.heads;
        within("heads.num_steps", h.num_steps, 1, 1024)?;
        within("heads.codebook_size", h.codebook_size, 2, 1 << 22)?;
        within("heads.decoder.layers", h.decoder.layers, 1, 64)?;
        within("heads.decoder.heads", h.decoder.heads, 1, 256)?;
        within("heads.decoder.ffn_multiple", h.decoder.ffn_multiple, 1, 64)?;
        within(
            "heads.decoder.max_positions",
            h.decoder.max_positions,
            2,
            1 << 16,
        )?;
        within("query_max_len", self.query_max_len as i64, 1, 1 << 16)?;
        within("doc_max_len", self.doc_max_len as i64, 1, 1 << 16)?;
        match &self.backbone {
            BackboneConfig::Bert(b) => {
                within("backbone.vocab_size", b.vocab_size, 1, 1 << 22)?;
                within("backbone.hidden_size", b.hidden_size, 1, 1 << 14)?;
                within("backbone.num_hidden_layers", b.num_hidden_layers, 1, 256)?;
                within(
                    "backbone.num_attention_heads",
                    b.num_attention_heads,
                    1,
                    1024,
                )?;
                within(
                    "backbone.intermediate_size",
                    b.intermediate_size,
                    1,
                    1 << 16,
                )?;
                within(
                    "backbone.max_position_embeddings",
                    b.max_position_embeddings,
                    1,
                    1 << 16,
                )?;
                within("backbone.type_vocab_size", b.type_vocab_size, 1, 1 << 10)?;
            }
            BackboneConfig::T5(t) => {
                within("backbone.vocab_size", t.vocab_size, 1, 1 << 22)?;
                within("backbone.d_model", t.d_model, 1, 1 << 14)?;
                within("backbone.d_kv", t.d_kv, 1, 1 << 14)?;
                within("backbone.d_ff", t.d_ff, 1, 1 << 16)?;
                within("backbone.num_layers", t.num_layers, 1, 256)?;
                within(
                    "backbone.num_decoder_layers",
                    t.num_decoder_layers.unwrap_or(t.num_layers),
                    1,
                    256,
                )?;
                within("backbone.num_heads", t.num_heads, 1, 1024)?;
                within(
                    "backbone.relative_attention_num_buckets",
                    t.relative_attention_num_buckets,
                    1,
                    1 << 12,
                )?;
            }
        }
        Ok(())
    }
}

/// New documents' docids and, when the index stores states, their states.
type NewDocuments = (Vec<Vec<u32>>, Option<Vec<StateBlobs>>);

/// The widest beam a search accepts: far above any useful width (the paper uses 100), low
/// enough that one request cannot ask for unbounded memory.
pub const MAX_BEAM: usize = 100_000;

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// Position in the store (insertion order).
    pub pos: u64,
    pub doc_id: String,
    /// The document's score: its docid's summed log-probability (codes only), or its state
    /// cosine plus the weighted docid score (see [`Scoring`]).
    pub score: f32,
}

/// Search parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchOptions {
    /// Beam width W.
    pub beam: usize,
    /// Documents returned per query.
    pub depth: usize,
    /// Queries encoded and searched together.
    pub batch_size: usize,
    /// Scoring; `None`: the index's own ([`IndexConfig::scoring`]).
    pub scoring: Option<Scoring>,
    /// Score every docid (a beam as wide as the number of prefixes at every step) instead of
    /// the beam's; searches one query at a time. For small collections, and to measure what
    /// the beam loses.
    pub exact: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            beam: 10,
            depth: 10,
            batch_size: 32,
            scoring: None,
            exact: false,
        }
    }
}

/// One document added by [`Index::add_documents`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddedDoc {
    pub doc_id: String,
    pub pos: u64,
    pub codes: Vec<u32>,
}

/// What [`Index::add_documents`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AddReport {
    /// Documents added.
    pub added: usize,
    /// Distinct docids of the batch that the index did not hold before.
    pub new_docids: usize,
    /// Added documents whose docid the index already held (they join a collision group).
    pub collisions_with_existing: usize,
    /// Each added document with its position and docid, in input order.
    pub documents: Vec<AddedDoc>,
}

/// Counts and configuration of an index, for `genret index info`.
#[derive(Debug, Clone, Serialize)]
pub struct IndexInfo {
    pub dir: PathBuf,
    pub config: IndexConfig,
    pub num_docs: u64,
    pub num_train_docs: u64,
    pub num_added_docs: u64,
    pub num_docids: usize,
    /// Documents sharing their docid with another document.
    pub colliding_docs: usize,
    pub largest_collision_group: usize,
    pub trie_nodes: usize,
    pub last_added_at: Option<String>,
    /// Whether every document has stored states, and their bytes per document.
    pub has_states: bool,
    pub state_bytes_per_doc: usize,
}

/// An open index: model, tokenizers, store and trie.
pub struct Index {
    dir: PathBuf,
    config: IndexConfig,
    // Owns the model's variables.
    _vs: nn::VarStore,
    model: GenRet,
    query_tokenizer: TextTokenizer,
    doc_tokenizer: TextTokenizer,
    store: DocStore,
    trie: DocidTrie,
    /// Every document's docid, by position (residual codebooks are fitted to them).
    codes: Vec<Vec<u32>>,
    /// Residual codebooks, fitted at the first search that needs them and again after an add.
    residual: std::sync::OnceLock<ResidualCodebooks>,
    /// Document ids by position (positions are 0, 1, 2, ...).
    doc_ids: Vec<String>,
    /// For rule-based docid schemes (atomic, naive, hkmeans, rq): how new documents get
    /// docids. `None`: GenRet's learned tokenizer gives them.
    scheme: Option<SchemeState>,
    /// Every document's stored states, when the index has them.
    states: Option<DocStates>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir)
            .field("num_docs", &self.doc_ids.len())
            .finish()
    }
}

fn file_err(path: &Path, message: impl Into<String>) -> IndexError {
    IndexError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl Index {
    /// Writes a new index at `dir` (which must not exist, or be empty) and opens it on the
    /// variables' device. `docs` are the corpus with its docids, usually [`Origin::Train`].
    /// Atomic: everything is written into a temporary sibling folder, then renamed.
    pub fn create(
        dir: &Path,
        config: &IndexConfig,
        vs: &nn::VarStore,
        tokenizer_src: &Path,
        docs: &[(Document, Vec<u32>, Origin)],
    ) -> Result<Index> {
        Self::create_with_scheme(dir, config, vs, tokenizer_src, docs, None)
    }

    /// [`Index::create`] for docids made by a rule-based scheme: its state is stored with the
    /// documents, and new documents get docids by the scheme's own rule.
    pub fn create_with_scheme(
        dir: &Path,
        config: &IndexConfig,
        vs: &nn::VarStore,
        tokenizer_src: &Path,
        docs: &[(Document, Vec<u32>, Origin)],
        scheme: Option<&SchemeState>,
    ) -> Result<Index> {
        Self::create_with_states(dir, config, vs, tokenizer_src, docs, scheme, None)
    }

    /// [`Index::create_with_scheme`] that also stores each document's states (one row per
    /// document, see [`crate::states`]), so searches can order documents by them.
    pub fn create_with_states(
        dir: &Path,
        config: &IndexConfig,
        vs: &nn::VarStore,
        tokenizer_src: &Path,
        docs: &[(Document, Vec<u32>, Origin)],
        scheme: Option<&SchemeState>,
        states: Option<&[StateBlobs]>,
    ) -> Result<Index> {
        config.validate()?;
        if let Some(st) = states {
            ensure!(
                st.len() == docs.len(),
                "{} documents but {} state rows",
                docs.len(),
                st.len()
            );
        }
        let k = config.heads.codebook_size;
        for (doc, codes, _) in docs {
            ensure!(
                codes.len() == config.docid_steps,
                "document `{}`: docid {codes:?} has {} codes, the index's docids have {}",
                doc.id,
                codes.len(),
                config.docid_steps
            );
            if let Some(&c) = codes.iter().find(|&&c| i64::from(c) >= k) {
                bail!(
                    "document `{}`: code {c} of docid {codes:?} is not below codebook_size {k}",
                    doc.id
                );
            }
        }
        if !tokenizer_src.is_file() {
            return Err(file_err(tokenizer_src, "no such tokenizer file").into());
        }
        TextTokenizer::from_file(tokenizer_src, config.query_max_len)?;
        if dir.exists() {
            let empty = dir.is_dir()
                && std::fs::read_dir(dir)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
            if !empty {
                return Err(file_err(
                    dir,
                    "already exists; refusing to overwrite it (choose another folder)",
                )
                .into());
            }
        }
        let name = dir
            .file_name()
            .with_context(|| format!("{}: not a folder name", dir.display()))?;
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let tmp = parent.join(format!(
            ".{}.tmp-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .with_context(|| format!("removing stale {}", tmp.display()))?;
        }
        let written = write_index_files(&tmp, config, vs, tokenizer_src, docs, scheme, states)
            .and_then(|()| {
                if dir.exists() {
                    std::fs::remove_dir(dir)
                        .with_context(|| format!("replacing empty folder {}", dir.display()))?;
                }
                std::fs::rename(&tmp, dir)
                    .with_context(|| format!("renaming {} to {}", tmp.display(), dir.display()))?;
                sync_dir(parent);
                Ok(())
            });
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        tracing::info!(
            "wrote index of {} documents to {}",
            docs.len(),
            dir.display()
        );
        Index::open(dir, vs.device())
    }

    /// Opens the index at `dir`, with the model on `device`.
    pub fn open(dir: &Path, device: Device) -> Result<Index> {
        if !dir.is_dir() {
            return Err(file_err(dir, "no such index folder").into());
        }
        for file in [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, STORE_FILE] {
            let path = dir.join(file);
            if !path.is_file() {
                return Err(file_err(
                    &path,
                    "missing (not a genret index folder, or an incomplete one)",
                )
                .into());
            }
        }
        let config_path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("reading {}", config_path.display()))?;
        let config: IndexConfig = serde_json::from_str(&text).with_context(|| {
            format!("{}: not a valid index configuration", config_path.display())
        })?;
        config
            .validate()
            .with_context(|| config_path.display().to_string())?;

        // The files as written (see `integrity`), before anything is loaded from them.
        match Checksums::read(dir) {
            Ok(Some(sums)) => {
                if let Some(p) = sums.problems(dir, crate::store::STORE_SCHEMA_VERSION).into_iter().next() {
                    return Err(IndexError::Corrupt { path: p.path, message: p.message }.into());
                }
            }
            Ok(None) => tracing::warn!(
                "{}: no {CHECKSUMS_FILE} (an index written by an older genret): damage to its files cannot be detected",
                dir.display()
            ),
            Err(p) => return Err(IndexError::Corrupt { path: p.path, message: p.message }.into()),
        }

        let mut vs = nn::VarStore::new(device);
        let model = GenRet::new(&vs.root(), &config.backbone, &config.heads)
            .with_context(|| format!("{}: building the model", config_path.display()))?;
        let weights = dir.join(WEIGHTS_FILE);
        genret_model::checkpoint::check_shapes(
            &vs,
            &weights,
            &config_path.display().to_string(),
            |n| genret_model::genret::setting_of(n, "heads.codebook_size", "heads.num_steps"),
        )?;
        vs.load(&weights)
            .with_context(|| format!("{}: loading the model's weights", weights.display()))?;
        vs.freeze();
        // The heads are small and every search reads them: a NaN there would make every score
        // NaN. (`genret index verify` checks every tensor.)
        if let Some(name) = genret_model::checkpoint::first_non_finite(&vs, "genret.") {
            return Err(IndexError::Corrupt {
                path: weights,
                message: format!(
                    "tensor `{name}` holds non-finite values: the weights are damaged"
                ),
            }
            .into());
        }

        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let query_tokenizer = TextTokenizer::from_file(&tokenizer_path, config.query_max_len)?;
        let doc_tokenizer = TextTokenizer::from_file(&tokenizer_path, config.doc_max_len)?;

        let store = DocStore::open(&dir.join(STORE_FILE))?;
        let scheme = match store.meta(SCHEME_STATE_KEY)? {
            Some(json) => Some(serde_json::from_str::<SchemeState>(&json).with_context(|| {
                format!("{}: unreadable docid scheme state", store.path().display())
            })?),
            None => None,
        };
        let states = match store.all_states()? {
            Some(rows) => Some(
                DocStates::from_blobs(&rows, model.hidden_size() as usize)
                    .with_context(|| store.path().display().to_string())?,
            ),
            None => None,
        };
        if config.scoring.states.is_some() && states.is_none() {
            bail!(
                "{}: the index's scoring orders documents by their states, but its store holds none; rebuild the index",
                config_path.display()
            );
        }
        let codes = store.all_codes()?;
        let mut doc_ids = Vec::with_capacity(codes.len());
        {
            for (i, (pos, id)) in store.all_doc_ids()?.into_iter().enumerate() {
                if pos != i as u64 {
                    return Err(IndexError::Corrupt {
                        path: store.path().to_path_buf(),
                        message: format!(
                            "document positions are not 0, 1, 2, ...: found {pos} at rank {i}"
                        ),
                    }
                    .into());
                }
                doc_ids.push(id);
            }
        }
        let trie = DocidTrie::build(
            config.docid_steps,
            codes.iter().map(|(pos, z)| (z.as_slice(), *pos)),
        )
        .with_context(|| store.path().display().to_string())?;
        if let Some(max) = trie.max_code() {
            ensure!(
                i64::from(max) < config.heads.codebook_size,
                "{}: holds code {max}, the model has {} codes per step",
                store.path().display(),
                config.heads.codebook_size
            );
        }
        tracing::debug!(
            "opened index {}: {} documents, {} docids, {} trie nodes",
            dir.display(),
            trie.num_docs(),
            trie.num_docids(),
            trie.num_nodes()
        );
        Ok(Index {
            dir: dir.to_path_buf(),
            config,
            _vs: vs,
            model,
            query_tokenizer,
            doc_tokenizer,
            store,
            trie,
            codes: codes.into_iter().map(|(_, z)| z).collect(),
            residual: std::sync::OnceLock::new(),
            doc_ids,
            scheme,
            states,
        })
    }

    /// Whether every document has stored states (so [`Scoring::states`] can be used).
    pub fn has_states(&self) -> bool {
        self.states.is_some()
    }

    /// The rule-based docid scheme's state, when the docids were not learned.
    pub fn scheme(&self) -> Option<&SchemeState> {
        self.scheme.as_ref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }
    pub fn model(&self) -> &GenRet {
        &self.model
    }
    pub fn trie(&self) -> &DocidTrie {
        &self.trie
    }
    pub fn store(&self) -> &DocStore {
        &self.store
    }
    pub fn device(&self) -> Device {
        self.model.device()
    }
    pub fn num_docs(&self) -> usize {
        self.doc_ids.len()
    }
    /// Every document id, by position.
    pub fn doc_ids(&self) -> &[String] {
        &self.doc_ids
    }
    /// The id of the document at `pos`.
    pub fn doc_id(&self, pos: u64) -> Option<&str> {
        self.doc_ids.get(pos as usize).map(String::as_str)
    }
    /// Stored documents (title, text, docid, origin) by position.
    pub fn documents(&self, positions: &[u64]) -> Result<Vec<StoredDoc>> {
        Ok(self.store.get_many(positions)?)
    }

    /// Searches `queries` with beam width `beam`, returning up to `depth` hits each (in
    /// batches of 32 queries).
    pub fn search(
        &self,
        queries: &[&str],
        beam: usize,
        depth: usize,
    ) -> Result<Vec<Vec<Hit>>, crate::Error> {
        self.search_with(
            queries,
            &SearchOptions {
                beam,
                depth,
                ..Default::default()
            },
            |_, _| {},
        )
    }

    /// Searches in batches of `options.batch_size`; `on_batch(queries_in_batch, elapsed)` is
    /// called after each batch (progress, latency). A request the index cannot answer is an
    /// [`InputError`](crate::InputError) before any work; a non-finite score is an internal
    /// error, never an answer.
    pub fn search_with(
        &self,
        queries: &[&str],
        options: &SearchOptions,
        on_batch: impl FnMut(usize, Duration),
    ) -> Result<Vec<Vec<Hit>>, crate::Error> {
        let scoring = self.check_search(queries, options)?;
        let hits = self.search_unchecked(queries, options, &scoring, on_batch)?;
        if let Some((q, h)) = hits
            .iter()
            .enumerate()
            .find_map(|(q, hs)| hs.iter().find(|h| !h.score.is_finite()).map(|h| (q, h)))
        {
            return Err(anyhow::anyhow!(
                "{}: query {} scored document `{}` {}: the model's weights are damaged (run `genret index verify`)",
                self.dir.join(WEIGHTS_FILE).display(),
                q + 1,
                h.doc_id,
                h.score
            )
            .into());
        }
        Ok(hits)
    }

    /// The scoring a search would use, or why the request cannot be answered.
    pub fn check_search(
        &self,
        queries: &[&str],
        options: &SearchOptions,
    ) -> Result<Scoring, crate::InputError> {
        use crate::InputError;
        InputError::check_range("batch size", options.batch_size, 1, usize::MAX)?;
        InputError::check_range("beam", options.beam, 1, MAX_BEAM)?;
        InputError::check_range("depth", options.depth, 1, usize::MAX)?;
        if let Some(i) = queries.iter().position(|q| q.trim().is_empty()) {
            return Err(InputError::EmptyQuery { index: i + 1 });
        }
        let scoring = options.scoring.unwrap_or(self.config.scoring);
        let unsupported = |m: String| Err(InputError::Unsupported(m));
        if scoring.states.is_some() && self.states.is_none() {
            return unsupported(format!(
                "{}: this index stores no document states, so it can only score by codes (an index built by an older genret; rebuild it to order documents by their states)",
                self.dir.display()
            ));
        }
        if let (Some(StateKind::Decoder), Some(d)) = (scoring.states, scoring.candidate_depth) {
            if d < self.search_depth(&scoring) {
                return unsupported(format!(
                    "candidate depth {d}: decoder states compare query and document after all {} learned codes; use encoder states to search fewer codes",
                    self.search_depth(&scoring)
                ));
            }
        }
        if scoring.code == CodeScore::Residual {
            if scoring.states == Some(StateKind::Decoder) {
                return unsupported("residual code scores rank with the query's encoder embedding: combine them with encoder states, or use log-prob or logit code scores with decoder states".into());
            }
            if self.states.is_none() {
                return unsupported(format!(
                    "{}: residual code scores are fitted to the documents' stored encoder states, and this index stores none (rebuild it)",
                    self.dir.display()
                ));
            }
        }
        Ok(scoring)
    }

    fn search_unchecked(
        &self,
        queries: &[&str],
        options: &SearchOptions,
        scoring: &Scoring,
        mut on_batch: impl FnMut(usize, Duration),
    ) -> Result<Vec<Vec<Hit>>> {
        let scoring = *scoring;
        if scoring.code == CodeScore::Residual {
            return self.search_residual(queries, options, &scoring, on_batch);
        }
        let search_depth = self.search_depth(&scoring);
        let (beam, batch_size) = if options.exact {
            (self.trie.num_nodes_at(search_depth).max(1), 1)
        } else {
            (options.beam, options.batch_size)
        };
        let beam_options = search::BeamOptions {
            beam,
            depth: Some(search_depth),
            code_score: scoring.code,
            query_states: scoring.states == Some(StateKind::Decoder),
            trace: false,
        };
        let mut out = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(batch_size) {
            let start = Instant::now();
            let found = tch::no_grad(|| -> Result<Vec<Vec<(u64, f32)>>> {
                let tokens = self.query_tokenizer.encode_batch(chunk, self.device())?;
                let encoded = self
                    .model
                    .encode(&tokens.input_ids, &tokens.attention_mask, false);
                let beams = search::beam_search(&self.model, &self.trie, &encoded, &beam_options)?;
                match (scoring.states, &self.states) {
                    (Some(kind), Some(states)) => {
                        let pooled = (kind == StateKind::Encoder).then(|| {
                            crate::states::normalize(&encoded.mean_pool()).to_device(Device::Cpu)
                        });
                        beams
                            .iter()
                            .enumerate()
                            .map(|(i, q)| {
                                self.order_by_states(
                                    q,
                                    kind,
                                    states,
                                    pooled.as_ref().map(|p| p.get(i as i64)),
                                    &scoring,
                                    options.depth,
                                )
                            })
                            .collect()
                    }
                    _ => Ok(beams
                        .iter()
                        .map(|q| search::expand(&self.trie, &q.beams, options.depth))
                        .collect()),
                }
            })?;
            for hits in found {
                out.push(self.hits(hits));
            }
            on_batch(chunk.len(), start.elapsed());
        }
        Ok(out)
    }

    /// Ranked `(position, score)` pairs as hits.
    fn hits(&self, ranked: Vec<(u64, f32)>) -> Vec<Hit> {
        ranked
            .into_iter()
            .map(|(pos, score)| Hit {
                pos,
                doc_id: self.doc_ids[pos as usize].clone(),
                score,
            })
            .collect()
    }

    /// [`Index::search_with`] under [`CodeScore::Residual`]: every docid scored by the query's
    /// encoder embedding against residual codebooks (see [`crate::residual`]); with encoder
    /// states, the `beam` best documents are then ordered by state cosine plus the weighted
    /// residual score.
    fn search_residual(
        &self,
        queries: &[&str],
        options: &SearchOptions,
        scoring: &Scoring,
        mut on_batch: impl FnMut(usize, Duration),
    ) -> Result<Vec<Vec<Hit>>> {
        // Checked by `check_search`: residual scores need encoder states.
        let states = self
            .states
            .as_ref()
            .context("internal error: residual scoring without stored states")?;
        let fitted = self.residual_codebooks(states)?;
        let candidates = match scoring.states {
            Some(_) => options.beam.max(options.depth),
            None => options.depth,
        };
        let mut out = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(options.batch_size) {
            let start = Instant::now();
            let pooled = tch::no_grad(|| -> Result<Tensor> {
                let tokens = self.query_tokenizer.encode_batch(chunk, self.device())?;
                let encoded = self
                    .model
                    .encode(&tokens.input_ids, &tokens.attention_mask, false);
                Ok(crate::states::normalize(&encoded.mean_pool()).to_device(Device::Cpu))
            })?;
            let scores = fitted.scores(&pooled);
            for i in 0..chunk.len() as i64 {
                let row = Vec::<f32>::try_from(scores.get(i))?;
                let top = residual::top_positions(&row, candidates);
                let hits = match scoring.states {
                    None => top,
                    Some(_) => {
                        let positions: Vec<i64> = top.iter().map(|&(p, _)| p as i64).collect();
                        let doc_states = states
                            .encoder
                            .index_select(0, &Tensor::from_slice(&positions));
                        let cosine = Vec::<f32>::try_from(doc_states.matmul(&pooled.get(i)))?;
                        let mut scored: Vec<(u64, f32)> = top
                            .iter()
                            .zip(cosine)
                            .map(|(&(pos, code), cos)| {
                                (
                                    pos,
                                    (f64::from(cos) + scoring.code_weight * f64::from(code)) as f32,
                                )
                            })
                            .collect();
                        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                        scored.truncate(options.depth);
                        scored
                    }
                };
                out.push(self.hits(hits));
            }
            on_batch(chunk.len(), start.elapsed());
        }
        Ok(out)
    }

    /// Every weight tensor finite (what `genret index verify` checks; open checks the heads).
    pub fn check_all_weights_finite(&self) -> Result<()> {
        match genret_model::checkpoint::first_non_finite(&self._vs, "") {
            None => Ok(()),
            Some(name) => bail!("tensor `{name}` holds non-finite values: the weights are damaged"),
        }
    }

    /// The residual codebooks of the current documents, fitted once (and again after an add).
    pub fn residual_codebooks(&self, states: &DocStates) -> Result<&ResidualCodebooks> {
        if let Some(fitted) = self.residual.get() {
            return Ok(fitted);
        }
        let t0 = Instant::now();
        let fitted = ResidualCodebooks::fit(
            &states.encoder,
            &self.codes,
            self.meaningful_codes(),
            self.config.heads.codebook_size as usize,
        )
        .with_context(|| format!("{}: fitting residual codebooks", self.dir.display()))?;
        tracing::debug!(
            "residual codebooks fitted to {} documents in {:.2}s",
            self.codes.len(),
            t0.elapsed().as_secs_f64()
        );
        Ok(self.residual.get_or_init(|| fitted))
    }

    /// Codes of a docid that carry meaning: all, less a final disambiguation code or the rq
    /// scheme's collision suffix (numbers within a group, the same for unrelated documents).
    pub fn meaningful_codes(&self) -> usize {
        let suffix = self.config.disambiguation || self.config.docid_scheme == "rq";
        if suffix && self.trie.depth() > 1 {
            self.trie.depth() - 1
        } else {
            self.trie.depth()
        }
    }

    /// The beam search behind [`Index::search_with`], with every step's kept prefixes and
    /// scores (diagnostics: where the relevant documents leave the beam).
    pub fn trace(
        &self,
        queries: &[&str],
        beam: usize,
        scoring: &Scoring,
    ) -> Result<Vec<search::QueryBeams>> {
        ensure!(beam >= 1, "the beam width must be at least 1");
        let opts = search::BeamOptions {
            beam,
            depth: Some(self.search_depth(scoring)),
            code_score: scoring.code,
            query_states: false,
            trace: true,
        };
        let mut out = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(32) {
            let beams = tch::no_grad(|| -> Result<_> {
                let tokens = self.query_tokenizer.encode_batch(chunk, self.device())?;
                let encoded = self
                    .model
                    .encode(&tokens.input_ids, &tokens.attention_mask, false);
                search::beam_search(&self.model, &self.trie, &encoded, &opts)
            })?;
            out.extend(beams);
        }
        Ok(out)
    }

    /// Codes a search decodes under `scoring`: all of them, or, when documents are ordered by
    /// their states and the last code only disambiguates, the learned ones.
    pub fn search_depth(&self, scoring: &Scoring) -> usize {
        let learned =
            if scoring.states.is_some() && self.config.disambiguation && self.trie.depth() > 1 {
                self.trie.depth() - 1
            } else {
                self.trie.depth()
            };
        match (scoring.states, scoring.candidate_depth) {
            (Some(StateKind::Encoder), Some(d)) => d.clamp(1, learned),
            _ => learned,
        }
    }

    /// The documents of a query's beams, ordered by state cosine plus the weighted docid score
    /// (ties: ascending position), cut at `depth`.
    fn order_by_states(
        &self,
        q: &search::QueryBeams,
        kind: StateKind,
        states: &DocStates,
        pooled_query: Option<Tensor>,
        scoring: &Scoring,
        depth: usize,
    ) -> Result<Vec<(u64, f32)>> {
        let mut positions: Vec<i64> = Vec::new();
        let mut beam_of: Vec<i64> = Vec::new();
        for (b, beam) in q.beams.iter().enumerate() {
            for &pos in search::beam_docs(&self.trie, beam).iter() {
                positions.push(pos as i64);
                beam_of.push(b as i64);
            }
        }
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let doc_states = states
            .of(kind)
            .index_select(0, &Tensor::from_slice(&positions));
        let query_states = match (kind, &q.states, pooled_query) {
            (StateKind::Encoder, _, Some(p)) => p.unsqueeze(0),
            (StateKind::Decoder, Some(rows), _) => crate::states::normalize(
                &rows
                    .to_device(Device::Cpu)
                    .index_select(0, &Tensor::from_slice(&beam_of)),
            ),
            _ => bail!("internal error: no query state for {kind} scoring"),
        };
        let cosine = Vec::<f32>::try_from((doc_states * query_states).sum_dim_intlist(
            [-1i64].as_slice(),
            false,
            Kind::Float,
        ))?;
        let mut scored: Vec<(u64, f64)> = positions
            .iter()
            .zip(&beam_of)
            .zip(cosine)
            .map(|((&pos, &b), cos)| {
                (
                    pos as u64,
                    f64::from(cos) + scoring.code_weight * q.beams[b as usize].log_prob,
                )
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(depth);
        Ok(scored.into_iter().map(|(p, s)| (p, s as f32)).collect())
    }

    /// The docids the tokenizer `Q(z|d)` gives `docs` (greedy, `docid_steps` codes), encoding
    /// `Document::full_text` (title, a space, text) at `doc_max_len` tokens.
    pub fn assign_docids(&self, docs: &[Document], batch_size: usize) -> Result<Vec<Vec<u32>>> {
        self.assign_docids_with(docs, batch_size, |_| {})
    }

    fn assign_docids_with(
        &self,
        docs: &[Document],
        batch_size: usize,
        mut on_batch: impl FnMut(usize),
    ) -> Result<Vec<Vec<u32>>> {
        ensure!(batch_size >= 1, "the batch size must be at least 1");
        let mut out = Vec::with_capacity(docs.len());
        for chunk in docs.chunks(batch_size) {
            out.extend(tch::no_grad(|| {
                self.greedy_codes(&self.encode_docs(chunk)?)
            })?);
            on_batch(chunk.len());
        }
        Ok(out)
    }

    /// The decoder position whose state stands for a document (see [`crate::states`]): after
    /// the docid's learned codes, or the last position the model has.
    pub fn state_position(&self) -> usize {
        let learned = if self.config.disambiguation {
            self.config.docid_steps.saturating_sub(1).max(1)
        } else {
            self.config.docid_steps
        };
        search::state_position(learned, self.model.num_steps() as usize)
    }

    /// Each document's states under its docid `codes` (see [`crate::states`]).
    pub fn compute_states(
        &self,
        docs: &[Document],
        codes: &[Vec<u32>],
        batch_size: usize,
    ) -> Result<Vec<StateBlobs>> {
        ensure!(batch_size >= 1, "the batch size must be at least 1");
        ensure!(
            docs.len() == codes.len(),
            "{} documents but {} docids",
            docs.len(),
            codes.len()
        );
        let mut out = Vec::with_capacity(docs.len());
        for (chunk, chunk_codes) in docs.chunks(batch_size).zip(codes.chunks(batch_size)) {
            out.extend(tch::no_grad(|| {
                self.states_under(&self.encode_docs(chunk)?, chunk_codes)
            })?);
        }
        Ok(out)
    }

    /// Mean-pooled, L2-normalised encoder embeddings of `docs` (what the clustering schemes
    /// cluster), `[n * dim]` row-major.
    pub fn embed_documents(
        &self,
        docs: &[Document],
        batch_size: usize,
    ) -> Result<(Vec<f32>, usize)> {
        ensure!(batch_size >= 1, "the batch size must be at least 1");
        let mut out = Vec::new();
        let mut dim = 0;
        for chunk in docs.chunks(batch_size) {
            let (e, d) = tch::no_grad(|| pooled_embeddings(&self.encode_docs(chunk)?))?;
            out.extend(e);
            dim = d;
        }
        Ok((out, dim))
    }

    /// `docs` (`title text`, at `doc_max_len` tokens) through the encoder. Callers run it
    /// under `no_grad`.
    fn encode_docs(&self, docs: &[Document]) -> Result<Encoded> {
        let texts: Vec<String> = docs.iter().map(Document::full_text).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokens = self.doc_tokenizer.encode_batch(&refs, self.device())?;
        Ok(self
            .model
            .encode(&tokens.input_ids, &tokens.attention_mask, false))
    }

    /// The tokenizer's greedy docids (`docid_steps` codes) of encoded documents.
    fn greedy_codes(&self, encoded: &Encoded) -> Result<Vec<Vec<u32>>> {
        let steps = self.config.docid_steps;
        let z = self
            .model
            .greedy_docids(encoded, steps)
            .to_kind(Kind::Int64)
            .to_device(Device::Cpu);
        Ok(Vec::<i64>::try_from(z.reshape([-1]))?
            .chunks(steps)
            .map(|z| z.iter().map(|&c| c as u32).collect())
            .collect())
    }

    /// The states of encoded documents under their docids `codes` (see [`crate::states`]).
    fn states_under(&self, encoded: &Encoded, codes: &[Vec<u32>]) -> Result<Vec<StateBlobs>> {
        let position = self.state_position();
        let prefix: Vec<i64> = codes
            .iter()
            .flat_map(|z| z[..position].iter().map(|&c| i64::from(c)))
            .collect();
        let prefix = Tensor::from_slice(&prefix)
            .view([codes.len() as i64, position as i64])
            .to_device(self.device());
        let decoder = self
            .model
            .decode_states(encoded, &prefix, false)
            .select(1, position as i64);
        DocStates::to_blobs(&decoder, &encoded.mean_pool())
    }

    /// Docids of new documents (the model's tokenizer, or a rule-based scheme's own rule,
    /// updating its state) and, when the index stores states, their states. Each document is
    /// encoded once for both.
    fn encode_new_documents(
        &self,
        mut scheme: Option<&mut SchemeState>,
        docs: &[Document],
        batch_size: usize,
        mut on_batch: impl FnMut(usize),
    ) -> Result<NewDocuments> {
        ensure!(batch_size >= 1, "the batch size must be at least 1");
        let k = self.config.heads.codebook_size;
        let mut codes = Vec::with_capacity(docs.len());
        let mut states = self.states.as_ref().map(|_| Vec::with_capacity(docs.len()));
        for chunk in docs.chunks(batch_size) {
            tch::no_grad(|| -> Result<()> {
                let encoded = self.encode_docs(chunk)?;
                let chunk_codes: Vec<Vec<u32>> = match scheme.as_deref_mut() {
                    None => self.greedy_codes(&encoded)?,
                    Some(state) => {
                        let embeddings =
                            if matches!(state.kind(), SchemeKind::HKMeans | SchemeKind::Rq) {
                                Some(pooled_embeddings(&encoded)?)
                            } else {
                                None
                            };
                        let mut out = Vec::with_capacity(chunk.len());
                        for (i, doc) in chunk.iter().enumerate() {
                            let e = embeddings
                                .as_ref()
                                .map(|(e, dim)| &e[i * dim..(i + 1) * dim]);
                            out.push(
                                state
                                    .assign_new(&doc.id, e)
                                    .with_context(|| format!("document `{}`", doc.id))?,
                            );
                        }
                        out
                    }
                };
                for (doc, z) in chunk.iter().zip(&chunk_codes) {
                    if let Some(&c) = z.iter().find(|&&c| i64::from(c) >= k) {
                        bail!(
                            "document `{}`: its docid {z:?} needs code {c}, but the model has {k} codes per step \
                             (an atomic index has one code per document it was trained with; retrain to add more)",
                            doc.id
                        );
                    }
                }
                if let Some(states) = states.as_mut() {
                    states.extend(self.states_under(&encoded, &chunk_codes)?);
                }
                codes.extend(chunk_codes);
                Ok(())
            })?;
            on_batch(chunk.len());
        }
        Ok((codes, states))
    }

    /// Adds documents that were not in training: each gets its docid from the tokenizer alone
    /// ([`Index::assign_docids`]) and becomes searchable. All or nothing: an id already in the
    /// index or repeated in `docs` is refused before any work, and the store takes the batch in
    /// one transaction; the trie changes only after it commits.
    pub fn add_documents(
        &mut self,
        docs: &[Document],
        batch_size: usize,
    ) -> Result<AddReport, crate::Error> {
        self.add_documents_with(docs, batch_size, |_| {})
    }

    /// Why a batch of new documents would be refused, checked before any work: a zero batch
    /// size, an empty id, an id repeated in the batch or already in the index.
    pub fn check_new_documents(
        &self,
        docs: &[Document],
        batch_size: usize,
    ) -> Result<(), crate::Error> {
        use crate::InputError;
        InputError::check_range("batch size", batch_size, 1, usize::MAX)?;
        let mut seen = HashSet::with_capacity(docs.len());
        for (i, doc) in docs.iter().enumerate() {
            if doc.id.trim().is_empty() {
                return Err(InputError::EmptyDocId { index: i + 1 }.into());
            }
            if !seen.insert(doc.id.as_str()) {
                return Err(InputError::DuplicateDocId {
                    id: doc.id.clone(),
                    in_batch: true,
                }
                .into());
            }
            if self.store.position_of(&doc.id)?.is_some() {
                return Err(InputError::DuplicateDocId {
                    id: doc.id.clone(),
                    in_batch: false,
                }
                .into());
            }
        }
        Ok(())
    }

    /// [`Index::add_documents`] with `on_batch(documents_in_batch)` called as docids are
    /// assigned (progress).
    pub fn add_documents_with(
        &mut self,
        docs: &[Document],
        batch_size: usize,
        on_batch: impl FnMut(usize),
    ) -> Result<AddReport, crate::Error> {
        self.check_new_documents(docs, batch_size)?;
        if docs.is_empty() {
            return Ok(AddReport::default());
        }
        Ok(self.add_checked(docs, batch_size, on_batch)?)
    }

    fn add_checked(
        &mut self,
        docs: &[Document],
        batch_size: usize,
        on_batch: impl FnMut(usize),
    ) -> Result<AddReport> {
        let mut scheme = self.scheme.clone();
        let (codes, state_rows) =
            self.encode_new_documents(scheme.as_mut(), docs, batch_size, on_batch)?;
        let rows: Vec<(Document, Vec<u32>, Origin)> = docs
            .iter()
            .zip(&codes)
            .map(|(d, z)| (d.clone(), z.clone(), Origin::Added))
            .collect();
        let now = genret_data::utc_now_rfc3339();
        let state = scheme.as_ref().map(serde_json::to_string).transpose()?;
        let mut meta = vec![("last_added_at", now.as_str())];
        if let Some(state) = &state {
            meta.push((SCHEME_STATE_KEY, state));
        }
        // The counts come from the store, inside the write transaction: another process may
        // have added documents since this index was opened.
        let inserted =
            self.store
                .insert_documents_reporting(&rows, state_rows.as_deref(), &meta)?;
        let (positions, new_docids, collisions) =
            (inserted.positions, inserted.new_docids, inserted.joined);
        // Committed: now the in-memory view. When another process added documents since this
        // one opened the index, the new positions do not follow ours: read the store again.
        if positions
            .first()
            .is_some_and(|&p| p as usize != self.doc_ids.len())
        {
            tracing::info!(
                "{}: another process added documents meanwhile; reloading the index",
                self.dir.display()
            );
            let (dir, device) = (self.dir.clone(), self.device());
            *self = Index::open(&dir, device)?;
        } else {
            self.scheme = scheme;
            if let (Some(states), Some(rows)) = (&mut self.states, &state_rows) {
                states.append(DocStates::from_blobs(
                    rows,
                    self.model.hidden_size() as usize,
                )?);
            }
            // Cannot fail: lengths were produced for this trie and positions are new.
            for ((doc, z), &pos) in docs.iter().zip(&codes).zip(&positions) {
                self.trie.insert(z, pos)?;
                self.doc_ids.push(doc.id.clone());
                self.codes.push(z.clone());
            }
            self.residual = std::sync::OnceLock::new();
        }
        let documents = docs
            .iter()
            .zip(codes)
            .zip(&positions)
            .map(|((d, codes), &pos)| AddedDoc {
                doc_id: d.id.clone(),
                pos,
                codes,
            })
            .collect();
        tracing::info!(
            "added {} documents to {} ({new_docids} new docids, {collisions} joined existing ones)",
            docs.len(),
            self.dir.display()
        );
        Ok(AddReport {
            added: docs.len(),
            new_docids,
            collisions_with_existing: collisions,
            documents,
        })
    }

    /// Configuration and counts.
    pub fn info(&self) -> Result<IndexInfo> {
        let (train, added) = self.store.count_by_origin()?;
        Ok(IndexInfo {
            dir: self.dir.clone(),
            config: self.config.clone(),
            num_docs: self.doc_ids.len() as u64,
            num_train_docs: train,
            num_added_docs: added,
            num_docids: self.trie.num_docids(),
            colliding_docs: self.trie.colliding_docs(),
            largest_collision_group: self.trie.largest_group(),
            trie_nodes: self.trie.num_nodes(),
            last_added_at: self.store.meta("last_added_at")?,
            has_states: self.states.is_some(),
            state_bytes_per_doc: if self.states.is_some() {
                DocStates::bytes_per_doc(self.model.hidden_size() as usize)
            } else {
                0
            },
        })
    }
}

/// Mean-pooled, L2-normalised embeddings of encoded texts, `[n * dim]` row-major, and `dim`.
fn pooled_embeddings(encoded: &Encoded) -> Result<(Vec<f32>, usize)> {
    let e = genret_model::embed::l2_normalize(&encoded.mean_pool())
        .to_kind(Kind::Float)
        .to_device(Device::Cpu);
    let dim = e.size()[1] as usize;
    Ok((Vec::<f32>::try_from(e.reshape([-1]))?, dim))
}

fn write_index_files(
    tmp: &Path,
    config: &IndexConfig,
    vs: &nn::VarStore,
    tokenizer_src: &Path,
    docs: &[(Document, Vec<u32>, Origin)],
    scheme: Option<&SchemeState>,
    states: Option<&[StateBlobs]>,
) -> Result<()> {
    std::fs::create_dir_all(tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let weights = tmp.join(WEIGHTS_FILE);
    vs.save(&weights)
        .with_context(|| format!("writing {}", weights.display()))?;
    let tokenizer = tmp.join(TOKENIZER_FILE);
    std::fs::copy(tokenizer_src, &tokenizer).with_context(|| {
        format!(
            "copying {} to {}",
            tokenizer_src.display(),
            tokenizer.display()
        )
    })?;
    let json = serde_json::to_string_pretty(config)? + "\n";
    std::fs::write(tmp.join(CONFIG_FILE), json)
        .with_context(|| format!("writing {}", tmp.join(CONFIG_FILE).display()))?;
    {
        let mut store = DocStore::create(&tmp.join(STORE_FILE))?;
        let state = scheme.map(serde_json::to_string).transpose()?;
        let mut meta = vec![("created_at", config.created_at.as_str())];
        if let Some(state) = &state {
            meta.push((SCHEME_STATE_KEY, state));
        }
        store.insert_documents_with_states(docs, states, &meta)?;
    }
    Checksums::compute(
        tmp,
        &[WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE],
        crate::store::STORE_SCHEMA_VERSION,
    )?
    .write(tmp)?;
    for file in [WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE, CHECKSUMS_FILE] {
        let path = tmp.join(file);
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", path.display()))?;
    }
    sync_dir(tmp);
    Ok(())
}

/// Flushes a folder's entries (renames) to disk; best effort.
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{document as doc, text, tiny_index, tiny_model};

    /// An index of 12 training documents with arbitrary docids (K = 5, M = 3).
    fn build(dir: &Path) -> (Index, PathBuf) {
        tiny_index(dir, "idx", 12).unwrap()
    }

    fn file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn create_search_add_and_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut index, path) = build(tmp.path());
        assert_eq!(index.num_docs(), 12);
        let names: Vec<String> = file_bytes(&path).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            vec![
                "checksums.json",
                "index.json",
                "model.safetensors",
                "store.sqlite",
                "tokenizer.json"
            ]
        );
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            2,
            "no temporary folder left"
        );

        // Add documents: docids are the tokenizer's greedy docids of their text.
        let new: Vec<Document> = (20..26).map(|i| doc(&format!("n{i}"), i)).collect();
        let want = index.assign_docids(&new, 4).unwrap();
        let report = index.add_documents(&new, 4).unwrap();
        assert_eq!(report.added, 6);
        assert_eq!(
            report
                .documents
                .iter()
                .map(|d| d.codes.clone())
                .collect::<Vec<_>>(),
            want
        );
        assert_eq!(
            report.documents.iter().map(|d| d.pos).collect::<Vec<_>>(),
            (12..18).collect::<Vec<u64>>()
        );
        assert_eq!(index.num_docs(), 18);
        let before: HashSet<Vec<u32>> = (0..12)
            .map(|p| index.documents(&[p]).unwrap()[0].codes.clone())
            .collect();
        let collisions = want.iter().filter(|z| before.contains(*z)).count();
        assert_eq!(report.collisions_with_existing, collisions);
        let distinct_new: HashSet<&Vec<u32>> =
            want.iter().filter(|z| !before.contains(*z)).collect();
        assert_eq!(report.new_docids, distinct_new.len());
        let stored = index.documents(&[12]).unwrap().remove(0);
        assert_eq!(
            (stored.doc_id.as_str(), stored.origin, stored.text.as_str()),
            ("n20", Origin::Added, text(20).as_str())
        );

        // An exhaustive beam finds every new document, for a query equal to its text.
        for (d, source) in report.documents.iter().zip(&new) {
            let hits = index.search(&[&source.text], 125, 100).unwrap().remove(0);
            assert_eq!(hits.len(), 18);
            assert!(hits.iter().any(|h| h.doc_id == d.doc_id && h.pos == d.pos));
        }
        let queries = [text(20), text(3), "zulu unknownword".to_string()];
        let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
        let hits = index.search(&queries, 6, 9).unwrap();
        assert!(hits.iter().all(|h| !h.is_empty() && h.len() <= 9));
        let one_by_one = index
            .search_with(
                &queries,
                &SearchOptions {
                    beam: 6,
                    depth: 9,
                    batch_size: 1,
                    ..Default::default()
                },
                |n, _| assert_eq!(n, 1),
            )
            .unwrap();
        assert_eq!(hits.len(), one_by_one.len());
        for (a, b) in hits.iter().zip(&one_by_one) {
            assert_eq!(
                a.iter().map(|h| h.pos).collect::<Vec<_>>(),
                b.iter().map(|h| h.pos).collect::<Vec<_>>()
            );
        }

        let info = index.info().unwrap();
        assert_eq!(
            (info.num_docs, info.num_train_docs, info.num_added_docs),
            (18, 12, 6)
        );
        assert!(info.last_added_at.is_some());
        drop(index);

        // Reopened from disk: same trie, same results.
        let index = Index::open(&path, Device::Cpu).unwrap();
        assert_eq!(index.num_docs(), 18);
        assert_eq!(index.search(&queries, 6, 9).unwrap(), hits);
        assert_eq!(index.config().docid_steps, 3);
        assert_eq!(index.config().docid_scheme, "genret");
    }

    #[test]
    fn an_add_reports_the_store_counts_even_after_another_process_added() {
        let tmp = tempfile::tempdir().unwrap();
        let (index, path) = build(tmp.path());
        let before = index.num_docs();
        drop(index);
        let mut a = Index::open(&path, Device::Cpu).unwrap();
        let mut b = Index::open(&path, Device::Cpu).unwrap();
        // The same text gets the same docid; a second text, another one (or the same).
        let same = |id: &str| Document {
            id: id.into(),
            title: String::new(),
            text: "zulu yankee xray".into(),
        };
        let rb = b.add_documents(&[same("b1")], 4).unwrap();
        // `a` has not seen b1: its docid must still count as joined, read from the store.
        let ra = a.add_documents(&[same("a1")], 4).unwrap();
        assert_eq!(ra.collisions_with_existing, 1, "{ra:?} after {rb:?}");
        assert_eq!(ra.new_docids, 0);
        assert_eq!(ra.documents[0].codes, rb.documents[0].codes);
        // And `a` now sees b1 as well (it read the store again), at the stored positions.
        assert_eq!(a.num_docs(), before + 2);
        assert_eq!(a.doc_id(before as u64), Some("b1"));
        assert_eq!(a.doc_id(before as u64 + 1), Some("a1"));
        let hits = a.search(&["zulu yankee xray"], 125, 200).unwrap().remove(0);
        assert!(hits.iter().any(|h| h.doc_id == "b1") && hits.iter().any(|h| h.doc_id == "a1"));
    }

    #[test]
    fn a_refused_add_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut index, path) = build(tmp.path());
        index.add_documents(&[doc("n1", 30)], 8).unwrap();
        let files = file_bytes(&path);
        let (docs, docids, nodes) = (
            index.num_docs(),
            index.trie().num_docids(),
            index.trie().num_nodes(),
        );
        let probe = [text(5)];
        let probe: Vec<&str> = probe.iter().map(String::as_str).collect();
        let results = index.search(&probe, 125, 100).unwrap();

        let dup_in_batch = [doc("n2", 31), doc("n3", 32), doc("n2", 33)];
        let err = index.add_documents(&dup_in_batch, 2).unwrap_err();
        assert!(
            err.to_string().contains("`n2` appears twice in the batch"),
            "{err}"
        );
        let already = [doc("n4", 34), doc("t3", 35)];
        let err = index.add_documents(&already, 2).unwrap_err();
        assert!(
            err.to_string().contains("`t3` is already in the index"),
            "{err}"
        );
        assert!(matches!(
            err,
            crate::Error::Input(crate::InputError::DuplicateDocId {
                in_batch: false,
                ..
            })
        ));
        let err = index.add_documents(&[doc("n5", 36)], 0).unwrap_err();
        assert!(err.to_string().contains("batch size"), "{err}");

        assert_eq!(file_bytes(&path), files, "files on disk unchanged");
        assert_eq!(
            (
                index.num_docs(),
                index.trie().num_docids(),
                index.trie().num_nodes()
            ),
            (docs, docids, nodes)
        );
        assert_eq!(index.search(&probe, 125, 100).unwrap(), results);
        assert_eq!(index.store().len().unwrap(), docs as u64);
        drop(index);
        let index = Index::open(&path, Device::Cpu).unwrap();
        assert_eq!(index.num_docs(), docs);
        assert_eq!(index.search(&probe, 125, 100).unwrap(), results);
    }

    #[test]
    fn bad_index_folders_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = Index::open(&missing, Device::Cpu).unwrap_err().to_string();
        assert!(
            err.contains("nope") && err.contains("no such index folder"),
            "{err}"
        );

        let (index, path) = build(tmp.path());
        drop(index);
        // Creating over a non-empty folder is refused and leaves it alone.
        let (vs, model) = tiny_model(5, 3, 13).unwrap();
        let config = IndexConfig::for_model(&model, "tiny-random", 16, 32);
        let err = Index::create(&path, &config, &vs, &path.join(TOKENIZER_FILE), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("already exists"), "{err}");
        // Docids that do not fit the model are refused before anything is written.
        let bad = [(doc("x", 1), vec![0, 1], Origin::Train)];
        let err = Index::create(
            &tmp.path().join("b"),
            &config,
            &vs,
            &path.join(TOKENIZER_FILE),
            &bad,
        )
        .unwrap_err();
        assert!(err.to_string().contains("has 2 codes"), "{err}");
        let bad = [(doc("x", 1), vec![0, 1, 5], Origin::Train)];
        let err = Index::create(
            &tmp.path().join("b"),
            &config,
            &vs,
            &path.join(TOKENIZER_FILE),
            &bad,
        )
        .unwrap_err();
        assert!(err.to_string().contains("code 5"), "{err}");
        assert!(!tmp.path().join("b").exists());

        let json = std::fs::read_to_string(path.join(CONFIG_FILE)).unwrap();
        std::fs::write(path.join(CONFIG_FILE), "{ not json").unwrap();
        let err = format!("{:#}", Index::open(&path, Device::Cpu).unwrap_err());
        assert!(
            err.contains("index.json") && err.contains("not a valid index configuration"),
            "{err}"
        );
        std::fs::write(
            path.join(CONFIG_FILE),
            json.replace("\"schema_version\": 1", "\"schema_version\": 99"),
        )
        .unwrap();
        let err = format!("{:#}", Index::open(&path, Device::Cpu).unwrap_err());
        assert!(
            err.contains("index.json") && err.contains("schema version 99"),
            "{err}"
        );
        std::fs::write(path.join(CONFIG_FILE), &json).unwrap();

        std::fs::write(path.join(WEIGHTS_FILE), b"garbage").unwrap();
        let err = format!("{:#}", Index::open(&path, Device::Cpu).unwrap_err());
        assert!(err.contains("model.safetensors"), "{err}");

        std::fs::remove_file(path.join(STORE_FILE)).unwrap();
        let err = Index::open(&path, Device::Cpu).unwrap_err().to_string();
        assert!(
            err.contains("store.sqlite") && err.contains("missing"),
            "{err}"
        );
    }
}
