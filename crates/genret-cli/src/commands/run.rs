//! `genret run`: search every judged query of a dataset split with a GenRet index, write the
//! TREC run, and evaluate it.
//!
//! Queries are searched in batches (`--batch-size`) with constrained beam search; the time of
//! each batch (tokenising, encoding, decoding, result lookup) is measured, and latency is
//! reported per batch and per query (a batch's time divided among its queries; with
//! `--batch-size 1` that is the true per-query latency). Metrics, timings and settings go to a
//! JSON file next to the run.
//!
//! When the index holds documents added after training, the metrics are also split by seen
//! and unseen documents, two ways: by query (the paper's split: queries whose relevant
//! documents were all trained on, all added, or some of each), and by judgement (the run
//! evaluated against the judgements of trained documents only, then of added documents only).
//! The second still separates the two on collections such as TREC DL, where nearly every
//! query has relevant documents of both kinds.

use std::io::Write;
use std::path::PathBuf;

use genret_pipeline::experiment::{run_genret, GenretJob, Outcome};
use genret_pipeline::records::System;

use super::common::{DataArgs, FuseArgs, ReportArgs, ScoringArgs};

const AFTER_HELP: &str = "\
Examples:
  genret run --index runs/scifact.index --dataset scifact --split test --out runs/scifact.genret.trec
  genret run --index my.index --data data/nq320k --split test --out run.trec --beam 10 --depth 10

Documents sharing a docid share its score in the run file; evaluation (trec_eval semantics)
orders such ties by document id. Metrics, timings and settings go to the run's path with the
extension `.metrics.json` (run.trec -> run.metrics.json) unless --metrics-out says otherwise.";

/// Arguments of `genret run`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Search a split's judged queries with a GenRet index, write the TREC run, evaluate",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// The index folder.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// The split whose judged queries are run (a file `qrels/<split>.tsv`).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// The TREC run to write (atomically).
    #[arg(long, value_name = "RUN")]
    pub out: PathBuf,
    /// Beam width (paper: 100; authors' code: 10). Default: the beam of the index's scoring,
    /// else 100.
    #[arg(long)]
    pub beam: Option<usize>,
    /// Documents retrieved per query.
    #[arg(long, default_value_t = 100)]
    pub depth: usize,
    /// Queries searched together.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Where the model runs: `cpu`, `cuda`, `cuda:N`, or `auto`.
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    #[command(flatten)]
    pub fuse: FuseArgs,
    /// Tag in the run file's last column.
    #[arg(long, default_value = "genret")]
    pub tag: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    execute(args).map(|_| ())
}

/// Runs the command; returns what the pipeline reports.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let experiment = args
        .report
        .experiment(&args.data, &args.split, &args.out, &args.tag)?;
    let job = GenretJob {
        index: args.index.clone(),
        device: super::common::parse_device(&args.device)?,
        beam: args.beam,
        depth: args.depth,
        batch_size: args.batch_size,
        scoring: args.scoring.choice(),
        exact: args.scoring.exact,
        fuse: args.fuse.job()?,
    };
    let outcome = run_genret(&experiment, &job)?;
    print_outcome(&args, &outcome)?;
    Ok(outcome)
}

