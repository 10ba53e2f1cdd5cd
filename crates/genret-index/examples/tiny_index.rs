//! Writes a tiny index of a RANDOM model (no training, no download), to try the index
//! commands of the CLI end to end:
//!
//! ```text
//! cargo run -p genret-index --example tiny_index -- /tmp/tiny.index
//! genret index info --index /tmp/tiny.index
//! genret search --index /tmp/tiny.index "alpha delta golf"
//! ```
//!
//! The results mean nothing (the model is random); the plumbing is real.

fn main() -> anyhow::Result<()> {
    let target = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .ok_or_else(|| {
            anyhow::anyhow!("usage: tiny_index DIR (a folder that does not exist yet)")
        })?;
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = target
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{}: not a folder name", target.display()))?;
    let (index, path) = genret_index::testing::tiny_index(parent, &name.to_string_lossy(), 20)?;
    println!("wrote {} ({} documents)", path.display(), index.num_docs());
    Ok(())
}
