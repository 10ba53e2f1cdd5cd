//! Naive string docids: the characters of a document's own id.
//!
//! DSI's *naively structured string identifiers* reuse the corpus's string ids (`"doc4711"`)
//! and have the retriever spell them out character by character. Here:
//!
//! - the **alphabet** is the sorted set of characters (Unicode scalar values) occurring in
//!   the training ids; character number `a` of the alphabet is code `1 + a`;
//! - code **0** is reserved as a right-padding "end" code, so every docid has the same
//!   length `L` = longest training id + `slack` (at least 1). The slack leaves room for new
//!   ids slightly longer than any seen in training. A fixed length matters because the
//!   constrained beam search has no end-of-sequence token: no docid may be a prefix of
//!   another;
//! - the codebook has `K = alphabet size + 1` codes.
//!
//! Distinct ids give distinct docids (padding with a code that is not a character keeps the
//! encoding injective), so uniqueness reduces to unique string ids, which is checked.
//!
//! **New documents** are encoded the same way. An id with a character outside the training
//! alphabet, or longer than `L`, has no docid and is an error naming the id and the reason.
//! The encoding is a pure function of the id: the state (alphabet and `L`) never changes,
//! and keeping string ids unique across additions is the index's job.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::{DocidError, Result};
use crate::{Assignment, SchemeState};

/// What a naive assignment needs to encode new ids: the alphabet and the docid length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NaiveState {
    /// Sorted training characters; character `alphabet[a]` is code `a + 1`.
    alphabet: Vec<char>,
    /// Docid length `L`.
    docid_len: usize,
}

/// Assigns naive string docids to the documents with string ids `ids`.
pub fn assign(ids: &[String], slack: usize) -> Result<Assignment> {
    if ids.is_empty() {
        return Err(DocidError::EmptyCorpus);
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for (pos, id) in ids.iter().enumerate() {
        if let Some(&first) = seen.get(id.as_str()) {
            return Err(DocidError::DuplicateId {
                id: id.clone(),
                first,
                second: pos,
            });
        }
        seen.insert(id, pos);
    }
    let alphabet: Vec<char> = ids
        .iter()
        .flat_map(|s| s.chars())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if alphabet.len() >= u32::MAX as usize {
        return Err(DocidError::TooManyCodes {
            reason: "the id alphabet does not fit in u32 codes".into(),
        });
    }
    let longest = ids.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let docid_len = longest
        .checked_add(slack)
        .ok_or_else(|| DocidError::InvalidConfig {
            name: "naive_slack",
            reason: format!("{slack} overflows the docid length"),
        })?
        .max(1);
    let state = NaiveState {
        alphabet,
        docid_len,
    };
    let codes = ids
        .iter()
        .map(|id| state.encode(id))
        .collect::<Result<Vec<_>>>()?;
    Ok(Assignment {
        codes,
        codebook_size: state.alphabet.len() + 1,
        steps: docid_len,
        state: SchemeState::Naive(state),
    })
}

impl NaiveState {
    /// The docid of string id `id`.
    pub(crate) fn encode(&self, id: &str) -> Result<Vec<u32>> {
        let mut codes = Vec::with_capacity(self.docid_len);
        for (pos, ch) in id.chars().enumerate() {
            if pos == self.docid_len {
                return Err(DocidError::NewDocument {
                    id: id.to_owned(),
                    reason: format!(
                        "the id has {} characters but naive docids hold at most {}",
                        id.chars().count(),
                        self.docid_len
                    ),
                });
            }
            let a = self.alphabet.binary_search(&ch).map_err(|_| DocidError::NewDocument {
                id: id.to_owned(),
                reason: format!(
                    "character {ch:?} (U+{:04X}) at position {pos} does not occur in any training id",
                    ch as u32
                ),
            })?;
            codes.push(a as u32 + 1);
        }
        codes.resize(self.docid_len, 0);
        Ok(codes)
    }

    /// Docid length `L`.
    pub(crate) fn docid_len(&self) -> usize {
        self.docid_len
    }

    /// Codebook size `K`.
    pub(crate) fn codebook_size(&self) -> usize {
        self.alphabet.len() + 1
    }
}
