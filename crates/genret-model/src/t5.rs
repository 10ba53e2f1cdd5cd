//! T5 encoder-decoder backbone, loaded from a Hugging Face T5 checkpoint (t5-*, T5 v1.1, flan-T5).
//!
//! # Architecture
//!
//! Both stacks are pre-norm transformers over width `d_model`:
//!
//! ```text
//! encoder block:  x += SelfAttention(norm(x));                      x += FF(norm(x))
//! decoder block:  x += CausalSelfAttention(norm(x));  x += CrossAttention(norm(x), enc);  x += FF(norm(x))
//! stack output:   final_norm(x)
//! ```
//!
//! What sets T5 apart from BERT-style transformers, and what this port reproduces exactly:
//!
//! * **Norm**: RMS norm: `w * x / sqrt(mean(x^2) + eps)`, no mean subtraction, no bias,
//!   accumulated in float32.
//! * **Attention** has `num_heads` heads of width `d_kv` (`inner = num_heads * d_kv`, which need not
//!   equal `d_model`), no biases, and **no `1/sqrt(d_kv)` scaling**: T5 folds it into the
//!   initialisation of the query weights, so scaling here would change a pretrained model.
//! * **Positions** are not embedded. Instead, each stack's first self-attention layer owns a table
//!   `relative_attention_bias` (`num_buckets x num_heads`) indexed by a bucketed relative distance
//!   `key - query` (exact for small distances, logarithmic up to `max_distance`, then clamped).
//!   Encoder buckets are bidirectional (half the buckets for keys after the query); decoder
//!   buckets are unidirectional (keys after the query are masked anyway). The bias is computed
//!   once per forward by the first layer and added to the scores of every layer of the stack.
//!   Cross-attention has no position bias.
//! * **Feed-forward**: `wo(act(wi x))` (original T5: ReLU) or gated `wo(act(wi_0 x) * wi_1 x)`
//!   (v1.1 / flan-T5: `gated-gelu`, where gelu is the tanh approximation `gelu_new`).
//! * Token embeddings (`shared`) are used by the encoder only here: GenRet feeds the decoder its
//!   own vectors (start vector, code embeddings), never vocabulary tokens.
//! * The LM head exists only for parity checks ([`T5Model::lm_logits`]): tied checkpoints reuse
//!   `shared` after scaling the states by `d_model^-0.5`, untied ones (v1.1/flan) own `lm_head`.
//!
//! Variable names are the checkpoint's (`shared.weight`,
//! `encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight`,
//! `decoder.block.1.layer.2.DenseReluDense.wi_0.weight`, `decoder.final_layer_norm.weight`, ...), so
//! [`crate::checkpoint::load_weights`] (or [`T5Model::load_weights`], which also accepts files that
//! store the embeddings only under an `embed_tokens` alias) fills the model directly.
//!
//! Dropout follows the reference placement (after embedding, attention probabilities, each
//! sub-layer output, inside the feed-forward and after the final norm) and is active only when
//! `train` is set.

use std::borrow::Borrow;
use std::path::Path as FsPath;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use tch::nn::{self, VarStore};
use tch::{Device, Kind, Tensor};

use crate::backbone::{Backbone, Encoded, KvCache, LayerCache};
use crate::checkpoint::{self, LoadReport};

fn default_num_buckets() -> i64 {
    32
}
fn default_max_distance() -> i64 {
    128
}
fn default_dropout() -> f64 {
    0.1
}
fn default_eps() -> f64 {
    1e-6
}
fn default_ff_proj() -> String {
    "relu".to_string()
}
fn default_true() -> bool {
    true
}
fn default_vocab() -> i64 {
    32128
}

/// The fields of a Hugging Face T5 `config.json` that the network needs; others are ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct T5Config {
    pub d_model: i64,
    /// Width of one attention head.
    pub d_kv: i64,
    pub d_ff: i64,
    /// Encoder layers.
    pub num_layers: i64,
    /// Decoder layers; `num_layers` when absent or null.
    #[serde(default)]
    pub num_decoder_layers: Option<i64>,
    pub num_heads: i64,
    #[serde(default = "default_num_buckets")]
    pub relative_attention_num_buckets: i64,
    #[serde(default = "default_max_distance")]
    pub relative_attention_max_distance: i64,
    #[serde(default = "default_dropout")]
    pub dropout_rate: f64,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// `relu`, `gelu`, `gated-gelu`, `gated-silu`, ...: `[gated-]ACTIVATION`.
    #[serde(default = "default_ff_proj")]
    pub feed_forward_proj: String,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    /// Written by transformers >= 5 (which always ties `lm_head`); when absent, the LM head scales
    /// the states exactly when the embeddings are tied, as transformers 4 does.
    #[serde(default)]
    pub scale_decoder_outputs: Option<bool>,
    #[serde(default = "default_vocab")]
    pub vocab_size: i64,
    #[serde(default)]
    pub pad_token_id: i64,
    #[serde(default)]
    pub decoder_start_token_id: i64,
}

