//! BERT-family encoder (BERT, MiniLM, BGE, E5, ...) from a Hugging Face checkpoint, plus a light
//! randomly initialised decoder: genret's CPU default backbone.
//!
//! Variable names follow the checkpoint (`embeddings.word_embeddings.weight`,
//! `encoder.layer.N.attention.self.query.weight`, ...) so [`crate::checkpoint::load_weights`]
//! fills the encoder directly. The encoder is post-layer-norm BERT with absolute positions.

use serde::Deserialize;
use tch::{nn, nn::Module, Kind, Tensor};

use crate::attention::{key_mask, linear, Attention};
use crate::backbone::{Backbone, Encoded, KvCache};
use crate::decoder::{DecoderConfig, LightDecoder};

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct BertConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    pub max_position_embeddings: i64,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: i64,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: i64,
    #[serde(default = "default_pos")]
    pub position_embedding_type: String,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_type_vocab() -> i64 {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_pos() -> String {
    "absolute".into()
}

impl BertConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.hidden_size % self.num_attention_heads == 0,
            "hidden_size {} is not a multiple of num_attention_heads {}",
            self.hidden_size,
            self.num_attention_heads
        );
        anyhow::ensure!(
            self.position_embedding_type == "absolute",
            "position_embedding_type `{}` is not supported (only `absolute`)",
            self.position_embedding_type
        );
        activation(&self.hidden_act)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Gelu,
    GeluTanh,
    Relu,
}

fn activation(name: &str) -> anyhow::Result<Act> {
    match name {
        "gelu" => Ok(Act::Gelu),
        "gelu_new" | "gelu_pytorch_tanh" => Ok(Act::GeluTanh),
        "relu" => Ok(Act::Relu),
        other => anyhow::bail!("hidden_act `{other}` is not supported (gelu, gelu_new, relu)"),
    }
}

impl Act {
    fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Act::Gelu => x.gelu("none"),
            Act::GeluTanh => x.gelu("tanh"),
            Act::Relu => x.relu(),
        }
    }
}

fn layer_norm(p: nn::Path, dim: i64, eps: f64) -> nn::LayerNorm {
    nn::layer_norm(
        p,
        vec![dim],
        nn::LayerNormConfig {
            eps,
            ..Default::default()
        },
    )
}

#[derive(Debug)]
struct BertLayer {
    attention: Attention,
    attention_out: nn::Linear,
    attention_norm: nn::LayerNorm,
    intermediate: nn::Linear,
    output: nn::Linear,
    output_norm: nn::LayerNorm,
}

impl BertLayer {
    fn new(p: nn::Path, cfg: &BertConfig) -> Self {
        let h = cfg.hidden_size;
        let att = &p / "attention";
        let sa = &att / "self";
        BertLayer {
            attention: Attention {
                q: linear(&sa / "query", h, h, true),
                k: linear(&sa / "key", h, h, true),
                v: linear(&sa / "value", h, h, true),
                heads: cfg.num_attention_heads,
            },
            attention_out: linear(&att / "output" / "dense", h, h, true),
            attention_norm: layer_norm(&att / "output" / "LayerNorm", h, cfg.layer_norm_eps),
            intermediate: linear(
                &p / "intermediate" / "dense",
                h,
                cfg.intermediate_size,
                true,
            ),
            output: linear(&p / "output" / "dense", cfg.intermediate_size, h, true),
            output_norm: layer_norm(&p / "output" / "LayerNorm", h, cfg.layer_norm_eps),
        }
    }
}

/// The BERT encoder stack.
#[derive(Debug)]
pub struct BertModel {
    word: nn::Embedding,
    position: nn::Embedding,
    token_type: nn::Embedding,
    embed_norm: nn::LayerNorm,
    layers: Vec<BertLayer>,
    act: Act,
    cfg: BertConfig,
}

