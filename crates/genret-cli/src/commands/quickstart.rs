//! `genret quickstart`: the whole pipeline on one dataset, ending in one comparison table.
//!
//! 1. Train GenRet (docids and retriever) on the corpus and its training signal, and build the
//!    run's index (`genret train`).
//! 2. Run the BM25 baseline (`genret bm25`) and the dense baseline with the same encoder
//!    (`genret dense`) on the evaluation split.
//! 3. Search the split with the GenRet index, one query at a time so the latencies are true
//!    per-query latencies (`genret run`): codes only (the paper's scoring) at beam 10 and 100,
//!    the index's default scoring (codes + states), and that fused with BM25 (`--fuse bm25`).
//! 4. With `--holdout-docs F`: train a second model without a random fraction F of the
//!    documents, add them afterwards with the trained tokenizer, and compare the queries whose
//!    relevant documents were seen in training with those whose documents were not, for GenRet
//!    and (on the same queries) for BM25 and dense retrieval.
//!
//! Every step is the subcommand of the same name, run with arguments built here, so the table
//! shows exactly what those commands give. Everything lands in `--out`: runs, metric reports,
//! the training runs, and the table itself (`quickstart.md`, `quickstart.json`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use genret_eval::Evaluation;
use serde_json::{json, Value};

use super::common::QueryGroup;
use super::common::{args_from, write_json, DataArgs, Outcome};

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
    let data = data_argv(&args.data);
    let device = args.device.clone();

    // 1. GenRet.
    eprintln!(
        "== 1/4 training GenRet into {}",
        out.join("train").display()
    );
    let trained = super::train::execute(args_from(&train_argv(
        &args,
        &data,
        &out.join("train"),
        None,
    ))?)?;

    // 2. Baselines.
    eprintln!("== 2/4 BM25 and dense baselines");
    let mut bm25_argv = data.clone();
    bm25_argv.extend(strs(&[
        "--split",
        &args.split,
        "--out",
        &p(&out.join("bm25.trec")),
        "--metrics-out",
        &p(&out.join("bm25.json")),
        "-m",
        METRICS,
    ]));
    if args.fresh_baselines {
        bm25_argv.push("--rebuild".into());
    }
    let bm25 = super::bm25::execute(args_from(&bm25_argv)?)?;
    let model = match &args.model {
        Some(m) => m.clone(),
        None => {
            super::train::load_config(&args_from(&train_argv(
                &args,
                &data,
                &out.join("train"),
                None,
            ))?)?
            .model
            .checkpoint
        }
    };
    let mut dense_argv = data.clone();
    dense_argv.extend(strs(&[
        "--model",
        &model,
        "--split",
        &args.split,
        "--out",
        &p(&out.join("dense.trec")),
        "--metrics-out",
        &p(&out.join("dense.json")),
        "-m",
        METRICS,
    ]));
    dense_argv.extend(strs(&[
        "--device",
        if device == "auto" || device == "cpu" {
            device.as_str()
        } else {
            "cuda"
        },
    ]));
    if args.fresh_baselines {
        dense_argv.push("--rebuild".into());
    }
    let dense = super::dense::execute(args_from(&dense_argv)?)?;

    // 3. GenRet search at two beam widths, one query at a time.
    eprintln!("== 3/4 GenRet search");
    let genret_run = |index: &Path,
                      beam: Option<usize>,
                      name: &str,
                      extra: &[&str]|
     -> anyhow::Result<Outcome> {
        let mut argv = data.clone();
        argv.extend(strs(&[
            "--index",
            &p(index),
            "--split",
            &args.split,
            "--out",
            &p(&out.join(format!("{name}.trec"))),
        ]));
        if let Some(beam) = beam {
            argv.extend(strs(&["--beam", &beam.to_string()]));
        }
        argv.extend(strs(&[
            "--depth",
            "100",
            "--batch-size",
            "1",
            "--device",
            &device,
            "-m",
            METRICS,
        ]));
        argv.extend(strs(extra));
        super::run::execute(args_from(&argv)?)
    };
    // The paper's scoring (codes only), the index's default (codes + states), and the hybrid.
    let b10 = genret_run(
        &trained.index_dir,
        Some(10),
        "genret.codes.beam10",
        &["--scoring", "codes"],
    )?;
    let b100 = genret_run(
        &trained.index_dir,
        Some(100),
        "genret.codes.beam100",
        &["--scoring", "codes"],
    )?;
    let default = genret_run(
        &trained.index_dir,
        None,
        "genret",
        &[
            "--fuse",
            "bm25",
            "--fuse-weight",
            &super::train::DEFAULT_FUSE_WEIGHT.to_string(),
        ],
    )?;
    let hybrid = fused_outcome(&default)?;

    let bytes = |o: &Outcome, key: &str| o.report[key].as_u64();
    let secs = |v: &Value| v.as_f64();
    let genret_bytes = bytes(&default, "index_bytes_beyond_weights");
    let rows = vec![
        Row {
            name: "BM25 (tantivy)".into(),
            build_secs: secs(&bm25.report["timings"]["index_s"]),
            index_bytes: bytes(&bm25, "index_bytes"),
            outcome: bm25,
        },
        Row {
            name: "dense (same encoder, exact)".into(),
            build_secs: secs(&dense.report["timings"]["encode_s"]),
            index_bytes: bytes(&dense, "index_bytes"),
            outcome: dense,
        },
        Row {
            name: "GenRet, codes only (paper scoring), beam 10".into(),
            build_secs: Some(trained.wall_secs),
            index_bytes: genret_bytes,
            outcome: b10,
        },
        Row {
            name: "GenRet, codes only (paper scoring), beam 100".into(),
            build_secs: Some(trained.wall_secs),
            index_bytes: genret_bytes,
            outcome: b100,
        },
        Row {
            name: "GenRet default (codes + states)".into(),
            build_secs: Some(trained.wall_secs),
            index_bytes: genret_bytes,
            outcome: default,
        },
        Row {
            name: "GenRet + BM25 hybrid (default + BM25)".into(),
            build_secs: Some(trained.wall_secs),
            index_bytes: genret_bytes,
            outcome: hybrid,
        },
    ];

    // 4. Seen vs unseen.
    let mut generalisation = None;
    if args.holdout_docs > 0.0 {
        eprintln!(
            "== 4/4 seen vs unseen: training without {:.0}% of the documents",
            100.0 * args.holdout_docs
        );
        let held = super::train::execute(args_from(&train_argv(
            &args,
            &data,
            &out.join("holdout"),
            Some(args.holdout_docs),
        ))?)?;
        let outcome = genret_run(&held.index_dir, None, "holdout", &[])?;
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
    Ok(())
}

