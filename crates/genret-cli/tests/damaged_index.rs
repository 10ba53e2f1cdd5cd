//! A damaged index is refused, by name, by every command that reads it: each index file in turn
//! is truncated, given random bytes, swapped with another or edited, and `search`, `run`,
//! `index add` and `index verify` must all exit non-zero, name the file, and print no result.
//! Skipped when the shared MiniLM tokenizer is absent.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{arg as s, copy_dir, genret, Fixture};

/// Overwrites `len` bytes at the middle of `path` with a fixed pseudo-random pattern.
fn scribble(path: &Path, len: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let start = bytes.len() / 2;
    let mut x = 0x9E37_79B9_u32;
    for b in &mut bytes[start..start + len] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(path, bytes).unwrap();
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

struct Commands<'a> {
    fx: &'a Fixture,
    new_docs: PathBuf,
}

impl Commands<'_> {
    fn all(&self, index: &Path) -> Vec<(&'static str, Output)> {
        let home = &self.fx.home;
        let run_out = self.fx.path("run.trec");
        vec![
            (
                "search",
                genret(home)
                    .args([
                        "search",
                        "--device",
                        "cpu",
                        "--json",
                        "--index",
                        &s(index),
                        "solar energy",
                    ])
                    .output()
                    .unwrap(),
            ),
            (
                "run",
                genret(home)
                    .args([
                        "run",
                        "--device",
                        "cpu",
                        "--index",
                        &s(index),
                        "--data",
                        &s(&self.fx.data),
                        "--split",
                        "test",
                        "--out",
                        &s(&run_out),
                    ])
                    .output()
                    .unwrap(),
            ),
            (
                "index add",
                genret(home)
                    .args([
                        "index",
                        "add",
                        "--device",
                        "cpu",
                        "--index",
                        &s(index),
                        "--docs",
                        &s(&self.new_docs),
                    ])
                    .output()
                    .unwrap(),
            ),
            (
                "index verify",
                genret(home)
                    .args(["index", "verify", "--index", &s(index)])
                    .output()
                    .unwrap(),
            ),
        ]
    }
}

#[test]
fn every_command_refuses_a_damaged_index_and_names_the_file() {
    let Some(fx) = Fixture::new(|_| {}) else {
        return;
    };
    // Judged queries, so that `genret run` has something to run.
    fx.add_judged_query("solar energy");
    let new_docs = fx.path("new.jsonl");
    std::fs::write(&new_docs, "{\"_id\": \"n1\", \"title\": \"Solar cells\", \"text\": \"A new study of solar energy.\"}\n").unwrap();
    let train = genret(&fx.home)
        .args([
            "train",
            "--device",
            "cpu",
            "--data",
            &s(&fx.data),
            "--config",
            &s(&fx.config),
            "--out",
            &s(&fx.path("run")),
        ])
        .output()
        .unwrap();
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let sound = fx.path("run/index");
    let cmds = Commands { fx: &fx, new_docs };

    // A copy of the sound index: every command works on it, and verify says ok.
    let copy = fx.path("sound-copy");
    copy_dir(&sound, &copy);
    for (name, out) in cmds.all(&copy) {
        assert!(
            out.status.success(),
            "{name} on the sound index: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = genret(&fx.home)
        .args(["index", "verify", "--index", &s(&copy)])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with(": ok\n"),
        "after an add, the index still verifies"
    );

    type Damage = fn(&Path);
    let cases: [(&str, &str, Damage); 7] = [
        ("weights truncated", "model.safetensors", |d| {
            truncate(&d.join("model.safetensors"))
        }),
        (
            "random bytes in a weight tensor",
            "model.safetensors",
            |d| scribble(&d.join("model.safetensors"), 64),
        ),
        ("tokenizer truncated", "tokenizer.json", |d| {
            truncate(&d.join("tokenizer.json"))
        }),
        ("configuration edited (K)", "index.json", |d| {
            let p = d.join("index.json");
            let text = std::fs::read_to_string(&p).unwrap();
            let edited = text.replacen("\"codebook_size\": 8", "\"codebook_size\": 4", 1);
            assert_ne!(text, edited, "the fixture's index has K = 8");
            std::fs::write(p, edited).unwrap();
        }),
        ("configuration and tokenizer swapped", "index.json", |d| {
            let (a, b) = (d.join("index.json"), d.join("tokenizer.json"));
            let (ta, tb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
            std::fs::write(&a, tb).unwrap();
            std::fs::write(&b, ta).unwrap();
        }),
        ("store truncated", "store.sqlite", |d| {
            truncate(&d.join("store.sqlite"))
        }),
        ("store header overwritten", "store.sqlite", |d| {
            let p = d.join("store.sqlite");
            let mut bytes = std::fs::read(&p).unwrap();
            bytes[..16].copy_from_slice(b"not a database!!");
            std::fs::write(p, bytes).unwrap();
        }),
    ];
    for (i, (case, file, damage)) in cases.iter().enumerate() {
        let dir = fx.path(&format!("damaged-{i}"));
        copy_dir(&sound, &dir);
        damage(&dir);
        for (name, out) in cmds.all(&dir) {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.status.success(), "{case}: {name} exited 0: {text}");
            assert!(
                text.contains(file),
                "{case}: {name} does not name {file}: {text}"
            );
            if name == "search" {
                assert!(
                    out.stdout.is_empty(),
                    "{case}: search printed results: {text}"
                );
            }
        }
    }

    // An index without checksums (written by an older genret) still opens, with a warning;
    // verify reports the missing file.
    let old = fx.path("old");
    copy_dir(&sound, &old);
    std::fs::remove_file(old.join("checksums.json")).unwrap();
    let out = genret(&fx.home)
        .args([
            "search",
            "--device",
            "cpu",
            "--index",
            &s(&old),
            "solar energy",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = genret(&fx.home)
        .args(["index", "verify", "--index", &s(&old)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("checksums.json: missing"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
