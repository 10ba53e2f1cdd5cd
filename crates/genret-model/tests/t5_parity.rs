//! Parity of the T5 backbone with Hugging Face transformers.
//!
//! The fixtures `tests/fixtures/t5-tiny{,-gated}` are tiny randomly initialised T5 checkpoints in
//! hub layout with the outputs of transformers' `T5ForConditionalGeneration` (eval mode) in
//! `reference.json`; `tests/fixtures/make_t5_tiny.py` regenerates them. This test needs no Python.
//!
//! Checked per fixture: the checkpoint loads with nothing missing and nothing unexpected left
//! over; the tokenizer reproduces the reference ids; encoder states, decoder states over input
//! vectors (GenRet's path), incremental decoding and full-model logits all match the reference.

use std::path::{Path, PathBuf};

use genret_model::backbone::{Backbone, KvCache};
use genret_model::checkpoint::{load_weights, Checkpoint};
use genret_model::t5::{is_ignored_checkpoint_tensor, T5Config, T5Model};
use genret_model::tokenize::TextTokenizer;
use serde::Deserialize;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// Against values saved with 8 significant digits by a float32 reference.
const TOLERANCE: f64 = 1e-4;
/// Incremental decoding against full decoding: same arithmetic, different grouping.
const STEP_TOLERANCE: f64 = 1e-5;

#[derive(Deserialize)]
struct Reference {
    texts: Vec<String>,
    input_ids: Vec<Vec<i64>>,
    attention_mask: Vec<Vec<i64>>,
    encoder_last_hidden_state: Vec<Vec<Vec<f64>>>,
    decoder_inputs_embeds: Vec<Vec<Vec<f64>>>,
    decoder_last_hidden_state: Vec<Vec<Vec<f64>>>,
    decoder_input_ids: Vec<Vec<i64>>,
    logits: Vec<Vec<Vec<f64>>>,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn reference(dir: &Path) -> Reference {
    let text = std::fs::read_to_string(dir.join("reference.json")).expect("reading reference.json");
    serde_json::from_str(&text).expect("parsing reference.json")
}

fn ids(rows: &[Vec<i64>]) -> Tensor {
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, -1])
}

fn floats(v: &[Vec<Vec<f64>>]) -> Tensor {
    let flat: Vec<f32> = v.iter().flatten().flatten().map(|&x| x as f32).collect();
    Tensor::from_slice(&flat).view([v.len() as i64, v[0].len() as i64, -1])
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shape mismatch");
    (a - b).abs().max().double_value(&[])
}

/// Loads a fixture into a model whose variables live under `backbone.`, as in GenRet.
fn load(dir: &Path, with_lm_head: bool) -> (Checkpoint, T5Model, VarStore) {
    let ckpt = Checkpoint::resolve(dir.to_str().unwrap()).unwrap();
    assert_eq!(ckpt.model_type().unwrap(), "t5");
    let cfg: T5Config = ckpt.config().unwrap();
    let vs = VarStore::new(Device::Cpu);
    let root = vs.root() / "backbone";
    let model = if with_lm_head {
        T5Model::new_with_lm_head(&root, &cfg)
    } else {
        T5Model::new(&root, &cfg)
    }
    .unwrap();
    let report = load_weights(&vs, &ckpt.weights, "backbone.", &[]).unwrap();
    assert!(
        report.missing.is_empty(),
        "variables the checkpoint did not fill: {:?}",
        report.missing
    );
    let unexpected: Vec<&String> = report
        .unused
        .iter()
        .filter(|n| !is_ignored_checkpoint_tensor(n))
        .collect();
    assert!(
        unexpected.is_empty(),
        "checkpoint tensors with no variable: {unexpected:?}"
    );
    assert_eq!(report.loaded, vs.variables().len());
    if with_lm_head && !cfg.tie_word_embeddings {
        assert!(
            !report.unused.iter().any(|n| n == "lm_head.weight"),
            "lm_head not loaded"
        );
    }
    (ckpt, model, vs)
}

