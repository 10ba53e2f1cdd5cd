//! Shared setup of the CLI tests: a tiny random BERT, a small synthetic BEIR folder, and the
//! `genret` binary with its own cache folder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use genret_model::checkpoint::write_random_bert;
use genret_model::genret::tiny_bert_config;
use genret_train::TrainConfig;

pub fn shared_tokenizer() -> Option<PathBuf> {
    let base = std::env::var_os("GENRET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let tok = base.join("models/all-MiniLM-L6-v2/tokenizer.json");
    tok.exists().then_some(tok)
}

/// A BEIR folder of `n` short documents on a few topics (no training queries: the fallback
/// signal is used).
pub fn write_data(dir: &Path, n: usize) {
    let topics = [
        "protein folding",
        "heart disease",
        "solar energy",
        "deep learning",
        "ocean currents",
        "stock markets",
    ];
    std::fs::create_dir_all(dir).unwrap();
    let corpus: String = (0..n)
        .map(|i| {
            let t = topics[i % topics.len()];
            let doc = serde_json::json!({
                "_id": format!("d{i}"),
                "title": format!("Study {i} of {t}"),
                "text": format!("We report findings number {i} about {t}. The {t} results were significant in trial {}. Further work on {t} is planned.", i * 7),
            });
            format!("{doc}\n")
        })
        .collect();
    std::fs::write(dir.join("corpus.jsonl"), corpus).unwrap();
}

pub fn genret(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_genret"));
    cmd.env("GENRET_HOME", home).env("RUST_LOG", "warn");
    cmd
}

/// Writes a tiny random BERT under `dir/model` and a training configuration for it
/// (`dir/genret.toml`, after `tweak`); returns the configuration's path.
pub fn tiny_setup(dir: &Path, tokenizer: &Path, tweak: impl FnOnce(&mut TrainConfig)) -> PathBuf {
    let mut bert = tiny_bert_config(30522);
    bert.num_hidden_layers = 1;
    let ckpt = write_random_bert(&dir.join("model"), &bert, tokenizer, 3).unwrap();
    let mut cfg = TrainConfig::tiny();
    cfg.model.checkpoint = ckpt.spec;
    cfg.threads = 1;
    cfg.docids.codebook_size = 8;
    tweak(&mut cfg);
    let config = dir.join("genret.toml");
    std::fs::write(&config, cfg.to_toml()).unwrap();
    config
}

/// A scratch folder with the tiny model, its configuration (after `tweak`), a 48-document BEIR
/// folder and a cache folder; `None` (with a note) when the shared tokenizer is absent.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub data: PathBuf,
    pub config: PathBuf,
}

impl Fixture {
    pub fn new(tweak: impl FnOnce(&mut TrainConfig)) -> Option<Self> {
        let Some(tok) = shared_tokenizer() else {
            eprintln!("skipped: shared MiniLM tokenizer not found");
            return None;
        };
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let data = tmp.path().join("data");
        write_data(&data, 48);
        let config = tiny_setup(tmp.path(), &tok, tweak);
        Some(Self {
            tmp,
            home,
            data,
            config,
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Gives the data folder one judged test query, `q1` with `text`, relevant to document `d2`.
    pub fn add_judged_query(&self, text: &str) {
        let query = serde_json::json!({"_id": "q1", "text": text});
        std::fs::write(self.data.join("queries.jsonl"), format!("{query}\n")).unwrap();
        std::fs::create_dir_all(self.data.join("qrels")).unwrap();
        std::fs::write(
            self.data.join("qrels/test.tsv"),
            "query-id\tcorpus-id\tscore\nq1\td2\t1\n",
        )
        .unwrap();
    }
}

/// A path as a command-line argument.
pub fn arg(p: &Path) -> String {
    p.display().to_string()
}

/// Copies the files of folder `from` (an index) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