use std::io::Write as _;

/// The hybrid row of a `genret run --fuse` outcome: its fused evaluation and latencies.
fn fused_outcome(o: &Outcome) -> anyhow::Result<Outcome> {
    let evaluation = o.fused.clone().context("the GenRet run was not fused")?;
    let mut report = o.report.clone();
    report["timings"] = o.report["fused"]["timings"].clone();
    Ok(Outcome {
        evaluation,
        report,
        groups: o.groups.clone(),
        fused: None,
    })
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// `--dataset NAME` or `--data DIR` (SciFact by name when neither is given).
fn data_argv(data: &DataArgs) -> Vec<String> {
    match (&data.dataset, &data.data) {
        (_, Some(dir)) => strs(&["--data", &p(dir)]),
        (Some(name), None) => strs(&["--dataset", name]),
        (None, None) => strs(&["--dataset", "scifact"]),
    }
}

fn train_argv(args: &Args, data: &[String], out: &Path, holdout: Option<f64>) -> Vec<String> {
    let mut argv = data.to_vec();
    argv.extend(strs(&["--out", &p(out), "--device", &args.device]));
    if let Some(m) = &args.model {
        argv.extend(strs(&["--model", m]));
    }
    if let Some(c) = &args.config {
        argv.extend(strs(&["--config", &p(c)]));
    }
    if let Some(s) = args.seed {
        argv.extend(strs(&["--seed", &s.to_string()]));
    }
    if let Some(t) = args.threads {
        argv.extend(strs(&["--threads", &t.to_string()]));
    }
    if let Some(h) = holdout {
        argv.extend(strs(&["--holdout-docs", &h.to_string()]));
    }
    if args.resume {
        argv.push("--resume".into());
    }
    argv
}

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
    trained: &super::train::Trained,
    rows: &[Row],
    generalisation: Option<&(super::train::Trained, Outcome)>,
) -> (String, Value) {
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
    let mut json_rows = Vec::new();
    for row in rows {
        let e = &row.outcome.evaluation;
        let timings = &row.outcome.report["timings"];
        let (p50, p99) = (
            timings["query_p50_ms"].as_f64(),
            timings["query_p99_ms"].as_f64(),
        );
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
        json_rows.push(json!({ "system": row.name, "metrics": e.mean, "build_s": row.build_secs, "index_bytes": row.index_bytes, "query_p50_ms": p50, "query_p99_ms": p99, "num_queries": e.num_queries }));
    }
    let h = &trained.health;
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

    let mut json_groups = Value::Null;
    if let Some((held, outcome)) = generalisation {
        let _ = writeln!(
            t,
            "\nSeen vs unseen (GenRet trained without {:.0}% of the documents, which were then added with the trained tokenizer; default scoring). \
             BM25 and dense columns are the same queries on the full corpus.\n",
            100.0 * args.holdout_docs
        );
        let _ = writeln!(t, "| queries | n | GenRet nDCG@10 | GenRet R@10 | GenRet R@100 | BM25 nDCG@10 | dense nDCG@10 |");
        let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|");
        let class = outcome.groups.clone().unwrap_or_default();
        let mut j = serde_json::Map::new();
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
            j.insert(group.name().into(), json!({ "num_queries": g.num_queries, "genret": g.mean, "bm25": b.mean, "dense": d.mean }));
        }
        let _ = writeln!(
            t,
            "\nHoldout run: trained in {:.0} s; all queries: nDCG@10 {}.",
            held.wall_secs,
            cell(metric(&outcome.evaluation, "nDCG@10"))
        );
        json_groups = Value::Object(j);
    }
    let summary = json!({
        "split": args.split,
        "rows": json_rows,
        "docid_health": trained.health,
        "seen_unseen": json_groups,
        "holdout_docs": args.holdout_docs,
    });
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
