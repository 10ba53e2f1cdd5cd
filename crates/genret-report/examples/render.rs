//! Renders a run report before (or without) the `genret report` subcommand:
//!
//! ```text
//! cargo run -p genret-report --example render -- RUN_DIR [--data BEIR_DIR] [--split test]
//!     [--compare OTHER_RUN]... [--out report.html]
//! ```
//!
//! `--data` gives the documents (terms and titles of the docid tree), the judgements of
//! `--split` (worst queries) and the query texts. Without `--out` the page goes to
//! `RUN_DIR/report.html`.

use std::path::PathBuf;
use std::process::ExitCode;

use genret_report::{write_report, ReportInputs};

fn main() -> ExitCode {
    match run() {
        Ok(out) => {
            println!("wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<PathBuf, String> {
    let mut args = std::env::args().skip(1);
    let mut run: Option<PathBuf> = None;
    let mut data: Option<PathBuf> = None;
    let mut split = "test".to_string();
    let mut compare = Vec::new();
    let mut out: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--data" => data = Some(value("--data")?.into()),
            "--split" => split = value("--split")?,
            "--compare" => compare.push(PathBuf::from(value("--compare")?)),
            "--out" => out = Some(value("--out")?.into()),
            "-h" | "--help" => {
                return Err("usage: render RUN_DIR [--data BEIR_DIR] [--split test] \
                            [--compare OTHER_RUN]... [--out report.html]"
                    .into())
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => run = Some(other.into()),
        }
    }
    let run = run.ok_or("give a run folder (genret quickstart --out or genret train --out)")?;
    let mut inputs = ReportInputs::new(&run);
    inputs.compare = compare;
    if let Some(dir) = data {
        inputs = inputs
            .with_beir_dataset(&dir, &split)
            .map_err(|e| e.to_string())?;
    }
    let out = out.unwrap_or_else(|| run.join("report.html"));
    write_report(&inputs, &out).map_err(|e| e.to_string())?;
    Ok(out)
}
