//! Multi-head attention shared by the BERT encoder and the light decoder.

use tch::{nn, Tensor};

/// `[B, L, h*d]` -> `[B, h, L, d]`.
pub(crate) fn split_heads(x: &Tensor, heads: i64) -> Tensor {
    let s = x.size();
    x.view([s[0], s[1], heads, s[2] / heads]).transpose(1, 2)
}

/// `[B, h, L, d]` -> `[B, L, h*d]`.
pub(crate) fn merge_heads(x: &Tensor) -> Tensor {
    let s = x.size();
    x.transpose(1, 2)
        .contiguous()
        .view([s[0], s[2], s[1] * s[3]])
}

/// Boolean key mask `[B, 1, 1, L]` (true = attend) from an int attention mask `[B, L]`.
pub(crate) fn key_mask(attention_mask: &Tensor) -> Tensor {
    attention_mask.gt(0).unsqueeze(1).unsqueeze(1)
}

/// Projections of one multi-head attention block, named by the caller to match a checkpoint.
#[derive(Debug)]
pub(crate) struct Attention {
    pub q: nn::Linear,
    pub k: nn::Linear,
    pub v: nn::Linear,
    pub heads: i64,
}

impl Attention {
    pub fn keys_values(&self, memory: &Tensor) -> (Tensor, Tensor) {
        (
            split_heads(&memory.apply(&self.k), self.heads),
            split_heads(&memory.apply(&self.v), self.heads),
        )
    }

    /// Attends from `x` `[B, Lq, D]` over precomputed keys/values with attention dropout
    /// probability `dropout` (0 outside training); returns merged heads `[B, Lq, D]` before the
    /// output projection.
    pub fn attend(
        &self,
        x: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        causal: bool,
        dropout: f64,
    ) -> Tensor {
        let q = split_heads(&x.apply(&self.q), self.heads);
        let out =
            Tensor::scaled_dot_product_attention(&q, k, v, mask, dropout, causal, None, false);
        merge_heads(&out)
    }
}

/// A linear layer initialised as BERT and T5 do, N(0, 0.02) weights and zero bias.
pub(crate) fn linear(p: nn::Path, in_dim: i64, out_dim: i64, bias: bool) -> nn::Linear {
    let cfg = nn::LinearConfig {
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        },
        bs_init: if bias {
            Some(nn::Init::Const(0.0))
        } else {
            None
        },
        bias,
    };
    nn::linear(p, in_dim, out_dim, cfg)
}
