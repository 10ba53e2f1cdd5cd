//! # genret-dense: the dense retrieval baseline
//!
//! GenRet replaces a dense index by a docid generator. To know what that trade buys, genret
//! ships the thing it replaces: a *bi-encoder* that encodes every document once into a vector,
//! encodes each query with the same encoder, and ranks documents by cosine similarity.
//!
//! * **Encoder**: any BERT-family checkpoint loaded by [`genret_model::embed::Embedder`]: token
//!   states mean-pooled over real tokens (sentence-transformers' pooling for all-MiniLM-L6-v2),
//!   then L2-normalised here, so a dot product is a cosine.
//! * **Index**: the normalised document embeddings as one `[N, H]` float32 tensor, rows in corpus
//!   order ([`DenseIndex`]); a row's position is the document's position in the corpus.
//! * **Search**: exact (brute force) maximum inner product: `Q · Eᵀ` by matrix multiplication
//!   and `topk`, in chunks of queries and of documents so the score matrix never exceeds a few
//!   hundred megabytes whatever the corpus size; per-chunk top-k lists are merged with a second
//!   `topk`. No approximation: this is the upper bound an ANN index would approach.
//! * **Storage**: [`DenseIndex::save`] writes a safetensors file (tensor `embeddings`, plus
//!   free-form string metadata such as the model and corpus fingerprints, see
//!   [`DenseIndex::meta`]) atomically; [`DenseIndex::load`] reads it back and checks its shape.
//!
//! Documents are encoded longest first ([`BuildOptions::sort_by_length`], as
//! sentence-transformers does) so each batch pads to a similar length; the rows are put back in
//! corpus order afterwards. Padding is masked out of attention and pooling, so the order only
//! changes speed, not the vectors (beyond float rounding).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use genret_model::embed::{l2_normalize, Embedder};
use tch::{Device, Kind, Tensor};

/// What can go wrong building, searching, saving or loading an index.
#[derive(Debug, thiserror::Error)]
pub enum DenseError {
    /// The encoder failed (tokenizer, model).
    #[error("encoding: {0:#}")]
    Encode(anyhow::Error),
    /// libtorch refused an operation.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that is not a dense index of the expected shape.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// Inputs of the wrong shape or kind.
    #[error("{0}")]
    Shape(String),
}

pub type Result<T> = std::result::Result<T, DenseError>;

/// The name of the embeddings tensor in a saved index.
pub const EMBEDDINGS_TENSOR: &str = "embeddings";
/// Metadata key holding the format version of a saved index.
pub const FORMAT_KEY: &str = "genret_dense_format";
const FORMAT_VERSION: &str = "1";

/// Query rows scored at once: bounds the score matrix with [`DOC_CHUNK`].
pub const QUERY_CHUNK: i64 = 256;
/// Document rows scored at once (256 x 65,536 float32 scores = 64 MiB).
pub const DOC_CHUNK: i64 = 65_536;

/// How [`DenseIndex::build_with`] encodes a corpus.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Encode longest texts first (less padding per batch); rows are returned in input order.
    pub sort_by_length: bool,
    /// Show a progress bar on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            batch_size: 32,
            sort_by_length: true,
            progress: true,
        }
    }
}

/// L2-normalised document embeddings `[N, H]` (float32, rows in corpus order) and metadata.
#[derive(Debug)]
pub struct DenseIndex {
    embeddings: Tensor,
    /// Free-form description saved with the index (model, corpus fingerprint, ...).
    pub meta: BTreeMap<String, String>,
}

impl DenseIndex {
    /// Encodes `texts` (for BEIR corpora: `title + " " + text`) with a progress bar.
    pub fn build(embedder: &Embedder, texts: &[&str], batch_size: usize) -> Result<Self> {
        Self::build_with(
            embedder,
            texts,
            &BuildOptions {
                batch_size,
                ..Default::default()
            },
        )
    }

