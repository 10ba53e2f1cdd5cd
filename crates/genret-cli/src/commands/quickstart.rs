//! `genret quickstart`: the whole pipeline on one dataset, ending in one comparison table.
//!
//! 1. Train GenRet (docids and retriever) on the corpus and its training signal, and build the
//!    run's index (`genret train`).
//! 2. Run the BM25 baseline (`genret bm25`) and the dense baseline with the same encoder
//!    (`genret dense`) on the evaluation split.
//! 3. Search the split with the GenRet index, one query at a time so the latencies are true
//!    per-query latencies (`genret run`): codes only (with the default preset's residual
//!    decoding, residual code scores over every docid and the decoder's own logits at beam 300;
//!    with the paper's docids, their log-probabilities at beam 10 and 100), the index's default
//!    scoring (codes + states), and that fused with BM25 (`--fuse bm25`,
//!    z-score fusion at GenRet weight 0.6, both chosen on SciFact dev).
//! 4. With `--holdout-docs F`: train a second model without a random fraction F of the
//!    documents, add them afterwards with the trained tokenizer, and compare the queries whose
//!    relevant documents were seen in training with those whose documents were not, for GenRet
//!    and (on the same queries) for BM25 and dense retrieval.
//!
//! Every step calls the same `genret-pipeline` function as the subcommand of the same name, so
//! the table shows exactly what those commands give. Everything lands in `--out`: runs, metric reports,
//! the training runs, the table itself (`quickstart.md`, `quickstart.json`), and the HTML report
//! of the whole run (`report.html`, as `genret report` writes it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use genret_eval::Evaluation;
use genret_pipeline::experiment::{
    relative_to, run_bm25, run_dense, run_genret, Bm25Job, DenseJob, Experiment, FuseWithBm25,
    GenretJob, Outcome, ScoringChoice,
};
use genret_pipeline::records::{GroupComparison, QuickstartSummary, SummaryRow};
use genret_pipeline::split::QueryGroup;
use genret_pipeline::training::{
    train_and_index, ConfigOverrides, TrainJob, Trained, DEFAULT_FUSE_WEIGHT, DEFAULT_FUSION,
};
use genret_train::TrainOptions;

use super::common::{parse_device, write_json, DataArgs};

const AFTER_HELP: &str = "\
Examples:
  genret quickstart --data ../shared/data/scifact --model ../shared/models/all-MiniLM-L6-v2
  genret quickstart --dataset scifact --out runs/quickstart --holdout-docs 0.1

Without --dataset or --data, SciFact is used (downloaded into the cache when missing). The
model defaults to the training configuration's (sentence-transformers/all-MiniLM-L6-v2 from the
Hugging Face hub, or a local folder given with --model). --resume reuses finished or partial
training runs in --out.";

/// Arguments of `genret quickstart`.
#[derive(clap::Args, Debug)]
#[command(about = "Train GenRet, run BM25 and dense baselines, and print one comparison table", after_help = AFTER_HELP)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Checkpoint folder or Hugging Face hub id of the encoder (GenRet and dense baseline).
    #[arg(long)]
    pub model: Option<String>,
    /// Output folder.
    #[arg(long, default_value = "runs/quickstart")]
    pub out: PathBuf,
    /// TOML training configuration (defaults: the CPU preset, sized from the corpus).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Split evaluated.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Also train without this fraction of the documents and report seen vs unseen queries.
    #[arg(long, default_value_t = 0.0)]
    pub holdout_docs: f64,
    /// Continue (or reuse) training runs already in --out.
    #[arg(long)]
    pub resume: bool,
    /// Rebuild the BM25 index and re-encode the dense corpus instead of reusing caches (so
    /// their build times are measured).
    #[arg(long)]
    pub fresh_baselines: bool,
    /// Random seed of the training runs (default 42): data order, holdout, initialisation and
    /// clustering all follow it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Torch threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<usize>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Metrics of the table, in order.
const METRICS: &str = "nDCG@10,R@1,R@10,R@100,MRR@10";
const COLUMNS: [&str; 5] = ["nDCG@10", "R@1", "R@10", "R@100", "MRR@10"];

