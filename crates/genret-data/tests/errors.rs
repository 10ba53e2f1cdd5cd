//! Malformed input: every case is an error naming the file, the line and (where there is one)
//! the field, never a panic.

use std::io::Write;
use std::path::{Path, PathBuf};

use genret_data::{Corpus, CorpusReader, DataError, Dataset, Qrels, QrelsFormat, Queries, Run};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Asserts that the message names the file and each of `parts`.
fn assert_names(err: &DataError, path: &Path, parts: &[&str]) {
    let msg = err.to_string();
    let file = path.file_name().unwrap().to_str().unwrap();
    assert!(msg.contains(file), "`{msg}` does not name the file {file}");
    for p in parts {
        assert!(msg.contains(p), "`{msg}` does not contain `{p}`");
    }
}

const GOOD_DOC: &str = r#"{"_id": "d1", "title": "T", "text": "one"}"#;

#[test]
fn corpus_bad_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "corpus.jsonl",
        format!("{GOOD_DOC}\n{{\"_id\": \"d2\", \"text\": \n").as_bytes(),
    );
    let err = Corpus::load(&p).unwrap_err();
    assert!(matches!(err, DataError::Json { .. }), "{err:?}");
    assert_names(&err, &p, &[":2", "invalid JSON"]);
}

#[test]
fn corpus_not_an_object() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "corpus.jsonl", b"[1, 2]\n");
    let err = Corpus::load(&p).unwrap_err();
    assert_names(&err, &p, &[":1", "JSON object"]);
}

#[test]
fn corpus_field_of_wrong_type_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "corpus.jsonl",
        format!("{GOOD_DOC}\n{{\"_id\": \"d2\", \"title\": 7, \"text\": \"x\"}}\n").as_bytes(),
    );
    let err = Corpus::load(&p).unwrap_err();
    assert_names(&err, &p, &[":2", "title", "a number"]);
}

#[test]
fn corpus_missing_id() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        format!("{GOOD_DOC}\n{{\"_id\": \"d0\", \"text\": \"zero\"}}\n{{\"text\": \"no id\"}}\n");
    let p = write(dir.path(), "corpus.jsonl", text.as_bytes());
    let err = Corpus::load(&p).unwrap_err();
    assert_names(&err, &p, &[":3", "_id", "missing"]);
}

#[test]
fn corpus_duplicate_id_names_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{GOOD_DOC}\n{{\"_id\": \"d2\", \"text\": \"two\"}}\n{GOOD_DOC}\n");
    let p = write(dir.path(), "corpus.jsonl", text.as_bytes());
    let err = Corpus::load(&p).unwrap_err();
    assert!(
        matches!(err, DataError::DuplicateId { first_line: 1, .. }),
        "{err:?}"
    );
    assert_names(&err, &p, &[":3", "_id", "d1", "line 1"]);
}

#[test]
fn queries_duplicate_id_names_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "queries.jsonl",
        b"{\"_id\": \"q1\", \"text\": \"a\"}\n{\"_id\": \"q2\", \"text\": \"b\"}\n\n{\"_id\": \"q2\", \"text\": \"c\"}\n",
    );
    let err = Queries::load(&p).unwrap_err();
    assert_names(&err, &p, &[":4", "_id", "q2", "line 2"]);
}

#[test]
fn queries_missing_id() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "queries.jsonl",
        b"{\"_id\": \"q1\", \"text\": \"a\"}\n{\"text\": \"b\"}\n",
    );
    let err = Queries::load(&p).unwrap_err();
    assert_names(&err, &p, &[":2", "_id"]);
}

#[test]
fn corpus_empty_text() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "corpus.jsonl",
        format!("{GOOD_DOC}\n{{\"_id\": \"d2\", \"title\": \"\", \"text\": \"  \"}}\n").as_bytes(),
    );
    let err = Corpus::load(&p).unwrap_err();
    assert_names(&err, &p, &[":2", "text", "empty"]);
}

#[test]
fn corpus_title_only_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "corpus.jsonl",
        b"{\"_id\": \"d1\", \"title\": \"only a title\", \"text\": \"\"}\n",
    );
    assert_eq!(Corpus::load(&p).unwrap().len(), 1);
}

#[test]
fn queries_empty_text() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "queries.jsonl",
        b"{\"_id\": \"q1\", \"text\": \"a\"}\n{\"_id\": \"q2\", \"text\": \"\"}\n",
    );
    let err = Queries::load(&p).unwrap_err();
    assert_names(&err, &p, &[":2", "text", "empty"]);
}

#[test]
fn corpus_invalid_utf8_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = format!("{GOOD_DOC}\n{{\"_id\": \"d2\", \"text\": \"caf").into_bytes();
    bytes.extend_from_slice(&[0xC3, 0x28]); // a broken two-byte sequence
    bytes.extend_from_slice(b"\"}\n");
    let p = write(dir.path(), "corpus.jsonl", &bytes);
    let err = Corpus::load(&p).unwrap_err();
    assert_names(&err, &p, &[":2", "UTF-8"]);
}

