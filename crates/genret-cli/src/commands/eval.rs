//! `genret eval`: placeholder until the metrics crate lands.
#[derive(clap::Args, Debug)]
pub struct Args {}
pub fn run(_: Args) -> anyhow::Result<()> { anyhow::bail!("not yet implemented") }
