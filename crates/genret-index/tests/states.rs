//! Document states: searches that order documents by stored states give exactly the order a
//! brute-force comparison of the same states gives, added documents get states in the same
//! transaction, and an index without states says so instead of guessing.

use genret_data::Document;
use genret_index::testing::{document, text, tiny_model, write_word_tokenizer, ScratchDir};
use genret_index::{CodeScore, Index, IndexConfig, Origin, Scoring, SearchOptions, StateKind};
use tch::{Device, Kind, Tensor};

const N: usize = 16;

fn docids(i: usize) -> Vec<u32> {
    vec![(i % 5) as u32, (i * 2 % 5) as u32, (i / 4 % 5) as u32]
}

/// An index of `N` documents with stored states; `disambiguation` marks the last code as one.
fn states_index(dir: &std::path::Path, disambiguation: bool) -> Index {
    let (vs, model) = tiny_model(5, 3, 13).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let tokenizer = dir.join("tokenizer-src.json");
    write_word_tokenizer(&tokenizer).unwrap();
    let mut config = IndexConfig::for_model(&model, "tiny-random", 16, 32);
    config.disambiguation = disambiguation;
    let docs: Vec<(Document, Vec<u32>, Origin)> = (0..N)
        .map(|i| (document(&format!("t{i}"), i), docids(i), Origin::Train))
        .collect();
    // States are computed by an index of the same model (what training hands over).
    let plain = Index::create(&dir.join("plain"), &config, &vs, &tokenizer, &docs).unwrap();
    let just_docs: Vec<Document> = docs.iter().map(|d| d.0.clone()).collect();
    let codes: Vec<Vec<u32>> = docs.iter().map(|d| d.1.clone()).collect();
    let states = plain.compute_states(&just_docs, &codes, 5).unwrap();
    Index::create_with_states(
        &dir.join("states"),
        &config,
        &vs,
        &tokenizer,
        &docs,
        None,
        Some(&states),
    )
    .unwrap()
}

fn normalize(t: &Tensor) -> Tensor {
    t / t.norm_scalaropt_dim(2.0, [-1i64].as_slice(), true)
}

/// Positions ordered by score, descending, ties by position.
fn order(scores: &[f64]) -> Vec<u64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    idx.into_iter().map(|i| i as u64).collect()
}

fn exact(kind: StateKind, code_weight: f64) -> SearchOptions {
    SearchOptions {
        beam: 1,
        depth: N,
        batch_size: 4,
        scoring: Some(Scoring {
            code: CodeScore::LogProb,
            states: Some(kind),
            code_weight,
            candidate_depth: None,
            beam: None,
        }),
        exact: true,
    }
}

#[test]
fn encoder_states_order_documents_like_a_dense_search() {
    let tmp = ScratchDir::new("states-enc").unwrap();
    let index = states_index(tmp.path(), true);
    assert!(index.has_states());
    let all: Vec<Document> = (0..N).map(|i| document(&format!("t{i}"), i)).collect();
    let (docs, dim) = index.embed_documents(&all, 8).unwrap();
    let docs = Tensor::from_slice(&docs).view([N as i64, dim as i64]);
    for q in [3usize, 30, 41] {
        let query = text(q);
        let (qe, _) = index
            .embed_documents(
                &[Document {
                    id: "q".into(),
                    title: String::new(),
                    text: query.clone(),
                }],
                1,
            )
            .unwrap();
        let cos: Vec<f64> = Vec::<f32>::try_from(docs.matmul(&Tensor::from_slice(&qe)))
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        let hits = index
            .search_with(
                &[query.as_str()],
                &exact(StateKind::Encoder, 0.0),
                |_, _| {},
            )
            .unwrap()
            .remove(0);
        let got: Vec<u64> = hits.iter().map(|h| h.pos).collect();
        assert_eq!(got, order(&cos), "query {q}");
        for h in &hits {
            assert!(
                (f64::from(h.score) - cos[h.pos as usize]).abs() < 2e-3,
                "float16 storage keeps the cosine"
            );
        }
    }
}

