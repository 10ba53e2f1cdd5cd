//! Many threads search one GenRet index while others add documents to it.
//!
//! Every answer must be consistent: the documents of an added batch appear all together or not
//! at all (a search never sees half a batch), no document appears twice, and every document
//! returned is one the index holds or was given. Nothing is lost: every request is answered,
//! and after the adds every acknowledged document is in the index and found by search.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use genret_index::testing::{document, tiny_index, ScratchDir};
use genret_pipeline::{
    GenretRetriever, InputError, QueueOptions, Retriever, SearchParams, SharedRetriever,
};

const INITIAL: usize = 12;
const BATCH: usize = 3;
const BATCHES: usize = 8;
const SEARCHERS: usize = 4;

#[test]
fn searches_see_whole_batches_while_documents_are_added() {
    let tmp = ScratchDir::new("shared-search").unwrap();
    let (index, _) = tiny_index(tmp.path(), "idx", INITIAL).unwrap();
    let mut retriever = GenretRetriever::new(index);
    // Every docid scored, so each answer lists every document the index holds at that moment.
    retriever.options.exact = true;
    retriever.options.scoring = Some(genret_index::Scoring::codes_only());
    let shared = SharedRetriever::spawn(
        retriever,
        QueueOptions {
            max_batch: 8,
            ..Default::default()
        },
    )
    .unwrap();

    let batches: Vec<Vec<String>> = (0..BATCHES)
        .map(|b| (0..BATCH).map(|i| format!("new-{b}-{i}")).collect())
        .collect();
    let initial: HashSet<String> = (0..INITIAL).map(|i| format!("t{i}")).collect();
    let done = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<usize>::new()));

    let params = SearchParams::top(1000);
    let searchers: Vec<_> = (0..SEARCHERS)
        .map(|s| {
            let (shared, done, batches, initial) = (
                shared.clone(),
                done.clone(),
                batches.clone(),
                initial.clone(),
            );
            let acknowledged = acknowledged.clone();
            std::thread::spawn(move || {
                let mut answers = 0usize;
                let queries = [genret_index::testing::text(s), genret_index::testing::text(s + 7)];
                let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
                loop {
                    // Batches acknowledged before the request must all be visible in its answer.
                    let before = acknowledged.lock().unwrap().len();
                    let finished = done.load(Ordering::Acquire);
                    let result = shared.search(&queries, &params).unwrap();
                    answers += 1;
                    assert_eq!(result.len(), queries.len(), "one list per query");
                    for hits in &result {
                        let ids: HashSet<&str> = hits.iter().map(|h| h.doc_id.as_str()).collect();
                        assert_eq!(ids.len(), hits.len(), "a document returned twice");
                        let mut whole = 0;
                        for batch in &batches {
                            let present = batch.iter().filter(|id| ids.contains(id.as_str())).count();
                            assert!(
                                present == 0 || present == BATCH,
                                "an answer holds {present} of the {BATCH} documents of one added batch"
                            );
                            whole += usize::from(present == BATCH);
                        }
                        assert!(whole >= before, "an acknowledged batch is missing from a later answer");
                        assert_eq!(
                            hits.len(),
                            INITIAL + whole * BATCH,
                            "documents other than the initial and added ones"
                        );
                        for id in &ids {
                            assert!(
                                initial.contains(*id) || batches.iter().flatten().any(|b| b == id),
                                "unknown document `{id}`"
                            );
                        }
                    }
                    if finished {
                        return answers;
                    }
                }
            })
        })
        .collect();

    // The writer: batches added one after another while the searchers run.
    for (b, ids) in batches.iter().enumerate() {
        let docs: Vec<genret_data::Document> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| document(id, 40 + b * BATCH + i))
            .collect();
        let report = shared
            .with_mut(move |r: &mut GenretRetriever| r.index.add_documents(&docs, 2))
            .unwrap()
            .unwrap();
        assert_eq!(report.added, BATCH);
        acknowledged.lock().unwrap().push(b);
    }
    done.store(true, Ordering::Release);
    let answers: usize = searchers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(answers >= SEARCHERS, "every searcher was answered");

    // Nothing lost: every acknowledged document is held and found.
    assert_eq!(shared.num_docs(), INITIAL + BATCHES * BATCH);
    let all = shared
        .search(&[genret_index::testing::text(3).as_str()], &params)
        .unwrap();
    let found: HashSet<&str> = all[0].iter().map(|h| h.doc_id.as_str()).collect();
    for id in batches.iter().flatten() {
        assert!(
            found.contains(id.as_str()),
            "`{id}` was acknowledged but is not found"
        );
    }
    let stats = shared.stats();
    assert!(stats.batches.load(Ordering::Relaxed) >= 1);
    assert_eq!(
        stats.queued.load(Ordering::Relaxed),
        0,
        "nothing left waiting"
    );
}

#[test]
fn concurrent_requests_are_batched_and_bad_ones_refused_alone() {
    let tmp = ScratchDir::new("shared-batch").unwrap();
    let (index, _) = tiny_index(tmp.path(), "idx", 10).unwrap();
    let shared =
        SharedRetriever::spawn(GenretRetriever::new(index), QueueOptions::default()).unwrap();
    // A bad request is refused before the queue, as an input error.
    let err = shared
        .search(&["alpha", ""], &SearchParams::top(5))
        .unwrap_err();
    assert!(matches!(
        err,
        genret_pipeline::Error::Input(InputError::EmptyQuery { index: 2 })
    ));
    // Many callers at once: every one gets its own answer, equal to a lone search's.
    let lone: Vec<_> = (0..16)
        .map(|i| {
            shared
                .search(
                    &[genret_index::testing::text(i).as_str()],
                    &SearchParams::top(5),
                )
                .unwrap()
        })
        .collect();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                shared
                    .search(
                        &[genret_index::testing::text(i).as_str()],
                        &SearchParams::top(5),
                    )
                    .unwrap()
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let got = t.join().unwrap();
        let ids = |r: &Vec<Vec<genret_data::ScoredDoc>>| {
            r[0].iter().map(|d| d.doc_id.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(&got),
            ids(&lone[i]),
            "query {i}: a batched answer differs from a lone one"
        );
    }
    let stats = shared.stats();
    assert_eq!(stats.queries.load(Ordering::Relaxed), 32);
}