/// One system's row.
struct Row {
    name: String,
    outcome: Outcome,
    /// Training (GenRet) or indexing (baselines) seconds; `None` when reused from a cache.
    build_secs: Option<f64>,
    index_bytes: Option<u64>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let data = match (&args.data.dataset, &args.data.data) {
        (None, None) => DataArgs {
            dataset: Some("scifact".into()),
            ..args.data.clone()
        },
        _ => args.data.clone(),
    };
    let device = parse_device(&args.device)?;
    let overrides = ConfigOverrides {
        model: args.model.clone(),
        seed: args.seed,
        threads: args.threads,
        ..Default::default()
    };
    let config = overrides.load(args.config.as_deref())?;
    // The dataset is resolved (and fetched, when named and missing) once for every step.
    let dataset = data.open()?;
    let metrics = genret_eval::Metric::parse_list(METRICS)?;
    let experiment = |name: &str, report: Option<&str>| -> anyhow::Result<Experiment> {
        Ok(Experiment {
            dataset: dataset.clone(),
            split: args.split.clone(),
            strict: data.strict,
            metrics: metrics.clone(),
            run_path: out.join(format!("{name}.trec")),
            tag: format!("genret-{name}"),
            report_path: report.map(|r| out.join(r)),
        })
    };
    let train = |run_dir: &str, holdout: Option<f64>| -> anyhow::Result<Trained> {
        let mut config = config.clone();
        if let Some(h) = holdout {
            config.holdout_docs = h;
        }
        train_and_index(TrainJob {
            dataset: &dataset,
            strict: data.strict,
            config,
            out: out.join(run_dir),
            options: TrainOptions {
                resume: args.resume,
                restart: false,
                device,
                stop_after_units: None,
            },
        })
    };

    // 1. GenRet.
    eprintln!(
        "== 1/4 training GenRet into {}",
        out.join("train").display()
    );
    let trained = train("train", None)?;

    // 2. Baselines.
    eprintln!("== 2/4 BM25 and dense baselines");
    let bm25 = run_bm25(
        &experiment("bm25", Some("bm25.json"))?,
        &Bm25Job {
            config: Default::default(),
            index_dir: None,
            rebuild: args.fresh_baselines,
            threads: 0,
            k: 1000,
        },
    )?;
    let dense = run_dense(
        &experiment("dense", Some("dense.json"))?,
        &DenseJob {
            model: config.model.checkpoint.clone(),
            max_len: 256,
            k: 1000,
            batch_size: 32,
            device,
            cache_dir: Some(genret_pipeline::baselines::default_dense_cache()),
            rebuild: args.fresh_baselines,
        },
    )?;

    // 3. GenRet search, one query at a time so the latencies are true per-query latencies.
    eprintln!("== 3/4 GenRet search");
    let genret_run = |index: &Path,
                      name: &str,
                      beam: Option<usize>,
                      scoring: ScoringChoice,
                      fuse: Option<FuseWithBm25>|
     -> anyhow::Result<Outcome> {
        run_genret(
            &experiment(name, None)?,
            &GenretJob {
                index: index.to_path_buf(),
                device,
                beam,
                depth: 100,
                batch_size: 1,
                scoring,
                exact: false,
                fuse,
            },
        )
    };
    // Codes only, the index's default (codes + states), and the hybrid. Codes only is two rows:
    // with the paper's docids, its log-probabilities at beam 10 and 100; with residual decoding,
    // residual code scores (every docid scored, no beam) and the decoder's own logits at beam 300
    // (the generative retriever P(z|q) alone; the beam its dev row used).
    let codes_only = ScoringChoice {
        states: Some(None),
        ..Default::default()
    };
    let logit = ScoringChoice {
        code: Some(genret_index::CodeScore::Logit),
        ..codes_only
    };
    // (run name, beam, scoring, row name)
    let codes_runs = if trained.index.config().scoring.code == genret_index::CodeScore::Residual {
        [
            (
                "genret.codes.residual",
                None,
                codes_only,
                "GenRet, codes only (residual code scores, every docid)",
            ),
            (
                "genret.codes.logit.beam300",
                Some(300),
                logit,
                "GenRet, codes only (the decoder's logits), beam 300",
            ),
        ]
    } else {
        [
            (
                "genret.codes.beam10",
                Some(10),
                codes_only,
                "GenRet, codes only (paper scoring), beam 10",
            ),
            (
                "genret.codes.beam100",
                Some(100),
                codes_only,
                "GenRet, codes only (paper scoring), beam 100",
            ),
        ]
    };
    let index_dir = trained.index_dir().to_path_buf();
    let mut codes_rows = Vec::new();
    for (run, beam, scoring, name) in codes_runs {
        codes_rows.push((name, genret_run(&index_dir, run, beam, scoring, None)?));
    }
    let default = genret_run(
        &index_dir,
        "genret",
        None,
        ScoringChoice::default(),
        Some(FuseWithBm25 {
            method: DEFAULT_FUSION,
            genret_weight: DEFAULT_FUSE_WEIGHT,
            bm25_weight: 1.0 - DEFAULT_FUSE_WEIGHT,
        }),
    )?;
    let hybrid = default
        .fused_outcome()
        .context("the GenRet run was not fused")?;