/// Feed-forward activation functions (Hugging Face `ACT2FN` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    /// Exact (erf) GELU: `gelu`.
    Gelu,
    /// Tanh-approximated GELU: `gelu_new`, `gelu_pytorch_tanh`; what `gated-gelu` means.
    GeluTanh,
    /// `silu` / `swish`.
    Silu,
}

impl Activation {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "relu" => Self::Relu,
            "gelu" => Self::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Self::GeluTanh,
            "silu" | "swish" => Self::Silu,
            _ => return None,
        })
    }

    fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Self::Relu => x.relu(),
            Self::Gelu => x.gelu("none"),
            Self::GeluTanh => x.gelu("tanh"),
            Self::Silu => x.silu(),
        }
    }
}

impl T5Config {
    /// Decoder depth (`num_decoder_layers`, defaulting to `num_layers` as in transformers).
    pub fn decoder_layers(&self) -> i64 {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }

    /// Width of the concatenated attention heads.
    pub fn inner_dim(&self) -> i64 {
        self.num_heads * self.d_kv
    }

    /// The feed-forward activation and whether the feed-forward is gated, parsed from
    /// `feed_forward_proj` the way transformers does (`gated-gelu` means tanh-approximated gelu).
    pub fn activation(&self) -> Result<(Activation, bool)> {
        let proj = self.feed_forward_proj.as_str();
        let parts: Vec<&str> = proj.split('-').collect();
        let (gated, name) = match parts.as_slice() {
            [act] => (false, *act),
            ["gated", act] => (true, *act),
            _ => bail!(
                "T5 config: feed_forward_proj `{proj}` is not of the form `ACT` or `gated-ACT`"
            ),
        };
        let name = if proj == "gated-gelu" {
            "gelu_new"
        } else {
            name
        };
        let act = Activation::from_name(name).with_context(|| {
            format!("T5 config: unsupported activation `{name}` in feed_forward_proj `{proj}` (supported: relu, gelu, gelu_new, gelu_pytorch_tanh, silu)")
        })?;
        Ok((act, gated))
    }

    /// Whether the feed-forward is gated (`gated-*`, T5 v1.1 / flan-T5).
    pub fn is_gated_act(&self) -> bool {
        self.feed_forward_proj.starts_with("gated-")
    }

    /// Whether the LM head multiplies the states by `d_model^-0.5` (original, tied T5).
    pub fn scales_lm_input(&self) -> bool {
        self.scale_decoder_outputs
            .unwrap_or(self.tie_word_embeddings)
    }

    /// Rejects configurations the network cannot be built from (instead of panicking in libtorch).
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_decoder_layers", self.decoder_layers()),
            ("num_heads", self.num_heads),
            ("vocab_size", self.vocab_size),
        ] {
            ensure!(value > 0, "T5 config: {name} must be positive, got {value}");
        }
        let buckets = self.relative_attention_num_buckets;
        // Bidirectional bucketing halves the buckets and keeps half of those exact: at least one
        // exact bucket per direction needs 4.
        ensure!(
            buckets >= 4,
            "T5 config: relative_attention_num_buckets must be at least 4, got {buckets}"
        );
        ensure!(
            self.relative_attention_max_distance > buckets / 2,
            "T5 config: relative_attention_max_distance ({}) must exceed relative_attention_num_buckets / 2 ({})",
            self.relative_attention_max_distance,
            buckets / 2
        );
        ensure!(
            (0.0..1.0).contains(&self.dropout_rate),
            "T5 config: dropout_rate must be in [0, 1), got {}",
            self.dropout_rate
        );
        ensure!(
            self.layer_norm_epsilon >= 0.0,
            "T5 config: layer_norm_epsilon must be non-negative, got {}",
            self.layer_norm_epsilon
        );
        self.activation()?;
        Ok(())
    }
}

/// Maps relative positions `key - query` (int64 tensor) to bucket ids in `0..num_buckets`,
/// exactly as Hugging Face's `T5Attention._relative_position_bucket` (same float32 arithmetic, so
/// the boundaries of the logarithmic buckets agree).
///
/// Bidirectional: half the buckets for keys at or before the query, half for keys after it.
/// Unidirectional: keys after the query all fall in bucket 0. In each half, distances below
/// `max_exact = half / 2` get a bucket each; larger ones share logarithmically wider buckets up to
/// `max_distance`, beyond which everything lands in the last bucket.
pub fn relative_position_bucket(
    relative_position: &Tensor,
    bidirectional: bool,
    num_buckets: i64,
    max_distance: i64,
) -> Tensor {
    let (num_buckets, offset, distance) = if bidirectional {
        let half = num_buckets / 2;
        (
            half,
            relative_position.gt(0).to_kind(Kind::Int64) * half,
            relative_position.abs(),
        )
    } else {
        (
            num_buckets,
            relative_position.zeros_like(),
            -relative_position.clamp_max(0),
        )
    };
    let max_exact = num_buckets / 2;
    let is_small = distance.lt(max_exact);
    // clamp_min(1) only keeps log(0) out of the unused branch of the `where`.
    let log_ratio = (distance.clamp_min(1).to_kind(Kind::Float) / max_exact as f64).log();
    let scaled = log_ratio / (max_distance as f64 / max_exact as f64).ln()
        * (num_buckets - max_exact) as f64;
    let large = (scaled.to_kind(Kind::Int64) + max_exact).clamp_max(num_buckets - 1);
    offset + distance.where_self(&is_small, &large)
}

