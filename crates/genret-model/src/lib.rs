//! # genret-model: the GenRet network
//!
//! GenRet ("Learning to Tokenize for Generative Retrieval") uses ONE encoder-decoder network for
//! two jobs: fed a document it is the document tokenizer `Q(z|d)` that assigns the document's
//! docid, fed a query it is the retriever `P(z|q)` that generates docids. This crate holds that
//! network on libtorch (through tch):
//!
//! * [`checkpoint`]: Hugging Face checkpoints from a folder or the hub; safetensors weights.
//! * [`tokenize`]: the checkpoint's tokenizer with genret's own truncation and padding.
//! * [`backbone`]: the interface the heads need from an encoder-decoder; implemented by
//!   [`bert`] (a pretrained BERT-family encoder plus a light [`decoder`]) and [`t5`].
//! * [`genret`]: codebooks, code-input tables and the start vector on top of a backbone.
//! * [`losses`]: the training objectives of the specification.

mod attention;
pub mod backbone;
pub mod bert;
pub mod checkpoint;
pub mod decoder;
pub mod embed;
pub mod genret;
pub mod losses;
pub mod t5;
pub mod tokenize;

pub use tch;
