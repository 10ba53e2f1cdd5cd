//! End-to-end training on a tiny random model: docid shape and uniqueness, determinism under a
//! seed, and resume after an interruption ending with the same docids.

use std::path::PathBuf;

use genret_data::{Corpus, Document};
use genret_model::checkpoint::write_random_bert;
use genret_model::genret::tiny_bert_config;
use genret_train::{train, TrainConfig, TrainInputs, TrainOptions};

/// Tests here set GENRET_HOME (the state cache) for the process; run them one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn shared() -> Option<PathBuf> {
    let base = std::env::var_os("GENRET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let tok = base.join("models/all-MiniLM-L6-v2/tokenizer.json");
    tok.exists().then_some(tok)
}

fn corpus() -> Corpus {
    let topics = [
        "protein folding",
        "heart disease",
        "solar energy",
        "deep learning",
        "ocean currents",
        "stock markets",
    ];
    let docs = (0..48)
        .map(|i| {
            let t = topics[i % topics.len()];
            Document {
                id: format!("d{i}"),
                title: format!("Study {i} of {t}"),
                text: format!(
                    "We report findings number {i} about {t}. The {t} results were significant in trial {}. Further work on {t} is planned for year {}.",
                    i * 7,
                    2000 + i
                ),
            }
        })
        .collect::<Vec<_>>();
    Corpus::from_documents(docs).unwrap()
}

fn setup(dir: &std::path::Path) -> Option<TrainConfig> {
    let tok = shared()?;
    let mut bert = tiny_bert_config(30522);
    bert.num_hidden_layers = 1;
    let ckpt = write_random_bert(&dir.join("model"), &bert, &tok, 3).unwrap();
    let mut cfg = TrainConfig::tiny();
    cfg.model.checkpoint = ckpt.spec;
    cfg.threads = 1;
    cfg.docids.codebook_size = 8;
    Some(cfg)
}

/// Serialises the test (GENRET_HOME is process-wide), gives it a folder and the tiny
/// configuration; `None` (test skipped) without the shared tokenizer.
fn start() -> Option<(
    std::sync::MutexGuard<'static, ()>,
    tempfile::TempDir,
    TrainConfig,
)> {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("GENRET_HOME", dir.path().join("home"));
    match setup(dir.path()) {
        Some(cfg) => Some((serial, dir, cfg)),
        None => {
            eprintln!("skipped: shared MiniLM tokenizer not found");
            None
        }
    }
}