/// The most negative finite value of a float kind: added to the scores of masked keys. Finite
/// (as in transformers) so that a row whose keys are all masked gives a uniform softmax, not NaN.
fn mask_value(kind: Kind) -> f64 {
    match kind {
        Kind::Half => -65504.0,
        Kind::BFloat16 => -3.389_531_389_251_535_5e38,
        Kind::Double => f64::MIN,
        _ => f32::MIN as f64,
    }
}

/// Additive mask `[B, 1, 1, L]`: 0 for real keys, the kind's minimum for padding.
fn padding_bias(mask: &Tensor, kind: Kind) -> Tensor {
    let pad = mask.eq(0).to_kind(kind);
    (pad * mask_value(kind)).unsqueeze(1).unsqueeze(1)
}

fn no_bias_linear(p: nn::Path, input: i64, output: i64) -> nn::Linear {
    nn::linear(
        p,
        input,
        output,
        nn::LinearConfig {
            bias: false,
            ..Default::default()
        },
    )
}

/// T5's RMS layer norm.
#[derive(Debug)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(p: nn::Path, dim: i64, eps: f64) -> Self {
        Self {
            weight: p.ones("weight", &[dim]),
            eps,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        // Accumulate in float32 even for half-precision activations (sums of squares overflow).
        let xf = x.to_kind(Kind::Float);
        let variance = xf.square().mean_dim(-1, true, Kind::Float);
        let normed = xf * (variance + self.eps).rsqrt();
        normed.to_kind(self.weight.kind()) * &self.weight
    }
}

/// One attention layer (`SelfAttention` or `EncDecAttention`).
#[derive(Debug)]
struct Attention {
    q: nn::Linear,
    k: nn::Linear,
    v: nn::Linear,
    o: nn::Linear,
    num_heads: i64,
    d_kv: i64,
    dropout: f64,
}

impl Attention {
    fn new(p: nn::Path, cfg: &T5Config) -> Self {
        let inner = cfg.inner_dim();
        Self {
            q: no_bias_linear(&p / "q", cfg.d_model, inner),
            k: no_bias_linear(&p / "k", cfg.d_model, inner),
            v: no_bias_linear(&p / "v", cfg.d_model, inner),
            o: no_bias_linear(&p / "o", inner, cfg.d_model),
            num_heads: cfg.num_heads,
            d_kv: cfg.d_kv,
            dropout: cfg.dropout_rate,
        }
    }

    /// `[B, T, inner]` -> `[B, heads, T, d_kv]`.
    fn split_heads(&self, x: &Tensor) -> Tensor {
        let size = x.size();
        x.view([size[0], size[1], self.num_heads, self.d_kv])
            .transpose(1, 2)
    }

    /// Keys and values of `x` `[B, T, D]`, each `[B, heads, T, d_kv]`.
    fn key_values(&self, x: &Tensor) -> (Tensor, Tensor) {
        (
            self.split_heads(&x.apply(&self.k)),
            self.split_heads(&x.apply(&self.v)),
        )
    }

    /// Attends from `x` `[B, Tq, D]` to the given keys/values; `bias` (position bias plus masks)
    /// broadcasts to `[B, heads, Tq, Tk]`. Returns `[B, Tq, D]`.
    fn attend(
        &self,
        x: &Tensor,
        keys: &Tensor,
        values: &Tensor,
        bias: &Tensor,
        train: bool,
    ) -> Tensor {
        let q = self.split_heads(&x.apply(&self.q));
        // No 1/sqrt(d_kv): T5 folds that factor into the query weights' initialisation.
        let scores = q.matmul(&keys.transpose(-2, -1)) + bias;
        let weights = scores
            .softmax(-1, Kind::Float)
            .to_kind(scores.kind())
            .dropout(self.dropout, train);
        let out = weights.matmul(values);
        let size = out.size();
        out.transpose(1, 2)
            .contiguous()
            .view([size[0], size[2], size[1] * size[3]])
            .apply(&self.o)
    }
}

/// A stack's relative position bias table (`num_buckets x heads`), owned by the first
/// self-attention layer in the checkpoint and shared by every layer of the stack.
#[derive(Debug)]
struct PositionBias {
    table: nn::Embedding,
    bidirectional: bool,
    num_buckets: i64,
    max_distance: i64,
}

impl PositionBias {
    /// `p` is the first block's `SelfAttention`.
    fn new(p: nn::Path, cfg: &T5Config, bidirectional: bool) -> Self {
        let num_buckets = cfg.relative_attention_num_buckets;
        Self {
            table: nn::embedding(
                p / "relative_attention_bias",
                num_buckets,
                cfg.num_heads,
                Default::default(),
            ),
            bidirectional,
            num_buckets,
            max_distance: cfg.relative_attention_max_distance,
        }
    }

