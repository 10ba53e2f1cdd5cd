//! `genret eval`: score a TREC run against relevance judgements with trec_eval's semantics.
//!
//! Prints a table of measure means (and, with `--per-query`, one row per query) on stdout and
//! optionally writes everything as JSON. The measures and their exact semantics are documented
//! in the `genret-eval` crate.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use genret_data::{Qrels, Run};
use genret_eval::{
    evaluate, DuplicateDocs, EvalOptions, Evaluation, Metric, MissingQueries, ScorePrecision,
};

const AFTER_HELP: &str = "\
Examples:
  genret eval --run runs/scifact.bm25.trec --qrels data/scifact/qrels/test.tsv
  genret eval --run run.trec --qrels qrels.trec --metrics ndcg_cut_10,recall_100,MRR@10 \\
      --per-query --json eval.json --missing skip

Measures: nDCG@k (ndcg_cut_k), R@k (recall_k), P@k (P_k), MRR@k (reciprocal rank cut at k),
MRR (recip_rank), MAP (map), MAP@k (map_cut_k), num_ret, num_rel, num_rel_ret.
Rankings are ordered as trec_eval orders them: score decreasing, ties by document id decreasing;
the rank column is ignored. Grades >= 1 are relevant; nDCG uses grades as gains.
`--missing skip --score-precision f32` reproduces pytrec_eval / BEIR numbers exactly.";

/// Arguments of `genret eval`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Evaluate a TREC run against relevance judgements (trec_eval semantics)",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// TREC run file: `qid Q0 docid rank score tag` per line.
    #[arg(long, value_name = "RUN")]
    pub run: PathBuf,
    /// Relevance judgements: BEIR qrels TSV (`query-id corpus-id score`) or TREC qrels
    /// (`qid 0 docid rel`); the format is detected from the first line.
    #[arg(long, value_name = "QRELS")]
    pub qrels: PathBuf,
    /// Measures, comma-separated (the flag may repeat), e.g. `ndcg_cut_10,recall_100,MRR@10`
    /// or trec_eval's `ndcg_cut.5,10,100`. Default: nDCG@10,R@1,R@10,R@100,MRR@10,MAP,P@10.
    #[arg(long, short = 'm', value_name = "LIST")]
    pub metrics: Vec<String>,
    /// Also print one row per query, and include per-query values in the --json output.
    #[arg(long)]
    pub per_query: bool,
    /// Write the evaluation as JSON to this file (written atomically: temporary file, rename).
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// Judged queries absent from the run: `zero` scores them 0 and averages over every judged
    /// query (trec_eval -c); `skip` averages over queries both judged and in the run
    /// (trec_eval's default, pytrec_eval, BEIR).
    #[arg(long, value_enum, default_value_t = Missing::Zero)]
    pub missing: Missing,
    /// A document ranked twice for one query: `error` refuses the run (as trec_eval does);
    /// `keep-best` keeps its best-scored occurrence.
    #[arg(long, value_enum, default_value_t = Duplicates::Error)]
    pub duplicates: Duplicates,
    /// Precision at which scores are compared: `f32` as pytrec_eval and trec_eval <= 9.0.7
    /// (scores equal as f32 tie, broken by document id), `f64` as trec_eval >= 9.0.8.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub score_precision: Precision,
    /// Least grade the binary measures count as relevant (trec_eval -l); at least 1. nDCG
    /// always uses the grades themselves as gains.
    #[arg(long, value_name = "GRADE", default_value_t = 1)]
    pub relevance_level: i32,
}

/// `--missing`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Count judged queries missing from the run as 0 (trec_eval -c).
    Zero,
    /// Average over queries present in both (trec_eval default, pytrec_eval, BEIR).
    Skip,
}

/// `--duplicates`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// Refuse a run that ranks a document twice for one query.
    Error,
    /// Keep each document's best-scored occurrence.
    KeepBest,
}

/// `--score-precision`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Compare scores as f32 (pytrec_eval, trec_eval <= 9.0.7).
    F32,
    /// Compare scores as f64 (trec_eval >= 9.0.8).
    F64,
}

impl Args {
    fn options(&self) -> EvalOptions {
        EvalOptions {
            missing: match self.missing {
                Missing::Zero => MissingQueries::Zero,
                Missing::Skip => MissingQueries::Skip,
            },
            duplicates: match self.duplicates {
                Duplicates::Error => DuplicateDocs::Error,
                Duplicates::KeepBest => DuplicateDocs::KeepBest,
            },
            score_precision: match self.score_precision {
                Precision::F32 => ScorePrecision::F32,
                Precision::F64 => ScorePrecision::F64,
            },
            relevance_level: self.relevance_level,
        }
    }

