//! The run manifest: everything needed to know what a run was and to repeat it.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::memory::hex;

/// The git revision genret was built from (`unknown` outside a git checkout).
pub const GIT_REVISION: &str = env!("GENRET_GIT_REVISION");

/// SHA-256 of the files, in order, each prefixed by its length.
pub fn hash_files(paths: &[&Path]) -> Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for p in paths {
        let mut f = std::fs::File::open(p).with_context(|| format!("hashing {}", p.display()))?;
        let len = f.metadata()?.len();
        h.update(len.to_le_bytes());
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(hex(&h.finalize()))
}

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub genret_version: &'static str,
    pub git_revision: &'static str,
    pub command: Vec<String>,
    pub started_at: String,
    pub seed: u64,
    pub threads: i32,
    pub device: String,
    pub dataset: String,
    pub data_hash: String,
    pub model: String,
    pub model_hash: String,
    pub config: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), to avoid a date crate.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Writes JSON through a temporary file and a rename.
pub fn write_json_atomically(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    genret_data::run::write_atomically(path, |w| std::io::Write::write_all(w, text.as_bytes()))?;
    Ok(())
}