#[test]
fn a_shallow_candidate_depth_takes_every_document_below_the_kept_prefixes() {
    let tmp = ScratchDir::new("states-depth").unwrap();
    let index = states_index(tmp.path(), true);
    let query = text(9);
    let scoring = |depth| {
        Some(Scoring {
            code: CodeScore::LogProb,
            states: Some(StateKind::Encoder),
            code_weight: 0.0,
            candidate_depth: depth,
            beam: None,
        })
    };
    // Every first code kept (K = 5): every document is a candidate, as in an exact search.
    let wide = index
        .search_with(
            &[query.as_str()],
            &SearchOptions {
                beam: 5,
                depth: N,
                batch_size: 1,
                scoring: scoring(Some(1)),
                exact: false,
            },
            |_, _| {},
        )
        .unwrap()
        .remove(0);
    let exact = index
        .search_with(
            &[query.as_str()],
            &exact(StateKind::Encoder, 0.0),
            |_, _| {},
        )
        .unwrap()
        .remove(0);
    assert_eq!(wide, exact);
    // One first code kept: exactly the documents whose docid starts with the query's best code.
    let narrow = index
        .search_with(
            &[query.as_str()],
            &SearchOptions {
                beam: 1,
                depth: N,
                batch_size: 1,
                scoring: scoring(Some(1)),
                exact: false,
            },
            |_, _| {},
        )
        .unwrap()
        .remove(0);
    let first: std::collections::HashSet<u32> =
        narrow.iter().map(|h| docids(h.pos as usize)[0]).collect();
    assert_eq!(first.len(), 1);
    let code = *first.iter().next().unwrap();
    assert_eq!(
        narrow.len(),
        (0..N).filter(|&i| docids(i)[0] == code).count()
    );
    // Decoder states cannot stop early: their document state follows every learned code.
    let bad = Some(Scoring {
        states: Some(StateKind::Decoder),
        candidate_depth: Some(1),
        ..Scoring::codes_only()
    });
    let err = index
        .search_with(
            &[query.as_str()],
            &SearchOptions {
                beam: 5,
                depth: N,
                batch_size: 1,
                scoring: bad,
                exact: false,
            },
            |_, _| {},
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("candidate depth 1"), "{err}");
}

#[test]
fn decoder_states_compare_the_query_and_the_document_after_the_same_prefix() {
    let tmp = ScratchDir::new("states-dec").unwrap();
    for disambiguation in [true, false] {
        let index = states_index(&tmp.path().join(disambiguation.to_string()), disambiguation);
        let model = index.model();
        let p = index.state_position();
        assert_eq!(
            p, 2,
            "after the 2 learned codes, or the last step's own state"
        );
        // Reference: the query's decoder state teacher-forced on each document's prefix.
        let query = text(7);
        let tok = genret_model::tokenize::TextTokenizer::from_file(
            &index.dir().join("tokenizer.json"),
            16,
        )
        .unwrap();
        let reference: Vec<f64> = tch::no_grad(|| {
            let t = tok.encode_batch(&[query.as_str()], Device::Cpu).unwrap();
            let enc = model.encode(&t.input_ids, &t.attention_mask, false);
            let all: Vec<Document> = (0..N).map(|i| document(&format!("t{i}"), i)).collect();
            let codes: Vec<Vec<u32>> = (0..N).map(docids).collect();
            let doc_states = index.compute_states(&all, &codes, 8).unwrap();
            (0..N)
                .map(|i| {
                    let prefix: Vec<i64> = codes[i][..p].iter().map(|&c| i64::from(c)).collect();
                    let q = model
                        .decode_states(
                            &enc,
                            &Tensor::from_slice(&prefix).view([1, p as i64]),
                            false,
                        )
                        .select(1, p as i64);
                    let d: Vec<f32> = doc_states[i]
                        .decoder
                        .chunks_exact(2)
                        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                        .collect();
                    let d = Tensor::from_slice(&d).view([1, -1]);
                    f64::from(
                        (normalize(&q) * normalize(&d))
                            .sum(Kind::Float)
                            .double_value(&[]) as f32,
                    )
                })
                .collect()
        });
        let hits = index
            .search_with(
                &[query.as_str()],
                &exact(StateKind::Decoder, 0.0),
                |_, _| {},
            )
            .unwrap()
            .remove(0);
        assert_eq!(
            hits.iter().map(|h| h.pos).collect::<Vec<_>>(),
            order(&reference),
            "disambiguation {disambiguation}"
        );
        for h in &hits {
            assert!((f64::from(h.score) - reference[h.pos as usize]).abs() < 2e-3);
        }
    }
}