/// The summary on standard error, the tables on standard output.
fn print_outcome(args: &Args, outcome: &Outcome) -> anyhow::Result<()> {
    let r = &outcome.report;
    let t = &r.timings;
    let System::Genret {
        num_docids, search, ..
    } = &r.system
    else {
        anyhow::bail!(
            "internal error: a GenRet run reported as {}",
            r.system.name()
        );
    };
    eprintln!(
        "index: {} documents, {num_docids} docids at {} ({})\n\
         search: {} queries, beam {}, depth {}, batches of {}: {:.3} s wall\n\
         latency per query: p50 {:.2} ms, p99 {:.2} ms; per batch: p50 {:.2} ms, p99 {:.2} ms\n\
         run: {}",
        r.num_docs,
        args.index.display(),
        search.device,
        r.num_queries,
        search.beam,
        search.depth,
        search.batch_size,
        t.search_wall_s.unwrap_or_default(),
        t.query_p50_ms.unwrap_or_default(),
        t.query_p99_ms.unwrap_or_default(),
        t.batch_p50_ms.unwrap_or_default(),
        t.batch_p99_ms.unwrap_or_default(),
        args.out.display()
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(
        out,
        "GenRet ({}{})",
        search.scoring_name,
        if search.exact { ", exact" } else { "" }
    )?;
    write!(out, "{}", outcome.evaluation.table())?;
    if let (Some(fused), Some(evaluation)) = (&r.fused, &outcome.fused) {
        writeln!(
            out,
            "\nGenRet + BM25 ({}, GenRet weight {}): {}",
            args.fuse.method(),
            fused.genret_weight,
            fused.run.display()
        )?;
        write!(out, "{}", evaluation.table())?;
    }
    // Seen vs unseen (the paper's generalisation split), when the index holds added documents.
    if let Some(groups) = &outcome.seen_unseen {
        for (group, sub) in &groups.by_query {
            writeln!(
                out,
                "\n{} ({} queries: {})",
                group.name(),
                sub.num_queries,
                group.describe()
            )?;
            if sub.num_queries > 0 {
                write!(out, "{}", sub.table())?;
            }
        }
        // The same split by judgements: how well the system finds trained and added documents.
        for (name, sub) in &groups.by_judgement {
            writeln!(
                out,
                "\n{name} documents' judgements only ({} queries with a relevant one)",
                sub.num_queries
            )?;
            if sub.num_queries > 0 {
                write!(out, "{}", sub.table())?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use genret_data::Run;
    use serde_json::json;

    type Cli = super::super::common::TestCli<Args>;

    #[test]
    fn every_argument_has_help() {
        super::super::common::assert_every_argument_has_help(&Cli::command());
    }

    #[test]
    fn runs_a_split_end_to_end() {
        use genret_index::testing::{text, tiny_index};
        let tmp = genret_index::testing::ScratchDir::new("cli").unwrap();
        let (_, index) = tiny_index(tmp.path(), "idx", 10).unwrap();
        // A BEIR folder whose corpus is the index's.
        let data = tmp.path().join("data");
        std::fs::create_dir_all(data.join("qrels")).unwrap();
        let corpus: String = (0..10)
            .map(|i| format!("{}\n", json!({"_id": format!("t{i}"), "text": text(i)})))
            .collect();
        std::fs::write(data.join("corpus.jsonl"), corpus).unwrap();
        let queries: String = (0..4)
            .map(|i| format!("{}\n", json!({"_id": format!("q{i}"), "text": text(i)})))
            .collect();
        std::fs::write(data.join("queries.jsonl"), queries).unwrap();
        std::fs::write(
            data.join("qrels/test.tsv"),
            "query-id\tcorpus-id\tscore\nq0\tt0\t1\nq1\tt1\t1\nq2\tt2\t1\n",
        )
        .unwrap();
        let out = tmp.path().join("runs/tiny.trec");
        let argv = [
            "run",
            "--index",
            index.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--beam",
            "125",
            "--depth",
            "10",
            "--batch-size",
            "2",
            "--device",
            "cpu",
        ];
        run(Cli::try_parse_from(argv).unwrap().args).unwrap();
        let written = Run::load(&out).unwrap();
        assert_eq!(written.len(), 3, "judged queries only");
        assert!(
            written.iter().all(|(_, docs)| docs.len() == 10),
            "an exhaustive beam returns every document"
        );
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join("runs/tiny.metrics.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(report["num_queries"], 3);
        assert_eq!(
            report["metrics"]["R@10"], 1.0,
            "depth 10 of 10 documents finds every relevant one"
        );
        assert!(report["timings"]["query_p99_ms"].as_f64().unwrap() > 0.0);

        let argv = [
            "run",
            "--index",
            index.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            "x.trec",
            "--split",
            "dev",
            "--device",
            "cpu",
        ];
        let err = run(Cli::try_parse_from(argv).unwrap().args)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `dev` split"), "{err}");
    }
}
