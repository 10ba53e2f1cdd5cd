//! Text to token ids with the checkpoint's own `tokenizer.json` (Hugging Face `tokenizers`).
//!
//! Truncation and padding come from genret's configuration, never from the file: a
//! `tokenizer.json` may carry its own (all-MiniLM-L6-v2's truncates at 128 and pads to 128), and
//! silently inheriting it changes what a document is.

use std::path::Path;

use anyhow::{anyhow, Result};
use tch::{Device, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// A tokenizer with an explicit maximum length; pads each batch to its longest text.
pub struct TextTokenizer {
    inner: Tokenizer,
}

/// Token ids and attention mask of a batch, `[B, L]` int64 each.
pub struct TokenBatch {
    pub input_ids: Tensor,
    pub attention_mask: Tensor,
}

impl TextTokenizer {
    pub fn from_file(path: &Path, max_len: usize) -> Result<Self> {
        let mut inner = Tokenizer::from_file(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let pad_id = inner.get_padding().map(|p| p.pad_id).or_else(|| inner.token_to_id("[PAD]")).or_else(|| inner.token_to_id("<pad>")).unwrap_or(0);
        let pad_token = inner.id_to_token(pad_id).unwrap_or_else(|| "[PAD]".to_string());
        inner
            .with_truncation(Some(TruncationParams { max_length: max_len, ..Default::default() }))
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..Default::default()
        }));
        Ok(Self { inner })
    }

    pub fn encode_batch(&self, texts: &[&str], device: Device) -> Result<TokenBatch> {
        let encodings = self.inner.encode_batch(texts.to_vec(), true).map_err(|e| anyhow!("tokenizing: {e}"))?;
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(texts.len() * len);
        let mut mask = Vec::with_capacity(texts.len() * len);
        for e in &encodings {
            ids.extend(e.get_ids().iter().map(|&i| i as i64));
            mask.extend(e.get_attention_mask().iter().map(|&m| m as i64));
        }
        let shape = [texts.len() as i64, len as i64];
        Ok(TokenBatch {
            input_ids: Tensor::from_slice(&ids).reshape(shape).to_device(device),
            attention_mask: Tensor::from_slice(&mask).reshape(shape).to_device(device),
        })
    }

    /// Number of tokens of one text after truncation (special tokens included).
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        let e = self.inner.encode(text, true).map_err(|e| anyhow!("tokenizing: {e}"))?;
        Ok(e.get_attention_mask().iter().filter(|&&m| m == 1).count())
    }
}