    /// Bias `[1, heads, Tq, Tk]` for query positions `queries` and key positions `keys` (int64, 1-D).
    fn forward(&self, queries: &Tensor, keys: &Tensor) -> Tensor {
        let relative = keys.unsqueeze(0) - queries.unsqueeze(1);
        let buckets = relative_position_bucket(
            &relative,
            self.bidirectional,
            self.num_buckets,
            self.max_distance,
        );
        buckets.apply(&self.table).permute([2, 0, 1]).unsqueeze(0)
    }
}

/// `DenseReluDense`: plain or gated.
#[derive(Debug)]
struct FeedForward {
    /// `wi` (plain) or `wi_0` (gated, the activated branch).
    wi: nn::Linear,
    /// `wi_1`, the linear branch of the gated variant.
    wi_gate: Option<nn::Linear>,
    wo: nn::Linear,
    act: Activation,
    dropout: f64,
}

impl FeedForward {
    fn new(p: nn::Path, cfg: &T5Config, act: Activation, gated: bool) -> Self {
        let (wi, wi_gate) = if gated {
            (
                no_bias_linear(&p / "wi_0", cfg.d_model, cfg.d_ff),
                Some(no_bias_linear(&p / "wi_1", cfg.d_model, cfg.d_ff)),
            )
        } else {
            (no_bias_linear(&p / "wi", cfg.d_model, cfg.d_ff), None)
        };
        Self {
            wi,
            wi_gate,
            wo: no_bias_linear(&p / "wo", cfg.d_ff, cfg.d_model),
            act,
            dropout: cfg.dropout_rate,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let activated = self.act.apply(&x.apply(&self.wi));
        // Not `*=`: an in-place product would overwrite the activation output that relu's
        // backward pass reads.
        let h = match &self.wi_gate {
            Some(gate) => activated * x.apply(gate),
            None => activated,
        };
        h.dropout(self.dropout, train).apply(&self.wo)
    }
}

#[derive(Debug)]
struct EncoderBlock {
    self_norm: RmsNorm,
    self_attn: Attention,
    ff_norm: RmsNorm,
    ff: FeedForward,
}

#[derive(Debug)]
struct DecoderBlock {
    self_norm: RmsNorm,
    self_attn: Attention,
    cross_norm: RmsNorm,
    cross_attn: Attention,
    ff_norm: RmsNorm,
    ff: FeedForward,
}

/// A residual branch's output with dropout, added to the stream.
fn residual(x: &Tensor, branch: Tensor, p: f64, train: bool) -> Tensor {
    x + branch.dropout(p, train)
}

impl EncoderBlock {
    fn forward(&self, x: &Tensor, bias: &Tensor, train: bool) -> Tensor {
        let p = self.ff.dropout;
        let h = self.self_norm.forward(x);
        let (k, v) = self.self_attn.key_values(&h);
        let x = residual(x, self.self_attn.attend(&h, &k, &v, bias, train), p, train);
        let h = self.ff_norm.forward(&x);
        residual(&x, self.ff.forward(&h, train), p, train)
    }
}

impl DecoderBlock {
    /// Cross-attention and feed-forward, shared by full and incremental decoding.
    fn cross_and_ff(
        &self,
        x: &Tensor,
        cross_kv: &(Tensor, Tensor),
        cross_bias: &Tensor,
        train: bool,
    ) -> Tensor {
        let p = self.ff.dropout;
        let h = self.cross_norm.forward(x);
        let x = residual(
            x,
            self.cross_attn
                .attend(&h, &cross_kv.0, &cross_kv.1, cross_bias, train),
            p,
            train,
        );
        let h = self.ff_norm.forward(&x);
        residual(&x, self.ff.forward(&h, train), p, train)
    }
}

/// The T5 network: shared token embeddings, encoder stack, decoder stack (and optionally the LM
/// head). See the module documentation for the architecture.
#[derive(Debug)]
pub struct T5Model {
    cfg: T5Config,
    shared: nn::Embedding,
    encoder: Vec<EncoderBlock>,
    encoder_bias: PositionBias,
    encoder_norm: RmsNorm,
    decoder: Vec<DecoderBlock>,
    decoder_bias: PositionBias,
    decoder_norm: RmsNorm,
    lm_head: Option<nn::Linear>,
}

/// Checkpoint tensors that a T5 model legitimately leaves unused: duplicates of `shared.weight`
/// that hub files may carry, the LM head (unless built with [`T5Model::new_with_lm_head`]), and a
/// cross-attention bias table that old checkpoints hold but T5 never uses.
pub const IGNORED_CHECKPOINT_TENSORS: [&str; 4] = [
    "encoder.embed_tokens.weight",
    "decoder.embed_tokens.weight",
    "lm_head.weight",
    "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",
];

/// Whether a checkpoint tensor reported unused by [`crate::checkpoint::load_weights`] is one of
/// [`IGNORED_CHECKPOINT_TENSORS`].
pub fn is_ignored_checkpoint_tensor(name: &str) -> bool {
    IGNORED_CHECKPOINT_TENSORS.contains(&name)
}

impl T5Model {
    /// Builds the encoder-decoder under `p` with checkpoint variable names (no LM head: GenRet
    /// scores decoder states against its own codebooks). Weights are placeholders until loaded.
    pub fn new<'a>(p: impl Borrow<nn::Path<'a>>, cfg: &T5Config) -> Result<Self> {
        Self::build(p.borrow(), cfg, false)
    }

