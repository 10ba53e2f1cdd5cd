//! The interface every encoder-decoder backbone gives the GenRet heads.
//!
//! GenRet needs three things from a backbone: encode a batch of texts once; run the decoder
//! teacher-forced over a given sequence of input vectors (training: the start vector followed by
//! the embeddings of the codes chosen so far); and run the decoder one position at a time with a
//! key/value cache (search). The decoder's inputs are vectors, never token ids: a docid code is
//! not a word of the backbone's vocabulary, so the GenRet model owns the code-input tables and
//! hands the backbone their rows.
//!
//! Every backbone returns decoder states after the decoder's final norm: that is `d_t` in the
//! specification (`../shared/docs/genret-method.md`, beside the repository), which the heads score against codebook rows.

use tch::Tensor;

/// Cached keys and values of one decoder layer.
#[derive(Debug, Default)]
pub struct LayerCache {
    /// Self-attention keys and values of the positions decoded so far, `[B, heads, t, head_dim]`.
    pub self_kv: Option<(Tensor, Tensor)>,
    /// Cross-attention keys and values over the encoder states, computed at the first step.
    pub cross_kv: Option<(Tensor, Tensor)>,
}

/// The decoder's memory during incremental decoding.
#[derive(Debug, Default)]
pub struct KvCache {
    pub layers: Vec<LayerCache>,
    /// Number of positions already decoded (the position index of the next input).
    pub len: i64,
    /// Residual decoding only: the sum of the reconstruction rows of the codes fed so far,
    /// `[B, D]`, which the heads subtract from the next state (see `GenRet`).
    pub offset: Option<Tensor>,
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: (0..num_layers).map(|_| LayerCache::default()).collect(),
            len: 0,
            offset: None,
        }
    }

    /// Reorders (and possibly repeats) the batch rows of every cached tensor, as beam search
    /// does when beams are pruned or expanded. `index` holds, for each new row, the old row.
    pub fn select_rows(&mut self, index: &Tensor) {
        let pick = |t: &Tensor| t.index_select(0, index);
        for layer in &mut self.layers {
            if let Some((k, v)) = &layer.self_kv {
                layer.self_kv = Some((pick(k), pick(v)));
            }
            if let Some((k, v)) = &layer.cross_kv {
                layer.cross_kv = Some((pick(k), pick(v)));
            }
        }
        if let Some(offset) = &self.offset {
            self.offset = Some(pick(offset));
        }
    }
}

/// Encoder states of a batch of texts, with the mask of real (non-padding) tokens.
#[derive(Debug)]
pub struct Encoded {
    /// `[B, L, H]` float.
    pub states: Tensor,
    /// `[B, L]` int64, 1 for real tokens.
    pub mask: Tensor,
}

impl Encoded {
    pub fn batch_size(&self) -> i64 {
        self.states.size()[0]
    }
    /// The rows `index` (int64 tensor) of the batch.
    pub fn select_rows(&self, index: &Tensor) -> Encoded {
        Encoded {
            states: self.states.index_select(0, index),
            mask: self.mask.index_select(0, index),
        }
    }
    pub fn shallow_clone(&self) -> Encoded {
        Encoded {
            states: self.states.shallow_clone(),
            mask: self.mask.shallow_clone(),
        }
    }
    /// Mean of the states over real tokens, `[B, H]` (sentence-transformers' mean pooling).
    pub fn mean_pool(&self) -> Tensor {
        let mask = self.mask.unsqueeze(-1).to_kind(self.states.kind());
        let summed =
            (&self.states * &mask).sum_dim_intlist([1i64].as_slice(), false, self.states.kind());
        let counts = mask
            .sum_dim_intlist([1i64].as_slice(), false, self.states.kind())
            .clamp_min(1e-9);
        summed / counts
    }
}

/// An encoder-decoder network usable as GenRet's shared tokenizer/retriever body.
pub trait Backbone: Send {
    /// Width of the decoder states `d_t` (the codebooks' D).
    fn hidden_size(&self) -> i64;
    /// Number of decoder layers (the size of a [`KvCache`]).
    fn num_decoder_layers(&self) -> usize;
    /// Encodes token ids `[B, L]` with attention mask `[B, L]`; `train` enables dropout.
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Encoded;
    /// Teacher-forced decoding with causal self-attention: `inputs` `[B, T, D]` -> states `[B, T, D]`.
    fn decode(&self, inputs: &Tensor, encoded: &Encoded, train: bool) -> Tensor;
    /// Decodes the next position for inputs `[B, 1, D]`, extending `cache`; returns `[B, 1, D]`.
    /// Equal to the last row of [`Backbone::decode`] over the whole prefix.
    fn decode_step(&self, input: &Tensor, encoded: &Encoded, cache: &mut KvCache) -> Tensor;

    /// Number of encoder layers when the encoder can be split into a frozen lower part (whose
    /// output is cached) and a trainable upper part; `None` when it cannot.
    fn encoder_layers(&self) -> Option<usize> {
        None
    }
    /// The embeddings and the first `frozen` encoder layers, without dropout: `[B, L, H]`.
    fn encode_lower(
        &self,
        _input_ids: &Tensor,
        _attention_mask: &Tensor,
        _frozen: usize,
    ) -> anyhow::Result<Tensor> {
        anyhow::bail!("this backbone's encoder cannot be split into frozen and trainable layers")
    }
    /// The encoder layers from `frozen` on, over the output of [`Backbone::encode_lower`].
    fn encode_upper(
        &self,
        _lower: &Tensor,
        _attention_mask: &Tensor,
        _frozen: usize,
        _train: bool,
    ) -> anyhow::Result<Encoded> {
        anyhow::bail!("this backbone's encoder cannot be split into frozen and trainable layers")
    }
}
