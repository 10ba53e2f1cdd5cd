//! Training configuration: one TOML file, every field optional, defaults chosen from the corpus.
//!
//! The effective configuration (defaults filled in) is written to the run directory and the run
//! manifest, so a run can be repeated exactly.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use genret_docids::{SchemeConfig, SchemeKind};
use genret_model::decoder::DecoderConfig;
use genret_model::losses::LossWeights;
use serde::{Deserialize, Serialize};

/// Which encoder weights train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainMode {
    /// Encoder frozen; its states are computed once and cached on disk. Only the decoder and
    /// the GenRet heads train. The CPU default.
    Frozen,
    /// The top `trainable_layers` encoder layers train; the states below them are cached.
    TopLayers,
    /// Everything trains; nothing is cached.
    Full,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// A local checkpoint folder or a Hugging Face hub id.
    pub checkpoint: String,
    pub mode: TrainMode,
    /// With `mode = "top-layers"`: how many of the last encoder layers train.
    pub trainable_layers: usize,
    /// Document truncation in tokens (SciFact abstracts: mean ~337, 90th percentile ~500).
    pub doc_max_len: usize,
    pub query_max_len: usize,
    /// Batch size when encoding the corpus (no gradients).
    pub encode_batch_size: usize,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            checkpoint: "sentence-transformers/all-MiniLM-L6-v2".into(),
            mode: TrainMode::Frozen,
            trainable_layers: 0,
            doc_max_len: 256,
            query_max_len: 32,
            encode_batch_size: 32,
        }
    }
}

/// Encoder adaptation: a stage before docids are learned, in which the top encoder layers are
/// fine-tuned as a dense retriever on the judged training pairs (in-batch softmax over the
/// cosines of mean-pooled, normalised states, as sentence-transformers trains MiniLM). Docids are
/// then learned on the adapted encoder, kept frozen, so the documents' clusters, the decoder's
/// input and the index's encoder states all carry what the judgements taught. Only judged (and
/// pseudo) queries that name few documents are used: fallback queries made from a document's own
/// text teach it little, and a topic query would pull all its documents onto one embedding.
/// A dataset without such queries and a trained encoder (`model.mode` other than frozen) skip the
/// stage, and the effective configuration says so. Rule-based docid schemes adapt too (their
/// docids are assigned from the pretrained encoder's states, before adaptation), so every scheme
/// is compared on the same encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptSection {
    /// Epochs over the judged pairs; 0 turns the stage off.
    pub epochs: usize,
    /// How many of the last encoder layers train (the states below them are cached once).
    pub layers: usize,
    pub lr: f64,
    pub batch_size: usize,
    /// Divides the cosines (0.05 is sentence-transformers' scale of 20).
    pub temperature: f64,
    /// Hard negatives: when above 0, every pair also contrasts its query with one document drawn
    /// from the query's `hard_negatives` nearest training documents that are not among its own,
    /// mined at the start of each epoch with the encoder as it is then. 0: in-batch negatives
    /// only. The default, 20, was chosen on SciFact dev.
    pub hard_negatives: usize,
}

impl Default for AdaptSection {
    fn default() -> Self {
        // Chosen on SciFact dev (bench/quality/adapt_sweep.py): one layer for three epochs
        // beat two layers, and costs half as much; with a hard negative from the 20 nearest
        // (bench/quality/adapt_negatives_sweep.py) three epochs beat five without.
        Self {
            epochs: 3,
            layers: 1,
            lr: 5e-5,
            batch_size: 32,
            temperature: 0.05,
            hard_negatives: 20,
        }
    }
}

