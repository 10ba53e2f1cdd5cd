//! `genret bm25`: placeholder until the BM25 crate lands.
#[derive(clap::Args, Debug)]
pub struct Args {}
pub fn run(_: Args) -> anyhow::Result<()> { anyhow::bail!("not yet implemented") }