    let genret_bytes = default.report.index_bytes_beyond_weights;
    let wall = Some(trained.wall_secs());
    let mut rows = vec![
        Row {
            name: "BM25 (tantivy)".into(),
            build_secs: bm25.report.timings.index_s,
            index_bytes: bm25.report.index_bytes,
            outcome: bm25,
        },
        Row {
            name: "dense (same encoder, exact)".into(),
            build_secs: dense.report.timings.encode_s,
            index_bytes: dense.report.index_bytes,
            outcome: dense,
        },
        Row {
            name: "GenRet default (codes + states)".into(),
            build_secs: wall,
            index_bytes: genret_bytes,
            outcome: default,
        },
        Row {
            name: "GenRet + BM25 hybrid (default + BM25)".into(),
            build_secs: wall,
            index_bytes: genret_bytes,
            outcome: hybrid,
        },
    ];
    // The codes-only rows go between the baselines and the default.
    let codes_rows: Vec<Row> = codes_rows
        .into_iter()
        .map(|(name, outcome)| Row {
            name: name.into(),
            build_secs: wall,
            index_bytes: genret_bytes,
            outcome,
        })
        .collect();
    rows.splice(2..2, codes_rows);

    // 4. Seen vs unseen.
    let mut generalisation = None;
    if args.holdout_docs > 0.0 {
        eprintln!(
            "== 4/4 seen vs unseen: training without {:.0}% of the documents",
            100.0 * args.holdout_docs
        );
        let held = train("holdout", Some(args.holdout_docs))?;
        let outcome = genret_run(
            held.index_dir(),
            "holdout",
            None,
            ScoringChoice::default(),
            None,
        )?;
        generalisation = Some((held, outcome));
    } else {
        eprintln!("== 4/4 seen vs unseen skipped (use --holdout-docs 0.1)");
    }

    let (table, summary) = render(&args, &trained, &rows, generalisation.as_ref());
    println!("{table}");
    genret_data::write_atomically(&out.join("quickstart.md"), |w| {
        w.write_all(table.as_bytes())
    })?;
    write_json(&out.join("quickstart.json"), &summary)?;
    eprintln!(
        "wrote {} and {}",
        out.join("quickstart.md").display(),
        out.join("quickstart.json").display()
    );
    let report = super::report::write(
        out,
        &[],
        None,
        Some(&dataset.root),
        &args.split,
        genret_report::DEFAULT_WORST_QUERIES,
    )?;
    eprintln!("report: {}", report.display());
    Ok(())
}

use std::io::Write as _;

fn metric(e: &Evaluation, name: &str) -> Option<f64> {
    e.mean.get(name).copied()
}

fn cell(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}

fn human_bytes(b: Option<u64>) -> String {
    match b {
        None => "-".into(),
        Some(b) if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        Some(b) => format!("{:.0} KiB", b as f64 / 1024.0),
    }
}

