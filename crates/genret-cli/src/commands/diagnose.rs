//! `genret diagnose`: where a GenRet index loses the relevant documents.
//!
//! Generative retrieval can fail at every decoding step: the relevant document's first code is
//! not the query's best first code, or it falls out of the beam at step 2, or its docid is
//! found but scored below others. For each judged query of a split this command traces the
//! beam search and reports, per step t:
//!
//! * `top1`: the share of queries where a relevant document's first t codes are the best
//!   prefix kept at step t;
//! * `in_beam`: the share where a relevant document's first t codes are among the kept ones;
//!
//! and at the end the share of queries whose relevant document is returned at all (in the
//! top `--depth`), and the score gap between the best kept docid and the best relevant one
//! (for queries where a relevant docid is kept). Run it on an untrained index (a training run
//! with zero epochs) beside the trained one to see what training adds.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use genret_index::{Index, SearchOptions};
use genret_pipeline::records::{DiagnoseReport, DiagnoseStep};
use genret_pipeline::split::{judged_split, JudgedQueries};

use super::common::{parse_device, write_json, DataArgs, ScoringArgs};

const AFTER_HELP: &str = "\
Examples:
  genret diagnose --index runs/scifact/index --data ../shared/data/scifact --split dev
  genret diagnose --index runs/untrained/index --data ../shared/data/scifact --split dev --json-out d.json";

/// Arguments of `genret diagnose`.
#[derive(clap::Args, Debug)]
#[command(about = "Trace the beam search of a split's queries: at which step relevant documents are lost", after_help = AFTER_HELP)]
pub struct Args {
    /// The index folder.
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// The split whose judged queries are traced.
    #[arg(long, default_value = "dev")]
    pub split: String,
    /// Beam width.
    #[arg(long, default_value_t = 100)]
    pub beam: usize,
    /// Documents returned per query (for the "returned" share).
    #[arg(long, default_value_t = 100)]
    pub depth: usize,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Where the model runs: `cpu`, `cuda`, `cuda:N`, or `auto`.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Also write the report as JSON here.
    #[arg(long, value_name = "OUT.json")]
    pub json_out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let report = execute(&args)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} queries of `{}` with a relevant document in the index; beam {}, scoring {}",
        report.queries, args.split, args.beam, report.scoring
    )?;
    writeln!(
        out,
        "| step | relevant prefix is the top-1 prefix | relevant prefix in the beam |"
    )?;
    writeln!(out, "|---:|---:|---:|")?;
    for s in &report.steps {
        writeln!(out, "| {} | {:.3} | {:.3} |", s.step, s.top1, s.in_beam)?;
    }
    writeln!(
        out,
        "relevant document returned in the top {}: {:.3}; mean score gap (best kept docid − best relevant kept docid): {:.4} over {} queries",
        args.depth,
        report.returned,
        report.mean_gap.unwrap_or(f64::NAN),
        report.gap_queries
    )?;
    if let Some(path) = &args.json_out {
        write_json(path, &report)?;
    }
    Ok(())
}

/// Traces every judged query and returns the report (JSON).
pub fn execute(args: &Args) -> anyhow::Result<DiagnoseReport> {
    let dataset = args.data.open()?;
    let index = Index::open(&args.index, parse_device(&args.device)?)?;
    let positions: std::collections::HashMap<&str, u64> = index
        .doc_ids()
        .iter()
        .enumerate()
        .map(|(p, id)| (id.as_str(), p as u64))
        .collect();
    let JudgedQueries {
        qrels,
        queries: judged,
    } = judged_split(
        &dataset,
        &args.split,
        args.data.strict,
        |d| positions.contains_key(d),
        " (or in the index)",
    )?;
    let mut scoring = args.scoring.resolve(index.config().scoring);
    if scoring.code == genret_index::CodeScore::Residual && args.scoring.code_score.is_none() {
        // A residual index scores every docid by table look-ups, with no beam to lose the
        // relevant document from; what can be diagnosed is the decoder's own beam.
        eprintln!(
            "the index scores codes by residual code scores (every docid, no beam); diagnosing the decoder's own beam with logit code scores (--code-score chooses)"
        );
        scoring.code = genret_index::CodeScore::Logit;
    }
    let depth = index.search_depth(&scoring);

    // The relevant documents' docids (cut to the searched depth), per judged query.
    let mut relevant: Vec<Vec<Vec<u32>>> = Vec::new();
    let mut relevant_ids: Vec<HashSet<String>> = Vec::new();
    let mut texts: Vec<&str> = Vec::new();
    for q in &judged {
        let docs: Vec<&String> = qrels
            .query(&q.id)
            .into_iter()
            .flatten()
            .filter(|(_, &g)| g > 0)
            .map(|(d, _)| d)
            .filter(|d| positions.contains_key(d.as_str()))
            .collect();
        if docs.is_empty() {
            continue;
        }
        let pos: Vec<u64> = docs.iter().map(|d| positions[d.as_str()]).collect();
        relevant.push(
            index
                .documents(&pos)?
                .into_iter()
                .map(|d| d.codes[..depth].to_vec())
                .collect(),
        );
        relevant_ids.push(docs.into_iter().cloned().collect());
        texts.push(&q.text);
    }
    anyhow::ensure!(
        !texts.is_empty(),
        "no judged query of `{}` has a relevant document in the index",
        args.split
    );
    let traces = index.trace(&texts, args.beam, &scoring)?;
    let hits = index.search_with(
        &texts,
        &SearchOptions {
            beam: args.beam,
            depth: args.depth,
            scoring: Some(scoring),
            ..Default::default()
        },
        |_, _| {},
    )?;

    let n = texts.len() as f64;
    let mut top1 = vec![0usize; depth];
    let mut in_beam = vec![0usize; depth];
    let (mut gap_sum, mut gap_n, mut returned) = (0.0, 0usize, 0usize);
    for ((trace, rel), (ids, found)) in traces
        .iter()
        .zip(&relevant)
        .zip(relevant_ids.iter().zip(&hits))
    {
        for (t, kept) in trace.trace.iter().enumerate() {
            let prefixes: HashSet<&[u32]> = rel.iter().map(|z| &z[..=t]).collect();
            if kept
                .first()
                .is_some_and(|(c, _)| prefixes.contains(c.as_slice()))
            {
                top1[t] += 1;
            }
            if kept.iter().any(|(c, _)| prefixes.contains(c.as_slice())) {
                in_beam[t] += 1;
            }
        }
        if let (Some(best), Some(best_rel)) = (
            trace.beams.first(),
            trace.beams.iter().find(|b| rel.contains(&b.codes)),
        ) {
            gap_sum += best.log_prob - best_rel.log_prob;
            gap_n += 1;
        }
        returned += usize::from(found.iter().any(|h| ids.contains(&h.doc_id)));
    }
    Ok(DiagnoseReport {
        index: args.index.clone(),
        split: args.split.clone(),
        queries: texts.len(),
        beam: args.beam,
        depth: args.depth,
        scoring: scoring.describe(),
        searched_codes: depth,
        steps: (0..depth)
            .map(|t| DiagnoseStep {
                step: t + 1,
                top1: top1[t] as f64 / n,
                in_beam: in_beam[t] as f64 / n,
            })
            .collect(),
        returned: returned as f64 / n,
        mean_gap: (gap_n > 0).then(|| gap_sum / gap_n as f64),
        gap_queries: gap_n,
    })
}
