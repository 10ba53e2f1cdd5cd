//! Pretrained checkpoints in Hugging Face layout: a local folder, or a hub id.
//!
//! A checkpoint folder holds `config.json`, `model.safetensors` and `tokenizer.json` (the hub's
//! repository layout; `../shared/models/all-MiniLM-L6-v2` is one). A hub id such as
//! `sentence-transformers/all-MiniLM-L6-v2` is looked up in the Hugging Face cache first and
//! downloaded only when missing and not offline (`HF_HUB_OFFLINE=1` or `GENRET_OFFLINE=1`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tch::nn::VarStore;
use tch::Tensor;

/// Why a checkpoint could not be found or does not fit: what the caller named or holds is
/// wrong (`is_input`), or the hub could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The name is a path, but not of a checkpoint folder.
    #[error("model `{spec}`: not a checkpoint folder (expected a folder with {})", FILES.join(", "))]
    NotACheckpoint { spec: String },
    /// A checkpoint folder without some of its files.
    #[error("model folder {}: missing {}", .dir.display(), .missing.join(", "))]
    MissingFiles { dir: PathBuf, missing: Vec<String> },
    /// A hub id that is not cached while offline.
    #[error("model `{id}` is not in the Hugging Face cache ({}) and offline mode is on; download it once with network access, or pass a local checkpoint folder", .cache.display())]
    NotCached { id: String, cache: PathBuf },
    /// The hub could not deliver a file.
    #[error("downloading {file} of `{id}` from the Hugging Face hub failed; pass a local checkpoint folder instead: {source}")]
    Download {
        id: String,
        file: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file of the checkpoint that cannot be read as what it should be.
    #[error("{}: {message}", .path.display())]
    BadFile { path: PathBuf, message: String },
    /// The weights' tensors do not have the shapes the configuration implies.
    #[error("{}: the configuration and the weights disagree: {}{}", .path.display(), .problems.iter().take(3).cloned().collect::<Vec<_>>().join("; "), if .problems.len() > 3 { format!("; and {} more", .problems.len() - 3) } else { String::new() })]
    ShapeMismatch {
        path: PathBuf,
        problems: Vec<String>,
    },
}

impl CheckpointError {
    /// Whether the caller named or supplied something wrong (rather than a network failure).
    pub fn is_input(&self) -> bool {
        !matches!(self, CheckpointError::Download { .. })
    }

    fn bad(path: &Path, message: impl Into<String>) -> Self {
        CheckpointError::BadFile {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// The files of a checkpoint on local disk.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// What the user named: a folder or a hub id.
    pub spec: String,
    pub config: PathBuf,
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
}

fn offline() -> bool {
    ["HF_HUB_OFFLINE", "GENRET_OFFLINE"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty() && s != "0"))
}

const FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

impl Checkpoint {
    /// Resolves a local folder or a hub id to local files.
    pub fn resolve(spec: &str) -> Result<Self, CheckpointError> {
        let dir = Path::new(spec);
        if dir.is_dir() {
            return Self::from_dir(spec, dir);
        }
        if dir.exists()
            || spec.starts_with('.')
            || spec.starts_with('/')
            || spec.matches('/').count() > 1
        {
            return Err(CheckpointError::NotACheckpoint {
                spec: spec.to_string(),
            });
        }
        Self::from_hub(spec)
    }

    fn from_dir(spec: &str, dir: &Path) -> Result<Self, CheckpointError> {
        let missing: Vec<String> = FILES
            .iter()
            .filter(|f| !dir.join(f).is_file())
            .map(|f| f.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(CheckpointError::MissingFiles {
                dir: dir.to_path_buf(),
                missing,
            });
        }
        Ok(Checkpoint {
            spec: spec.to_string(),
            config: dir.join(FILES[0]),
            weights: dir.join(FILES[1]),
            tokenizer: dir.join(FILES[2]),
        })
    }

    fn from_hub(id: &str) -> Result<Self, CheckpointError> {
        let cache = hf_hub::Cache::from_env();
        let cached: Vec<Option<PathBuf>> = FILES
            .iter()
            .map(|f| cache.model(id.to_string()).get(f))
            .collect();
        let paths: Vec<PathBuf> = if cached.iter().all(Option::is_some) {
            cached.into_iter().flatten().collect()
        } else if offline() {
            return Err(CheckpointError::NotCached {
                id: id.to_string(),
                cache: cache.path().to_path_buf(),
            });
        } else {
            let download =
                |file: &str, source: hf_hub::api::sync::ApiError| CheckpointError::Download {
                    id: id.to_string(),
                    file: file.to_string(),
                    source: Box::new(source),
                };
            let api = hf_hub::api::sync::ApiBuilder::from_env()
                .with_progress(true)
                .build()
                .map_err(|e| download("anything (starting the hub client)", e))?;
            let repo = api.model(id.to_string());
            FILES
                .iter()
                .map(|f| repo.get(f).map_err(|e| download(f, e)))
                .collect::<Result<_, _>>()?
        };
        Ok(Checkpoint {
            spec: id.to_string(),
            config: paths[0].clone(),
            weights: paths[1].clone(),
            tokenizer: paths[2].clone(),
        })
    }

