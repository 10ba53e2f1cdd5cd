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
    pub fn resolve(spec: &str) -> Result<Self> {
        let dir = Path::new(spec);
        if dir.is_dir() {
            return Self::from_dir(spec, dir);
        }
        if dir.exists()
            || spec.starts_with('.')
            || spec.starts_with('/')
            || spec.matches('/').count() > 1
        {
            bail!(
                "model `{spec}`: not a checkpoint folder (expected a folder with {})",
                FILES.join(", ")
            );
        }
        Self::from_hub(spec)
    }

    fn from_dir(spec: &str, dir: &Path) -> Result<Self> {
        let missing: Vec<&str> = FILES
            .iter()
            .copied()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            bail!(
                "model folder {}: missing {}",
                dir.display(),
                missing.join(", ")
            );
        }
        Ok(Checkpoint {
            spec: spec.to_string(),
            config: dir.join(FILES[0]),
            weights: dir.join(FILES[1]),
            tokenizer: dir.join(FILES[2]),
        })
    }

    fn from_hub(id: &str) -> Result<Self> {
        let cache = hf_hub::Cache::from_env();
        let cached: Vec<Option<PathBuf>> = FILES
            .iter()
            .map(|f| cache.model(id.to_string()).get(f))
            .collect();
        let paths: Vec<PathBuf> = if cached.iter().all(Option::is_some) {
            cached.into_iter().flatten().collect()
        } else if offline() {
            bail!(
                "model `{id}` is not in the Hugging Face cache ({}) and offline mode is on; \
                 download it once with network access, or pass a local checkpoint folder",
                cache.path().display()
            );
        } else {
            let api = hf_hub::api::sync::ApiBuilder::from_env()
                .with_progress(true)
                .build()
                .context("starting the Hugging Face hub client")?;
            let repo = api.model(id.to_string());
            FILES
                .iter()
                .map(|f| {
                    repo.get(f).with_context(|| {
                        format!("downloading {f} of `{id}` from the Hugging Face hub failed; pass a local checkpoint folder instead")
                    })
                })
                .collect::<Result<_>>()?
        };
        Ok(Checkpoint {
            spec: id.to_string(),
            config: paths[0].clone(),
            weights: paths[1].clone(),
            tokenizer: paths[2].clone(),
        })
    }

    /// Parses `config.json` into a backbone's typed configuration.
    pub fn config<C: serde::de::DeserializeOwned>(&self) -> Result<C> {
        let text = std::fs::read_to_string(&self.config)
            .with_context(|| format!("reading {}", self.config.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a valid config", self.config.display()))
    }

    /// Raw `model_type` of `config.json` (`bert`, `t5`, ...), to pick the backbone.
    pub fn model_type(&self) -> Result<String> {
        #[derive(serde::Deserialize)]
        struct Probe {
            model_type: Option<String>,
        }
        let probe: Probe = self.config()?;
        probe
            .model_type
            .with_context(|| format!("{}: no `model_type` field", self.config.display()))
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
    Checkpoint::resolve(&dir.to_string_lossy())
}

/// Tensor names and shapes from a safetensors file's header, without reading the tensors.
pub fn safetensors_shapes(path: &Path) -> Result<std::collections::BTreeMap<String, Vec<i64>>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("{}: cannot be opened", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .with_context(|| format!("{}: too short for a safetensors file", path.display()))?;
    let len = u64::from_le_bytes(len);
    anyhow::ensure!(
        len <= size.saturating_sub(8) && len <= 100 << 20,
        "{}: not a safetensors file (header of {len} bytes in a file of {size})",
        path.display()
    );
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header)
        .with_context(|| format!("{}: truncated header", path.display()))?;
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .with_context(|| format!("{}: unreadable safetensors header", path.display()))?;
    let mut out = std::collections::BTreeMap::new();
    for (name, entry) in json {
        if name == "__metadata__" {
            continue;
        }
        let shape: Vec<i64> = entry
            .get("shape")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .with_context(|| {
                format!("{}: tensor `{name}` has no readable shape", path.display())
            })?;
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
) -> Result<()> {
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
    let more = if problems.len() > 3 {
        format!("; and {} more", problems.len() - 3)
    } else {
        String::new()
    };
    bail!(
        "{}: the configuration and the weights disagree: {}{more}",
        path.display(),
        problems
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    )
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