/// Size of the docid space. Zero means "choose from the corpus size" (see [`auto_docid_shape`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocidSection {
    /// M: codes per docid (before a disambiguation code).
    pub steps: usize,
    /// K: codes per step.
    pub codebook_size: usize,
    /// Divides every dot product of the heads.
    pub temperature: f64,
    /// Divides the query-document dot products of the ranking loss (on top of `temperature`).
    /// The decoder's states leave a layer norm with norm about sqrt(D), so raw `q . d` reach
    /// hundreds and the in-batch softmax saturates; sqrt(D) makes them scaled dot products.
    /// 1.0 is the specification's raw dot product.
    pub ranking_temperature: f64,
    /// After the last step, give every training document the docid the final tokenizer gives
    /// it (greedy, as a new document or a query gets one), then resolve collisions and train the
    /// final epochs on those. Codes assigned at step t come from the model of step t; later
    /// steps move the shared decoder, so without this the stored docids drift away from what
    /// the model generates (on SciFact only 28% of documents kept their first three codes).
    pub reassign_at_end: bool,
    /// Residual decoding: the heads read each step's decoder state minus the reconstruction rows
    /// of the codes before it, and balanced k-means fits those rows on the residual states, so
    /// that every step encodes what the prefix leaves of the text (residual quantisation of the
    /// decoder states; `genret_model::genret`). Not in the paper; on by default since it is
    /// what lets docids alone rank (SciFact dev nDCG@10 0.684 codes only at 16 x 256, against
    /// 0.321 without it; docs/benchmarks.md). GenRet's tokenizer only: rule-based schemes
    /// ignore it.
    pub residual: bool,
}

impl Default for DocidSection {
    fn default() -> Self {
        Self {
            steps: 0,
            codebook_size: 0,
            temperature: 1.0,
            ranking_temperature: 1.0,
            reassign_at_end: true,
            residual: true,
        }
    }
}

/// The documented rule: K is the power of two nearest to sqrt(N), clamped to [16, 512]; M is the
/// smallest length (at least 2) with K^M >= 32 N, so that balanced codes leave most docids unused
/// and collisions rare. SciFact (N = 5,183): K = 64, M = 3 (262,144 docids). NQ320K: K = 512,
/// M = 3, the paper's setting.
pub fn auto_docid_shape(num_docs: usize) -> (usize, usize) {
    let n = num_docs.max(1) as f64;
    let k = 2f64.powf(n.sqrt().log2().round()).clamp(16.0, 512.0) as usize;
    let target = 32.0 * n;
    let mut m = 2;
    while (k as f64).powi(m as i32) < target {
        m += 1;
    }
    (k, m)
}