    /// As [`T5Model::new`], plus `lm_head.weight` for untied checkpoints (v1.1 / flan-T5) so that
    /// [`T5Model::lm_logits`] can run; tied checkpoints reuse `shared` and create nothing more.
    pub fn new_with_lm_head<'a>(p: impl Borrow<nn::Path<'a>>, cfg: &T5Config) -> Result<Self> {
        Self::build(p.borrow(), cfg, true)
    }

    fn build(p: &nn::Path, cfg: &T5Config, lm_head: bool) -> Result<Self> {
        cfg.validate()?;
        let (act, gated) = cfg.activation()?;
        let eps = cfg.layer_norm_epsilon;
        let shared = nn::embedding(
            p / "shared",
            cfg.vocab_size,
            cfg.d_model,
            Default::default(),
        );

        let enc = p / "encoder";
        let encoder = (0..cfg.num_layers)
            .map(|i| {
                let layer = &enc / "block" / i / "layer";
                EncoderBlock {
                    self_norm: RmsNorm::new(&layer / 0 / "layer_norm", cfg.d_model, eps),
                    self_attn: Attention::new(&layer / 0 / "SelfAttention", cfg),
                    ff_norm: RmsNorm::new(&layer / 1 / "layer_norm", cfg.d_model, eps),
                    ff: FeedForward::new(&layer / 1 / "DenseReluDense", cfg, act, gated),
                }
            })
            .collect();
        let encoder_norm = RmsNorm::new(&enc / "final_layer_norm", cfg.d_model, eps);
        let encoder_bias = PositionBias::new(
            &enc / "block" / 0 / "layer" / 0 / "SelfAttention",
            cfg,
            true,
        );

        let dec = p / "decoder";
        let decoder = (0..cfg.decoder_layers())
            .map(|i| {
                let layer = &dec / "block" / i / "layer";
                DecoderBlock {
                    self_norm: RmsNorm::new(&layer / 0 / "layer_norm", cfg.d_model, eps),
                    self_attn: Attention::new(&layer / 0 / "SelfAttention", cfg),
                    cross_norm: RmsNorm::new(&layer / 1 / "layer_norm", cfg.d_model, eps),
                    cross_attn: Attention::new(&layer / 1 / "EncDecAttention", cfg),
                    ff_norm: RmsNorm::new(&layer / 2 / "layer_norm", cfg.d_model, eps),
                    ff: FeedForward::new(&layer / 2 / "DenseReluDense", cfg, act, gated),
                }
            })
            .collect();
        let decoder_norm = RmsNorm::new(&dec / "final_layer_norm", cfg.d_model, eps);
        // Keys after the query are masked in the decoder, so its buckets are unidirectional.
        let decoder_bias = PositionBias::new(
            &dec / "block" / 0 / "layer" / 0 / "SelfAttention",
            cfg,
            false,
        );

        let lm_head = (lm_head && !cfg.tie_word_embeddings)
            .then(|| no_bias_linear(p / "lm_head", cfg.d_model, cfg.vocab_size));
        Ok(Self {
            cfg: cfg.clone(),
            shared,
            encoder,
            encoder_bias,
            encoder_norm,
            decoder,
            decoder_bias,
            decoder_norm,
            lm_head,
        })
    }

    pub fn config(&self) -> &T5Config {
        &self.cfg
    }

    /// Loads a T5 safetensors file into this model's variables, which live under `prefix` in
    /// `vs` (see [`crate::checkpoint::load_weights`]). Some files store the token embeddings only
    /// as `encoder.embed_tokens.weight` (or the decoder's); `shared.weight` is then filled from
    /// that alias. `unused` may still list [`IGNORED_CHECKPOINT_TENSORS`].
    pub fn load_weights(vs: &VarStore, path: &FsPath, prefix: &str) -> Result<LoadReport> {
        let mut report = checkpoint::load_weights(vs, path, prefix, &[])?;
        let shared = format!("{prefix}shared.weight");
        if let Some(pos) = report.missing.iter().position(|m| *m == shared) {
            let alias = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"]
                .into_iter()
                .find(|a| report.unused.iter().any(|u| u == a));
            if let Some(alias) = alias {
                let value = Tensor::read_safetensors(path)
                    .with_context(|| format!("reading weights {}", path.display()))?
                    .into_iter()
                    .find_map(|(n, t)| (n == alias).then_some(t))
                    .with_context(|| format!("{}: tensor `{alias}` vanished", path.display()))?;
                let mut vars = vs.variables();
                let var = vars
                    .get_mut(&shared)
                    .with_context(|| format!("no variable `{shared}`"))?;
                ensure!(
                    var.size() == value.size(),
                    "{}: `{alias}` has shape {:?}, expected {:?}",
                    path.display(),
                    value.size(),
                    var.size()
                );
                tch::no_grad(|| var.copy_(&value.to_kind(var.kind()).to_device(var.device())));
                report.missing.remove(pos);
                report.loaded += 1;
            }
        }
        Ok(report)
    }

    /// Token embeddings (`shared`) of ids `[B, L]` -> `[B, L, D]`, unscaled as T5 uses them.
    pub fn embed(&self, ids: &Tensor) -> Tensor {
        ids.apply(&self.shared)
    }

    /// Vocabulary logits of decoder states `[.., D]`, as `T5ForConditionalGeneration` computes
    /// them. Fails for an untied checkpoint unless built with [`T5Model::new_with_lm_head`].
    pub fn lm_logits(&self, decoder_states: &Tensor) -> Result<Tensor> {
        let states = if self.cfg.scales_lm_input() {
            decoder_states * (self.cfg.d_model as f64).powf(-0.5)
        } else {
            decoder_states.shallow_clone()
        };
        match (&self.lm_head, self.cfg.tie_word_embeddings) {
            (Some(head), _) => Ok(states.apply(head)),
            (None, true) => Ok(states.matmul(&self.shared.ws.tr())),
            (None, false) => bail!("untied T5 checkpoint: build the model with T5Model::new_with_lm_head to get logits"),
        }
    }
}

