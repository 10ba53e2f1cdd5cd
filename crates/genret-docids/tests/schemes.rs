//! Behaviour of the public API across all schemes.

use std::collections::HashSet;

use genret_docids::{assign, Assignment, DocidError, SchemeConfig, SchemeKind, SchemeState};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ASSIGNED: [SchemeKind; 4] = [
    SchemeKind::Atomic,
    SchemeKind::Naive,
    SchemeKind::HKMeans,
    SchemeKind::Rq,
];

/// `n` points in `dim` dimensions around `centers` centres.
fn clustered(n: usize, dim: usize, centers: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let c: Vec<f32> = (0..centers * dim)
        .map(|_| rng.gen_range(-10.0..10.0))
        .collect();
    let mut x = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let j = rng.gen_range(0..centers);
        x.extend((0..dim).map(|t| c[j * dim + t] + rng.gen_range(-1.0..1.0)));
    }
    x
}

/// 500 rows where only 10 distinct vectors occur, 50 times each.
fn duplicated(dim: usize) -> Vec<f32> {
    let base = clustered(10, dim, 3, 11);
    (0..500)
        .flat_map(|i| base[(i % 10) * dim..(i % 10 + 1) * dim].to_vec())
        .collect()
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("doc-{i}")).collect()
}

fn cfg(kind: SchemeKind) -> SchemeConfig {
    SchemeConfig {
        kind,
        hkmeans_k: 4,
        leaf_size: 16,
        rq_levels: 2,
        rq_k: 8,
        ..SchemeConfig::default()
    }
}

fn run(cfg: &SchemeConfig, x: &[f32], dim: usize) -> Assignment {
    let n = x.len() / dim;
    assign(cfg, &ids(n), Some((x, dim))).unwrap_or_else(|e| panic!("{}: {e}", cfg.kind))
}

/// Unique, fixed-length docids with every code below the codebook size.
fn check_valid(a: &Assignment, n: usize, what: &str) {
    assert_eq!(a.codes.len(), n, "{what}");
    assert!(
        a.codes.iter().all(|c| c.len() == a.steps),
        "{what}: ragged docids"
    );
    assert_eq!(a.state.docid_len(), a.steps, "{what}");
    assert_eq!(a.state.codebook_size(), a.codebook_size, "{what}");
    let h = a.health().unwrap_or_else(|e| panic!("{what}: {e}")); // also checks codes < K
    assert_eq!(h.distinct_docids, n, "{what}: {h:?}");
    assert_eq!(h.largest_collision_group, 1, "{what}");
}

#[test]
fn kind_names_round_trip() {
    for k in SchemeKind::ALL {
        assert_eq!(k.to_string().parse::<SchemeKind>().unwrap(), k);
        assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
    }
    let names: Vec<String> = SchemeKind::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["genret", "atomic", "naive", "hkmeans", "rq"]);
    let err = "kmeans".parse::<SchemeKind>().unwrap_err().to_string();
    assert!(
        err.contains("kmeans") && err.contains("genret, atomic, naive, hkmeans, rq"),
        "{err}"
    );
}

#[test]
fn config_reads_as_a_toml_section() {
    let c: SchemeConfig = toml::from_str("kind = \"hkmeans\"\nleaf_size = 50\n").unwrap();
    assert_eq!(
        c,
        SchemeConfig {
            kind: SchemeKind::HKMeans,
            leaf_size: 50,
            ..SchemeConfig::default()
        }
    );
    assert_eq!(SchemeConfig::default().kind, SchemeKind::GenRet);
    assert!(toml::from_str::<SchemeConfig>("leafsize = 50").is_err());
}

#[test]
fn genret_is_refused() {
    let err = assign(&SchemeConfig::default(), &ids(3), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "genret docids are learned by training, not assigned"
    );
}

#[test]
fn every_scheme_is_unique_fixed_length_and_in_range() {
    let x = clustered(500, 8, 6, 1);
    for kind in ASSIGNED {
        let a = run(&cfg(kind), &x, 8);
        check_valid(&a, 500, kind.name());
        assert_eq!(a.state.kind(), kind);
    }
}

#[test]
fn clustering_schemes_survive_duplicate_embeddings() {
    let x = duplicated(8);
    for kind in [SchemeKind::HKMeans, SchemeKind::Rq] {
        let a = run(&cfg(kind), &x, 8);
        check_valid(&a, 500, kind.name());
    }
    // rq: 10 distinct points, each prefix holds its 50 copies, so K = 50.
    assert_eq!(run(&cfg(SchemeKind::Rq), &x, 8).codebook_size, 50);
}

