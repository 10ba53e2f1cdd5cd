//! Sentence embeddings from a checkpoint's encoder: mean pooling over real tokens, as
//! sentence-transformers does for all-MiniLM-L6-v2 and most BERT-family embedding models.
//!
//! Used by `genret embed` (to check that a checkpoint loads correctly) and by the dense
//! retrieval baseline.

use anyhow::Result;
use tch::{nn, Device, Tensor};

use crate::backbone::Encoded;
use crate::bert::BertModel;
use crate::checkpoint::{load_weights, Checkpoint};
use crate::genret::{BackboneConfig, GenRet};
use crate::tokenize::TextTokenizer;

pub struct Embedder {
    _vs: nn::VarStore,
    encoder: BertModel,
    tokenizer: TextTokenizer,
    device: Device,
}

impl Embedder {
    /// Where the encoder runs.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Loads the encoder of a BERT-family checkpoint; texts are truncated at `max_len` tokens.
    pub fn load(ckpt: &Checkpoint, max_len: usize, device: Device) -> Result<Self> {
        let cfg = match GenRet::backbone_config(ckpt)? {
            BackboneConfig::Bert(cfg) => cfg,
            BackboneConfig::T5(_) => anyhow::bail!(
                "{}: embeddings need a BERT-family encoder checkpoint",
                ckpt.spec
            ),
        };
        let mut vs = nn::VarStore::new(device);
        let encoder = BertModel::new(vs.root(), &cfg)?;
        let report = load_weights(&vs, &ckpt.weights, "", &["bert."])?;
        anyhow::ensure!(
            report.missing.is_empty(),
            "{}: checkpoint lacks {:?}",
            ckpt.weights.display(),
            &report.missing[..report.missing.len().min(3)]
        );
        vs.freeze();
        let tokenizer = TextTokenizer::from_file(&ckpt.tokenizer, max_len)?;
        Ok(Self {
            _vs: vs,
            encoder,
            tokenizer,
            device,
        })
    }

    /// Mean-pooled embeddings `[N, H]`, optionally L2-normalised, in batches of `batch_size`.
    pub fn embed(&self, texts: &[&str], batch_size: usize, normalize: bool) -> Result<Tensor> {
        let mut out = Vec::new();
        for chunk in texts.chunks(batch_size.max(1)) {
            let batch = self.tokenizer.encode_batch(chunk, self.device)?;
            let pooled = tch::no_grad(|| {
                let states = self
                    .encoder
                    .forward(&batch.input_ids, &batch.attention_mask, false);
                Encoded {
                    states,
                    mask: batch.attention_mask,
                }
                .mean_pool()
            });
            out.push(if normalize {
                l2_normalize(&pooled)
            } else {
                pooled
            });
        }
        if out.is_empty() {
            return Ok(Tensor::zeros(
                [0, self.encoder.config().hidden_size],
                (tch::Kind::Float, self.device),
            ));
        }
        Ok(Tensor::cat(&out, 0))
    }
}

/// Rows divided by their L2 norm (zero rows stay zero).
pub fn l2_normalize(x: &Tensor) -> Tensor {
    let norm = x
        .norm_scalaropt_dim(2, [-1i64].as_slice(), true)
        .clamp_min(1e-12);
    x / norm
}
