use genret_cluster::{diversity, ClusterError, DocidHealth};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn collapse_gives_one_over_k() {
    // n docs on one code: d = 1 - (|n - n/K| + (K-1) n/K) / 2n = 1/K.
    for k in [1usize, 2, 4, 7, 512] {
        let mut counts = vec![0; k];
        counts[k / 2] = 10;
        assert!(close(diversity(&counts), 1.0 / k as f64), "k={k}");
    }
}

#[test]
fn uniform_usage_gives_one() {
    assert!(close(diversity(&[5, 5, 5, 5]), 1.0));
    assert!(close(diversity(&[1; 512]), 1.0));
}

#[test]
fn hand_computed_values() {
    // n=4, K=4, fair share 1: |3-1| + 0 + 1 + 1 = 4 -> 1 - 4/8.
    assert!(close(diversity(&[3, 1, 0, 0]), 0.5));
    // n=3, K=3: 1 + 0 + 1 = 2 -> 1 - 2/6.
    assert!(close(diversity(&[2, 1, 0]), 2.0 / 3.0));
    // n=10, K=4, fair 2.5: 3.5 + 0.5 + 1.5 + 2.5 = 8 -> 1 - 8/20.
    assert!(close(diversity(&[6, 3, 1, 0]), 0.6));
    // Empty inputs are defined, not NaN.
    assert!(close(diversity(&[]), 1.0));
    assert!(close(diversity(&[0, 0]), 1.0));
}

#[test]
fn docid_health_summary() {
    let docids = vec![vec![0, 1], vec![0, 1], vec![0, 2], vec![1, 3], vec![0, 1]];
    let h = DocidHealth::compute(&docids, 4).unwrap();
    assert_eq!(h.n_docs, 5);
    assert_eq!(h.k, 4);
    assert_eq!(h.docid_len, 2);
    // Step 0 counts [4, 1, 0, 0], fair 1.25: 2.75 + 0.25 + 1.25 + 1.25 = 5.5 -> 0.45.
    assert_eq!(h.steps[0].step, 0);
    assert!(close(h.steps[0].diversity, 0.45));
    assert_eq!(h.steps[0].codes_used, 2);
    // Step 1 counts [0, 3, 1, 1]: 1.25 + 1.75 + 0.25 + 0.25 = 3.5 -> 0.65.
    assert!(close(h.steps[1].diversity, 0.65));
    assert_eq!(h.steps[1].codes_used, 3);
    assert_eq!(h.distinct_docids, 3);
    assert_eq!(h.largest_collision_group, 3);
    assert_eq!(h.colliding_docs, 3);
    assert!(close(h.collision_rate, 0.6));

    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["distinct_docids"], 3);
    assert_eq!(json["steps"][1]["codes_used"], 3);
    assert!(json["collision_rate"].is_f64());
}

#[test]
fn no_collisions_and_empty_input() {
    let docids: Vec<Vec<u32>> = (0..16).map(|i| vec![i / 4, i % 4]).collect();
    let h = DocidHealth::compute(&docids, 4).unwrap();
    assert!(h
        .steps
        .iter()
        .all(|s| close(s.diversity, 1.0) && s.codes_used == 4));
    assert_eq!(h.distinct_docids, 16);
    assert_eq!(h.largest_collision_group, 1);
    assert_eq!(h.colliding_docs, 0);
    assert!(close(h.collision_rate, 0.0));

    let h = DocidHealth::compute(&[], 8).unwrap();
    assert_eq!(
        (h.n_docs, h.distinct_docids, h.largest_collision_group),
        (0, 0, 0)
    );
    assert!(h.steps.is_empty());
    assert!(close(h.collision_rate, 0.0));
}

#[test]
fn invalid_docids_are_errors() {
    assert!(matches!(
        DocidHealth::compute(&[vec![0, 1], vec![2]], 4),
        Err(ClusterError::RaggedDocids {
            doc: 1,
            len: 1,
            expected: 2
        })
    ));
    assert!(matches!(
        DocidHealth::compute(&[vec![0, 4]], 4),
        Err(ClusterError::CodeOutOfRange {
            doc: 0,
            step: 1,
            code: 4,
            k: 4
        })
    ));
    assert!(matches!(
        DocidHealth::compute(&[vec![0]], 0),
        Err(ClusterError::InvalidParameter { .. })
    ));
}
