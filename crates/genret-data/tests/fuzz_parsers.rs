//! Property-based fuzzing of every parser that reads a user's file: corpus and queries JSONL
//! (plain and gzip), qrels (BEIR TSV and TREC) and TREC runs. Any input must give a value or an
//! error that names the file, never a panic or a hang.
//!
//! Inputs are random bytes and random edits (bytes flipped, inserted, deleted; lines cut) of a
//! valid sample. CI runs proptest's default 256 cases per target; `bench/fuzz/run.sh` runs the
//! longer campaign (`PROPTEST_CASES`) and reports what it tried.

use std::io::Write;
use std::path::Path;

use proptest::prelude::*;

const CORPUS: &str = "{\"_id\": \"d1\", \"title\": \"Scurvy\", \"text\": \"Vitamin C deficiency.\"}\n{\"_id\": \"d2\", \"title\": \"\", \"text\": \"Rickets and \\u00e9 vitamin D\", \"metadata\": {}}\n";
const QUERIES: &str = "{\"_id\": \"q1\", \"text\": \"what causes scurvy\"}\n{\"_id\": \"q2\", \"text\": \"vitamin d\", \"metadata\": {\"x\": 1}}\n";
const QRELS_BEIR: &str = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\n";
const QRELS_TREC: &str = "q1 0 d1 1\nq2 0 d2 2\n";
const RUN: &str = "q1 Q0 d1 1 12.5 genret\nq1 Q0 d2 2 3.25 genret\nq2 Q0 d2 1 -1e3 genret\n";

/// Random bytes, or a valid sample after random edits.
fn input(sample: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 0..8);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        edits.prop_map(move |edits| {
            let mut b = sample.as_bytes().to_vec();
            for (at, op, byte) in edits {
                let i = at.index(b.len().max(1));
                match op {
                    0 if !b.is_empty() => {
                        let last = b.len() - 1;
                        b[i.min(last)] = byte;
                    }
                    1 => b.insert(i.min(b.len()), byte),
                    2 if !b.is_empty() => {
                        let last = b.len() - 1;
                        b.remove(i.min(last));
                    }
                    _ => b.truncate(i),
                }
            }
            b
        }),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// An error must name the file it is about.
fn names_file<T>(r: Result<T, genret_data::DataError>, name: &str) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        let msg = e.to_string();
        prop_assert!(msg.contains(name), "error does not name {name}: {msg}");
    }
    Ok(())
}

proptest! {
    #[test]
    fn corpus_jsonl(bytes in input(CORPUS)) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "corpus.jsonl", &bytes);
        names_file(genret_data::Corpus::load(&p), "corpus.jsonl")?;
    }

    #[test]
    fn corpus_jsonl_gz(bytes in input(CORPUS), compress in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let data = if compress { gzip(&bytes) } else { bytes };
        let p = write(dir.path(), "corpus.jsonl.gz", &data);
        names_file(genret_data::Corpus::load(&p), "corpus.jsonl.gz")?;
    }

    #[test]
    fn queries_jsonl(bytes in input(QUERIES)) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "queries.jsonl", &bytes);
        names_file(genret_data::Queries::load(&p), "queries.jsonl")?;
    }

    #[test]
    fn qrels_beir_tsv(bytes in input(QRELS_BEIR)) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "test.tsv", &bytes);
        names_file(genret_data::Qrels::load(&p), "test.tsv")?;
    }

    #[test]
    fn qrels_trec(bytes in input(QRELS_TREC)) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "qrels.txt", &bytes);
        names_file(genret_data::Qrels::load(&p), "qrels.txt")?;
    }

    #[test]
    fn trec_run(bytes in input(RUN)) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "run.trec", &bytes);
        names_file(genret_data::Run::load(&p), "run.trec")?;
    }
}