/// The rule with residual decoding: M = 16 steps of K = 256 codes (measured on SciFact, where
/// 16 x 256 residual codes reach the adapted dense model's dev nDCG@10 with states and 0.684
/// alone), K lowered to the largest power of two with at least 8 documents per code on small
/// collections (balanced k-means needs documents to fill every code).
pub fn auto_residual_docid_shape(num_docs: usize) -> (usize, usize) {
    let per_code = (num_docs / 8).max(2);
    ((1usize << per_code.ilog2()).min(256), 16)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimSection {
    pub lr: f64,
    pub weight_decay: f64,
    /// Maximum global gradient norm (paper: 1.0).
    pub grad_clip: f64,
    pub batch_size: usize,
}

impl Default for OptimSection {
    fn default() -> Self {
        Self {
            lr: 5e-4,
            weight_decay: 0.01,
            grad_clip: 1.0,
            batch_size: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSection {
    /// Epochs of ranking (+ prefix) loss before step T's codebook exists.
    pub warmup_epochs: usize,
    /// Epochs with all losses at each step.
    pub main_epochs: usize,
    /// Epochs of fine-tuning on the final docids (after disambiguation).
    pub final_epochs: usize,
    /// Write a metrics line every this many batches.
    pub log_every: usize,
    /// When false (ablation "without progressive training"), all steps train jointly: every
    /// codebook is initialised at once and all step targets are balanced together.
    pub progressive: bool,
    /// Joint training (progressive = false): epochs with all losses at every step. 0 means
    /// `main_epochs * M`, the progressive schedule's count of all-loss epochs.
    pub joint_epochs: usize,
    /// Rule-based docid schemes: epochs of retriever training on the fixed docids. 0 means as
    /// many as the GenRet schedule trains in all (`M * (warmup + main) + final`), so schemes
    /// are compared at equal training length (bench/docids sets it so).
    pub fixed_epochs: usize,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        Self {
            // The default preset trains no docid epoch: with residual decoding, GenRet's
            // tokenizer comes from diverse clustering alone, and one final epoch of GenRet's
            // losses left the docids unchanged and lowered the decoder's own code scores on
            // SciFact dev (docs/benchmarks.md, "Residual decoding"). The paper's schedule is
            // 1 / 2 / 1 here (bench/quality/paper.toml).
            warmup_epochs: 0,
            main_epochs: 0,
            final_epochs: 0,
            log_every: 20,
            progressive: true,
            joint_epochs: 0,
            // What the paper's schedule trains in all at M = 3 (3 * (1 + 2) + 1).
            fixed_epochs: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkhornSection {
    /// When false (ablation), step targets are the plain argmax of the scores.
    pub enabled: bool,
    pub epsilon: f64,
    pub max_iters: usize,
    pub tol: f64,
    /// Divide scores by their largest magnitude first (as the authors' code does).
    pub rescale: bool,
    /// Ablation: the authors' defective one-sided loop instead of two-sided Sinkhorn.
    pub one_sided: bool,
}

impl Default for SinkhornSection {
    fn default() -> Self {
        Self {
            enabled: true,
            epsilon: 1.0,
            max_iters: 100,
            tol: 1e-6,
            rescale: true,
            one_sided: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusteringSection {
    /// When false (ablation), codebooks start random instead of from balanced k-means.
    pub balanced_init: bool,
    pub kmeans_iters: usize,
    /// Subtract each prefix group's mean (and add back the global mean) before clustering.
    pub remove_prefix_mean: bool,
    /// Remove the corpus-mean direction from the centroids before they become codebook rows.
    /// Not in the paper: without it, raw dot-product logits favour the codes aligned with the
    /// mean state that all documents share, and a fresh decoder collapses onto one code.
    pub center_codebook: bool,
    /// With `center_codebook`, remove the directions of every prefix group's mean state, not
    /// only the corpus mean's. At step T > 1 the states of a prefix group share that group's
    /// mean, which biases all of them towards the same codes; removing those directions lets
    /// the argmax follow the clusters within each group.
    pub project_prefix_means: bool,
    /// Rescale the initial codebook rows to one common norm, so that a code is chosen for its
    /// direction and short rows are not left unused (see the `codebook` module). Not in the
    /// paper; on by default since it keeps GenRet's docids from collapsing on MS MARCO.
    pub equal_norm_rows: bool,
}

impl Default for ClusteringSection {
    fn default() -> Self {
        Self {
            balanced_init: true,
            kmeans_iters: 25,
            remove_prefix_mean: true,
            center_codebook: true,
            project_prefix_means: false,
            equal_norm_rows: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSection {
    /// Collapse: fewer than this fraction of K codes used at a step. Training stops then.
    pub collapse_fraction: f64,
    /// Go on despite a collapse (reported all the same).
    pub allow_collapse: bool,
}

impl Default for HealthSection {
    fn default() -> Self {
        // Reported, not fatal: a run that ends with shared docids still gives a usable index
        // (documents sharing a docid are ordered by their states); stopping gave none.
        Self {
            collapse_fraction: 0.1,
            allow_collapse: true,
        }
    }
}

/// What to do with documents that share a full docid after the last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CollisionPolicy {
    /// The authors' way: append one more code, 0, 1, 2, ... within each collision group, and
    /// fine-tune once more so the retriever learns it.
    Disambiguate,
    /// Keep shared docids; search returns every document of a retrieved docid.
    Share,
}

/// Where training queries come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalSource {
    /// Judged training queries (`qrels/<train_split>.tsv`).
    Qrels,
    /// A pseudo-query file (docT5query style).
    Pseudo,
    /// Made from the document itself: its title and sampled sentences.
    Fallback,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalSection {
    /// Sources to combine. Empty: every available one (qrels if the split exists, pseudo if a
    /// file is given, fallback always).
    pub sources: Vec<SignalSource>,
    pub train_split: String,
    pub pseudo_queries: Option<PathBuf>,
    /// Fallback queries made per document.
    pub fallback_per_doc: usize,
    /// A judged query relevant to more documents than this trains with a seeded sample of
    /// them only (0: no limit). Such queries name a topic; used for every relevant document
    /// they pull all of them onto one code.
    pub max_docs_per_query: usize,
    /// Judged and pseudo queries kept per document (0: no limit). Bounds the queries encoded
    /// however many training pairs a collection has.
    pub max_queries_per_doc: usize,
}

impl Default for SignalSection {
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            train_split: "train".into(),
            pseudo_queries: None,
            fallback_per_doc: 3,
            max_docs_per_query: 8,
            max_queries_per_doc: 16,
        }
    }
}

/// The whole training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub seed: u64,
    /// Torch intra-op threads (0: libtorch's default).
    pub threads: usize,
    /// Fraction of documents (and their training queries) left out of training, to be added
    /// afterwards as unseen documents.
    pub holdout_docs: f64,
    pub model: ModelSection,
    pub adapt: AdaptSection,
    pub docids: DocidSection,
    pub decoder: DecoderConfig,
    pub losses: LossWeights,
    pub optim: OptimSection,
    pub schedule: ScheduleSection,
    pub sinkhorn: SinkhornSection,
    pub clustering: ClusteringSection,
    pub health: HealthSection,
    pub collisions: CollisionPolicy,
    pub signal: SignalSection,
    /// Which docids: GenRet's learned ones (default) or a rule-based / clustering scheme whose
    /// fixed docids the same retriever network then learns to generate.
    pub scheme: SchemeConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            threads: 0,
            holdout_docs: 0.0,
            model: ModelSection::default(),
            adapt: AdaptSection::default(),
            docids: DocidSection::default(),
            decoder: DecoderConfig::default(),
            losses: LossWeights::default(),
            optim: OptimSection::default(),
            schedule: ScheduleSection::default(),
            sinkhorn: SinkhornSection::default(),
            clustering: ClusteringSection::default(),
            health: HealthSection::default(),
            collisions: CollisionPolicy::Disambiguate,
            signal: SignalSection::default(),
            scheme: SchemeConfig::default(),
        }
    }
}

impl TrainConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{}: invalid training configuration", path.display()))
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Fills corpus-dependent defaults (K, M) and checks ranges.
    pub fn resolve(mut self, num_docs: usize) -> Result<Self> {
        let (k, m) = if self.residual_decoding() {
            auto_residual_docid_shape(num_docs)
        } else {
            auto_docid_shape(num_docs)
        };
        if self.docids.codebook_size == 0 {
            self.docids.codebook_size = k;
        }
        if self.docids.steps == 0 {
            self.docids.steps = m;
        }
        anyhow::ensure!(
            self.docids.codebook_size >= 2,
            "docids.codebook_size must be at least 2"
        );
        anyhow::ensure!(
            self.optim.batch_size >= 2,
            "optim.batch_size must be at least 2 (in-batch negatives)"
        );
        anyhow::ensure!(
            (0.0..1.0).contains(&self.holdout_docs),
            "holdout_docs must be in [0, 1)"
        );
        anyhow::ensure!(
            self.schedule.log_every >= 1,
            "schedule.log_every must be at least 1"
        );
        if self.schedule.joint_epochs == 0 {
            self.schedule.joint_epochs = self.schedule.main_epochs * self.docids.steps;
        }
        if self.schedule.fixed_epochs == 0 {
            let s = &self.schedule;
            self.schedule.fixed_epochs =
                self.docids.steps * (s.warmup_epochs + s.main_epochs) + s.final_epochs;
        }
        anyhow::ensure!(
            self.model.mode != TrainMode::TopLayers || self.model.trainable_layers >= 1,
            "model.mode = \"top-layers\" needs model.trainable_layers >= 1"
        );
        anyhow::ensure!(
            self.adapt.epochs == 0
                || (self.adapt.layers >= 1
                    && self.adapt.batch_size >= 2
                    && self.adapt.temperature > 0.0),
            "adapt needs layers >= 1, batch_size >= 2 (in-batch negatives) and temperature > 0"
        );
        Ok(self)
    }

    /// True when docids come from a rule-based scheme rather than training.
    pub fn fixed_docids(&self) -> bool {
        self.scheme.kind != SchemeKind::GenRet
    }

    /// Whether the model decodes residually: asked for, and docids are GenRet's own.
    pub fn residual_decoding(&self) -> bool {
        self.docids.residual && !self.fixed_docids()
    }

    /// Steps the model needs codebooks for: M, plus one for disambiguation (learned docids).
    pub fn model_steps(&self) -> usize {
        if self.fixed_docids() {
            return self.docids.steps;
        }
        self.docids.steps + usize::from(self.collisions == CollisionPolicy::Disambiguate)
    }

    /// A small, fast configuration for tests and smoke runs (behind the `testing` feature).
    #[cfg(any(test, feature = "testing"))]
    pub fn tiny() -> Self {
        let mut c = TrainConfig::default();
        c.model.doc_max_len = 48;
        c.model.query_max_len = 16;
        c.decoder = DecoderConfig {
            layers: 1,
            heads: 2,
            ffn_multiple: 2,
            dropout: 0.1,
            max_positions: 8,
            ..Default::default()
        };
        c.docids = DocidSection {
            steps: 2,
            codebook_size: 4,
            ..Default::default()
        };
        c.optim.batch_size = 8;
        c.schedule = ScheduleSection {
            warmup_epochs: 1,
            main_epochs: 1,
            final_epochs: 1,
            log_every: 2,
            fixed_epochs: 0,
            ..Default::default()
        };
        c.clustering.kmeans_iters = 10;
        c.health.collapse_fraction = 0.0;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_shape_is_16_steps_of_at_most_256_codes_with_8_documents_each() {
        assert_eq!(auto_residual_docid_shape(5_183), (256, 16));
        assert_eq!(auto_residual_docid_shape(2_048), (256, 16));
        assert_eq!(auto_residual_docid_shape(2_047), (128, 16));
        assert_eq!(auto_residual_docid_shape(96), (8, 16));
        assert_eq!(auto_residual_docid_shape(10), (2, 16));
        assert_eq!(auto_residual_docid_shape(0), (2, 16));
    }

    #[test]
    fn auto_shape_follows_the_documented_rule() {
        assert_eq!(auto_docid_shape(5_183), (64, 3));
        assert_eq!(auto_docid_shape(320_000), (512, 3));
        assert_eq!(auto_docid_shape(100), (16, 3));
        for n in [10, 1_000, 5_000, 50_000, 1_000_000] {
            let (k, m) = auto_docid_shape(n);
            assert!((k as f64).powi(m as i32) >= 32.0 * n as f64);
            assert!((k as f64).powi(m as i32 - 1) < 32.0 * n as f64 || m == 2);
        }
    }

    #[test]
    fn toml_round_trip_and_unknown_fields_rejected() {
        let c = TrainConfig::default().resolve(5_183).unwrap();
        let back: TrainConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        let err = toml::from_str::<TrainConfig>("[optim]\nlearning_rate = 1.0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("learning_rate"), "{err}");
        let partial: TrainConfig = toml::from_str("seed = 7\n[docids]\nsteps = 4\n").unwrap();
        assert_eq!(partial.seed, 7);
        assert_eq!(partial.docids.steps, 4);
        assert_eq!(partial.optim, OptimSection::default());
    }
}
