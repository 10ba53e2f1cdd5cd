//! An index that knows itself: checksums of its files, and the checks that refuse a damaged one.
//!
//! # The idea
//!
//! An index folder is four files. The store (SQLite) guards itself: a torn or damaged page is an
//! error from SQLite, and every add is one transaction. The other three are written once, when
//! the index is created, and only read afterwards: `model.safetensors`, `tokenizer.json` and
//! `index.json`. Damage to them is silent (random bytes in a weight tensor load without
//! complaint and turn every score into NaN, or, in a rarely used embedding row, into a
//! plausible wrong answer), so [`CHECKSUMS_FILE`] records a BLAKE3 hash of each, with the store's
//! schema version, and [`Index::open`](crate::Index::open) compares them before it loads
//! anything: hashing the weights takes a fraction of a second, far less than loading them.
//!
//! `genret index verify` ([`verify`]) does everything open does and the expensive rest: every
//! weight tensor finite, SQLite's own integrity check, and every stored docid and state
//! readable. Each problem names its file.
//!
//! An index written before checksums existed opens with a warning; `verify` reports the missing
//! file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Checksums of the files written once, next to them in the index folder.
pub const CHECKSUMS_FILE: &str = "checksums.json";

/// What [`CHECKSUMS_FILE`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checksums {
    /// Always `blake3`.
    pub algorithm: String,
    /// File name (in the index folder) -> lowercase hex hash.
    pub files: BTreeMap<String, String>,
    /// The store's schema version when the index was written.
    pub store_schema_version: u32,
}

/// A damaged or missing part of an index, with the file it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// The BLAKE3 hash of a file, in hex.
pub fn hash_file(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_mmap(path)
        .with_context(|| format!("{}: cannot be read", path.display()))?;
    Ok(hasher.finalize().to_hex().to_string())
}

impl Checksums {
    /// Hashes `files` of `dir`.
    pub fn compute(dir: &Path, files: &[&str], store_schema_version: u32) -> Result<Self> {
        let mut out = BTreeMap::new();
        for &f in files {
            out.insert(f.to_string(), hash_file(&dir.join(f))?);
        }
        Ok(Self {
            algorithm: "blake3".into(),
            files: out,
            store_schema_version,
        })
    }

    /// Writes [`CHECKSUMS_FILE`] into `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        Ok(genret_data::write_json_atomically(
            &dir.join(CHECKSUMS_FILE),
            self,
        )?)
    }

    /// Reads `dir`'s [`CHECKSUMS_FILE`]: `Ok(None)` when there is none (an older index).
    pub fn read(dir: &Path) -> std::result::Result<Option<Self>, Problem> {
        let path = dir.join(CHECKSUMS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Problem {
                    path,
                    message: format!("cannot be read ({e})"),
                })
            }
        };
        let parsed: Self = serde_json::from_str(&text).map_err(|e| Problem {
            path: path.clone(),
            message: format!("not a valid checksum list ({e})"),
        })?;
        if parsed.algorithm != "blake3" {
            return Err(Problem {
                path,
                message: format!(
                    "unknown checksum algorithm `{}` (this build reads blake3)",
                    parsed.algorithm
                ),
            });
        }
        Ok(Some(parsed))
    }

    /// Every listed file that is missing or whose hash differs, and the store's schema version
    /// against `store_schema_version`.
    pub fn problems(&self, dir: &Path, store_schema_version: u32) -> Vec<Problem> {
        let mut out = Vec::new();
        for (file, want) in &self.files {
            let path = dir.join(file);
            if !path.is_file() {
                out.push(Problem {
                    path,
                    message: "missing".into(),
                });
                continue;
            }
            match hash_file(&path) {
                Ok(got) if &got == want => {}
                Ok(_) => out.push(Problem {
                    path,
                    message: format!(
                        "damaged or changed since the index was written (its checksum differs from the one in {CHECKSUMS_FILE}); restore the file or rebuild the index"
                    ),
                }),
                Err(e) => out.push(Problem { path, message: format!("{e:#}") }),
            }
        }
        if self.store_schema_version != store_schema_version {
            out.push(Problem {
                path: dir.join(CHECKSUMS_FILE),
                message: format!(
                    "records store schema version {}, the store says {store_schema_version}",
                    self.store_schema_version
                ),
            });
        }
        out
    }
}

/// Checks of a whole index folder, cheap and expensive: what `genret index verify` runs.
/// Returns every problem found (empty: the index is sound).
pub fn verify(dir: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    match Checksums::read(dir) {
        Ok(Some(sums)) => problems.extend(sums.problems(dir, crate::store::STORE_SCHEMA_VERSION)),
        Ok(None) => problems.push(Problem {
            path: dir.join(CHECKSUMS_FILE),
            message: "missing: the index was written by an older genret, so damage to its files cannot be detected (rebuild it to add checksums)".into(),
        }),
        Err(p) => problems.push(p),
    }
    if !problems.is_empty() {
        return problems;
    }
    // The files are as written: now everything open checks, and what it does not.
    match crate::Index::open(dir, tch::Device::Cpu) {
        Err(e) => problems.push(Problem {
            path: dir.to_path_buf(),
            message: format!("{e:#}"),
        }),
        Ok(index) => {
            if let Err(e) = index.check_all_weights_finite() {
                problems.push(Problem {
                    path: dir.join(crate::WEIGHTS_FILE),
                    message: format!("{e:#}"),
                });
            }
            if let Err(e) = index.store().integrity_check() {
                problems.push(Problem {
                    path: dir.join(crate::index::STORE_FILE),
                    message: strip_path(&e.to_string(), dir),
                });
            }
        }
    }
    problems
}

/// `message` without a leading `<dir>/<file>: ` (the problem names the file already).
fn strip_path(message: &str, dir: &Path) -> String {
    let prefix = format!("{}", dir.display());
    match message.strip_prefix(&prefix) {
        Some(rest) => rest
            .split_once(": ")
            .map_or(message.to_string(), |(_, m)| m.to_string()),
        None => message.to_string(),
    }
}