    fn metrics(&self) -> anyhow::Result<Vec<Metric>> {
        if self.metrics.is_empty() {
            return Ok(Metric::default_set());
        }
        Ok(Metric::parse_list(&self.metrics.join(","))?)
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let metrics = args.metrics().context("--metrics")?;
    let options = args.options();
    let qrels = Qrels::load(&args.qrels)
        .with_context(|| format!("reading judgements {}", args.qrels.display()))?;
    let run =
        Run::load(&args.run).with_context(|| format!("reading run {}", args.run.display()))?;
    let evaluation = evaluate(&qrels, &run, &metrics, &options)?;
    report_coverage(&evaluation, &qrels, &run);
    if evaluation.num_queries == 0 {
        anyhow::bail!(
            "no query to evaluate: the run ({} queries) and the judgements ({} queries) share none",
            run.len(),
            qrels.len()
        );
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.per_query {
        write!(out, "{}", evaluation.per_query_table())?;
        writeln!(out)?;
    }
    write!(out, "{}", evaluation.table())?;
    out.flush()?;

    if let Some(path) = &args.json {
        super::common::write_json(path, &report(&args, &evaluation)?)?;
        tracing::info!("wrote {}", path.display());
    }
    Ok(())
}

/// Logs how the run and the judgements overlap, so a silently partial run is noticed.
fn report_coverage(evaluation: &Evaluation, qrels: &Qrels, run: &Run) {
    let missing = evaluation.missing_queries.len();
    if missing > 0 {
        let treatment = match evaluation.options.missing {
            MissingQueries::Zero => "counted as 0 (--missing zero)",
            MissingQueries::Skip => "left out of the means (--missing skip)",
        };
        tracing::warn!(
            "{missing} of {} judged queries are not in the run, {treatment}; first: {}",
            qrels.len(),
            evaluation.missing_queries[0]
        );
    }
    let unjudged = evaluation.unjudged_queries.len();
    if unjudged > 0 {
        tracing::warn!(
            "{unjudged} of {} run queries have no judgements and are ignored; first: {}",
            run.len(),
            evaluation.unjudged_queries[0]
        );
    }
}

/// The evaluation as JSON, with the inputs it came from (per-query values only when asked).
fn report(args: &Args, evaluation: &Evaluation) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(evaluation)?;
    let object = value
        .as_object_mut()
        .context("an evaluation serializes to a JSON object")?;
    if !args.per_query {
        object.remove("per_query");
    }
    object.insert("run".into(), args.run.display().to_string().into());
    object.insert("qrels".into(), args.qrels.display().to_string().into());
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    type Cli = super::super::common::TestCli<Args>;

    fn fixtures() -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../genret-eval/tests/fixtures")
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("genret-cli-eval-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn parse(extra: &[&str]) -> Args {
        let fx = fixtures();
        let mut argv: Vec<String> = vec![
            "eval".into(),
            "--run".into(),
            fx.join("small.run").display().to_string(),
            "--qrels".into(),
            fx.join("small.qrels").display().to_string(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        Cli::try_parse_from(argv).expect("arguments parse").args
    }

    #[test]
    fn every_argument_has_help() {
        super::super::common::assert_every_argument_has_help(&Cli::command());
    }

    #[test]
    fn json_output_matches_the_reference() {
        let dir = scratch("json");
        let out = dir.join("eval.json");
        let out_s = out.display().to_string();
        let args = parse(&[
            "-m",
            "ndcg_cut_10,recall_100",
            "-m",
            "RR@10",
            "--json",
            &out_s,
        ]);
        run(args).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let reference: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join("reference.json")).unwrap(),
        )
        .unwrap();
        let mean_zero = &reference["fixtures"]["small"]["mean_zero"];
        for (ours, theirs) in [
            ("nDCG@10", "ndcg_cut_10"),
            ("R@100", "recall_100"),
            ("MRR@10", "RR@10"),
        ] {
            let diff = json["mean"][ours].as_f64().unwrap() - mean_zero[theirs].as_f64().unwrap();
            assert!(diff.abs() < 1e-9, "{ours}");
        }
        assert_eq!(json["num_queries"], 9);
        assert!(json.get("per_query").is_none());
        assert_eq!(json["options"]["missing"], "zero");

        let args = parse(&["--missing", "skip", "--per-query", "--json", &out_s]);
        run(args).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(json["num_queries"], 7);
        assert_eq!(json["per_query"].as_object().unwrap().len(), 7);
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn errors_name_the_problem() {
        let err = run(parse(&["-m", "ndcg"])).unwrap_err();
        assert!(format!("{err:#}").contains("needs a cutoff"), "{err:#}");
        let err = run(parse(&["--relevance-level", "0"])).unwrap_err();
        assert!(format!("{err:#}").contains("relevance level"), "{err:#}");

        let dir = scratch("dup");
        let run_path = dir.join("dup.run");
        std::fs::write(&run_path, "q1 Q0 d01 1 2.0 t\nq1 Q0 d01 2 1.0 t\n").unwrap();
        let mut args = parse(&[]);
        args.run = run_path;
        let err = run(args).unwrap_err();
        assert!(
            format!("{err:#}").contains("ranked more than once"),
            "{err:#}"
        );
        let mut args = parse(&["--duplicates", "keep-best"]);
        args.run = dir.join("dup.run");
        run(args).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
