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

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use genret_data::{Run, ScoredDoc};
use genret_eval::{evaluate, EvalOptions};
use genret_index::{Index, Origin, SearchOptions};
use serde_json::json;

use super::common::{
    bm25_over_index, classify_queries, judgements_of, write_json, DataArgs, FuseArgs, Latency,
    Outcome, QueryGroup, ReportArgs, ScoringArgs,
};

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

/// Runs the command; returns the evaluation and the report it wrote.
pub fn execute(args: Args) -> anyhow::Result<Outcome> {
    let metrics = args.report.metrics()?;
    anyhow::ensure!(args.depth >= 1, "--depth must be at least 1");
    let dataset = args.data.open()?;
    let index = Index::open(&args.index, super::common::parse_device(&args.device)?)?;

    // The split's judged queries, against the documents the index holds.
    let ids: HashSet<&str> = index.doc_ids().iter().map(String::as_str).collect();
    let (qrels, judged) = super::common::judged_split(
        &dataset,
        &args.split,
        args.data.strict,
        |d| ids.contains(d),
        " (or in the index)",
    )?;

    // Search, timing every batch.
    let texts: Vec<&str> = judged.iter().map(|q| q.text.as_str()).collect();
    let scoring = args.scoring.resolve(index.config().scoring);
    let beam = args.beam.or(scoring.beam).unwrap_or(100);
    let options = SearchOptions {
        beam,
        depth: args.depth,
        batch_size: args.batch_size,
        scoring: Some(scoring),
        exact: args.scoring.exact,
    };
    if let Some(w) =
        super::common::depth_beyond_beam(options.depth, options.beam, &scoring, options.exact)
    {
        tracing::warn!("{w}");
    }
    let bar = indicatif::ProgressBar::new(texts.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} queries ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut batch_times: Vec<Duration> = Vec::new();
    let mut query_times: Vec<Duration> = Vec::with_capacity(texts.len());
    let start = Instant::now();
    let results = index.search_with(&texts, &options, |n, took| {
        batch_times.push(took);
        query_times.extend(std::iter::repeat_n(took / n as u32, n));
        bar.inc(n as u64);
    })?;
    let wall = start.elapsed();
    bar.finish_and_clear();
    let (query_latency, batch_latency) =
        (Latency::of(query_times.clone()), Latency::of(batch_times));

    let mut run = Run::new();
    for (query, hits) in judged.iter().zip(&results) {
        let docs = hits
            .iter()
            .map(|h| ScoredDoc {
                doc_id: h.doc_id.clone(),
                score: f64::from(h.score),
            })
            .collect();
        run.insert(query.id.clone(), docs);
    }
    run.write_trec(&args.out, &args.tag)
        .with_context(|| format!("writing {}", args.out.display()))?;

    let evaluation = evaluate(&qrels, &run, &metrics, &EvalOptions::default())?;
    eprintln!(
        "index: {} documents, {} docids at {} ({:?})\n\
         search: {} queries, beam {}, depth {}, batches of {}: {:.3} s wall\n\
         latency per query: {}; per batch: {}\n\
         run: {}",
        index.num_docs(),
        index.trie().num_docids(),
        args.index.display(),
        index.device(),
        judged.len(),
        beam,
        args.depth,
        args.batch_size,
        wall.as_secs_f64(),
        query_latency.describe(),
        batch_latency.describe(),
        args.out.display()
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(
        out,
        "GenRet ({}{})",
        scoring.describe(),
        if args.scoring.exact { ", exact" } else { "" }
    )?;
    write!(out, "{}", evaluation.table())?;

    // Hybrid: the same queries fused with BM25 over the index's documents.
    let fused = match args.fuse.fuse {
        None => None,
        Some(_) => {
            let (w_genret, w_bm25) = args.fuse.weights()?;
            let t0 = Instant::now();
            let bm25 = bm25_over_index(&index)?;
            let build = t0.elapsed();
            let mut bm25_times = Vec::with_capacity(judged.len());
            let mut fused_run = Run::new();
            for query in &judged {
                let t = Instant::now();
                let lexical = bm25.search(&query.text, args.depth.max(100))?;
                let genret_docs = run.get(&query.id).unwrap_or(&[]);
                let docs = genret_eval::fuse_lists(
                    &[(genret_docs, w_genret), (lexical.as_slice(), w_bm25)],
                    args.fuse.method(),
                    args.depth,
                );
                bm25_times.push(t.elapsed());
                fused_run.insert(query.id.clone(), docs);
            }
            let fused_path = args.out.with_extension("fused.trec");
            fused_run.write_trec(&fused_path, &format!("{}+bm25", args.tag))?;
            let fused_eval = evaluate(&qrels, &fused_run, &metrics, &EvalOptions::default())?;
            writeln!(
                out,
                "\nGenRet + BM25 ({}, GenRet weight {w_genret}): {}",
                args.fuse.method(),
                fused_path.display()
            )?;
            write!(out, "{}", fused_eval.table())?;
            // A fused query costs GenRet's search plus BM25's search and the fusion.
            let per_query: Vec<Duration> = query_times
                .iter()
                .zip(&bm25_times)
                .map(|(a, b)| *a + *b)
                .collect();
            let latency = Latency::of(per_query);
            let mut timings = json!({ "bm25_build_s": build.as_secs_f64() });
            latency.add_to(&mut timings, "query");
            Some((
                json!({ "method": args.fuse.method(), "genret_weight": w_genret, "bm25_weight": w_bm25, "run": fused_path, "metrics": fused_eval.mean, "timings": timings }),
                fused_eval,
            ))
        }
    };

    // Seen vs unseen (the paper's generalisation split), when the index holds added documents.
    let origins: HashMap<String, Origin> = index.store().all_origins()?.into_iter().collect();
    let class = origins
        .values()
        .any(|&o| o == Origin::Added)
        .then(|| classify_queries(&qrels, &origins));
    let groups = if let Some(class) = &class {
        let mut groups = serde_json::Map::new();
        for group in [QueryGroup::Seen, QueryGroup::Unseen, QueryGroup::Mixed] {
            let sub = evaluation.restrict(|q| class.get(q) == Some(&group));
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
            groups.insert(
                group.name().into(),
                json!({ "num_queries": sub.num_queries, "metrics": sub.mean }),
            );
        }
        Some(serde_json::Value::Object(groups))
    } else {
        None
    };
    // The same split by judgements: how well the system finds trained and added documents.
    let judgement_groups = if class.is_some() {
        let mut groups = serde_json::Map::new();
        for (name, origin) in [("seen", Origin::Train), ("unseen", Origin::Added)] {
            let sub_qrels = judgements_of(&qrels, &origins, origin);
            let sub = evaluate(&sub_qrels, &run, &metrics, &EvalOptions::default())?;
            writeln!(
                out,
                "\n{name} documents' judgements only ({} queries with a relevant one)",
                sub.num_queries
            )?;
            if sub.num_queries > 0 {
                write!(out, "{}", sub.table())?;
            }
            groups.insert(
                name.into(),
                json!({ "num_queries": sub.num_queries, "metrics": sub.mean }),
            );
        }
        Some(serde_json::Value::Object(groups))
    } else {
        None
    };
    out.flush()?;

    let index_bytes_beyond_weights = super::common::dir_bytes(&args.index)?.saturating_sub(
        std::fs::metadata(args.index.join(genret_index::WEIGHTS_FILE)).map_or(0, |m| m.len()),
    );
    let metrics_path = args.report.path(&args.out);
    let mut report = json!({
        "dataset": dataset.name,
        "split": args.split,
        "index": args.index,
        "model": index.config().model_spec,
        "num_docs": index.num_docs(),
        "num_docids": index.trie().num_docids(),
        // Everything in the index folder except the network's weights: the document store,
        // configuration and tokenizer.
        "index_bytes_beyond_weights": index_bytes_beyond_weights,
        "num_queries": judged.len(),
        "search": { "beam": beam, "depth": args.depth, "batch_size": args.batch_size, "device": format!("{:?}", index.device()), "scoring": scoring, "scoring_name": scoring.describe(), "exact": args.scoring.exact },
        "fused": fused.as_ref().map(|f| &f.0),
        "metrics": evaluation.mean,
        "evaluation": { "num_queries": evaluation.num_queries, "missing_queries": evaluation.missing_queries },
        "timings": {
            "search_wall_s": wall.as_secs_f64(),
        },
        "run": args.out,
        "seen_unseen": groups,
        "seen_unseen_judgements": judgement_groups,
    });
    query_latency.add_to(&mut report["timings"], "query");
    batch_latency.add_to(&mut report["timings"], "batch");
    write_json(&metrics_path, &report)?;
    tracing::info!("wrote {}", metrics_path.display());
    Ok(Outcome {
        evaluation,
        report,
        groups: class,
        fused: fused.map(|f| f.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    type Cli = super::super::common::TestCli<Args>;

    #[test]
    fn queries_are_split_by_the_origin_of_their_relevant_documents() {
        let mut qrels = genret_data::Qrels::default();
        qrels.insert("q1", "a", 1);
        qrels.insert("q1", "b", 0); // not relevant: ignored
        qrels.insert("q2", "b", 2);
        qrels.insert("q3", "a", 1);
        qrels.insert("q3", "b", 1);
        qrels.insert("q4", "missing", 1);
        let origins: HashMap<String, Origin> = [
            ("a".to_string(), Origin::Train),
            ("b".to_string(), Origin::Added),
        ]
        .into();
        let class = classify_queries(&qrels, &origins);
        assert_eq!(class.get("q1"), Some(&QueryGroup::Seen));
        assert_eq!(class.get("q2"), Some(&QueryGroup::Unseen));
        assert_eq!(class.get("q3"), Some(&QueryGroup::Mixed));
        assert_eq!(class.get("q4"), None);
    }

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
