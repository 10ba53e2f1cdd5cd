//! A light transformer decoder over docid codes, randomly initialised, for encoder-only
//! checkpoints (BERT family).
//!
//! The decoder reads a short sequence (at most M + 1 positions: the start vector and the codes
//! chosen so far), so it is tiny next to the encoder: a few pre-norm layers of causal
//! self-attention over the code prefix, cross-attention over the encoder states, and a
//! feed-forward block, with learned absolute positions and a final layer norm whose output is
//! `d_t`.

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use crate::attention::{key_mask, linear, Attention};
use crate::backbone::{Encoded, KvCache};

/// Shape of the light decoder; part of genret's training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecoderConfig {
    pub layers: i64,
    pub heads: i64,
    /// Feed-forward width as a multiple of the hidden size.
    pub ffn_multiple: i64,
    pub dropout: f64,
    /// Longest sequence the decoder reads (M + 1 for M docid steps; spare room costs nothing).
    pub max_positions: i64,
    /// Add a projection of the mean-pooled encoder states to every decoder input. A fresh
    /// decoder otherwise gives nearly the same `d_t` for every text (its cross-attention starts
    /// out weak), and docid training collapses onto a few codes; with the projection started at
    /// the identity, `d_1` begins as the text's sentence embedding.
    pub pooled_input: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            layers: 2,
            heads: 6,
            ffn_multiple: 4,
            dropout: 0.1,
            max_positions: 16,
            pooled_input: true,
        }
    }
}

#[derive(Debug)]
struct DecoderLayer {
    self_norm: nn::LayerNorm,
    self_attn: Attention,
    self_out: nn::Linear,
    cross_norm: nn::LayerNorm,
    cross_attn: Attention,
    cross_out: nn::Linear,
    ffn_norm: nn::LayerNorm,
    ffn_in: nn::Linear,
    ffn_out: nn::Linear,
}

/// The decoder stack.
#[derive(Debug)]
pub struct LightDecoder {
    positions: nn::Embedding,
    pooled: Option<nn::Linear>,
    layers: Vec<DecoderLayer>,
    final_norm: nn::LayerNorm,
    cfg: DecoderConfig,
    hidden: i64,
}

