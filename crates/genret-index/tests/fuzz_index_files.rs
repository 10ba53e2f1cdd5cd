//! Property-based fuzzing of the index's own files: each case takes a sound tiny index, replaces
//! one file (configuration, checksums, tokenizer, weights, or a stored docid) with random bytes
//! or a random edit of itself, and opens and searches it. It must give results or an error,
//! never a panic or a hang; half the cases drop the checksums first, so that the parsers behind
//! them are reached too.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use genret_index::testing::{tiny_index, ScratchDir};
use genret_index::Index;
use proptest::prelude::*;

/// One sound index for every case (copied per case).
fn sound() -> &'static PathBuf {
    static DIR: OnceLock<(ScratchDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let tmp = ScratchDir::new("fuzz-index").unwrap();
        let (index, path) = tiny_index(tmp.path(), "idx", 12).unwrap();
        drop(index);
        (tmp, path)
    })
    .1
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

const FILES: [&str; 4] = [
    "index.json",
    "checksums.json",
    "tokenizer.json",
    "model.safetensors",
];

#[derive(Debug, Clone)]
enum Damage {
    Replace(Vec<u8>),
    Edit(Vec<(prop::sample::Index, u8, u8)>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400).prop_map(Damage::Replace),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..6)
            .prop_map(Damage::Edit),
    ]
}

fn apply(bytes: &[u8], d: &Damage, header_only: bool) -> Vec<u8> {
    match d {
        Damage::Replace(b) => b.clone(),
        Damage::Edit(edits) => {
            let mut b = bytes.to_vec();
            // Weights: edit the header (the tensors' bytes are the checksums' job).
            let span = if header_only {
                b.len().min(2048)
            } else {
                b.len()
            };
            for (at, op, byte) in edits {
                if b.is_empty() {
                    b.push(*byte);
                    continue;
                }
                let i = at.index(span.clamp(1, b.len()));
                match op {
                    0 => b[i] = *byte,
                    1 => b.insert(i, *byte),
                    2 => {
                        b.remove(i);
                    }
                    _ => b.truncate(i),
                }
            }
            b
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    #[test]
    fn damaged_index_files_give_an_error_or_an_answer(file in 0usize..FILES.len(), d in damage(), keep_checksums in any::<bool>()) {
        let tmp = ScratchDir::new("fuzz-case").unwrap();
        let dir = tmp.path().join("idx");
        copy_dir(sound(), &dir);
        if !keep_checksums {
            std::fs::remove_file(dir.join("checksums.json")).unwrap();
        }
        let target = dir.join(FILES[file]);
        let before = std::fs::read(&target).unwrap_or_default();
        std::fs::write(&target, apply(&before, &d, FILES[file] == "model.safetensors")).unwrap();
        match Index::open(&dir, tch::Device::Cpu) {
            Ok(index) => {
                // Whatever opened must answer or refuse, with finite scores only.
                if let Ok(hits) = index.search(&["alpha bravo"], 5, 5) {
                    prop_assert!(hits[0].iter().all(|h| h.score.is_finite()));
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                prop_assert!(!msg.is_empty());
            }
        }
        let _ = genret_index::integrity::verify(&dir);
    }
}
