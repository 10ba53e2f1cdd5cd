//! Atomic docids: one code per document.
//!
//! DSI's *atomic* identifiers give every document its own output token: the docid has a
//! single step and the code is the document's position `0..N`, so the codebook has `N`
//! codes and uniqueness is immediate. There is no structure to share between documents:
//! the retriever must learn one output embedding per document.
//!
//! **New documents** get the next unused codes `N, N+1, ...`, in the order they arrive.
//! These codes lie *outside* the trained codebook (the model has never produced them), which
//! is the point of the baseline: atomic ids cannot generalise to unseen documents. The state
//! is just the next free code.

use serde::{Deserialize, Serialize};

use crate::error::{DocidError, Result};
use crate::{Assignment, SchemeState};

/// What an atomic assignment needs to give new documents docids: the next free code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtomicState {
    /// `N`, the number of training documents (and codes).
    codebook_size: u64,
    /// The next code a new document gets.
    next: u64,
}

/// Assigns atomic docids to `n_docs` documents: document `i` gets `[i]`.
pub fn assign(n_docs: usize) -> Result<Assignment> {
    if n_docs == 0 {
        return Err(DocidError::EmptyCorpus);
    }
    if n_docs > u32::MAX as usize {
        return Err(DocidError::TooManyCodes {
            reason: format!(
                "atomic docids need one code per document, and {n_docs} documents exceed u32"
            ),
        });
    }
    Ok(Assignment {
        codes: (0..n_docs as u32).map(|i| vec![i]).collect(),
        codebook_size: n_docs,
        steps: 1,
        state: SchemeState::Atomic(AtomicState {
            codebook_size: n_docs as u64,
            next: n_docs as u64,
        }),
    })
}

impl AtomicState {
    pub(crate) fn assign_new(&mut self, id: &str) -> Result<Vec<u32>> {
        let code = u32::try_from(self.next).map_err(|_| DocidError::NoFreeDocid {
            id: id.to_owned(),
            reason: "all u32 atomic codes are in use".into(),
        })?;
        self.next += 1;
        Ok(vec![code])
    }

    /// Codebook size `N` of the training assignment (new documents' codes lie beyond it).
    pub(crate) fn codebook_size(&self) -> usize {
        self.codebook_size as usize
    }
}