#[test]
fn empty_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "corpus.jsonl", b"");
    let err = Corpus::load(&corpus).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    assert_names(&err, &corpus, &["empty"]);

    let blank = write(dir.path(), "queries.jsonl", b"\n  \n\r\n");
    assert_names(&Queries::load(&blank).unwrap_err(), &blank, &["empty"]);

    let qrels = write(dir.path(), "qrels/test.tsv", b"");
    assert_names(&Qrels::load(&qrels).unwrap_err(), &qrels, &["empty"]);

    let run = write(dir.path(), "run.txt", b"");
    assert_names(&Run::load(&run).unwrap_err(), &run, &["empty"]);

    let gz_empty = write(dir.path(), "c.jsonl.gz", &gz(b""));
    assert_names(&Corpus::load(&gz_empty).unwrap_err(), &gz_empty, &["empty"]);
}

#[test]
fn gzip_corpus_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "corpus.jsonl.gz",
        &gz(format!("{GOOD_DOC}\n{{\"_id\": 2, \"text\": \"two\"}}\n").as_bytes()),
    );
    let corpus = Corpus::load(&p).unwrap();
    assert_eq!(corpus.len(), 2);
    assert_eq!(corpus.get(1).unwrap().id, "2");
}

/// MultiGzDecoder reports a stream cut short as an `UnexpectedEof` I/O error; the reader must
/// surface it (with the file and the line it was reading) rather than end early with fewer
/// documents. Every cut point past the gzip header is tried.
#[test]
fn gzip_cut_short_is_an_error_not_fewer_docs() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..400)
        .map(|i| {
            format!(
                "{{\"_id\": \"d{i}\", \"text\": \"document number {i} {}\"}}\n",
                "x".repeat(i % 37)
            )
        })
        .collect();
    let full = gz(text.as_bytes());
    assert_eq!(
        Corpus::load(write(dir.path(), "whole.jsonl.gz", &full))
            .unwrap()
            .len(),
        400
    );
    let mut cuts: Vec<usize> = (1..full.len()).step_by(97).collect();
    cuts.extend([
        full.len() - 1,
        full.len() - 4,
        full.len() - 8,
        full.len() / 2,
        5,
        10,
    ]);
    for cut in cuts {
        let p = write(dir.path(), "corpus.jsonl.gz", &full[..cut]);
        match CorpusReader::open(&p).and_then(|r| r.collect::<Result<Vec<_>, _>>()) {
            Ok(docs) => panic!(
                "cut at {cut} of {} bytes read {} docs without an error",
                full.len(),
                docs.len()
            ),
            Err(err) => {
                let msg = err.to_string();
                assert!(msg.contains("corpus.jsonl.gz"), "{msg}");
                assert!(
                    msg.contains("cut short") || msg.contains("corrupt"),
                    "cut {cut}: {msg}"
                );
            }
        }
    }
}

#[test]
fn crlf_line_ends_and_numeric_ids_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(
        dir.path(),
        "corpus.jsonl",
        b"\xEF\xBB\xBF{\"_id\": 12, \"text\": \"a\"}\r\n{\"_id\": \"13\", \"text\": \"b\"}\r\n",
    );
    let corpus = Corpus::load(&corpus).unwrap();
    assert_eq!(
        corpus
            .documents()
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>(),
        ["12", "13"]
    );
    assert_eq!(corpus.by_id("13").unwrap().text, "b");

    let queries = write(
        dir.path(),
        "queries.jsonl",
        b"{\"_id\": 1, \"text\": \"q\"}\r\n",
    );
    assert_eq!(Queries::load(&queries).unwrap().get("1").unwrap().text, "q");

    let qrels = write(
        dir.path(),
        "qrels/test.tsv",
        b"query-id\tcorpus-id\tscore\r\n1\t12\t1\r\n1\t13\t0\r\n",
    );
    let qrels = Qrels::load(&qrels).unwrap();
    assert_eq!(qrels.query("1").unwrap().get("12"), Some(&1));
    assert_eq!(qrels.num_judgements(), 2);

    let run = write(dir.path(), "run.txt", b"1 Q0 12 1 2.5 t\r\n");
    assert_eq!(Run::load(&run).unwrap().get("1").unwrap()[0].score, 2.5);
}

#[test]
fn beir_qrels_wrong_column_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "qrels/test.tsv",
        b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\n",
    );
    let err = Qrels::load(&p).unwrap_err();
    assert_names(&err, &p, &[":3", "3 tab-separated columns", "found 2"]);
}

#[test]
fn trec_qrels_wrong_column_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "qrels.txt", b"q1 0 d1 1\nq1 0 d2 1 extra\n");
    let err = Qrels::load(&p).unwrap_err();
    assert_names(&err, &p, &[":2", "4 columns", "found 5"]);
    let p = write(dir.path(), "qrels2.txt", b"q1 0 d1\n");
    let err = Qrels::load_format(&p, QrelsFormat::Trec).unwrap_err();
    assert_names(&err, &p, &[":1", "4 columns", "found 3"]);
}