/// Positions `start..end` on `device` (the inputs' device: the VarStore may have moved since the
/// model was built).
fn positions(start: i64, end: i64, device: Device) -> Tensor {
    Tensor::arange_start(start, end, (Kind::Int64, device))
}

impl Backbone for T5Model {
    fn hidden_size(&self) -> i64 {
        self.cfg.d_model
    }

    fn num_decoder_layers(&self) -> usize {
        self.decoder.len()
    }

    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Encoded {
        let p = self.cfg.dropout_rate;
        let mut x = self.embed(input_ids).dropout(p, train);
        let len = input_ids.size()[1];
        let pos = positions(0, len, x.device());
        // One bias for every layer: relative positions plus key padding.
        let bias = self.encoder_bias.forward(&pos, &pos) + padding_bias(attention_mask, x.kind());
        for block in &self.encoder {
            x = block.forward(&x, &bias, train);
        }
        let states = self.encoder_norm.forward(&x).dropout(p, train);
        Encoded {
            states,
            mask: attention_mask.to_kind(Kind::Int64),
        }
    }

    fn decode(&self, inputs: &Tensor, encoded: &Encoded, train: bool) -> Tensor {
        let p = self.cfg.dropout_rate;
        let mut x = inputs.dropout(p, train);
        let len = inputs.size()[1];
        let pos = positions(0, len, x.device());
        let causal =
            Tensor::ones([len, len], (x.kind(), x.device())).triu(1) * mask_value(x.kind());
        let self_bias = self.decoder_bias.forward(&pos, &pos) + causal;
        let cross_bias = padding_bias(&encoded.mask, x.kind());
        for block in &self.decoder {
            let h = block.self_norm.forward(&x);
            let (k, v) = block.self_attn.key_values(&h);
            x = residual(
                &x,
                block.self_attn.attend(&h, &k, &v, &self_bias, train),
                p,
                train,
            );
            let cross_kv = block.cross_attn.key_values(&encoded.states);
            x = block.cross_and_ff(&x, &cross_kv, &cross_bias, train);
        }
        self.decoder_norm.forward(&x).dropout(p, train)
    }