    /// Parses `config.json` into a backbone's typed configuration.
    pub fn config<C: serde::de::DeserializeOwned>(&self) -> Result<C, CheckpointError> {
        let text = std::fs::read_to_string(&self.config)
            .map_err(|e| CheckpointError::bad(&self.config, format!("cannot be read: {e}")))?;
        serde_json::from_str(&text)
            .map_err(|e| CheckpointError::bad(&self.config, format!("not a valid config: {e}")))
    }

    /// Raw `model_type` of `config.json` (`bert`, `t5`, ...), to pick the backbone.
    pub fn model_type(&self) -> Result<String, CheckpointError> {
        #[derive(serde::Deserialize)]
        struct Probe {
            model_type: Option<String>,
        }
        let probe: Probe = self.config()?;
        probe
            .model_type
            .ok_or_else(|| CheckpointError::bad(&self.config, "no `model_type` field"))
    }
}

/// What [`load_weights`] copied and what it could not match.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub loaded: usize,
    /// Variables under the prefix that the checkpoint did not provide.
    pub missing: Vec<String>,
    /// Checkpoint tensors with no variable to go to.
    pub unused: Vec<String>,
}

/// Copies the tensors of a safetensors file into the variables of `vs` whose names start with
/// `prefix`: checkpoint tensor `n` goes to variable `prefix + n`, after removing the first of
/// `strip` that `n` starts with (e.g. `bert.` in BertForMaskedLM checkpoints). Shapes must
/// agree; variables outside `prefix` are untouched.
pub fn load_weights(
    vs: &VarStore,
    path: &Path,
    prefix: &str,
    strip: &[&str],
) -> Result<LoadReport> {
    let tensors = Tensor::read_safetensors(path)
        .with_context(|| format!("reading weights {}", path.display()))?;
    let mut vars = vs.variables();
    let mut report = LoadReport::default();
    let mut assigned = HashSet::new();
    tch::no_grad(|| -> Result<()> {
        for (name, value) in tensors {
            let short = strip
                .iter()
                .find_map(|s| name.strip_prefix(s))
                .unwrap_or(&name);
            let key = format!("{prefix}{short}");
            match vars.get_mut(&key) {
                Some(var) => {
                    if var.size() != value.size() {
                        bail!(
                            "{}: tensor `{name}` has shape {:?}, the model expects {:?}",
                            path.display(),
                            value.size(),
                            var.size()
                        );
                    }
                    var.copy_(&value.to_kind(var.kind()).to_device(var.device()));
                    assigned.insert(key);
                    report.loaded += 1;
                }
                None => report.unused.push(name),
            }
        }
        Ok(())
    })?;
    report.missing = vars
        .keys()
        .filter(|k| k.starts_with(prefix) && !assigned.contains(*k))
        .cloned()
        .collect();
    report.missing.sort();
    Ok(report)
}

/// Writes a randomly initialised BERT-family checkpoint folder (config.json, model.safetensors,
/// and a copy of `tokenizer`), the way a hub snapshot looks. For tests, examples and smoke runs:
/// it exercises exactly the loading path a real checkpoint takes. Behind the `testing` feature.
#[cfg(any(test, feature = "testing"))]
pub fn write_random_bert(
    dir: &Path,
    cfg: &crate::bert::BertConfig,
    tokenizer: &Path,
    seed: i64,
) -> Result<Checkpoint> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    tch::manual_seed(seed);
    let vs = VarStore::new(tch::Device::Cpu);
    let _model = crate::bert::BertModel::new(vs.root(), cfg)?;
    let mut json = serde_json::to_value(cfg)?;
    json["model_type"] = "bert".into();
    json["architectures"] = serde_json::json!(["BertModel"]);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    vs.save(dir.join("model.safetensors"))?;
    std::fs::copy(tokenizer, dir.join("tokenizer.json"))
        .with_context(|| format!("copying {}", tokenizer.display()))?;
    Ok(Checkpoint::resolve(&dir.to_string_lossy())?)
}

/// Tensor names and shapes from a safetensors file's header, without reading the tensors.
pub fn safetensors_shapes(
    path: &Path,
) -> Result<std::collections::BTreeMap<String, Vec<i64>>, CheckpointError> {
    use std::io::Read;
    let bad = |m: String| CheckpointError::bad(path, m);
    let mut file = std::fs::File::open(path).map_err(|e| bad(format!("cannot be opened: {e}")))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| bad("too short for a safetensors file".into()))?;
    let len = u64::from_le_bytes(len);
    if len > size.saturating_sub(8) || len > 100 << 20 {
        return Err(bad(format!(
            "not a safetensors file (header of {len} bytes in a file of {size})"
        )));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header)
        .map_err(|_| bad("truncated header".into()))?;
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("unreadable safetensors header: {e}")))?;
    let mut out = std::collections::BTreeMap::new();
    for (name, entry) in json {
        if name == "__metadata__" {
            continue;
        }
        let shape: Vec<i64> = entry
            .get("shape")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .ok_or_else(|| bad(format!("tensor `{name}` has no readable shape")))?;
        out.insert(name, shape);
    }
    Ok(out)
}