impl LightDecoder {
    /// `hidden`: width of the decoder (and of `d_t`); `memory`: width of the encoder states.
    pub fn new(p: nn::Path, cfg: &DecoderConfig, hidden: i64, memory: i64) -> anyhow::Result<Self> {
        anyhow::ensure!(cfg.layers >= 1, "decoder.layers must be at least 1");
        anyhow::ensure!(
            cfg.heads >= 1 && hidden % cfg.heads == 0,
            "decoder.heads ({}) must divide the hidden size ({hidden})",
            cfg.heads
        );
        anyhow::ensure!(
            cfg.max_positions >= 2,
            "decoder.max_positions must be at least 2"
        );
        let norm = |p: nn::Path| nn::layer_norm(p, vec![hidden], Default::default());
        let layers = (0..cfg.layers)
            .map(|i| {
                let l = &p / "layers" / i;
                let attn = |q: nn::Path, kv_in: i64| Attention {
                    q: linear(&q / "q", hidden, hidden, true),
                    k: linear(&q / "k", kv_in, hidden, true),
                    v: linear(&q / "v", kv_in, hidden, true),
                    heads: cfg.heads,
                };
                DecoderLayer {
                    self_norm: norm(&l / "self_norm"),
                    self_attn: attn(&l / "self_attn", hidden),
                    self_out: linear(&l / "self_attn" / "o", hidden, hidden, true),
                    cross_norm: norm(&l / "cross_norm"),
                    cross_attn: attn(&l / "cross_attn", memory),
                    cross_out: linear(&l / "cross_attn" / "o", hidden, hidden, true),
                    ffn_norm: norm(&l / "ffn_norm"),
                    ffn_in: linear(&l / "ffn" / "in", hidden, hidden * cfg.ffn_multiple, true),
                    ffn_out: linear(&l / "ffn" / "out", hidden * cfg.ffn_multiple, hidden, true),
                }
            })
            .collect();
        let pcfg = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            ..Default::default()
        };
        let pooled = cfg.pooled_input.then(|| {
            let w = nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            };
            let lcfg = nn::LinearConfig {
                ws_init: w,
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            };
            let l = nn::linear(&p / "pooled", memory, hidden, lcfg);
            if memory == hidden {
                // Identity start: d_1 begins as the text's sentence embedding.
                tch::no_grad(|| {
                    l.ws.shallow_clone()
                        .copy_(&Tensor::eye(hidden, (Kind::Float, l.ws.device())))
                });
            }
            l
        });
        Ok(Self {
            pooled,
            positions: nn::embedding(&p / "positions", cfg.max_positions, hidden, pcfg),
            layers,
            final_norm: norm(&p / "final_norm"),
            cfg: cfg.clone(),
            hidden,
        })
    }

    pub fn hidden_size(&self) -> i64 {
        self.hidden
    }
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// `[B, 1, D]` projection of the mean-pooled memory, or zero.
    fn pooled_input(&self, encoded: &Encoded) -> Tensor {
        match &self.pooled {
            Some(l) => encoded.mean_pool().apply(l).unsqueeze(1),
            None => Tensor::zeros([1], (encoded.states.kind(), encoded.states.device())),
        }
    }

    fn ffn(&self, l: &DecoderLayer, x: &Tensor, train: bool) -> Tensor {
        let h = x
            .apply(&l.ffn_norm)
            .apply(&l.ffn_in)
            .gelu("none")
            .dropout(self.cfg.dropout, train);
        h.apply(&l.ffn_out).dropout(self.cfg.dropout, train)
    }

    /// Teacher-forced: `inputs` `[B, T, D]` -> `[B, T, D]`.
    // `x = x + a`, not `x += a`: the in-place add would overwrite a tensor that layer norm's
    // backward still needs.
    #[allow(clippy::assign_op_pattern)]
    pub fn forward(&self, inputs: &Tensor, encoded: &Encoded, train: bool) -> Tensor {
        let t = inputs.size()[1];
        let pos = Tensor::arange(t, (Kind::Int64, inputs.device())).apply(&self.positions);
        let mut x = (inputs + pos.unsqueeze(0) + self.pooled_input(encoded))
            .dropout(self.cfg.dropout, train);
        let mem_mask = key_mask(&encoded.mask);
        let drop = self.cfg.dropout;
        let attn_drop = if train { drop } else { 0.0 };
        for l in &self.layers {
            let h = x.apply(&l.self_norm);
            let (k, v) = l.self_attn.keys_values(&h);
            let a = l
                .self_attn
                .attend(&h, &k, &v, None, true, attn_drop)
                .apply(&l.self_out);
            x = x + a.dropout(drop, train);
            let h = x.apply(&l.cross_norm);
            let (k, v) = l.cross_attn.keys_values(&encoded.states);
            let a = l
                .cross_attn
                .attend(&h, &k, &v, Some(&mem_mask), false, attn_drop)
                .apply(&l.cross_out);
            x = x + a.dropout(drop, train);
            x = &x + self.ffn(l, &x, train);
        }
        x.apply(&self.final_norm)
    }

    /// One position with a key/value cache: `input` `[B, 1, D]` -> `[B, 1, D]`.
    #[allow(clippy::assign_op_pattern)]
    pub fn step(&self, input: &Tensor, encoded: &Encoded, cache: &mut KvCache) -> Tensor {
        if cache.layers.len() != self.layers.len() {
            *cache = KvCache::new(self.layers.len());
        }
        let pos = Tensor::from_slice(&[cache.len])
            .to_device(input.device())
            .apply(&self.positions);
        let mut x = input + pos.unsqueeze(0) + self.pooled_input(encoded);
        let mem_mask = key_mask(&encoded.mask);
        for (l, c) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let h = x.apply(&l.self_norm);
            let (k_new, v_new) = l.self_attn.keys_values(&h);
            let (k, v) = match c.self_kv.take() {
                Some((k, v)) => (Tensor::cat(&[k, k_new], 2), Tensor::cat(&[v, v_new], 2)),
                None => (k_new, v_new),
            };
            // The new position may see every cached one: no causal mask needed here.
            let a = l
                .self_attn
                .attend(&h, &k, &v, None, false, 0.0)
                .apply(&l.self_out);
            c.self_kv = Some((k, v));
            x = x + a;
            let h = x.apply(&l.cross_norm);
            let (k, v) = c
                .cross_kv
                .get_or_insert_with(|| l.cross_attn.keys_values(&encoded.states));
            let a = l
                .cross_attn
                .attend(&h, k, v, Some(&mem_mask), false, 0.0)
                .apply(&l.cross_out);
            x = x + a;
            x = &x + self.ffn(l, &x, false);
        }
        cache.len += 1;
        x.apply(&self.final_norm)
    }
}