    fn decode_step(&self, input: &Tensor, encoded: &Encoded, cache: &mut KvCache) -> Tensor {
        if cache.layers.len() != self.decoder.len() {
            // A cache made for another depth; only meaningful before the first step.
            debug_assert_eq!(
                cache.len,
                0,
                "KvCache has {} layers, the T5 decoder {}",
                cache.layers.len(),
                self.decoder.len()
            );
            cache
                .layers
                .resize_with(self.decoder.len(), LayerCache::default);
        }
        let step = cache.len;
        let mut x = input.shallow_clone();
        // The new query sits at position `step` and sees keys 0..=step: no causal mask needed.
        let device = x.device();
        let self_bias = self.decoder_bias.forward(
            &positions(step, step + 1, device),
            &positions(0, step + 1, device),
        );
        let cross_bias = padding_bias(&encoded.mask, x.kind());
        for (block, layer) in self.decoder.iter().zip(cache.layers.iter_mut()) {
            let h = block.self_norm.forward(&x);
            let (k_new, v_new) = block.self_attn.key_values(&h);
            let (k, v) = match layer.self_kv.take() {
                Some((k, v)) => (Tensor::cat(&[k, k_new], 2), Tensor::cat(&[v, v_new], 2)),
                None => (k_new, v_new),
            };
            x = &x + block.self_attn.attend(&h, &k, &v, &self_bias, false);
            layer.self_kv = Some((k, v));
            // Cross-attention keys/values depend only on the encoder states: computed once.
            let cross_kv = layer
                .cross_kv
                .get_or_insert_with(|| block.cross_attn.key_values(&encoded.states));
            x = block.cross_and_ff(&x, cross_kv, &cross_bias, false);
        }
        cache.len += 1;
        self.decoder_norm.forward(&x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> T5Config {
        serde_json::from_str(json).unwrap()
    }

    const TINY: &str = r#"{"d_model": 16, "d_kv": 6, "d_ff": 24, "num_layers": 2, "num_decoder_layers": 3,
        "num_heads": 2, "vocab_size": 40, "relative_attention_num_buckets": 8,
        "relative_attention_max_distance": 16, "feed_forward_proj": "gated-gelu", "dropout_rate": 0.1}"#;

    #[test]
    fn buckets_match_transformers() {
        // Expected values printed by transformers' T5Attention._relative_position_bucket.
        let rel = [
            -200i64, -128, -127, -64, -33, -20, -16, -9, -8, -7, -1, 0, 1, 2, 7, 8, 9, 15, 16, 17,
            31, 40, 64, 100, 127, 128, 1000,
        ];
        let cases: [(bool, i64, i64, [i64; 27]); 4] = [
            (
                true,
                32,
                128,
                [
                    15, 15, 15, 14, 12, 10, 10, 8, 8, 7, 1, 0, 17, 18, 23, 24, 24, 25, 26, 26, 27,
                    28, 30, 31, 31, 31, 31,
                ],
            ),
            (
                false,
                32,
                128,
                [
                    31, 31, 31, 26, 21, 17, 16, 9, 8, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    0, 0, 0,
                ],
            ),
            (
                true,
                8,
                16,
                [
                    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 0, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                ],
            ),
            (
                false,
                8,
                16,
                [
                    7, 7, 7, 7, 7, 7, 7, 6, 6, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
            ),
        ];
        for (bidirectional, buckets, max_distance, expected) in cases {
            let got = relative_position_bucket(
                &Tensor::from_slice(&rel),
                bidirectional,
                buckets,
                max_distance,
            );
            assert_eq!(
                Vec::<i64>::try_from(&got).unwrap(),
                expected,
                "bidirectional={bidirectional} buckets={buckets}"
            );
        }
    }

    #[test]
    fn config_parsing_and_validation() {
        let cfg = config(TINY);
        assert_eq!(cfg.activation().unwrap(), (Activation::GeluTanh, true));
        assert!(cfg.is_gated_act());
        assert_eq!(cfg.decoder_layers(), 3);
        assert_eq!(cfg.inner_dim(), 12);
        assert!(cfg.tie_word_embeddings && cfg.scales_lm_input());

        let mut c =
            config(r#"{"d_model": 8, "d_kv": 4, "d_ff": 8, "num_layers": 1, "num_heads": 2}"#);
        assert_eq!(c.decoder_layers(), 1);
        assert_eq!(c.activation().unwrap(), (Activation::Relu, false));
        assert_eq!(
            (
                c.relative_attention_num_buckets,
                c.relative_attention_max_distance
            ),
            (32, 128)
        );
        c.feed_forward_proj = "gated-silu".into();
        assert_eq!(c.activation().unwrap(), (Activation::Silu, true));
        c.feed_forward_proj = "gelu".into();
        assert_eq!(c.activation().unwrap(), (Activation::Gelu, false));
        for bad in ["swiglu", "gated-foo", "ungated-gelu", "gated-gelu-x"] {
            c.feed_forward_proj = bad.into();
            assert!(c.validate().is_err(), "{bad} accepted");
        }
        c.feed_forward_proj = "relu".into();
        c.num_heads = 0;
        assert!(c.validate().is_err());
        c.num_heads = 2;
        c.relative_attention_num_buckets = 2;
        assert!(c.validate().is_err());
        c.relative_attention_num_buckets = 32;
        c.relative_attention_max_distance = 16;
        assert!(c.validate().is_err());
        c.relative_attention_max_distance = 128;
        assert!(c.validate().is_ok());

        let vs = VarStore::new(Device::Cpu);
        c.d_ff = -1;
        assert!(T5Model::new(vs.root(), &c).is_err());
    }

    #[test]
    fn variable_names_follow_the_checkpoint() {
        let vs = VarStore::new(Device::Cpu);
        let model = T5Model::new(vs.root() / "backbone", &config(TINY)).unwrap();
        let names = vs.variables();
        for name in [
            "backbone.shared.weight",
            "backbone.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
            "backbone.encoder.block.1.layer.1.DenseReluDense.wi_1.weight",
            "backbone.encoder.final_layer_norm.weight",
            "backbone.decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
            "backbone.decoder.block.2.layer.1.EncDecAttention.o.weight",
            "backbone.decoder.block.2.layer.2.DenseReluDense.wo.weight",
            "backbone.decoder.final_layer_norm.weight",
        ] {
            assert!(names.contains_key(name), "missing {name}");
        }
        assert!(!names.contains_key(
            "backbone.encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"
        ));
        assert!(!names
            .keys()
            .any(|k| k.contains("lm_head") || k.contains("EncDecAttention.relative")));
        assert_eq!(
            names["backbone.encoder.block.0.layer.0.SelfAttention.q.weight"].size(),
            [12, 16]
        );
        assert_eq!(model.num_decoder_layers(), 3);
        assert!(model
            .lm_logits(&Tensor::zeros([1, 16], (Kind::Float, Device::Cpu)))
            .is_ok());
    }

    /// A random model with perturbed norms, so that every parameter matters.
    fn random_model(vs: &VarStore) -> T5Model {
        tch::manual_seed(7);
        let model = T5Model::new(vs.root(), &config(TINY)).unwrap();
        tch::no_grad(|| {
            for (name, mut var) in vs.variables() {
                if name.contains("layer_norm") {
                    var.copy_(&(Tensor::rand_like(&var) + 0.5));
                }
            }
        });
        model
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn gradients_reach_every_parameter() {
        let vs = VarStore::new(Device::Cpu);
        let model = random_model(&vs);
        let ids = Tensor::from_slice(&[5i64, 9, 3, 1, 7, 8, 2, 0]).view([2, 4]);
        let encoded = model.encode(&ids, &ids.ne(0).to_kind(Kind::Int64), true);
        let inputs = Tensor::randn([2, 3, 16], (Kind::Float, Device::Cpu));
        model
            .decode(&inputs, &encoded, true)
            .square()
            .sum(Kind::Float)
            .backward();
        for (name, var) in vs.variables() {
            let grad = var.grad();
            assert!(grad.defined(), "{name}: no gradient");
            assert!(
                grad.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "{name}: zero gradient"
            );
        }
    }

    #[test]
    fn padding_does_not_change_real_positions() {
        let vs = VarStore::new(Device::Cpu);
        let model = random_model(&vs);
        let ids = Tensor::from_slice(&[5i64, 9, 3, 1]).unsqueeze(0);
        let mask = Tensor::ones([1, 4], (Kind::Int64, Device::Cpu));
        let padded_ids = Tensor::from_slice(&[5i64, 9, 3, 1, 0, 0, 0]).unsqueeze(0);
        let padded_mask = Tensor::from_slice(&[1i64, 1, 1, 1, 0, 0, 0]).unsqueeze(0);
        let a = model.encode(&ids, &mask, false);
        let b = model.encode(&padded_ids, &padded_mask, false);
        assert!(max_diff(&a.states, &b.states.narrow(1, 0, 4)) < 1e-5);
        let inputs = Tensor::randn([1, 3, 16], (Kind::Float, Device::Cpu));
        assert!(
            max_diff(
                &model.decode(&inputs, &a, false),
                &model.decode(&inputs, &b, false)
            ) < 1e-5
        );
    }

    #[test]
    fn decoder_is_causal_and_steps_match_full_decoding() {
        let vs = VarStore::new(Device::Cpu);
        let model = random_model(&vs);
        let ids = Tensor::from_slice(&[5i64, 9, 3, 1, 7, 8, 2, 0, 0, 4, 4, 6, 0, 0]).view([2, 7]);
        let mask = ids.ne(0).to_kind(Kind::Int64);
        let encoded = model.encode(&ids, &mask, false);
        let inputs = Tensor::randn([2, 9, 16], (Kind::Float, Device::Cpu));
        let full = model.decode(&inputs, &encoded, false);

        // Changing a later input must not change earlier states.
        let changed = inputs.copy();
        let _ = changed.narrow(1, 5, 4).fill_(3.0);
        let partial = model.decode(&changed, &encoded, false);
        assert!(max_diff(&full.narrow(1, 0, 5), &partial.narrow(1, 0, 5)) < 1e-6);
        assert!(max_diff(&full.narrow(1, 5, 1), &partial.narrow(1, 5, 1)) > 1e-3);

        let mut cache = KvCache::new(model.num_decoder_layers());
        for t in 0..9 {
            let step = model.decode_step(&inputs.narrow(1, t, 1), &encoded, &mut cache);
            // Relative: the unscaled T5 attention on random weights gives states of varying size,
            // and float32 sums in another order differ by a few ulps of that size.
            let want = full.narrow(1, t, 1);
            let scale = 1.0 + want.abs().max().double_value(&[]);
            let diff = max_diff(&step, &want);
            assert!(diff < 1e-5 * scale, "step {t}: {diff} (scale {scale})");
        }
        assert_eq!(cache.len, 9);

        // Dropout only when training.
        let a = model.decode(&inputs, &encoded, true);
        assert!(max_diff(&a, &full) > 1e-3);
        assert!(max_diff(&model.encode(&ids, &mask, true).states, &encoded.states) > 1e-3);
    }
}