#[test]
fn qrels_non_numeric_score() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "qrels/test.tsv",
        b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\thigh\n",
    );
    let err = Qrels::load(&p).unwrap_err();
    assert_names(&err, &p, &[":3", "score", "high"]);
    let p = write(dir.path(), "qrels.txt", b"q1 0 d1 1.5\n");
    assert_names(&Qrels::load(&p).unwrap_err(), &p, &[":1", "score"]);
}

/// A folder holding a small dataset: d1..d3, q1..q2, and `qrels` as the test split.
fn dataset(dir: &Path, qrels: &str) -> Dataset {
    write(dir, "corpus.jsonl", b"{\"_id\":\"d1\",\"text\":\"a\"}\n{\"_id\":\"d2\",\"text\":\"b\"}\n{\"_id\":\"d3\",\"text\":\"c\"}\n");
    write(dir, "queries.jsonl", b"{\"_id\":\"q1\",\"text\":\"x\"}\n{\"_id\":\"q2\",\"text\":\"y\"}\n{\"_id\":\"q3\",\"text\":\"z\"}\n");
    write(dir, "qrels/test.tsv", qrels.as_bytes());
    Dataset::from_dir(dir).unwrap()
}

const QRELS_WITH_UNKNOWNS: &str =
    "query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td1\t1\nq9\td2\t1\nq2\td7\t1\nq2\td2\t2\n";

#[test]
fn qrels_unknown_refs_warn_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), QRELS_WITH_UNKNOWNS);
    let split = ds.load_split("test", false).unwrap();
    assert_eq!(split.unknown.unknown_queries, 1);
    assert_eq!(split.unknown.unknown_documents, 1);
    assert_eq!(split.unknown.dropped_rows, 2);
    // The judgement of the unknown document d7 is kept, as BEIR's evaluation keeps it.
    assert_eq!(split.qrels.num_judgements(), 3);
    assert_eq!(split.qrels.query("q2").unwrap().get("d7"), Some(&1));
    assert!(!split.qrels.contains_query("q9"));
    // Only judged queries, in file order; q3 has no judgements.
    assert_eq!(
        split
            .queries
            .iter()
            .map(|q| q.id.as_str())
            .collect::<Vec<_>>(),
        ["q1", "q2"]
    );
    assert_eq!(split.corpus.len(), 3);

    let (qrels, unknown) = ds
        .load_qrels(
            "test",
            &ds.load_queries().unwrap(),
            &ds.load_corpus().unwrap(),
            false,
        )
        .unwrap();
    assert_eq!(unknown, split.unknown);
    assert_eq!(qrels, split.qrels);
}

#[test]
fn qrels_unknown_query_is_an_error_under_strict() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), QRELS_WITH_UNKNOWNS);
    let err = ds.load_split("test", true).unwrap_err();
    assert_names(
        &err,
        &ds.qrels_path("test"),
        &["test.tsv:3", "query-id", "q9"],
    );
}

#[test]
fn qrels_unknown_document_is_an_error_under_strict() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(
        dir.path(),
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td7\t1\n",
    );
    let err = ds.load_split("test", true).unwrap_err();
    assert_names(
        &err,
        &ds.qrels_path("test"),
        &["test.tsv:3", "corpus-id", "d7"],
    );
}

#[test]
fn missing_split_lists_the_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), "query-id\tcorpus-id\tscore\nq1\td1\t1\n");
    let err = ds.load_split("dev", false).unwrap_err().to_string();
    assert!(
        err.contains("dev") && err.contains("available: test"),
        "{err}"
    );
}

#[test]
fn missing_data_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Dataset::from_dir(dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope") && err.contains("no such folder"),
        "{err}"
    );
    let err = Dataset::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("corpus.jsonl"), "{err}");
}

#[test]
fn run_wrong_column_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "run.trec",
        b"q1 Q0 d1 1 3.5 tag\nq1 Q0 d2 2 3.0\n",
    );
    let err = Run::load(&p).unwrap_err();
    assert_names(&err, &p, &[":2", "6 columns", "found 5"]);
}

#[test]
fn run_non_numeric_score_and_rank() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "run.trec",
        b"q1 Q0 d1 1 3.5 tag\nq1 Q0 d2 2 abc tag\n",
    );
    assert_names(&Run::load(&p).unwrap_err(), &p, &[":2", "score", "abc"]);
    let p = write(dir.path(), "run2.trec", b"q1 Q0 d1 one 3.5 tag\n");
    assert_names(&Run::load(&p).unwrap_err(), &p, &[":1", "rank"]);
    let p = write(dir.path(), "run3.trec", b"q1 Q0 d1 1 NaN tag\n");
    assert_names(&Run::load(&p).unwrap_err(), &p, &[":1", "score", "finite"]);
}