#[test]
fn degenerate_inputs_give_valid_docids() {
    for kind in ASSIGNED {
        let c = SchemeConfig {
            kind,
            hkmeans_k: 10,
            leaf_size: 2,
            rq_k: 64,
            ..SchemeConfig::default()
        };
        for (what, x) in [
            ("n = 1", vec![0.5f32; 4]),
            ("n < k", clustered(3, 4, 3, 2)),
            ("identical", vec![1.0f32; 200 * 4]),
        ] {
            let a = run(&c, &x, 4);
            check_valid(&a, x.len() / 4, &format!("{kind} {what}"));
        }
    }
}

#[test]
fn same_seed_same_codes_and_seed_matters() {
    let x = clustered(500, 8, 6, 3);
    for kind in [SchemeKind::HKMeans, SchemeKind::Rq] {
        let a = run(&cfg(kind), &x, 8);
        assert_eq!(a, run(&cfg(kind), &x, 8), "{kind} not deterministic");
        let differs = (1..6).any(|s| {
            run(
                &SchemeConfig {
                    seed: s,
                    ..cfg(kind)
                },
                &x,
                8,
            )
            .codes
                != a.codes
        });
        assert!(differs, "{kind}: the seed has no effect");
    }
}

#[test]
fn new_documents_get_fresh_docids() {
    let x = clustered(500, 8, 6, 4);
    let new_x = clustered(200, 8, 6, 4); // same centres, new points (and some near-copies)
    for kind in ASSIGNED {
        let mut a = run(&cfg(kind), &x, 8);
        let mut seen: HashSet<Vec<u32>> = a.codes.iter().cloned().collect();
        for i in 0..200 {
            let id = format!("doc-{}", 500 + i);
            let e = &new_x[i * 8..(i + 1) * 8];
            let z = a
                .state
                .assign_new(&id, Some(e))
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(z.len(), a.steps, "{kind}");
            if kind == SchemeKind::Atomic {
                assert_eq!(z, vec![500 + i as u32], "atomic appends N, N+1, ...");
            } else {
                assert!(
                    z.iter().all(|&c| (c as usize) < a.codebook_size),
                    "{kind}: {z:?}"
                );
            }
            assert!(
                seen.insert(z.clone()),
                "{kind}: new document {id} reuses docid {z:?}"
            );
        }
    }
}

#[test]
fn copies_of_training_documents_get_new_docids_too() {
    let x = clustered(300, 8, 4, 5);
    for kind in [SchemeKind::HKMeans, SchemeKind::Rq] {
        let mut a = run(&cfg(kind), &x, 8);
        let mut seen: HashSet<Vec<u32>> = a.codes.iter().cloned().collect();
        for d in 0..100 {
            let z = a
                .state
                .assign_new("copy", Some(&x[d * 8..(d + 1) * 8]))
                .unwrap();
            assert!(seen.insert(z), "{kind}: copy of doc {d} collides");
        }
    }
}

#[test]
fn state_survives_json() {
    let x = clustered(200, 8, 4, 6);
    let probe = &x[8..16];
    for kind in ASSIGNED {
        let mut a = run(&cfg(kind), &x, 8);
        let json = serde_json::to_string(&a.state).unwrap();
        assert!(
            json.starts_with(&format!("{{\"scheme\":\"{kind}\"")),
            "{json:.40}"
        );
        let mut back: SchemeState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a.state, "{kind}");
        for _ in 0..3 {
            assert_eq!(
                back.assign_new("doc-1", Some(probe)).unwrap(),
                a.state.assign_new("doc-1", Some(probe)).unwrap()
            );
        }
    }
}