/// Compares every variable of `vs` with the tensor of the same name in the safetensors file at
/// `path`, from its header alone, before any tensor operation: the first few differences, each
/// with both shapes, as one error. `what` names where the expected shapes come from (e.g.
/// "runs/x/index/index.json"), and `setting(name)` the setting that sizes a variable, so that
/// the message says what to change.
pub fn check_shapes(
    vs: &VarStore,
    path: &Path,
    what: &str,
    setting: impl Fn(&str) -> Option<String>,
) -> Result<(), CheckpointError> {
    let stored = safetensors_shapes(path)?;
    let mut problems = Vec::new();
    let mut vars: Vec<(String, Vec<i64>)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.size()))
        .collect();
    vars.sort();
    let hint = |name: &str| setting(name).map_or(String::new(), |s| format!(" (set by {s})"));
    for (name, want) in &vars {
        match stored.get(name) {
            Some(got) if got == want => {}
            Some(got) => problems.push(format!(
                "`{name}` is {got:?} in the weights, but {what} implies {want:?}{}",
                hint(name)
            )),
            None => problems.push(format!(
                "the weights lack `{name}` ({want:?}), which {what} implies{}",
                hint(name)
            )),
        }
    }
    let known: HashSet<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    for name in stored.keys().filter(|n| !known.contains(n.as_str())) {
        problems.push(format!(
            "the weights hold `{name}`, which {what} does not have{}",
            hint(name)
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(CheckpointError::ShapeMismatch {
        path: path.to_path_buf(),
        problems,
    })
}

/// The first variable of `vs` (with a name starting with `prefix`) that holds a NaN or an
/// infinity, if any.
pub fn first_non_finite(vs: &VarStore, prefix: &str) -> Option<String> {
    let mut vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter()
        .find(|(_, t)| !bool::try_from(t.isfinite().all()).unwrap_or(false))
        .map(|(n, _)| n)
}

#[cfg(test)]
mod shape_tests {
    use super::*;
    use tch::{nn, Device, Kind};

    #[test]
    fn shapes_are_compared_from_the_header_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let vs = VarStore::new(Device::Cpu);
        let _a = vs.root().var("a", &[4, 3], nn::Init::Const(0.0));
        let _b = vs.root().var("b", &[2], nn::Init::Const(1.0));
        vs.save(&path).unwrap();
        assert_eq!(
            safetensors_shapes(&path).unwrap().get("a"),
            Some(&vec![4, 3])
        );
        check_shapes(&vs, &path, "the config", |_| None).unwrap();

        let other = VarStore::new(Device::Cpu);
        let _a = other.root().var("a", &[8, 3], nn::Init::Const(0.0));
        let _c = other.root().var("c", &[1], nn::Init::Const(0.0));
        let err = check_shapes(&other, &path, "the config", |n| {
            (n == "a").then(|| "K".to_string())
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`a` is [4, 3] in the weights, but the config implies [8, 3] (set by K)"),
            "{err}"
        );
        assert!(
            err.contains("lack `c`") && err.contains("hold `b`"),
            "{err}"
        );

        std::fs::write(&path, b"garbage").unwrap();
        assert!(check_shapes(&vs, &path, "x", |_| None)
            .unwrap_err()
            .to_string()
            .contains("w.safetensors"));

        let nan = VarStore::new(Device::Cpu);
        let t = nan.root().var("z", &[3], nn::Init::Const(0.0));
        assert_eq!(first_non_finite(&nan, ""), None);
        tch::no_grad(|| {
            let _ = t.get(1).fill_(f64::NAN);
        });
        assert_eq!(first_non_finite(&nan, ""), Some("z".to_string()));
        let _ = Kind::Float;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_errors_say_what_was_named_wrongly() {
        let err = Checkpoint::resolve("./no/such/model").unwrap_err();
        assert!(matches!(err, CheckpointError::NotACheckpoint { .. }));
        assert!(err.is_input());
        assert!(err
            .to_string()
            .contains("model `./no/such/model`: not a checkpoint folder"));
        let dir = std::env::temp_dir().join(format!("genret-ckpt-err-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), "{}").unwrap();
        let err = Checkpoint::resolve(dir.to_str().unwrap()).unwrap_err();
        match &err {
            CheckpointError::MissingFiles { missing, .. } => {
                assert_eq!(missing, &["model.safetensors", "tokenizer.json"])
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(dir.join("model.safetensors"), b"\x10\0\0\0\0\0\0\0{").unwrap();
        let err = safetensors_shapes(&dir.join("model.safetensors")).unwrap_err();
        assert!(
            err.is_input() && err.to_string().contains("not a safetensors file"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