fn check_fixture(name: &str) {
    let dir = fixture(name);
    let r = reference(&dir);
    let (ckpt, model, _vs) = load(&dir, true);
    let _guard = tch::no_grad_guard();

    // The checkpoint's tokenizer gives the ids the reference was computed on.
    let tokenizer = TextTokenizer::from_file(&ckpt.tokenizer, 64).unwrap();
    let texts: Vec<&str> = r.texts.iter().map(String::as_str).collect();
    let batch = tokenizer.encode_batch(&texts, Device::Cpu).unwrap();
    let (input_ids, mask) = (ids(&r.input_ids), ids(&r.attention_mask));
    assert_eq!(
        Vec::<i64>::try_from(batch.input_ids.flatten(0, -1)).unwrap(),
        Vec::<i64>::try_from(input_ids.flatten(0, -1)).unwrap()
    );
    assert_eq!(
        Vec::<i64>::try_from(batch.attention_mask.flatten(0, -1)).unwrap(),
        Vec::<i64>::try_from(mask.flatten(0, -1)).unwrap()
    );

    // Encoder, padded positions included (transformers computes them too).
    let encoded = model.encode(&input_ids, &mask, false);
    let enc_diff = max_diff(&encoded.states, &floats(&r.encoder_last_hidden_state));

    // Decoder over input vectors.
    let inputs = floats(&r.decoder_inputs_embeds);
    let states = model.decode(&inputs, &encoded, false);
    let dec_diff = max_diff(&states, &floats(&r.decoder_last_hidden_state));

    // Incremental decoding, one position at a time.
    let mut cache = KvCache::new(model.num_decoder_layers());
    let steps: Vec<Tensor> = (0..inputs.size()[1])
        .map(|t| model.decode_step(&inputs.narrow(1, t, 1), &encoded, &mut cache))
        .collect();
    let stepped = Tensor::cat(&steps, 1);
    let step_vs_full = max_diff(&stepped, &states);
    let step_vs_ref = max_diff(&stepped, &floats(&r.decoder_last_hidden_state));

    // Full seq2seq forward over decoder token ids, through the LM head.
    let logits = model
        .lm_logits(&model.decode(&model.embed(&ids(&r.decoder_input_ids)), &encoded, false))
        .unwrap();
    let logit_diff = max_diff(&logits, &floats(&r.logits));

    println!(
        "{name}: max |diff| encoder {enc_diff:.2e}, decoder {dec_diff:.2e}, decode_step vs decode {step_vs_full:.2e}, \
         decode_step vs reference {step_vs_ref:.2e}, logits {logit_diff:.2e}"
    );
    assert!(
        enc_diff < TOLERANCE,
        "{name}: encoder states differ by {enc_diff}"
    );
    assert!(
        dec_diff < TOLERANCE,
        "{name}: decoder states differ by {dec_diff}"
    );
    assert!(
        step_vs_full < STEP_TOLERANCE,
        "{name}: decode_step differs from decode by {step_vs_full}"
    );
    assert!(
        step_vs_ref < TOLERANCE,
        "{name}: decode_step differs from the reference by {step_vs_ref}"
    );
    assert!(
        logit_diff < TOLERANCE,
        "{name}: logits differ by {logit_diff}"
    );

    // Beam search reorders cache rows; the continuation must follow the reordered rows.
    let mut cache = KvCache::new(model.num_decoder_layers());
    let order = Tensor::from_slice(&[2i64, 0, 1]);
    for t in 0..3 {
        let _ = model.decode_step(&inputs.narrow(1, t, 1), &encoded, &mut cache);
    }
    cache.select_rows(&order);
    let reordered = encoded.select_rows(&order);
    let next = model.decode_step(
        &inputs.index_select(0, &order).narrow(1, 3, 1),
        &reordered,
        &mut cache,
    );
    assert!(max_diff(&next, &states.index_select(0, &order).narrow(1, 3, 1)) < STEP_TOLERANCE);
}

#[test]
fn t5_tiny_relu_tied_matches_transformers() {
    check_fixture("t5-tiny");
}

#[test]
fn t5_tiny_gated_untied_matches_transformers() {
    check_fixture("t5-tiny-gated");
}

/// Without `new_with_lm_head`, an untied checkpoint's `lm_head.weight` is left unused (GenRet
/// never needs it) and asking for logits is an error, not a silent use of `shared`.
#[test]
fn untied_head_is_optional() {
    let (_ckpt, model, vs) = load(&fixture("t5-tiny-gated"), false);
    assert!(!vs.variables().keys().any(|k| k.contains("lm_head")));
    assert!(model
        .lm_logits(&Tensor::zeros(
            [1, model.hidden_size()],
            (Kind::Float, Device::Cpu)
        ))
        .is_err());
}

/// A file holding the embeddings only under `encoder.embed_tokens.weight` still fills `shared`.
#[test]
fn shared_embeddings_load_from_alias() {
    let dir = fixture("t5-tiny-gated");
    let tensors: Vec<(String, Tensor)> = Tensor::read_safetensors(dir.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .filter(|(n, _)| n != "shared.weight")
        .collect();
    let expected = tensors
        .iter()
        .find(|(n, _)| n == "encoder.embed_tokens.weight")
        .unwrap()
        .1
        .shallow_clone();
    let tmp = std::env::temp_dir().join(format!(
        "genret-t5-alias-{}.safetensors",
        std::process::id()
    ));
    Tensor::write_safetensors(&tensors, &tmp).unwrap();

    let cfg: T5Config = Checkpoint::resolve(dir.to_str().unwrap())
        .unwrap()
        .config()
        .unwrap();
    let vs = VarStore::new(Device::Cpu);
    let model = T5Model::new(vs.root() / "backbone", &cfg).unwrap();
    let report = T5Model::load_weights(&vs, &tmp, "backbone.");
    std::fs::remove_file(&tmp).ok();
    let report = report.unwrap();
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let ids = Tensor::arange(cfg.vocab_size, (Kind::Int64, Device::Cpu));
    assert_eq!(max_diff(&model.embed(&ids), &expected), 0.0);
}
