//! Encoder states for training: cached once when the encoder (or its lower layers) is frozen,
//! computed live when it trains.
//!
//! With a frozen encoder the states of every document and query never change, so they are
//! computed once, stored as float16 in one flat `[tokens, H]` tensor with offsets (a
//! safetensors file under `$GENRET_HOME/cache/states`, keyed by model, texts and settings), and
//! each batch just gathers and pads its rows. Training then costs only the decoder and heads.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use genret_model::backbone::Encoded;
use genret_model::genret::GenRet;
use genret_model::tokenize::TextTokenizer;
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use crate::progress;

/// Encoder outputs of a list of texts, float16, concatenated over tokens.
pub struct StateCache {
    states: Tensor,
    offsets: Vec<i64>,
}

impl StateCache {
    /// Encodes `texts` (without gradients) through the embeddings and the first `frozen`
    /// encoder layers, or the whole encoder when `frozen` is `None`.
    pub fn build(
        model: &GenRet,
        tokenizer: &TextTokenizer,
        texts: &[String],
        frozen: Option<usize>,
        batch_size: usize,
        what: &str,
    ) -> Result<Self> {
        let bar = progress::bar(texts.len() as u64, &format!("encoding {what}"));
        let mut parts = Vec::new();
        let mut offsets = vec![0i64];
        // Sorting by length keeps padding (wasted work) small.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let mut rows: Vec<Option<Tensor>> = (0..texts.len()).map(|_| None).collect();
        for chunk in order.chunks(batch_size.max(1)) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
            let tok = tokenizer.encode_batch(&batch, model.device())?;
            let states = tch::no_grad(|| -> Result<Tensor> {
                Ok(match frozen {
                    None => {
                        model
                            .encode(&tok.input_ids, &tok.attention_mask, false)
                            .states
                    }
                    Some(n) => {
                        model
                            .backbone()
                            .encode_lower(&tok.input_ids, &tok.attention_mask, n)?
                    }
                })
            })?;
            let lens = Vec::<i64>::try_from(tok.attention_mask.sum_dim_intlist(
                [1i64].as_slice(),
                false,
                Kind::Int64,
            ))?;
            for (j, &i) in chunk.iter().enumerate() {
                rows[i] = Some(
                    states
                        .get(j as i64)
                        .narrow(0, 0, lens[j])
                        .to_kind(Kind::Half)
                        .to_device(Device::Cpu),
                );
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        for row in rows.into_iter().flatten() {
            offsets.push(offsets.last().copied().unwrap_or(0) + row.size()[0]);
            parts.push(row);
        }
        let states = if parts.is_empty() {
            Tensor::zeros([0, model.hidden_size()], (Kind::Half, Device::Cpu))
        } else {
            Tensor::cat(&parts, 0)
        };
        Ok(Self { states, offsets })
    }

    /// The final encoder states of the same texts: these cached outputs of the first `frozen`
    /// layers run (without gradients) through the layers above. Used once the top layers stop
    /// training (after encoder adaptation), so that later epochs gather cached rows again.
    pub fn through_upper(
        &self,
        model: &GenRet,
        frozen: usize,
        batch_size: usize,
        what: &str,
    ) -> Result<Self> {
        let bar = progress::bar(
            self.len() as u64,
            &format!("encoding {what} (adapted layers)"),
        );
        let mut parts = Vec::with_capacity(self.len());
        let idx: Vec<usize> = (0..self.len()).collect();
        for chunk in idx.chunks(batch_size.max(1)) {
            let (lower, mask) = self.batch(chunk, model.device());
            let upper = tch::no_grad(|| {
                model
                    .backbone()
                    .encode_upper(&lower, &mask, frozen, false)
                    .map(|e| e.states)
            })?;
            for (j, &i) in chunk.iter().enumerate() {
                let len = self.offsets[i + 1] - self.offsets[i];
                parts.push(
                    upper
                        .get(j as i64)
                        .narrow(0, 0, len)
                        .to_kind(Kind::Half)
                        .to_device(Device::Cpu),
                );
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let states = if parts.is_empty() {
            self.states.shallow_clone()
        } else {
            Tensor::cat(&parts, 0)
        };
        Ok(Self {
            states,
            offsets: self.offsets.clone(),
        })
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// States `[B, L, H]` (float32, zero-padded) and mask `[B, L]` of the texts `idx`.
    pub fn batch(&self, idx: &[usize], device: Device) -> (Tensor, Tensor) {
        let lens: Vec<i64> = idx
            .iter()
            .map(|&i| self.offsets[i + 1] - self.offsets[i])
            .collect();
        let max = lens.iter().copied().max().unwrap_or(0);
        let rows: Vec<Tensor> = idx
            .iter()
            .zip(&lens)
            .map(|(&i, &len)| {
                self.states
                    .narrow(0, self.offsets[i], len)
                    .constant_pad_nd([0, 0, 0, max - len])
            })
            .collect();
        let mask: Vec<i64> = lens
            .iter()
            .flat_map(|&l| (0..max).map(move |j| i64::from(j < l)))
            .collect();
        let states = Tensor::stack(&rows, 0)
            .to_device(device)
            .to_kind(Kind::Float);
        (
            states,
            Tensor::from_slice(&mask)
                .view([idx.len() as i64, max])
                .to_device(device),
        )
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let offsets = Tensor::from_slice(&self.offsets);
        Tensor::write_safetensors(&[("states", &self.states), ("offsets", &offsets)], &tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let tensors = Tensor::read_safetensors(path)
            .with_context(|| format!("reading {}", path.display()))?;
        let get = |name: &str| {
            tensors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.shallow_clone())
        };
        let states = get("states").with_context(|| format!("{}: no `states`", path.display()))?;
        let offsets = Vec::<i64>::try_from(
            get("offsets").with_context(|| format!("{}: no `offsets`", path.display()))?,
        )?;
        anyhow::ensure!(
            offsets.last().copied() == Some(states.size()[0]),
            "{}: offsets do not match the states (corrupt cache; delete it)",
            path.display()
        );
        Ok(Self { states, offsets })
    }

    /// Loads the cache at `path` if present, else builds and saves it.
    pub fn load_or_build(path: &Path, build: impl FnOnce() -> Result<Self>) -> Result<Self> {
        if path.exists() {
            if let Ok(cache) = Self::load(path) {
                tracing::info!("reusing cached encoder states {}", path.display());
                return Ok(cache);
            }
            tracing::warn!("ignoring unreadable cache {}", path.display());
        }
        let cache = build()?;
        cache.save(path)?;
        Ok(cache)
    }
}

/// Cache file for a model (by weights hash), a list of texts and the encoding settings.
pub fn cache_path(
    home: &Path,
    model_hash: &str,
    texts: &[String],
    max_len: usize,
    frozen: Option<usize>,
) -> PathBuf {
    let mut h = Sha256::new();
    h.update(model_hash.as_bytes());
    h.update(format!("|{max_len}|{frozen:?}|v1|").as_bytes());
    for t in texts {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    home.join("cache")
        .join("states")
        .join(format!("{}.safetensors", &hex(&h.finalize())[..32]))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a batch's encoder states come from.
pub enum TextStates {
    /// Final encoder states, cached.
    Cached(StateCache),
    /// Output of the first `frozen` layers, cached; the layers above run live.
    Lower { cache: StateCache, frozen: usize },
    /// Tokenised and encoded at every batch (full fine-tuning).
    Live {
        tokenizer: Box<TextTokenizer>,
        texts: Vec<String>,
    },
}

impl TextStates {
    pub fn encoded(&self, model: &GenRet, idx: &[usize], train: bool) -> Result<Encoded> {
        let device = model.device();
        match self {
            TextStates::Cached(cache) => {
                let (states, mask) = cache.batch(idx, device);
                Ok(Encoded { states, mask })
            }
            TextStates::Lower { cache, frozen } => {
                let (lower, mask) = cache.batch(idx, device);
                model.backbone().encode_upper(&lower, &mask, *frozen, train)
            }
            TextStates::Live { tokenizer, texts } => {
                let batch: Vec<&str> = idx.iter().map(|&i| texts[i].as_str()).collect();
                let tok = tokenizer.encode_batch(&batch, device)?;
                Ok(model.encode(&tok.input_ids, &tok.attention_mask, train))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_pads_and_masks_rows_of_different_lengths() {
        let a = Tensor::ones([2, 3], (Kind::Half, Device::Cpu));
        let b = Tensor::ones([4, 3], (Kind::Half, Device::Cpu)) * 2.0;
        let cache = StateCache {
            states: Tensor::cat(&[a, b], 0),
            offsets: vec![0, 2, 6],
        };
        let (s, m) = cache.batch(&[1, 0], Device::Cpu);
        assert_eq!(s.size(), vec![2, 4, 3]);
        assert_eq!(
            Vec::<i64>::try_from(m.view([-1])).unwrap(),
            vec![1, 1, 1, 1, 1, 1, 0, 0]
        );
        assert_eq!(s.double_value(&[0, 3, 2]), 2.0);
        assert_eq!(s.double_value(&[1, 1, 0]), 1.0);
        assert_eq!(s.double_value(&[1, 2, 0]), 0.0);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.safetensors");
        cache.save(&p).unwrap();
        let back = StateCache::load(&p).unwrap();
        assert_eq!(back.offsets, cache.offsets);
        assert!(back.states.equal(&cache.states));
    }
}
