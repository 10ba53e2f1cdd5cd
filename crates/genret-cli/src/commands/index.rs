//! `genret index`: look after a GenRet index.
//!
//! * `genret index add` gives new documents docids with the model's tokenizer alone (greedy
//!   decoding, no retraining: GenRet's answer to a growing corpus) and makes them searchable.
//!   The whole file goes in as one transaction: a refused document (an id already in the index
//!   or repeated in the file) or any failure leaves the index as it was.
//! * `genret index info` prints the index's configuration and counts.
//! * `genret index verify` checks every file of the index (checksums, weights, store) and names
//!   each one that is damaged or missing; it exits non-zero when any is.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use genret_data::{CorpusReader, Document};
use genret_index::tch::Device;
use genret_index::{AddReport, Index, IndexInfo};

const AFTER_HELP: &str = "\
Examples:
  genret index add --index runs/scifact.index --docs new-docs.jsonl
  genret index info --index runs/scifact.index --json
  genret index verify --index runs/scifact.index";

const ADD_AFTER_HELP: &str = "\
Example:
  genret index add --index runs/scifact.index --docs new-docs.jsonl --batch-size 64

The file is in BEIR corpus layout: one JSON object a line, {\"_id\", \"title\", \"text\"}.
Each document is encoded as `title text` (at the index's doc_max_len tokens) and gets the
model's greedy docid. All documents go in together or none does.";

const INFO_AFTER_HELP: &str = "\
Example:
  genret index info --index runs/scifact.index";

/// Arguments of `genret index`.
#[derive(clap::Args, Debug)]
#[command(about = "Manage a GenRet index: add documents without retraining, show its configuration, verify its files", after_help = AFTER_HELP)]
pub struct Args {
    #[command(subcommand)]
    pub command: IndexCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum IndexCommand {
    Add(AddArgs),
    Info(InfoArgs),
    Verify(VerifyArgs),
}

/// Arguments of `genret index verify`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Check every file of an index: checksums, finite weights, the store's integrity",
    after_help = "Example:\n  genret index verify --index runs/scifact.index\n\nPrints `ok` and exits 0 when the index is sound; otherwise prints one line per damaged\nor missing file and exits 1. Search, run and index add refuse a damaged index too."
)]
pub struct VerifyArgs {
    /// The index folder.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
}

/// Arguments of `genret index add`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Add documents: docids from the tokenizer alone, all or nothing",
    after_help = ADD_AFTER_HELP
)]
pub struct AddArgs {
    /// The index folder.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// New documents, BEIR corpus layout (`.jsonl` or `.jsonl.gz`).
    #[arg(long, value_name = "FILE")]
    pub docs: PathBuf,
    /// Documents encoded together.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Where the model runs: `cpu`, `cuda`, `cuda:N`, or `auto`.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Print the report (with every new document's docid) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `genret index info`.
#[derive(clap::Args, Debug)]
#[command(about = "Show an index's configuration and counts", after_help = INFO_AFTER_HELP)]
pub struct InfoArgs {
    /// The index folder.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.command {
        IndexCommand::Add(a) => {
            let report = add(&a)?;
            print_add(&mut out, &a, &report)?;
        }
        IndexCommand::Info(a) => {
            let info = Index::open(&a.index, Device::Cpu)?.info()?;
            print_info(&mut out, &info, a.json)?;
        }
        IndexCommand::Verify(a) => {
            let problems = genret_index::integrity::verify(&a.index);
            if problems.is_empty() {
                writeln!(out, "{}: ok", a.index.display())?;
            } else {
                for p in &problems {
                    writeln!(out, "{p}")?;
                }
                out.flush()?;
                anyhow::bail!(
                    "{}: {} problem(s) found; the index cannot be trusted",
                    a.index.display(),
                    problems.len()
                );
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Reads the file and adds its documents.
pub fn add(args: &AddArgs) -> anyhow::Result<AddReport> {
    let docs: Vec<Document> = CorpusReader::open(&args.docs)?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", args.docs.display()))?;
    let mut index = Index::open(&args.index, super::common::parse_device(&args.device)?)?;
    let bar = indicatif::ProgressBar::new(docs.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} documents encoded ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = index.add_documents_with(&docs, args.batch_size, |n| bar.inc(n as u64));
    bar.finish_and_clear();
    report.with_context(|| {
        format!(
            "adding {} to {} (the index is unchanged)",
            args.docs.display(),
            args.index.display()
        )
    })
}

fn print_add(out: &mut dyn Write, args: &AddArgs, report: &AddReport) -> anyhow::Result<()> {
    if args.json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "added {} documents from {} to {}: {} new docids, {} documents joined docids already in the index",
        report.added,
        args.docs.display(),
        args.index.display(),
        report.new_docids,
        report.collisions_with_existing
    )?;
    Ok(())
}

fn print_info(out: &mut dyn Write, info: &IndexInfo, json: bool) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, info)?;
        writeln!(out)?;
        return Ok(());
    }
    let c = &info.config;
    let backbone = serde_json::to_value(&c.backbone)?;
    let kind = backbone.get("type").and_then(|t| t.as_str()).unwrap_or("?");
    let rows: Vec<(&str, String)> = vec![
        ("index", info.dir.display().to_string()),
        ("created", c.created_at.clone()),
        ("model", format!("{} ({kind} backbone)", c.model_spec)),
        (
            "docids",
            format!(
                "{} scheme, {} codes of {} (K), model steps {} (M)",
                c.docid_scheme, c.docid_steps, c.heads.codebook_size, c.heads.num_steps
            ),
        ),
        (
            "text lengths",
            format!(
                "query {} tokens, document {} tokens",
                c.query_max_len, c.doc_max_len
            ),
        ),
        (
            "documents",
            format!(
                "{} ({} from training, {} added)",
                info.num_docs, info.num_train_docs, info.num_added_docs
            ),
        ),
        ("distinct docids", info.num_docids.to_string()),
        (
            "collisions",
            format!(
                "{} documents share their docid; largest group {}",
                info.colliding_docs, info.largest_collision_group
            ),
        ),
        ("trie nodes", info.trie_nodes.to_string()),
        (
            "document states",
            if info.has_states {
                format!("stored, {} bytes per document", info.state_bytes_per_doc)
            } else {
                "none (codes-only scoring)".into()
            },
        ),
        ("default scoring", c.scoring.describe()),
        (
            "last addition",
            info.last_added_at.clone().unwrap_or_else(|| "never".into()),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        writeln!(out, "{k:<width$}  {v}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: IndexCommand,
    }

    #[test]
    fn every_argument_has_help() {
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        for sub in cmd.get_subcommands() {
            assert!(
                sub.get_after_help().is_some(),
                "{} has no example",
                sub.get_name()
            );
            for arg in sub.get_arguments() {
                assert!(
                    arg.get_help().is_some(),
                    "{} --{} has no help",
                    sub.get_name(),
                    arg.get_id()
                );
            }
        }
    }

    fn add_args(argv: &[&str]) -> AddArgs {
        let mut full = vec!["genret", "add"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            IndexCommand::Add(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn add_then_info() {
        let tmp = genret_index::testing::ScratchDir::new("cli").unwrap();
        let (_, path) = genret_index::testing::tiny_index(tmp.path(), "idx", 8).unwrap();
        let idx = path.to_str().unwrap();
        let docs = tmp.path().join("new.jsonl");
        let line = |id: &str, i: usize| {
            serde_json::json!({"_id": id, "title": "", "text": genret_index::testing::text(i)})
                .to_string()
        };
        std::fs::write(&docs, format!("{}\n{}\n", line("n1", 40), line("n2", 41))).unwrap();
        let report = add(&add_args(&[
            "--index",
            idx,
            "--docs",
            docs.to_str().unwrap(),
            "--device",
            "cpu",
        ]))
        .unwrap();
        assert_eq!(report.added, 2);
        let mut text = Vec::new();
        print_add(
            &mut text,
            &add_args(&["--index", idx, "--docs", "new.jsonl"]),
            &report,
        )
        .unwrap();
        assert!(String::from_utf8(text)
            .unwrap()
            .starts_with("added 2 documents"));

        // Adding the same file again is refused as a whole.
        let err = format!(
            "{:#}",
            add(&add_args(&[
                "--index",
                idx,
                "--docs",
                docs.to_str().unwrap(),
                "--device",
                "cpu"
            ]))
            .unwrap_err()
        );
        assert!(
            err.contains("`n1` is already in the index") && err.contains("unchanged"),
            "{err}"
        );

        let info = Index::open(&path, Device::Cpu).unwrap().info().unwrap();
        assert_eq!((info.num_docs, info.num_added_docs), (10, 2));
        let mut text = Vec::new();
        print_info(&mut text, &info, false).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("10 (8 from training, 2 added)"), "{text}");
        assert!(text.contains("3 codes of 5 (K)"), "{text}");
        let mut json = Vec::new();
        print_info(&mut json, &info, true).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(json["config"]["docid_steps"], 3);
    }
}
