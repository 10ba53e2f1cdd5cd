//! Clients search without pause while other clients add documents, over HTTP.
//!
//! Every answer must be well formed (it matches the OpenAPI schema), every batch of added
//! documents must appear whole or not at all in GenRet's answers, and batches acknowledged
//! before a search began must be in it. Every acknowledged document is found by its own title
//! on the next query and at the end, and fetched by id.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{call_json, check_against_spec, serve};
use serde_json::json;

const INITIAL: usize = 10;
const ADDERS: usize = 2;
const BATCHES: usize = 6;
const BATCH: usize = 3;
const SEARCHERS: usize = 3;

fn title(adder: usize, batch: usize, i: usize) -> String {
    // Words no other document holds, so BM25 ranks the document first by its title.
    format!("Zyx{adder}q{batch}w{i} Blorp{adder}k{batch}v{i}")
}

#[test]
fn acknowledged_adds_are_found_while_clients_search() {
    let server = Arc::new(serve(INITIAL, false, |_| {}));
    let (_, spec) = call_json("GET", &server.url("/openapi.json"), None);
    let spec = Arc::new(spec);
    let done = Arc::new(AtomicBool::new(false));
    // Batches acknowledged so far, as (adder, batch).
    let acknowledged = Arc::new(Mutex::new(Vec::<(usize, usize)>::new()));

    let searchers: Vec<_> = (0..SEARCHERS)
        .map(|s| {
            let (server, spec, done, acknowledged) =
                (server.clone(), spec.clone(), done.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let mut answers = 0;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let before: Vec<(usize, usize)> = acknowledged.lock().unwrap().clone();
                    // A beam wider than the tiny index's docid space: every document comes back.
                    let body = if s % 2 == 0 {
                        json!({"queries": [genret_index::testing::text(s), "alpha"], "k": 1000, "beam": 1000})
                    } else {
                        json!({"query": "Zyx0q0w0 alpha", "k": 1000, "system": "bm25"})
                    };
                    let (status, value) = call_json("POST", &server.url("/search"), Some(&body.to_string()));
                    assert_eq!(status, 200, "{value}");
                    check_against_spec(&spec, "POST", "/search", status, &value);
                    answers += 1;
                    for result in value["results"].as_array().unwrap() {
                        let ids: Vec<&str> = result["hits"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|h| h["doc_id"].as_str().unwrap())
                            .collect();
                        let unique: HashSet<&str> = ids.iter().copied().collect();
                        assert_eq!(unique.len(), ids.len(), "a document returned twice");
                        if s % 2 != 0 {
                            continue;
                        }
                        for a in 0..ADDERS {
                            for b in 0..BATCHES {
                                let present = (0..BATCH)
                                    .filter(|i| unique.contains(format!("a{a}-b{b}-{i}").as_str()))
                                    .count();
                                assert!(
                                    present == 0 || present == BATCH,
                                    "an answer holds {present} of the {BATCH} documents of batch {a}/{b}"
                                );
                                if before.contains(&(a, b)) {
                                    assert_eq!(present, BATCH, "acknowledged batch {a}/{b} is missing");
                                }
                            }
                        }
                    }
                    if finished {
                        return answers;
                    }
                }
            })
        })
        .collect();

    let adders: Vec<_> = (0..ADDERS)
        .map(|a| {
            let (server, spec, acknowledged) = (server.clone(), spec.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                for b in 0..BATCHES {
                    let docs: Vec<_> = (0..BATCH)
                        .map(|i| {
                            json!({"_id": format!("a{a}-b{b}-{i}"), "title": title(a, b, i), "text": genret_index::testing::text(a * 31 + b * 7 + i)})
                        })
                        .collect();
                    // JSON lines, as corpus.jsonl holds them.
                    let body: String = docs.iter().map(|d| format!("{d}\n")).collect();
                    let (status, value) = call_json("POST", &server.url("/documents"), Some(&body));
                    check_against_spec(&spec, "POST", "/documents", status, &value);
                    assert_eq!(status, 200, "{value}");
                    acknowledged.lock().unwrap().push((a, b));
                    // Searchable on the next query, by its own title.
                    for i in 0..BATCH {
                        let (_, found) = call_json(
                            "POST",
                            &server.url("/search"),
                            Some(&json!({"query": title(a, b, i), "system": "bm25", "k": 1}).to_string()),
                        );
                        assert_eq!(found["results"][0]["hits"][0]["doc_id"], format!("a{a}-b{b}-{i}"));
                    }
                }
            })
        })
        .collect();
    for a in adders {
        a.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let answers: usize = searchers.into_iter().map(|s| s.join().unwrap()).sum();
    assert!(answers >= SEARCHERS);

    let (_, health) = call_json("GET", &server.url("/health"), None);
    assert_eq!(health["num_docs"], INITIAL + ADDERS * BATCHES * BATCH);
    for a in 0..ADDERS {
        for b in 0..BATCHES {
            for i in 0..BATCH {
                let id = format!("a{a}-b{b}-{i}");
                let (status, doc) =
                    call_json("GET", &server.url(&format!("/documents/{id}")), None);
                assert_eq!(status, 200, "{id}");
                assert_eq!(doc["title"], title(a, b, i));
                let (_, found) = call_json(
                    "POST",
                    &server.url("/search"),
                    Some(
                        &json!({"query": title(a, b, i), "system": "genret+bm25", "k": 5})
                            .to_string(),
                    ),
                );
                let ids: Vec<&str> = found["results"][0]["hits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h["doc_id"].as_str().unwrap())
                    .collect();
                assert!(
                    ids.contains(&id.as_str()),
                    "{id} not found by its title: {ids:?}"
                );
            }
        }
    }
    let (_, metrics) = (0, common::call("GET", &server.url("/metrics"), None).2);
    assert!(metrics.contains("genret_batch_size_count{system=\"genret\"}"));
}