    /// Encodes `texts` as [`BuildOptions`] says.
    pub fn build_with(embedder: &Embedder, texts: &[&str], options: &BuildOptions) -> Result<Self> {
        if texts.is_empty() {
            return Err(DenseError::Shape(
                "cannot build a dense index of zero documents".into(),
            ));
        }
        let batch_size = options.batch_size.max(1);
        let mut order: Vec<usize> = (0..texts.len()).collect();
        if options.sort_by_length {
            // Stable: equal lengths keep corpus order, so the batches are deterministic.
            order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        }
        let bar = if options.progress {
            let bar = indicatif::ProgressBar::new(texts.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} encoding {human_pos}/{human_len} documents [{bar:30}] {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut parts = Vec::with_capacity(texts.len().div_ceil(batch_size));
        for chunk in order.chunks(batch_size) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let emb = embedder
                .embed(&batch, batch_size, true)
                .map_err(DenseError::Encode)?;
            parts.push(emb.to_kind(Kind::Float));
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let sorted = Tensor::f_cat(&parts, 0)?;
        let embeddings = if options.sort_by_length {
            // Row r of `sorted` is text order[r]: scatter back to corpus order.
            let mut inverse = vec![0i64; order.len()];
            for (row, &i) in order.iter().enumerate() {
                inverse[i] = row as i64;
            }
            let index = Tensor::from_slice(&inverse).to_device(sorted.device());
            sorted.f_index_select(0, &index)?
        } else {
            sorted
        };
        Ok(Self {
            embeddings,
            meta: BTreeMap::new(),
        })
    }

    /// An index over given embeddings `[N, H]`; rows are L2-normalised (zero rows stay zero).
    pub fn from_embeddings(embeddings: &Tensor) -> Result<Self> {
        let size = embeddings.size();
        if size.len() != 2 || size[0] == 0 || size[1] == 0 {
            return Err(DenseError::Shape(format!(
                "embeddings must be a non-empty [N, H] matrix, got {size:?}"
            )));
        }
        if !embeddings.is_floating_point() {
            return Err(DenseError::Shape(format!(
                "embeddings must be floating point, got {:?}",
                embeddings.kind()
            )));
        }
        let embeddings = tch::no_grad(|| l2_normalize(&embeddings.to_kind(Kind::Float)));
        Ok(Self {
            embeddings,
            meta: BTreeMap::new(),
        })
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.embeddings.size()[0] as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Embedding width H.
    pub fn dim(&self) -> usize {
        self.embeddings.size()[1] as usize
    }
    /// The normalised document embeddings, `[N, H]` float32.
    pub fn embeddings(&self) -> &Tensor {
        &self.embeddings
    }
    pub fn device(&self) -> Device {
        self.embeddings.device()
    }
    /// Moves the embeddings to `device` (e.g. a GPU for large corpora).
    pub fn to_device(self, device: Device) -> Self {
        Self {
            embeddings: self.embeddings.to_device(device),
            meta: self.meta,
        }
    }

    /// The `k` most similar documents of each query, best first: `(position, cosine)` pairs.
    ///
    /// `queries`: `[Q, H]` embeddings from the same encoder; they are L2-normalised here, so
    /// the scores are cosines whatever the caller passed. `k` larger than the corpus returns
    /// every document. Equal scores come in an unspecified order.
    pub fn search(&self, queries: &Tensor, k: usize) -> Result<Vec<Vec<(usize, f32)>>> {
        self.search_chunked(queries, k, QUERY_CHUNK, DOC_CHUNK)
    }

    /// [`DenseIndex::search`] with explicit chunk sizes (rows of queries and of documents
    /// scored per matrix product).
    pub fn search_chunked(
        &self,
        queries: &Tensor,
        k: usize,
        query_chunk: i64,
        doc_chunk: i64,
    ) -> Result<Vec<Vec<(usize, f32)>>> {
        let size = queries.size();
        if size.len() != 2 || size[1] != self.dim() as i64 {
            return Err(DenseError::Shape(format!(
                "query embeddings must be [Q, {}], got {size:?}",
                self.dim()
            )));
        }
        if !queries.is_floating_point() {
            return Err(DenseError::Shape(format!(
                "query embeddings must be floating point, got {:?}",
                queries.kind()
            )));
        }
        let (n, q) = (self.len() as i64, size[0]);
        let k = (k as i64).min(n);
        if q == 0 || k == 0 {
            return Ok(vec![Vec::new(); q as usize]);
        }
        let (query_chunk, doc_chunk) = (query_chunk.max(1), doc_chunk.max(1));
        let queries =
            tch::no_grad(|| l2_normalize(&queries.to_kind(Kind::Float).to_device(self.device())));
        let mut out = Vec::with_capacity(q as usize);
        tch::no_grad(|| -> Result<()> {
            for q0 in (0..q).step_by(query_chunk as usize) {
                let qc = queries.f_narrow(0, q0, query_chunk.min(q - q0))?;
                let mut values = Vec::new();
                let mut indices = Vec::new();
                for d0 in (0..n).step_by(doc_chunk as usize) {
                    let len = doc_chunk.min(n - d0);
                    let docs = self.embeddings.f_narrow(0, d0, len)?;
                    let scores = qc.f_matmul(&docs.f_tr()?)?;
                    let (v, i) = scores.f_topk(k.min(len), 1, true, true)?;
                    values.push(v);
                    indices.push(i + d0);
                }
                let (v, i) = if values.len() == 1 {
                    (values.swap_remove(0), indices.swap_remove(0))
                } else {
                    let v = Tensor::f_cat(&values, 1)?;
                    let i = Tensor::f_cat(&indices, 1)?;
                    let (v, pos) = v.f_topk(k, 1, true, true)?;
                    (v, i.f_gather(1, &pos, false)?)
                };
                let rows = v.size()[0] as usize;
                let v: Vec<f32> = Vec::<f32>::try_from(v.to_device(Device::Cpu).reshape([-1]))?;
                let i: Vec<i64> = Vec::<i64>::try_from(i.to_device(Device::Cpu).reshape([-1]))?;
                let kk = k as usize;
                for r in 0..rows {
                    let span = r * kk..(r + 1) * kk;
                    out.push(
                        i[span.clone()]
                            .iter()
                            .zip(&v[span])
                            .map(|(&d, &s)| (d as usize, s))
                            .collect(),
                    );
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Writes the index as safetensors (tensor [`EMBEDDINGS_TENSOR`], metadata [`Self::meta`])
    /// to a temporary file next to `path`, then renames it: readers never see a partial file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| DenseError::Io {
            path: path.to_path_buf(),
            source,
        };
        let cpu = self.embeddings.to_device(Device::Cpu).contiguous();
        let values: Vec<f32> = Vec::<f32>::try_from(cpu.reshape([-1]))?;
        let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        let view = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            vec![self.len(), self.dim()],
            &bytes,
        )
        .map_err(|e| DenseError::Shape(e.to_string()))?;
        let mut meta: HashMap<String, String> = self
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        meta.insert(FORMAT_KEY.into(), FORMAT_VERSION.into());
        let data = safetensors::tensor::serialize([(EMBEDDINGS_TENSOR, view)], Some(meta))
            .map_err(|e| DenseError::Format {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
        let result = (|| -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// Reads an index written by [`DenseIndex::save`] onto the CPU.
    pub fn load(path: &Path) -> Result<Self> {
        let format = |message: String| DenseError::Format {
            path: path.to_path_buf(),
            message,
        };
        let data = std::fs::read(path).map_err(|source| DenseError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let (_, metadata) =
            safetensors::SafeTensors::read_metadata(&data).map_err(|e| format(e.to_string()))?;
        let meta: BTreeMap<String, String> = metadata
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        match meta.get(FORMAT_KEY).map(String::as_str) {
            Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(format(format!(
                    "dense index format {other}, this genret reads {FORMAT_VERSION}"
                )))
            }
            None => return Err(format("not a genret dense index (no format marker)".into())),
        }
        let st = safetensors::SafeTensors::deserialize(&data).map_err(|e| format(e.to_string()))?;
        let view = st
            .tensor(EMBEDDINGS_TENSOR)
            .map_err(|e| format(e.to_string()))?;
        let shape = view.shape().to_vec();
        if view.dtype() != safetensors::Dtype::F32
            || shape.len() != 2
            || shape[0] == 0
            || shape[1] == 0
        {
            return Err(format(format!(
                "`{EMBEDDINGS_TENSOR}` must be a non-empty F32 matrix, got {:?} {shape:?}",
                view.dtype()
            )));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let embeddings = Tensor::from_slice(&values).reshape([shape[0] as i64, shape[1] as i64]);
        let mut meta = meta;
        meta.remove(FORMAT_KEY);
        Ok(Self { embeddings, meta })
    }
}

/// Encodes query texts into L2-normalised embeddings `[Q, H]`.
pub fn encode_queries(embedder: &Embedder, texts: &[&str], batch_size: usize) -> Result<Tensor> {
    embedder
        .embed(texts, batch_size.max(1), true)
        .map_err(DenseError::Encode)
}

/// 64-bit FNV-1a: a small, stable hash for cache keys (not for security).
#[derive(Debug, Clone, Copy)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    pub fn new() -> Self {
        Self::default()
    }
    /// Mixes in bytes, then a separator so that ("ab","c") and ("a","bc") differ.
    pub fn add(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        for &b in bytes.as_ref().iter().chain(&[0xff]) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }
    /// Mixes in a file's canonical path, size and modification time (not its content, so a
    /// large corpus or model costs nothing to fingerprint; `touch` invalidates).
    pub fn add_file(&mut self, path: &Path) -> Result<&mut Self> {
        let io = |source| DenseError::Io {
            path: path.to_path_buf(),
            source,
        };
        let canonical = path.canonicalize().map_err(io)?;
        let md = std::fs::metadata(&canonical).map_err(io)?;
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        self.add(canonical.to_string_lossy().as_bytes())
            .add(md.len().to_le_bytes())
            .add(mtime.to_le_bytes());
        Ok(self)
    }
    /// Sixteen hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(rows: &[[f32; 3]]) -> DenseIndex {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        DenseIndex::from_embeddings(&Tensor::from_slice(&flat).reshape([rows.len() as i64, 3]))
            .unwrap()
    }

    #[test]
    fn chunked_search_equals_one_shot_search() {
        tch::manual_seed(3);
        let docs = Tensor::randn([103, 8], (Kind::Float, Device::Cpu));
        let idx = DenseIndex::from_embeddings(&docs).unwrap();
        let q = Tensor::randn([17, 8], (Kind::Float, Device::Cpu));
        let whole = idx.search_chunked(&q, 10, 1000, 1000).unwrap();
        let chunked = idx.search_chunked(&q, 10, 4, 7).unwrap();
        assert_eq!(whole.len(), 17);
        for (a, b) in whole.iter().zip(&chunked) {
            assert_eq!(a.len(), 10);
            let ids_a: Vec<usize> = a.iter().map(|x| x.0).collect();
            let ids_b: Vec<usize> = b.iter().map(|x| x.0).collect();
            assert_eq!(ids_a, ids_b);
            for w in a.windows(2) {
                assert!(w[0].1 >= w[1].1);
            }
        }
        // Against a brute-force cosine computed by hand.
        let qn = l2_normalize(&q);
        let dn = l2_normalize(&docs);
        for (qi, hits) in whole.iter().enumerate() {
            let mut all: Vec<(usize, f64)> = (0..103)
                .map(|d| {
                    (
                        d,
                        qn.get(qi as i64).dot(&dn.get(d as i64)).double_value(&[]),
                    )
                })
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1));
            assert_eq!(hits[0].0, all[0].0);
            assert!((hits[0].1 as f64 - all[0].1).abs() < 1e-5);
        }
    }

    #[test]
    fn scores_are_cosines_and_k_is_capped() {
        let idx = index(&[[1., 0., 0.], [0., 2., 0.], [1., 1., 0.]]);
        let hits = idx
            .search(&Tensor::from_slice(&[3f32, 0., 0.]).reshape([1, 3]), 10)
            .unwrap();
        assert_eq!(hits[0].len(), 3);
        assert_eq!(hits[0][0].0, 0);
        assert!((hits[0][0].1 - 1.0).abs() < 1e-6);
        assert_eq!(hits[0][1].0, 2);
        assert!((hits[0][1].1 - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!(hits[0][2].1.abs() < 1e-6);
        assert!(idx
            .search(&Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)), 0)
            .unwrap()
            .iter()
            .all(Vec::is_empty));
    }

    #[test]
    fn bad_shapes_are_errors() {
        let idx = index(&[[1., 0., 0.]]);
        assert!(matches!(
            idx.search(&Tensor::zeros([1, 4], (Kind::Float, Device::Cpu)), 1),
            Err(DenseError::Shape(_))
        ));
        assert!(matches!(
            idx.search(&Tensor::zeros([1, 3], (Kind::Int64, Device::Cpu)), 1),
            Err(DenseError::Shape(_))
        ));
        assert!(
            DenseIndex::from_embeddings(&Tensor::zeros([0, 3], (Kind::Float, Device::Cpu)))
                .is_err()
        );
    }

    #[test]
    fn save_load_roundtrip_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = index(&[[1., 2., 3.], [0., -1., 0.5]]);
        idx.meta.insert("model".into(), "m".into());
        let path = dir.path().join("sub/index.safetensors");
        idx.save(&path).unwrap();
        let back = DenseIndex::load(&path).unwrap();
        assert!(back.embeddings().equal(idx.embeddings()));
        assert_eq!(back.meta, idx.meta);
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temporary file left"
        );

        let junk = dir.path().join("junk.safetensors");
        std::fs::write(&junk, b"not a safetensors file").unwrap();
        assert!(matches!(
            DenseIndex::load(&junk),
            Err(DenseError::Format { .. })
        ));
        let foreign = dir.path().join("foreign.safetensors");
        Tensor::write_safetensors(
            &[(
                "embeddings",
                Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)),
            )],
            &foreign,
        )
        .unwrap();
        let err = DenseIndex::load(&foreign).unwrap_err();
        assert!(
            err.to_string().contains("not a genret dense index"),
            "{err}"
        );
        assert!(matches!(
            DenseIndex::load(&dir.path().join("missing")),
            Err(DenseError::Io { .. })
        ));
    }

    #[test]
    fn fingerprints_separate_fields() {
        let a = Fingerprint::new().add("ab").add("c").hex();
        let b = Fingerprint::new().add("a").add("bc").hex();
        assert_ne!(a, b);
        assert_eq!(a, Fingerprint::new().add("ab").add("c").hex());
        assert_eq!(a.len(), 16);
    }
}
