//! `genret report`: one self-contained HTML page about a run (genret-report), with the
//! documents read from the run's own index when no dataset folder is given.

use std::path::{Path, PathBuf};

use anyhow::Context;
use genret_report::{write_report, ReportInputs, DEFAULT_WORST_QUERIES};

const AFTER_HELP: &str = "\
Examples:
  genret report runs/quickstart --data ../shared/data/scifact
  genret report runs/scifact --compare runs/scifact-k256 --out scifact.html

The page needs no network: CSS and plots are inline, there is no script. Without --data the
documents come from the run's index (for the docid hierarchy) and the per-query section, which
needs judgements, says so.";

/// Arguments of `genret report`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Write one self-contained HTML page about a run: metrics, training curves, docid health and hierarchy, worst queries",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// A `genret quickstart` output folder or a `genret train` run folder.
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Other runs whose rows join the summary table (either kind of folder).
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub compare: Vec<PathBuf>,
    /// The HTML file to write (default: RUN_DIR/report.html).
    #[arg(long, value_name = "OUT.html")]
    pub out: Option<PathBuf>,
    /// The run's dataset in BEIR layout: documents, query texts and judgements (for the
    /// hierarchy and the worst queries).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The split whose judgements the per-query section reads.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Worst queries listed against BM25.
    #[arg(long, default_value_t = DEFAULT_WORST_QUERIES)]
    pub worst: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let out = write(
        &args.run,
        &args.compare,
        args.out.as_deref(),
        args.data.as_deref(),
        &args.split,
        args.worst,
    )?;
    println!("report: {}", out.display());
    Ok(())
}

/// Writes the report of `run` and returns its path (quickstart calls this too).
pub fn write(
    run: &Path,
    compare: &[PathBuf],
    out: Option<&Path>,
    data: Option<&Path>,
    split: &str,
    worst: usize,
) -> anyhow::Result<PathBuf> {
    let mut inputs = ReportInputs::new(run);
    inputs.compare = compare.to_vec();
    inputs.worst_queries = worst;
    match data {
        Some(dir) => {
            inputs = inputs
                .with_beir_dataset(dir, split)
                .with_context(|| format!("reading the dataset in {}", dir.display()))?
        }
        None => inputs.documents = index_documents(run)?,
    }
    let out = out.map_or_else(|| run.join("report.html"), Path::to_path_buf);
    write_report(&inputs, &out)?;
    Ok(out)
}

/// Every document of the run's index (`RUN/index` or `RUN/train/index`), when it has one.
fn index_documents(run: &Path) -> anyhow::Result<Option<Vec<genret_data::Document>>> {
    let Some(store) = [run.join("index"), run.join("train").join("index")]
        .into_iter()
        .map(|d| d.join(genret_index::index::STORE_FILE))
        .find(|p| p.is_file())
    else {
        tracing::warn!(
            "{}: no index found and no --data given; the docid hierarchy shows no terms or titles",
            run.display()
        );
        return Ok(None);
    };
    Ok(Some(genret_index::DocStore::open(&store)?.all_documents()?))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_argument_has_help() {
        super::super::common::assert_every_argument_has_help(&super::super::common::TestCli::<
            super::Args,
        >::command());
    }
}
