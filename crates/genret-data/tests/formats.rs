//! TREC run files and qrels in both formats: write, read back, compare.

use genret_data::{Qrels, QrelsFormat, Run, ScoredDoc};

fn sample_run() -> Run {
    let mut run = Run::new();
    run.insert(
        "q1",
        vec![
            ScoredDoc {
                doc_id: "d3".into(),
                score: 12.5,
            },
            ScoredDoc {
                doc_id: "d1".into(),
                score: 0.1 + 0.2,
            },
            ScoredDoc {
                doc_id: "d2".into(),
                score: 1e-9,
            },
            ScoredDoc {
                doc_id: "d4".into(),
                score: -3.0,
            },
        ],
    );
    run.insert(
        "q2",
        vec![ScoredDoc {
            doc_id: "d1".into(),
            score: 1.0,
        }],
    );
    run
}

#[test]
fn run_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/run.trec");
    let run = sample_run();
    run.write_trec(&path, "genret").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let first: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(first, ["q1", "Q0", "d3", "1", "12.5", "genret"]);
    assert_eq!(text.lines().count(), 5);
    // Scores come back bit for bit, so no ties appear that the ranking did not have.
    assert_eq!(Run::load(&path).unwrap(), run);
    // No temporary file is left beside it.
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
}

#[test]
fn run_write_rejects_ids_with_whitespace() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::new();
    run.insert(
        "q 1",
        vec![ScoredDoc {
            doc_id: "d1".into(),
            score: 1.0,
        }],
    );
    let path = dir.path().join("run.trec");
    let err = run.write_trec(&path, "t").unwrap_err().to_string();
    assert!(err.contains("q 1"), "{err}");
    assert!(!path.exists());
    assert!(sample_run().write_trec(&path, "two words").is_err());
}

fn sample_qrels() -> Qrels {
    let mut q = Qrels::default();
    q.insert("q1", "d1", 1);
    q.insert("q1", "d2", 0);
    q.insert("q2", "d3", 3);
    q.insert("10", "7", -1);
    q
}

#[test]
fn trec_qrels_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qrels.txt");
    sample_qrels().write_trec(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines()
            .all(|l| l.split(' ').count() == 4 && l.split(' ').nth(1) == Some("0")),
        "{text}"
    );
    assert_eq!(Qrels::load(&path).unwrap(), sample_qrels());
    assert_eq!(
        Qrels::load_format(&path, QrelsFormat::Trec).unwrap(),
        sample_qrels()
    );
}

#[test]
fn beir_qrels_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qrels/test.tsv");
    sample_qrels().write_beir(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().next(), Some("query-id\tcorpus-id\tscore"));
    assert_eq!(Qrels::load(&path).unwrap(), sample_qrels());
    assert_eq!(
        Qrels::load_format(&path, QrelsFormat::Beir).unwrap(),
        sample_qrels()
    );
}

#[test]
fn qrels_formats_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    // BEIR without a header, TREC with tabs, float grades.
    let beir = dir.path().join("a.tsv");
    std::fs::write(&beir, "q1\td1\t1\nq1\td2\t2.0\n").unwrap();
    let q = Qrels::load(&beir).unwrap();
    assert_eq!(q.query("q1").unwrap().get("d2"), Some(&2));
    let trec = dir.path().join("b.txt");
    std::fs::write(&trec, "q1\t0\td1\t1\nq1\t0\td2\t0\n").unwrap();
    assert_eq!(Qrels::load(&trec).unwrap().num_judgements(), 2);
}