impl BertModel {
    /// Creates the variables under `p` with the checkpoint's names.
    pub fn new(p: nn::Path, cfg: &BertConfig) -> anyhow::Result<Self> {
        cfg.validate()?;
        let emb = &p / "embeddings";
        let ecfg = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            ..Default::default()
        };
        let enc = &p / "encoder" / "layer";
        Ok(BertModel {
            word: nn::embedding(
                &emb / "word_embeddings",
                cfg.vocab_size,
                cfg.hidden_size,
                ecfg,
            ),
            position: nn::embedding(
                &emb / "position_embeddings",
                cfg.max_position_embeddings,
                cfg.hidden_size,
                ecfg,
            ),
            token_type: nn::embedding(
                &emb / "token_type_embeddings",
                cfg.type_vocab_size,
                cfg.hidden_size,
                ecfg,
            ),
            embed_norm: layer_norm(&emb / "LayerNorm", cfg.hidden_size, cfg.layer_norm_eps),
            layers: (0..cfg.num_hidden_layers)
                .map(|i| BertLayer::new(&enc / i, cfg))
                .collect(),
            act: activation(&cfg.hidden_act)?,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// Last hidden states `[B, L, H]` for token ids and attention mask `[B, L]`.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Tensor {
        let x = self.embed(input_ids, train);
        self.run_layers(&x, attention_mask, 0..self.layers.len(), train)
    }

    /// Token, position and type embeddings, normalised: `[B, L, H]`.
    pub fn embed(&self, input_ids: &Tensor, train: bool) -> Tensor {
        let len = input_ids.size()[1];
        let positions = Tensor::arange(len, (Kind::Int64, input_ids.device())).unsqueeze(0);
        let types = input_ids.zeros_like();
        let x = input_ids.apply(&self.word)
            + positions.apply(&self.position)
            + types.apply(&self.token_type);
        x.apply(&self.embed_norm)
            .dropout(self.cfg.hidden_dropout_prob, train)
    }

    /// Runs encoder layers `layers` over hidden states `x`.
    pub fn run_layers(
        &self,
        x: &Tensor,
        attention_mask: &Tensor,
        layers: std::ops::Range<usize>,
        train: bool,
    ) -> Tensor {
        let mask = key_mask(attention_mask);
        let mut x = x.shallow_clone();
        for layer in &self.layers[layers] {
            x = self.layer_forward(layer, &x, &mask, train);
        }
        x
    }

    fn layer_forward(&self, l: &BertLayer, x: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let (k, v) = l.attention.keys_values(x);
        let p = if train {
            self.cfg.attention_probs_dropout_prob
        } else {
            0.0
        };
        let a = l.attention.attend(x, &k, &v, Some(mask), false, p);
        let a = a
            .apply(&l.attention_out)
            .dropout(self.cfg.hidden_dropout_prob, train);
        let x = (x + a).apply(&l.attention_norm);
        let h = self.act.apply(&x.apply(&l.intermediate));
        let h = h
            .apply(&l.output)
            .dropout(self.cfg.hidden_dropout_prob, train);
        (x + h).apply(&l.output_norm)
    }

    /// Number of encoder layers (for top-N fine-tuning).
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
}

/// A pretrained BERT-family encoder with a light decoder on top.
#[derive(Debug)]
pub struct BertWithDecoder {
    pub encoder: BertModel,
    pub decoder: LightDecoder,
}

impl BertWithDecoder {
    /// Encoder variables under `p / "encoder_model"`'s caller-chosen path, decoder under `dec`.
    pub fn new(
        enc: nn::Path,
        dec: nn::Path,
        cfg: &BertConfig,
        dcfg: &DecoderConfig,
    ) -> anyhow::Result<Self> {
        let encoder = BertModel::new(enc, cfg)?;
        let decoder = LightDecoder::new(dec, dcfg, cfg.hidden_size, cfg.hidden_size)?;
        Ok(Self { encoder, decoder })
    }
}

impl Backbone for BertWithDecoder {
    fn hidden_size(&self) -> i64 {
        self.decoder.hidden_size()
    }
    fn num_decoder_layers(&self) -> usize {
        self.decoder.num_layers()
    }
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Encoded {
        Encoded {
            states: self.encoder.forward(input_ids, attention_mask, train),
            mask: attention_mask.shallow_clone(),
        }
    }
    fn decode(&self, inputs: &Tensor, encoded: &Encoded, train: bool) -> Tensor {
        self.decoder.forward(inputs, encoded, train)
    }
    fn decode_step(&self, input: &Tensor, encoded: &Encoded, cache: &mut KvCache) -> Tensor {
        self.decoder.step(input, encoded, cache)
    }
    fn encoder_layers(&self) -> Option<usize> {
        Some(self.encoder.num_layers())
    }
    fn encode_lower(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        frozen: usize,
    ) -> anyhow::Result<Tensor> {
        anyhow::ensure!(
            frozen <= self.encoder.num_layers(),
            "only {} encoder layers",
            self.encoder.num_layers()
        );
        let x = self.encoder.embed(input_ids, false);
        Ok(self
            .encoder
            .run_layers(&x, attention_mask, 0..frozen, false))
    }
    fn encode_upper(
        &self,
        lower: &Tensor,
        attention_mask: &Tensor,
        frozen: usize,
        train: bool,
    ) -> anyhow::Result<Encoded> {
        let n = self.encoder.num_layers();
        anyhow::ensure!(frozen <= n, "only {n} encoder layers");
        let states = self
            .encoder
            .run_layers(lower, attention_mask, frozen..n, train);
        Ok(Encoded {
            states,
            mask: attention_mask.shallow_clone(),
        })
    }
}

impl Module for BertModel {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let mask = xs.ones_like();
        BertModel::forward(self, xs, &mask, false)
    }
}