#[test]
fn the_code_weight_adds_the_docid_score() {
    let tmp = ScratchDir::new("states-weight").unwrap();
    let index = states_index(tmp.path(), false);
    let query = text(11);
    let states_only = index
        .search_with(
            &[query.as_str()],
            &exact(StateKind::Encoder, 0.0),
            |_, _| {},
        )
        .unwrap()
        .remove(0);
    let codes_only = index
        .search_with(
            &[query.as_str()],
            &SearchOptions {
                beam: 125,
                depth: N,
                batch_size: 1,
                scoring: Some(Scoring::codes_only()),
                exact: false,
            },
            |_, _| {},
        )
        .unwrap()
        .remove(0);
    let both = index
        .search_with(
            &[query.as_str()],
            &exact(StateKind::Encoder, 0.5),
            |_, _| {},
        )
        .unwrap()
        .remove(0);
    let code_of = |pos: u64| codes_only.iter().find(|h| h.pos == pos).unwrap().score;
    let cos_of = |pos: u64| states_only.iter().find(|h| h.pos == pos).unwrap().score;
    for h in &both {
        assert!(
            (h.score - (cos_of(h.pos) + 0.5 * code_of(h.pos))).abs() < 1e-4,
            "{h:?}"
        );
    }
}

#[test]
fn added_documents_get_states_and_survive_reopening() {
    let tmp = ScratchDir::new("states-add").unwrap();
    let mut index = states_index(tmp.path(), true);
    let new = Document {
        id: "new".into(),
        title: String::new(),
        text: "zulu yankee xray whiskey victor".into(),
    };
    let report = index.add_documents(std::slice::from_ref(&new), 4).unwrap();
    // One encoding gave both the docid and the states: the same as computing them apart.
    let want_codes = index.assign_docids(std::slice::from_ref(&new), 4).unwrap();
    assert_eq!(report.documents[0].codes, want_codes[0]);
    let want = index
        .compute_states(std::slice::from_ref(&new), &want_codes, 4)
        .unwrap();
    let stored = index.store().all_states().unwrap().unwrap();
    assert!(
        stored.last().unwrap().decoder == want[0].decoder
            && stored.last().unwrap().encoder == want[0].encoder
    );
    let dir = index.dir().to_path_buf();
    drop(index);
    let index = Index::open(&dir, Device::Cpu).unwrap();
    assert!(index.has_states());
    let hits = index
        .search_with(
            &[new.text.as_str()],
            &exact(StateKind::Encoder, 0.0),
            |_, _| {},
        )
        .unwrap()
        .remove(0);
    assert_eq!(hits[0].doc_id, "new");
    assert!((hits[0].score - 1.0).abs() < 2e-3, "its own text: cosine 1");
}

#[test]
fn an_index_without_states_refuses_state_scoring_by_name() {
    let tmp = ScratchDir::new("states-none").unwrap();
    let (index, _) = genret_index::testing::tiny_index(tmp.path(), "idx", 8).unwrap();
    assert!(!index.has_states());
    let err = index
        .search_with(&["alpha"], &exact(StateKind::Decoder, 0.0), |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("stores no document states"), "{err}");
    // Codes only still works.
    assert_eq!(index.search(&["alpha"], 4, 4).unwrap()[0].len(), 4);
}

/// Residual code scores; with states, the `beam` best documents (at least `depth`) re-ordered.
fn residual(states: Option<StateKind>, beam: usize, depth: usize) -> SearchOptions {
    SearchOptions {
        beam,
        depth,
        batch_size: 3,
        scoring: Some(Scoring {
            code: CodeScore::Residual,
            states,
            code_weight: 0.0,
            candidate_depth: None,
            beam: None,
        }),
        exact: false,
    }
}

