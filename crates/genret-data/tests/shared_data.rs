//! The real BEIR files in the project's shared folder (`$GENRET_SHARED`, else `shared/` beside
//! the repository). Skipped with a note when the folder is not there.

use std::path::PathBuf;

use genret_data::{CorpusReader, Dataset, DatasetSource, ResolveOptions};

fn shared_dataset(name: &str) -> Option<Dataset> {
    let base = std::env::var_os("GENRET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let dir = base.join("data").join(name);
    if !dir.join("queries.jsonl").is_file() {
        eprintln!(
            "note: skipping, {} is not there (set GENRET_SHARED)",
            dir.display()
        );
        return None;
    }
    Some(Dataset::resolve_with(&DatasetSource::Dir(dir), &ResolveOptions::from_env()).unwrap())
}

#[test]
fn scifact_counts() {
    let Some(ds) = shared_dataset("scifact") else {
        return;
    };
    assert_eq!(ds.splits(), ["dev", "test", "train"]);
    let test = ds.load_split("test", true).unwrap();
    assert_eq!(test.corpus.len(), 5183);
    assert_eq!(test.queries.len(), 300);
    assert_eq!(test.qrels.len(), 300);
    assert_eq!(test.qrels.num_judgements(), 339);
    assert_eq!(test.unknown.dropped_rows, 0);

    // SciFact ships no dev judgements: `dev` is carved from the 809 training queries (919
    // judgements), and `train` is the rest.
    let train = ds.load_split("train", true).unwrap();
    let dev = ds.load_split("dev", true).unwrap();
    assert_eq!(train.queries.len() + dev.queries.len(), 809);
    assert_eq!(
        train.qrels.num_judgements() + dev.qrels.num_judgements(),
        919
    );
    assert!(
        (140..190).contains(&dev.queries.len()),
        "{}",
        dev.queries.len()
    );
    assert!(dev
        .qrels
        .query_ids()
        .all(|q| !train.qrels.contains_query(q)));

    // The stream reads the same documents as the collected corpus, in order.
    let mut n = 0;
    for (doc, streamed) in test
        .corpus
        .iter()
        .zip(CorpusReader::open(ds.corpus_path().unwrap()).unwrap())
    {
        assert_eq!(doc, &streamed.unwrap());
        n += 1;
    }
    assert_eq!(n, 5183);
    assert!(test.corpus.iter().all(|d| !d.text.is_empty()));
}

#[test]
fn msmarco_dl19_subset_counts() {
    let Some(ds) = shared_dataset("msmarco-dl19-5k") else {
        return;
    };
    let test = ds.load_split("test", true).unwrap();
    assert_eq!(test.corpus.len(), 5000);
    assert_eq!(test.queries.len(), 43);
    assert!(test
        .qrels
        .iter()
        .flat_map(|(_, d)| d.values())
        .any(|&g| g == 3));
}
