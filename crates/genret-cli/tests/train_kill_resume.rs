//! `genret train` killed with SIGKILL at several points and continued with `--resume` ends with
//! exactly the docids of an uninterrupted run with the same seed; then the run's index answers
//! `genret search` and takes new documents with `genret index add`.
//!
//! A tiny random BERT (built here) trains on a small synthetic BEIR folder, so the run takes a
//! few seconds; kills land after a varying number of new lines in `metrics.jsonl`, i.e. inside
//! epochs, between units and (by chance) during checkpoint writes. Skipped when the shared
//! MiniLM tokenizer is absent.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{genret, Fixture};

fn train_args(fx: &Fixture, out: &Path) -> Vec<String> {
    [
        "train",
        "--data",
        &fx.data.display().to_string(),
        "--config",
        &fx.config.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--device",
        "cpu",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn metric_lines(run: &Path) -> usize {
    std::fs::read_to_string(run.join("metrics.jsonl")).map_or(0, |s| s.lines().count())
}

/// Starts `genret train` (resuming when asked) and kills it with SIGKILL once `metrics.jsonl`
/// has grown by `after_lines` lines. Returns false when the run finished first.
fn train_and_kill(
    home: &Path,
    args: &[String],
    run: &Path,
    resume: bool,
    after_lines: usize,
) -> bool {
    let before = metric_lines(run);
    let mut cmd = genret(home);
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
    if resume {
        cmd.arg("--resume");
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "training failed before it could be killed"
            );
            return false;
        }
        if metric_lines(run) >= before + after_lines {
            child.kill().unwrap(); // SIGKILL on Unix: no cleanup runs.
            child.wait().unwrap();
            return true;
        }
        assert!(Instant::now() < deadline, "training made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn docids(run: &Path) -> String {
    std::fs::read_to_string(run.join("docids.tsv")).unwrap()
}

#[test]
fn killed_training_resumes_to_the_same_docids_and_the_index_takes_new_documents() {
    let Some(fx) = Fixture::new(|cfg| {
        cfg.schedule.main_epochs = 2;
        cfg.schedule.log_every = 1;
    }) else {
        return;
    };

    // Uninterrupted reference run.
    let reference = fx.path("reference");
    let out = genret(&fx.home)
        .args(train_args(&fx, &reference))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = docids(&reference);
    assert_eq!(expected.lines().count(), 48);

    // The same run, killed repeatedly at different depths, resumed each time.
    let run = fx.path("killed");
    let args = train_args(&fx, &run);
    let mut kills = 0;
    for (i, after) in [3, 7, 1, 12, 5, 2, 9].into_iter().enumerate() {
        if !train_and_kill(&fx.home, &args, &run, i > 0, after) {
            break;
        }
        kills += 1;
    }
    assert!(
        kills >= 3,
        "the run finished before it was killed three times ({kills})"
    );
    let out = genret(&fx.home)
        .args(&args)
        .arg("--resume")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        docids(&run),
        expected,
        "resumed run ended with other docids"
    );

    // Without --resume an existing run is refused, not overwritten.
    let out = genret(&fx.home).args(&args).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));

    // The index answers queries and takes new documents without retraining.
    let index = run.join("index");
    let out = genret(&fx.home)
        .args([
            "search",
            "--index",
            &index.display().to_string(),
            "--device",
            "cpu",
            "--json",
            "solar energy findings",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        hits[0]["hits"].as_array().is_some_and(|h| !h.is_empty()),
        "{hits}"
    );
    let new_docs = fx.path("new.jsonl");
    std::fs::write(&new_docs, "{\"_id\": \"n1\", \"title\": \"Solar cells\", \"text\": \"A new study of solar energy.\"}\n").unwrap();
    let out = genret(&fx.home)
        .args([
            "index",
            "add",
            "--index",
            &index.display().to_string(),
            "--docs",
            &new_docs.display().to_string(),
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = genret(&fx.home)
        .args([
            "index",
            "info",
            "--index",
            &index.display().to_string(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["num_docs"], 49, "{info}");
}