#[test]
fn residual_code_scores_are_the_query_against_codebooks_fitted_to_the_docids() {
    let tmp = ScratchDir::new("states-residual").unwrap();
    let mut index = states_index(tmp.path(), true);
    // Reference, computed here by hand: step t's row for code j is the mean, over documents with
    // code j at step t, of the stored encoder state minus the rows of their earlier codes. The
    // last code disambiguates and carries no row.
    let stored = Index::open(index.dir(), Device::Cpu).unwrap();
    let all: Vec<Document> = (0..N).map(|i| document(&format!("t{i}"), i)).collect();
    let (e, dim) = stored.embed_documents(&all, 8).unwrap();
    let e: Vec<Vec<f64>> = e
        .chunks(dim)
        .map(|r| {
            r.iter()
                .map(|&v| f64::from(half::f16::from_f32(v).to_f32()))
                .collect()
        })
        .collect();
    let mut recon = vec![vec![0.0f64; dim]; N];
    for t in 0..2 {
        let mut rows = vec![(vec![0.0f64; dim], 0usize); 5];
        for i in 0..N {
            let c = docids(i)[t] as usize;
            rows[c].1 += 1;
            for d in 0..dim {
                rows[c].0[d] += e[i][d] - recon[i][d];
            }
        }
        for i in 0..N {
            let (sum, n) = &rows[docids(i)[t] as usize];
            for d in 0..dim {
                recon[i][d] += sum[d] / *n as f64;
            }
        }
    }
    for q in [2usize, 17] {
        let query = text(q);
        let (qe, _) = stored
            .embed_documents(
                &[Document {
                    id: "q".into(),
                    title: String::new(),
                    text: query.clone(),
                }],
                1,
            )
            .unwrap();
        let want: Vec<f64> = recon
            .iter()
            .map(|r| r.iter().zip(&qe).map(|(a, &b)| a * f64::from(b)).sum())
            .collect();
        let hits = index
            .search_with(&[query.as_str()], &residual(None, 1, N), |_, _| {})
            .unwrap()
            .remove(0);
        assert_eq!(hits.len(), N, "every docid is scored: no beam");
        for h in &hits {
            assert!(
                (f64::from(h.score) - want[h.pos as usize]).abs() < 1e-3,
                "query {q}, {h:?}: want {}",
                want[h.pos as usize]
            );
        }
        let scores: Vec<f64> = hits.iter().map(|h| f64::from(h.score)).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first");
        // With encoder states: the `beam` best by residual score, re-ordered by cosine.
        let top4: std::collections::HashSet<u64> = hits[..4].iter().map(|h| h.pos).collect();
        let states = index
            .search_with(
                &[query.as_str()],
                &residual(Some(StateKind::Encoder), 4, 4),
                |_, _| {},
            )
            .unwrap()
            .remove(0);
        assert_eq!(
            states
                .iter()
                .map(|h| h.pos)
                .collect::<std::collections::HashSet<_>>(),
            top4
        );
        let cos = index
            .search_with(
                &[query.as_str()],
                &exact(StateKind::Encoder, 0.0),
                |_, _| {},
            )
            .unwrap()
            .remove(0);
        let expected: Vec<u64> = cos
            .iter()
            .map(|h| h.pos)
            .filter(|p| top4.contains(p))
            .collect();
        assert_eq!(states.iter().map(|h| h.pos).collect::<Vec<_>>(), expected);
    }
    // Decoder states have no residual counterpart; an added document is fitted in.
    let err = index
        .search_with(
            &["alpha"],
            &residual(Some(StateKind::Decoder), 4, 4),
            |_, _| {},
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("encoder states"), "{err}");
    let new = Document {
        id: "new".into(),
        title: String::new(),
        text: "zulu yankee xray whiskey victor".into(),
    };
    index.add_documents(std::slice::from_ref(&new), 4).unwrap();
    let hits = index
        .search_with(
            &[new.text.as_str()],
            &residual(Some(StateKind::Encoder), N + 1, 1),
            |_, _| {},
        )
        .unwrap()
        .remove(0);
    assert_eq!(hits[0].doc_id, "new");
}

#[test]
fn residual_scores_need_stored_states() {
    let tmp = ScratchDir::new("states-residual-none").unwrap();
    let (index, _) = genret_index::testing::tiny_index(tmp.path(), "idx", 8).unwrap();
    let err = index
        .search_with(&["alpha"], &residual(None, 4, 4), |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("stores none"), "{err}");
}
