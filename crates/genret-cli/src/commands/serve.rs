//! `genret serve`: the index as an HTTP search service (see the `genret-serve` crate).

pub use genret_serve::Args;

pub fn run(args: Args) -> anyhow::Result<()> {
    genret_serve::run(args)
}