#[test]
fn naive_spells_ids_and_rejects_what_it_cannot_spell() {
    let ids: Vec<String> = ["a1", "b22", "a"].iter().map(|s| s.to_string()).collect();
    let c = SchemeConfig {
        kind: SchemeKind::Naive,
        naive_slack: 1,
        ..SchemeConfig::default()
    };
    let mut a = assign(&c, &ids, None).unwrap();
    // alphabet "12ab": '1' -> 1, '2' -> 2, 'a' -> 3, 'b' -> 4; L = 3 + 1.
    assert_eq!(a.codebook_size, 5);
    assert_eq!(
        a.codes,
        vec![vec![3, 1, 0, 0], vec![4, 2, 2, 0], vec![3, 0, 0, 0]]
    );
    assert_eq!(a.state.assign_new("ba21", None).unwrap(), vec![4, 3, 2, 1]);

    let err = a.state.assign_new("ab3", None).unwrap_err().to_string();
    assert!(err.contains("`ab3`") && err.contains("'3'"), "{err}");
    let err = a.state.assign_new("aaaaa", None).unwrap_err().to_string();
    assert!(
        err.contains("`aaaaa`") && err.contains("at most 4"),
        "{err}"
    );

    let dup: Vec<String> = ["x", "y", "x"].iter().map(|s| s.to_string()).collect();
    let err = assign(&c, &dup, None).unwrap_err();
    assert_eq!(
        err,
        DocidError::DuplicateId {
            id: "x".into(),
            first: 0,
            second: 2
        }
    );
}

#[test]
fn hkmeans_full_leaf_falls_back_to_sibling_then_errors() {
    // 1-D: three documents at 0 and one at 10; k = 2, leaf_size = 3, so K = 3. The leaf
    // at 0 is full; the leaf at 10 has room for two more.
    let x = [0.0f32, 0.0, 0.0, 10.0];
    let c = SchemeConfig {
        kind: SchemeKind::HKMeans,
        hkmeans_k: 2,
        leaf_size: 3,
        ..SchemeConfig::default()
    };
    let mut a = run(&c, &x, 1);
    assert_eq!((a.codebook_size, a.steps), (3, 2));
    let far_leaf = a.codes[3][0];
    assert_eq!(
        a.state.assign_new("n1", Some(&[0.0])).unwrap(),
        vec![far_leaf, 1]
    );
    assert_eq!(
        a.state.assign_new("n2", Some(&[0.1])).unwrap(),
        vec![far_leaf, 2]
    );
    let err = a.state.assign_new("n3", Some(&[0.0])).unwrap_err();
    assert!(matches!(err, DocidError::NoFreeDocid { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("no free docid for new document `n3`"),
        "{err}"
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let x = clustered(10, 4, 2, 7);
    let rq = cfg(SchemeKind::Rq);
    let hk = cfg(SchemeKind::HKMeans);
    assert!(matches!(
        assign(&rq, &ids(10), None),
        Err(DocidError::MissingEmbeddings { scheme: "rq" })
    ));
    assert!(matches!(
        assign(&hk, &ids(9), Some((&x, 4))),
        Err(DocidError::BadEmbeddings { .. })
    ));
    assert!(matches!(
        assign(&hk, &ids(10), Some((&x, 0))),
        Err(DocidError::BadEmbeddings { .. })
    ));
    assert!(matches!(
        assign(&hk, &ids(10), Some((&x[..39], 4))),
        Err(DocidError::BadEmbeddings { .. })
    ));
    let mut nan = x.clone();
    nan[5] = f32::NAN;
    let err = assign(&hk, &ids(10), Some((&nan, 4)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 1, column 1"), "{err}");
    for kind in ASSIGNED {
        assert_eq!(
            assign(&cfg(kind), &[], Some((&[], 4))).unwrap_err(),
            DocidError::EmptyCorpus,
            "{kind}"
        );
    }
    let bad_k = SchemeConfig {
        hkmeans_k: 1,
        ..hk.clone()
    };
    assert!(matches!(
        assign(&bad_k, &ids(10), Some((&x, 4))),
        Err(DocidError::InvalidConfig {
            name: "hkmeans_k",
            ..
        })
    ));
    let bad_levels = SchemeConfig {
        rq_levels: 0,
        ..rq.clone()
    };
    assert!(matches!(
        assign(&bad_levels, &ids(10), Some((&x, 4))),
        Err(DocidError::InvalidConfig {
            name: "rq_levels",
            ..
        })
    ));

    for c in [&hk, &rq] {
        let mut a = assign(c, &ids(10), Some((&x, 4))).unwrap();
        let err = a.state.assign_new("new-1", None).unwrap_err().to_string();
        assert!(
            err.contains("`new-1`") && err.contains("embedding"),
            "{err}"
        );
        let err = a
            .state
            .assign_new("new-2", Some(&[1.0; 3]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`new-2`") && err.contains("dimension 3"),
            "{err}"
        );
        let err = a
            .state
            .assign_new("new-3", Some(&[1.0, f32::INFINITY, 0.0, 0.0]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`new-3`") && err.contains("non-finite"),
            "{err}"
        );
    }
}
