//! The run manifest: everything needed to know what a run was and to repeat it.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
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

/// The manifest's schema lives with the other run records.
pub use genret_records::RunManifest as Manifest;