/// The markdown table and its JSON twin.
fn render(
    args: &Args,
    trained: &Trained,
    rows: &[Row],
    generalisation: Option<&(Trained, Outcome)>,
) -> (String, QuickstartSummary) {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| system | {} | train/index s | index bytes | p50 ms | p99 ms |",
        COLUMNS.join(" | ")
    );
    let _ = writeln!(
        t,
        "|---|{}---:|---:|---:|---:|",
        "---:|".repeat(COLUMNS.len())
    );
    let mut summary_rows = Vec::new();
    for row in rows {
        let e = &row.outcome.evaluation;
        let timings = &row.outcome.report.timings;
        let (p50, p99) = (timings.query_p50_ms, timings.query_p99_ms);
        let cells: Vec<String> = COLUMNS.iter().map(|c| cell(metric(e, c))).collect();
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} |",
            row.name,
            cells.join(" | "),
            row.build_secs
                .map_or("cached".into(), |s| format!("{s:.1}")),
            human_bytes(row.index_bytes),
            p50.map_or("-".into(), |v| format!("{v:.2}")),
            p99.map_or("-".into(), |v| format!("{v:.2}")),
        );
        summary_rows.push(SummaryRow {
            system: row.name.clone(),
            metrics: e.mean.clone(),
            build_s: row.build_secs,
            index_bytes: row.index_bytes,
            query_p50_ms: p50,
            query_p99_ms: p99,
            num_queries: e.num_queries,
            report: Some(relative_to(&row.outcome.report_path, &args.out)),
            run: Some(relative_to(&row.outcome.report.run, &args.out)),
        });
    }
    let h = trained.health();
    let _ = writeln!(
        t,
        "\nGenRet docids: {} documents, {} distinct docids of length {}, largest collision group {}, step-1 diversity {:.3}.",
        h.n_docs,
        h.distinct_docids,
        h.docid_len,
        h.largest_collision_group,
        h.steps.first().map_or(0.0, |s| s.diversity)
    );
    let _ = writeln!(
        t,
        "Latency is per query (batch size 1) on {}; index bytes exclude the network weights.",
        args.device
    );

    let mut groups = None;
    if let Some((held, outcome)) = generalisation {
        let _ = writeln!(
            t,
            "\nSeen vs unseen (GenRet trained without {:.0}% of the documents, which were then added with the trained tokenizer; default scoring). \
             BM25 and dense columns are the same queries on the full corpus.\n",
            100.0 * args.holdout_docs
        );
        let _ = writeln!(t, "| queries | n | GenRet nDCG@10 | GenRet R@10 | GenRet R@100 | BM25 nDCG@10 | dense nDCG@10 |");
        let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|");
        let class = outcome
            .seen_unseen
            .as_ref()
            .map(|s| s.class.clone())
            .unwrap_or_default();
        let mut by_group = std::collections::BTreeMap::new();
        for group in [QueryGroup::Seen, QueryGroup::Unseen] {
            let keep = |q: &str| class.get(q) == Some(&group);
            let g = outcome.evaluation.restrict(keep);
            let b = rows[0].outcome.evaluation.restrict(keep);
            let d = rows[1].outcome.evaluation.restrict(keep);
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} | {} |",
                group.name(),
                g.num_queries,
                cell(metric(&g, "nDCG@10")),
                cell(metric(&g, "R@10")),
                cell(metric(&g, "R@100")),
                cell(metric(&b, "nDCG@10")),
                cell(metric(&d, "nDCG@10"))
            );
            by_group.insert(
                group.name().to_string(),
                GroupComparison {
                    num_queries: g.num_queries,
                    genret: g.mean,
                    bm25: b.mean,
                    dense: d.mean,
                },
            );
        }
        let _ = writeln!(
            t,
            "\nHoldout run: trained in {:.0} s; all queries: nDCG@10 {}.",
            held.wall_secs(),
            cell(metric(&outcome.evaluation, "nDCG@10"))
        );
        groups = Some(by_group);
    }
    let summary = QuickstartSummary {
        split: args.split.clone(),
        rows: summary_rows,
        docid_health: h.clone(),
        seen_unseen: groups,
        holdout_docs: args.holdout_docs,
        train_run: Some("train".into()),
    };
    (t, summary)
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
