//! Document states: ordering documents among the docids a beam search found.
//!
//! # Why
//!
//! A docid of a few codes keeps too little of a document to order documents finely: documents
//! that share a docid tie, and docids that share a prefix differ by one coarse code. GenRet's
//! ranking loss trains something finer all along: the query's and the document's decoder states
//! at the same step, compared by a dot product. An index that keeps each document's state can
//! therefore order the documents of the beam's docids the way training taught, at the cost of
//! one small vector per document. This is the "generative retrieval picks the clusters, dense
//! matching orders inside them" design of GDR and GLEN.
//!
//! Two states are stored for every document (float16, `2 · D` bytes each):
//!
//! * [`StateKind::Decoder`]: the decoder state after the document's docid prefix (the position
//!   given by [`crate::search::state_position`]). The query's state at the same position comes
//!   from the beam that reached that prefix. This is GenRet's own state.
//! * [`StateKind::Encoder`]: the mean-pooled encoder output: the dense geometry the model
//!   starts from (with a frozen encoder, exactly the dense baseline's embedding).
//!
//! Both are compared by cosine; the document's score adds the docid's code score times a
//! weight ([`crate::index::Scoring`]).

use anyhow::{ensure, Context, Result};
use half::f16;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::store::StateBlobs;

/// Which stored state orders documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateKind {
    /// GenRet's decoder state after the docid prefix (what the ranking loss trains).
    Decoder,
    /// The mean-pooled encoder output (the dense geometry).
    Encoder,
}

impl std::fmt::Display for StateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StateKind::Decoder => "decoder",
            StateKind::Encoder => "encoder",
        })
    }
}

/// Every document's states, L2-normalised, `[N, D]` float32 each, rows by position.
#[derive(Debug)]
pub struct DocStates {
    pub decoder: Tensor,
    pub encoder: Tensor,
}

impl DocStates {
    /// Empty states of width `dim`.
    pub fn empty(dim: i64) -> Self {
        Self {
            decoder: Tensor::zeros([0, dim], (Kind::Float, Device::Cpu)),
            encoder: Tensor::zeros([0, dim], (Kind::Float, Device::Cpu)),
        }
    }

    /// Decodes stored rows (float16 blobs of `dim` values each).
    pub fn from_blobs(rows: &[StateBlobs], dim: usize) -> Result<Self> {
        let decode = |pick: fn(&StateBlobs) -> &[u8]| -> Result<Tensor> {
            let mut flat = Vec::with_capacity(rows.len() * dim);
            for (pos, row) in rows.iter().enumerate() {
                let blob = pick(row);
                ensure!(blob.len() == 2 * dim, "document at position {pos}: a state of {} bytes, expected {} ({dim} float16 values)", blob.len(), 2 * dim);
                flat.extend(
                    blob.chunks_exact(2)
                        .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()),
                );
            }
            ensure!(
                flat.iter().all(|v| v.is_finite()),
                "a stored state holds a non-finite value"
            );
            Ok(Tensor::from_slice(&flat).view([rows.len() as i64, dim as i64]))
        };
        Ok(Self {
            decoder: decode(|r| &r.decoder)?,
            encoder: decode(|r| &r.encoder)?,
        })
    }

    /// Float16 blobs of `decoder` and `encoder` (`[B, D]` each), one per row, normalised first
    /// so that what is stored is what is compared.
    pub fn to_blobs(decoder: &Tensor, encoder: &Tensor) -> Result<Vec<StateBlobs>> {
        let encode = |t: &Tensor| -> Result<Vec<Vec<u8>>> {
            let t = normalize(t)
                .to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .contiguous();
            let (n, d) = t.size2().context("states must be [B, D]")?;
            let flat = Vec::<f32>::try_from(t.view([-1]))?;
            ensure!(
                flat.iter().all(|v| v.is_finite()),
                "a document state is not finite"
            );
            Ok((0..n as usize)
                .map(|i| {
                    flat[i * d as usize..(i + 1) * d as usize]
                        .iter()
                        .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                        .collect()
                })
                .collect())
        };
        let (dec, enc) = (encode(decoder)?, encode(encoder)?);
        ensure!(
            dec.len() == enc.len(),
            "decoder and encoder states differ in rows"
        );
        Ok(dec
            .into_iter()
            .zip(enc)
            .map(|(decoder, encoder)| StateBlobs { decoder, encoder })
            .collect())
    }

    /// Appends rows (after an addition committed).
    pub fn append(&mut self, more: DocStates) {
        self.decoder = Tensor::cat(&[&self.decoder, &more.decoder], 0);
        self.encoder = Tensor::cat(&[&self.encoder, &more.encoder], 0);
    }

    pub fn len(&self) -> usize {
        self.decoder.size()[0] as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn of(&self, kind: StateKind) -> &Tensor {
        match kind {
            StateKind::Decoder => &self.decoder,
            StateKind::Encoder => &self.encoder,
        }
    }

    /// Bytes each document's stored states take.
    pub fn bytes_per_doc(dim: usize) -> usize {
        2 * 2 * dim
    }
}

/// Rows scaled to unit length (zero rows stay zero).
pub fn normalize(t: &Tensor) -> Tensor {
    let norm = t
        .to_kind(Kind::Float)
        .norm_scalaropt_dim(2.0, [-1i64].as_slice(), true)
        .clamp_min(1e-12);
    t.to_kind(Kind::Float) / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_as_normalised_float16() {
        let dec = Tensor::from_slice(&[3.0f32, 4.0, 0.0, 0.0, -2.0, 0.0]).view([2, 3]);
        let enc = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 0.5, 0.0, 0.0]).view([2, 3]);
        let blobs = DocStates::to_blobs(&dec, &enc).unwrap();
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[0].decoder.len(), 6);
        let back = DocStates::from_blobs(&blobs, 3).unwrap();
        let want = Tensor::from_slice(&[0.6f32, 0.8, 0.0, 0.0, -1.0, 0.0]).view([2, 3]);
        assert!((back.decoder - want).abs().max().double_value(&[]) < 1e-3);
        let norms = back
            .encoder
            .norm_scalaropt_dim(2.0, [-1i64].as_slice(), false);
        assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-3);
        assert!(DocStates::from_blobs(&blobs, 4)
            .unwrap_err()
            .to_string()
            .contains("position 0"));
    }

    #[test]
    fn non_finite_states_are_refused() {
        let bad = Tensor::from_slice(&[f32::NAN, 1.0]).view([1, 2]);
        assert!(DocStates::to_blobs(&bad, &bad).is_err());
    }
}
