//! Text to token ids with the checkpoint's own `tokenizer.json` (Hugging Face `tokenizers`).
//!
//! Truncation and padding come from genret's configuration, never from the file: a
//! `tokenizer.json` may carry its own (all-MiniLM-L6-v2's truncates at 128 and pads to 128), and
//! silently inheriting it changes what a document is.

use std::path::Path;

use anyhow::{anyhow, Result};
use tch::{Device, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Reads `tokenizer.json`. The `tokenizers` crate panics on some malformed files instead of
/// returning an error (found by fuzzing a damaged index's tokenizer, e.g. a decoder entry that
/// is not valid JSON), so the panic is caught, kept off the terminal, and turned into an error
/// that names the file.
fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let loaded = {
        let _guard = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let loaded = std::panic::catch_unwind(|| Tokenizer::from_file(path));
        std::panic::set_hook(previous);
        loaded
    };
    match loaded {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(anyhow!("{}: {e}", path.display())),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unreadable");
            Err(anyhow!(
                "{}: not a valid tokenizer ({what})",
                path.display()
            ))
        }
    }
}

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
        let mut inner = load_tokenizer(path)?;
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("[PAD]"))
            .or_else(|| inner.token_to_id("<pad>"))
            .unwrap_or(0);
        let pad_token = inner
            .id_to_token(pad_id)
            .unwrap_or_else(|| "[PAD]".to_string());
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
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
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
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
        let e = self
            .inner
            .encode(text, true)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        Ok(e.get_attention_mask().iter().filter(|&&m| m == 1).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKENIZER: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":{"type":"Lowercase"},"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,"model":{"type":"WordLevel","vocab":{"[PAD]":0,"[UNK]":1,"alpha":2},"unk_token":"[UNK]"}}"#;

    #[test]
    fn a_damaged_tokenizer_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, TOKENIZER).unwrap();
        let ok = TextTokenizer::from_file(&path, 8).unwrap();
        assert_eq!(ok.count_tokens("alpha beta").unwrap(), 2);
        // The case the index fuzzer found: one byte gone from `"decoder":null`, on which the
        // tokenizers crate panics while deserialising.
        std::fs::write(
            &path,
            TOKENIZER.replace("\"decoder\":null", "\"decoder\":nul"),
        )
        .unwrap();
        let err = TextTokenizer::from_file(&path, 8)
            .err()
            .expect("a damaged file must not load")
            .to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
        // Every single-byte deletion: an error or a tokenizer, never a panic.
        for i in 0..TOKENIZER.len() {
            let mut bytes = TOKENIZER.as_bytes().to_vec();
            bytes.remove(i);
            std::fs::write(&path, &bytes).unwrap();
            let _ = TextTokenizer::from_file(&path, 8);
        }
    }
}