#[test]
fn training_is_deterministic_and_resumes_to_the_same_docids() {
    let Some((_serial, dir, cfg)) = start() else {
        return;
    };
    let corpus = corpus();
    let inputs = TrainInputs {
        dataset: "synthetic".into(),
        corpus: &corpus,
        train_qrels: None,
        data_files: vec![],
    };

    let a = train(
        &dir.path().join("a"),
        cfg.clone(),
        &inputs,
        &TrainOptions::default(),
    );
    if a.is_err() {
        eprintln!(
            "{}",
            std::fs::read_to_string(dir.path().join("a/metrics.jsonl")).unwrap_or_default()
        );
    }
    let a = a.unwrap();
    assert_eq!(a.codes.len(), 48);
    // M = 2 steps plus the disambiguation code; after it, every docid is unique.
    assert!(a.codes.iter().all(|c| c.len() == 3));
    assert_eq!(a.health.distinct_docids, 48);
    assert!(a.codes.iter().all(|c| c[..2].iter().all(|&z| z < 8)));
    // Balanced initialisation and Sinkhorn targets spread step 1 over most codes.
    assert!(a.health.steps[0].codes_used >= 6, "{:?}", a.health.steps[0]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("a/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["seed"], 42);
    assert!(manifest["config"]["losses"]["reconstruction"]
        .as_f64()
        .is_some());
    let metrics = std::fs::read_to_string(dir.path().join("a/metrics.jsonl")).unwrap();
    assert!(metrics.lines().any(|l| l.contains("\"event\":\"health\"")));
    // The final tokenizer re-assigns the docids before collisions (or keeps the step-wise ones
    // when its collisions cannot be separated), and says so.
    assert!(
        metrics.contains("\"reassigned\""),
        "no re-assignment logged"
    );

    // Same seed, fresh run: the same docids.
    let b = train(
        &dir.path().join("b"),
        cfg.clone(),
        &inputs,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(a.codes, b.codes);

    // Interrupted after 3 units (mid step 1), then resumed.
    let c_dir = dir.path().join("c");
    let stop = TrainOptions {
        stop_after_units: Some(3),
        ..Default::default()
    };
    assert!(train(&c_dir, cfg.clone(), &inputs, &stop).is_err());
    let again = train(&c_dir, cfg.clone(), &inputs, &TrainOptions::default());
    assert!(
        again.is_err(),
        "an existing run must not be overwritten without --resume"
    );
    let c = train(
        &c_dir,
        cfg.clone(),
        &inputs,
        &TrainOptions {
            resume: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(a.codes, c.codes);

    // Another seed gives other docids (the test would pass vacuously if seeds were ignored).
    let mut other = cfg;
    other.seed = 7;
    let d = train(
        &dir.path().join("d"),
        other,
        &inputs,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_ne!(a.codes, d.codes);
}

/// Encoder weights after a run, by variable name.
fn encoder_weights(out: &genret_train::TrainOutput) -> Vec<(String, tch::Tensor)> {
    let mut v: Vec<(String, tch::Tensor)> = out
        .vs
        .variables()
        .into_iter()
        .filter(|(n, _)| n.starts_with("backbone.encoder."))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn training_modes_train_exactly_the_parts_they_name() {
    use genret_train::config::TrainMode;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("GENRET_HOME", dir.path().join("home"));
    let Some(mut cfg) = setup(dir.path()) else {
        return;
    };
    cfg.docids.codebook_size = 8;
    let corpus = corpus();
    let inputs = TrainInputs {
        dataset: "synthetic".into(),
        corpus: &corpus,
        train_qrels: None,
        data_files: vec![],
    };
    let ckpt = genret_model::checkpoint::Checkpoint::resolve(&cfg.model.checkpoint).unwrap();
    let original: std::collections::BTreeMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(&ckpt.weights)
            .unwrap()
            .into_iter()
            .collect();
    let changed = |out: &genret_train::TrainOutput| -> Vec<String> {
        encoder_weights(out)
            .into_iter()
            .filter(|(n, t)| !t.equal(&original[n.strip_prefix("backbone.encoder.").unwrap()]))
            .map(|(n, _)| n)
            .collect()
    };

    cfg.model.mode = TrainMode::Frozen;
    let frozen = train(
        &dir.path().join("frozen"),
        cfg.clone(),
        &inputs,
        &TrainOptions::default(),
    )
    .unwrap();
    assert!(
        changed(&frozen).is_empty(),
        "frozen mode changed {:?}",
        changed(&frozen)
    );

    // The tiny checkpoint has one encoder layer: top-layers with 1 trains it, not the embeddings.
    cfg.model.mode = TrainMode::TopLayers;
    cfg.model.trainable_layers = 1;
    let top = train(
        &dir.path().join("top"),
        cfg.clone(),
        &inputs,
        &TrainOptions::default(),
    )
    .unwrap();
    let top_changed = changed(&top);
    assert!(!top_changed.is_empty());
    assert!(
        top_changed
            .iter()
            .all(|n| n.starts_with("backbone.encoder.encoder.layer.0.")),
        "{top_changed:?}"
    );

    cfg.model.mode = TrainMode::Full;
    let full = train(
        &dir.path().join("full"),
        cfg,
        &inputs,
        &TrainOptions::default(),
    )
    .unwrap();
    assert!(
        changed(&full).iter().any(|n| n.contains("embeddings")),
        "full mode left the embeddings frozen"
    );
}

/// Every docid scheme and the joint-training ablation train through the same trainer: unique
/// docids of the scheme's shape, recorded in the manifest, and (for rule-based schemes) a
/// state that gives held-out documents docids of their own.
#[test]
fn every_docid_scheme_and_joint_training_run_through_the_same_trainer() {
    use genret_docids::SchemeKind;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("GENRET_HOME", dir.path().join("home"));
    let Some(mut cfg) = setup(dir.path()) else {
        return;
    };
    cfg.holdout_docs = 0.125;
    cfg.schedule.fixed_epochs = 1;
    let corpus = corpus();
    let inputs = TrainInputs {
        dataset: "synthetic".into(),
        corpus: &corpus,
        train_qrels: None,
        data_files: vec![],
    };
    for kind in [
        SchemeKind::Atomic,
        SchemeKind::Naive,
        SchemeKind::HKMeans,
        SchemeKind::Rq,
    ] {
        let mut c = cfg.clone();
        c.scheme.kind = kind;
        c.scheme.hkmeans_k = 3;
        c.scheme.leaf_size = 5;
        c.scheme.rq_k = 4;
        let run = dir.path().join(kind.to_string());
        let out = train(&run, c, &inputs, &TrainOptions::default())
            .unwrap_or_else(|e| panic!("{kind}: {e:#}"));
        assert_eq!(out.codes.len(), 42, "{kind}: 48 documents less 6 held out");
        assert_eq!(
            out.health.distinct_docids, 42,
            "{kind}: docids must be unique"
        );
        let len = out.codes[0].len();
        assert!(
            out.codes.iter().all(|c| c.len() == len),
            "{kind}: one docid length"
        );
        assert_eq!(
            out.model.num_steps() as usize,
            len,
            "{kind}: no disambiguation step"
        );
        let k = out.config.docids.codebook_size as u32;
        assert!(
            out.codes.iter().flatten().all(|&z| z < k),
            "{kind}: codes below K"
        );
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["config"]["scheme"]["kind"], kind.to_string());
        // Held-out documents get docids by the scheme's rule, distinct from the trained ones.
        let mut state = out
            .scheme
            .clone()
            .expect("rule-based schemes keep their state");
        let held = &corpus.documents()[out.held_out[0]];
        let e = [0.1f32; 32];
        let z = state
            .assign_new(
                &held.id,
                matches!(kind, SchemeKind::HKMeans | SchemeKind::Rq).then_some(&e[..]),
            )
            .unwrap();
        assert!(
            !out.codes.contains(&z),
            "{kind}: a new document got a trained docid"
        );
        assert!(
            z.iter().all(|&c| c < k),
            "{kind}: new docid {z:?} within the model's codebook ({k})"
        );
    }

    // Ablation: all steps trained jointly.
    let mut joint = cfg.clone();
    joint.schedule.progressive = false;
    let out = train(
        &dir.path().join("joint"),
        joint,
        &inputs,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(out.health.distinct_docids, 42);
    assert!(out.codes.iter().all(|c| c.len() == 3));
    let metrics = std::fs::read_to_string(dir.path().join("joint/metrics.jsonl")).unwrap();
    assert!(metrics.contains("\"joint\""), "joint epochs are logged");
}

/// A collection shaped like the one that stopped the old default preset: few documents, and
/// judged training queries that each name many relevant documents (topics rather than
/// identifiers): 96 documents in 6 topics, every topic query judged relevant to all 16 of its
/// documents.
fn topical_collection() -> (Corpus, genret_data::Qrels, genret_data::Queries) {
    let topics = [
        "protein folding",
        "heart disease",
        "solar energy",
        "deep learning",
        "ocean currents",
        "stock markets",
    ];
    let docs: Vec<Document> = (0..96)
        .map(|i| {
            let t = topics[i % topics.len()];
            Document {
                id: format!("d{i}"),
                title: format!("Report {i} on {t}"),
                text: format!(
                    "Finding {} about {t} from site {} in {}.",
                    i * 3,
                    i % 11,
                    1990 + i
                ),
            }
        })
        .collect();
    let mut qrels = genret_data::Qrels::default();
    let mut queries = Vec::new();
    for (q, t) in topics.iter().enumerate() {
        queries.push(genret_data::Query {
            id: format!("q{q}"),
            text: format!("what is known about {t}"),
        });
        for i in (q..96).step_by(topics.len()) {
            qrels.insert(&format!("q{q}"), &format!("d{i}"), 1);
        }
    }
    (
        Corpus::from_documents(docs).unwrap(),
        qrels,
        genret_data::Queries::from_queries(queries),
    )
}

#[test]
fn queries_with_many_relevant_documents_do_not_stop_training() {
    let Some((_serial, dir, cfg)) = start() else {
        return;
    };
    let (corpus, qrels, queries) = topical_collection();
    let inputs = TrainInputs {
        dataset: "topical".into(),
        corpus: &corpus,
        train_qrels: Some((&qrels, &queries)),
        data_files: vec![],
    };
    let out = train(
        &dir.path().join("run"),
        cfg,
        &inputs,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(out.codes.len(), 96);
    // Each topic query trains with at most signal.max_docs_per_query of its 16 documents.
    assert_eq!(out.signal.queries_capped, 6);
    assert!(out.signal.qrels_pairs <= 6 * 8);
    // Docids stay (nearly) distinct: collisions are disambiguated, never a stop.
    assert!(out.health.largest_collision_group <= 2, "{:?}", out.health);
    assert!(out.health.distinct_docids >= 90, "{:?}", out.health);
    // The index gets a state per document.
    assert_eq!(out.doc_states.0.size()[0], 96);
    assert_eq!(out.doc_states.1.size()[0], 96);
}

/// The error of a run that must fail.
fn err_of(r: anyhow::Result<genret_train::TrainOutput>) -> String {
    match r {
        Ok(_) => panic!("the run should have failed"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn failed_runs_can_be_retried_resumed_with_a_clear_mismatch_or_restarted() {
    let Some((_serial, dir, cfg)) = start() else {
        return;
    };
    let corpus = corpus();
    let inputs = TrainInputs {
        dataset: "synthetic".into(),
        corpus: &corpus,
        train_qrels: None,
        data_files: vec![],
    };

    // A configuration that cannot train is refused before anything is written.
    let refused = dir.path().join("refused");
    let mut too_wide = cfg.clone();
    too_wide.docids.codebook_size = 64;
    let err = err_of(train(&refused, too_wide, &inputs, &TrainOptions::default()));
    assert!(
        err.contains("cannot fill a codebook of 64 codes") && err.contains("docids.codebook_size"),
        "{err}"
    );
    let mut too_big_batch = cfg.clone();
    too_big_batch.optim.batch_size = 100;
    let err = err_of(train(
        &refused,
        too_big_batch,
        &inputs,
        &TrainOptions::default(),
    ));
    assert!(err.contains("optim.batch_size"), "{err}");
    assert!(!refused.exists(), "a refused run leaves no folder");

    // Failing before the first finished unit leaves nothing that blocks a plain rerun.
    let early = dir.path().join("early");
    assert!(train(
        &early,
        cfg.clone(),
        &inputs,
        &TrainOptions {
            stop_after_units: Some(0),
            ..Default::default()
        }
    )
    .is_err());
    assert!(!early.join("checkpoint").exists());
    let mut stale = std::fs::read_to_string(early.join("metrics.jsonl")).unwrap();
    stale.push_str("{\"event\":\"stale\"}\n");
    std::fs::write(early.join("metrics.jsonl"), stale).unwrap();
    err_of(train(
        &early,
        cfg.clone(),
        &inputs,
        &TrainOptions {
            stop_after_units: Some(1),
            ..Default::default()
        },
    ));
    let metrics = std::fs::read_to_string(early.join("metrics.jsonl")).unwrap();
    assert!(
        !metrics.contains("stale"),
        "a new run starts its log afresh"
    );
    assert_eq!(metrics.matches("\"event\":\"unit_done\"").count(), 1);

    // Failing later: a plain rerun is refused and names both ways out.
    let err = err_of(train(
        &early,
        cfg.clone(),
        &inputs,
        &TrainOptions::default(),
    ));
    assert!(
        err.contains("--resume") && err.contains("--restart"),
        "{err}"
    );
    // Resuming with another K: one sentence with both shapes and the setting, no libtorch trace.
    let mut other_k = cfg.clone();
    other_k.docids.codebook_size = 6;
    let err = err_of(train(
        &early,
        other_k,
        &inputs,
        &TrainOptions {
            resume: true,
            ..Default::default()
        },
    ));
    assert!(
        err.contains("[8, 32] in the weights")
            && err.contains("[6, 32]")
            && err.contains("docids.codebook_size"),
        "{err}"
    );
    assert!(!err.contains("infer_size"), "{err}");
    // --restart deletes the run's files and starts over, ending like a fresh run.
    std::fs::write(early.join("notes.txt"), "mine").unwrap();
    let restarted = train(
        &early,
        cfg.clone(),
        &inputs,
        &TrainOptions {
            restart: true,
            ..Default::default()
        },
    )
    .unwrap();
    let fresh = train(
        &dir.path().join("fresh"),
        cfg.clone(),
        &inputs,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(restarted.codes, fresh.codes);
    assert_eq!(
        std::fs::read_to_string(early.join("notes.txt")).unwrap(),
        "mine",
        "--restart deletes only the run's own files"
    );
    assert!(train(
        &early,
        cfg,
        &inputs,
        &TrainOptions {
            resume: true,
            restart: true,
            ..Default::default()
        }
    )
    .is_err());
}

/// The checkpoint and training data of the adaptation tests.
struct AdaptationFixture {
    ckpt: genret_model::checkpoint::Checkpoint,
    corpus: Corpus,
    qrels: genret_data::Qrels,
    queries: genret_data::Queries,
}

impl AdaptationFixture {
    fn inputs(&self) -> TrainInputs<'_> {
        TrainInputs {
            dataset: "specific".into(),
            corpus: &self.corpus,
            train_qrels: Some((&self.qrels, &self.queries)),
            data_files: vec![],
        }
    }
}

/// A two-layer tiny BERT with adaptation of its top layer for one epoch, and one specific
/// judged query per document of the fixture corpus (a topic query, relevant to many, is never
/// adapted on).
fn adaptation_setup(dir: &std::path::Path, cfg: &mut TrainConfig) -> AdaptationFixture {
    // Two encoder layers; adaptation trains the upper one.
    let tok = shared().unwrap();
    let mut bert = tiny_bert_config(30522);
    bert.num_hidden_layers = 2;
    let ckpt = write_random_bert(&dir.join("model2"), &bert, &tok, 3).unwrap();
    cfg.model.checkpoint = ckpt.spec.clone();
    cfg.adapt.epochs = 1;
    cfg.adapt.layers = 1;
    cfg.adapt.batch_size = 4;
    cfg.adapt.lr = 1e-3;
    let corpus = corpus();
    let mut qrels = genret_data::Qrels::default();
    let mut list = Vec::new();
    for (i, d) in corpus.documents().iter().enumerate() {
        list.push(genret_data::Query {
            id: format!("q{i}"),
            text: format!("findings number {i} of {}", d.title),
        });
        qrels.insert(&format!("q{i}"), &d.id, 1);
    }
    AdaptationFixture {
        ckpt,
        corpus,
        qrels,
        queries: genret_data::Queries::from_queries(list),
    }
}

/// Only the top encoder layer changed, and the states handed to the index are what the adapted
/// model computes for each document, not the unadapted checkpoint's.
fn assert_adapted(
    out: &genret_train::TrainOutput,
    ckpt: &genret_model::checkpoint::Checkpoint,
    cfg: &TrainConfig,
    corpus: &Corpus,
) {
    assert_eq!(out.config.adapt.epochs, 1);
    let original: std::collections::BTreeMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(&ckpt.weights)
            .unwrap()
            .into_iter()
            .collect();
    let changed: Vec<String> = encoder_weights(out)
        .into_iter()
        .filter(|(n, t)| !t.equal(&original[n.strip_prefix("backbone.encoder.").unwrap()]))
        .map(|(n, _)| n)
        .collect();
    assert!(!changed.is_empty(), "adaptation changed no encoder weight");
    assert!(
        changed
            .iter()
            .all(|n| n.starts_with("backbone.encoder.encoder.layer.1.")),
        "{changed:?}"
    );

    // The states handed to the index are what the adapted model computes for each document.
    let (texts, tok) = train_doc_batch(out, corpus, &ckpt.tokenizer, cfg.model.doc_max_len);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let fresh = tch::no_grad(|| {
        out.model
            .encode(&tok.input_ids, &tok.attention_mask, false)
            .mean_pool()
    });
    let worst = (&fresh - &out.doc_states.1).abs().max().double_value(&[]);
    assert!(worst < 0.05, "stored encoder states differ by {worst}");
    // ...and not the unadapted checkpoint's, which that tolerance tells apart.
    let original =
        genret_model::embed::Embedder::load(ckpt, cfg.model.doc_max_len, tch::Device::Cpu)
            .unwrap()
            .embed(&refs, 16, false)
            .unwrap();
    let moved = (&original - &out.doc_states.1)
        .abs()
        .max()
        .double_value(&[]);
    assert!(
        moved > 0.05,
        "adaptation left the stored states where they were ({moved})"
    );
}

/// The texts of a run's training documents, in training order, and their token batch.
fn train_doc_batch(
    out: &genret_train::TrainOutput,
    corpus: &Corpus,
    tokenizer: &std::path::Path,
    max_len: usize,
) -> (Vec<String>, genret_model::tokenize::TokenBatch) {
    let tokenizer = genret_model::tokenize::TextTokenizer::from_file(tokenizer, max_len).unwrap();
    let texts: Vec<String> = out
        .train_docs
        .iter()
        .map(|&p| corpus.documents()[p].full_text())
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = tokenizer.encode_batch(&refs, tch::Device::Cpu).unwrap();
    (texts, batch)
}

/// Encoder adaptation trains the top encoder layers, and only them, before any docid; the
/// documents' encoder states the index receives are the adapted encoder's own; a run
/// interrupted after adaptation resumes to the same docids; without judged queries, or with
/// topic queries only, the stage is skipped and says so in the effective configuration.
#[test]
fn encoder_adaptation_trains_the_top_layers_and_the_states_follow_them() {
    let Some((_serial, dir, mut cfg)) = start() else {
        return;
    };
    let fixture = adaptation_setup(dir.path(), &mut cfg);
    let inputs = fixture.inputs();
    let out = train(
        &dir.path().join("adapted"),
        cfg.clone(),
        &inputs,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_adapted(&out, &fixture.ckpt, &cfg, &fixture.corpus);

    // Interrupted right after adaptation, then resumed: the same docids.
    let run = dir.path().join("resumed");
    let opts = TrainOptions {
        stop_after_units: Some(1),
        ..TrainOptions::default()
    };
    assert!(train(&run, cfg.clone(), &inputs, &opts).is_err());
    let resumed = train(
        &run,
        cfg.clone(),
        &inputs,
        &TrainOptions {
            resume: true,
            ..TrainOptions::default()
        },
    )
    .unwrap();
    assert_eq!(resumed.codes, out.codes);

    // No judged queries, or only topic queries: the stage is skipped, and the effective
    // configuration says so.
    let no_qrels = TrainInputs {
        train_qrels: None,
        ..inputs
    };
    let skipped = train(
        &dir.path().join("skipped"),
        cfg.clone(),
        &no_qrels,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(skipped.config.adapt.epochs, 0);
    let (topical, topic_qrels, topic_queries) = topical_collection();
    let topics = TrainInputs {
        dataset: "topical".into(),
        corpus: &topical,
        train_qrels: Some((&topic_qrels, &topic_queries)),
        data_files: vec![],
    };
    let skipped = train(
        &dir.path().join("topics"),
        cfg,
        &topics,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(skipped.config.adapt.epochs, 0);
}

/// A rule-based scheme (rq) trains on the same adapted encoder as learned docids, so schemes
/// are compared on one encoder; hard negatives (mined, then drawn per batch) train the same way.
#[test]
fn rule_based_docids_and_hard_negatives_adapt_the_encoder_too() {
    let Some((_serial, dir, mut cfg)) = start() else {
        return;
    };
    let fixture = adaptation_setup(dir.path(), &mut cfg);
    cfg.adapt.hard_negatives = 2;
    cfg.scheme.kind = genret_docids::SchemeKind::Rq;
    cfg.schedule.fixed_epochs = 1;
    let out = train(
        &dir.path().join("rq"),
        cfg.clone(),
        &fixture.inputs(),
        &TrainOptions::default(),
    )
    .unwrap();
    assert_adapted(&out, &fixture.ckpt, &cfg, &fixture.corpus);
}

/// Residual decoding turns the untrained tokenizer into residual quantisation of the decoder
/// states: every step's balanced k-means fits the reconstruction rows, so each step removes
/// part of what is left of the text, and steps past the point where prefixes are unique keep
/// using the codebook.
#[test]
fn residual_decoding_makes_the_untrained_tokenizer_a_residual_quantiser() {
    let Some((_serial, dir, mut cfg)) = start() else {
        return;
    };
    cfg.docids.steps = 5;
    cfg.docids.residual = true;
    cfg.schedule.warmup_epochs = 0;
    cfg.schedule.main_epochs = 0;
    cfg.schedule.final_epochs = 0;
    let corpus = corpus();
    let inputs = TrainInputs {
        dataset: "synthetic".into(),
        corpus: &corpus,
        train_qrels: None,
        data_files: vec![],
    };
    let out = train(
        &dir.path().join("run"),
        cfg.clone(),
        &inputs,
        &TrainOptions::default(),
    )
    .unwrap();
    let (m, k) = (5, 8);
    assert_eq!(out.model.reconstruction.len(), m + 1);
    // Every step uses most of the codebook, also steps 3 to 5, where 8^2 = 64 prefixes already
    // outnumber the 48 documents.
    for step in &out.health.steps[..m] {
        assert!(step.codes_used >= k / 2, "{:?}", out.health.steps);
    }
    // The rows were fitted: at every step, subtracting the chosen code's row from the state the
    // heads read (what the earlier codes left of the text) leaves less of it, summed over the
    // documents, and past step 1 those states are a small part of d_1.
    let (_, batch) = train_doc_batch(
        &out,
        &corpus,
        &out.checkpoint.tokenizer,
        cfg.model.doc_max_len,
    );
    let codes: Vec<i64> = out
        .codes
        .iter()
        .flat_map(|c| c[..m].iter().map(|&z| z as i64))
        .collect();
    let prefix = tch::Tensor::from_slice(&codes).view([out.codes.len() as i64, m as i64]);
    let energies: Vec<(f64, f64)> = tch::no_grad(|| {
        let enc = out
            .model
            .encode(&batch.input_ids, &batch.attention_mask, false);
        let states = out.model.decode_states(&enc, &prefix, false);
        let energy = |t: &tch::Tensor| t.square().sum(tch::Kind::Double).double_value(&[]);
        (0..m)
            .map(|t| {
                let seen = states.select(1, t as i64);
                let row = out.model.reconstruction[t].index_select(0, &prefix.select(1, t as i64));
                (energy(&seen), energy(&(&seen - row)))
            })
            .collect::<Vec<_>>()
    });
    assert!(
        energies.iter().all(|(before, after)| after < before),
        "each step's rows must reduce what they quantise: {energies:?}"
    );
    assert!(
        energies[1..]
            .iter()
            .all(|(before, _)| *before < 0.5 * energies[0].0),
        "states past step 1 are residuals: {energies:?}"
    );
}
