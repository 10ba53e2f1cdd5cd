//! Model-core benchmark, genret (tch/libtorch) side. `bench/model/bench_model.py` does exactly
//! the same work in PyTorch; `bench/model/run.sh` runs both on the same threads and prints the
//! ratio. Measurements (`--only`):
//!
//! * `minilm-encode`: all-MiniLM-L6-v2 (the shared checkpoint) embeds a batch of 32 texts of 256
//!   tokens: encoder forward, mean pooling, L2 normalisation, without gradients. Docs/s.
//! * `bert-train`: one GenRet training step on the BERT backbone with a frozen encoder: the
//!   encoder states are precomputed (random `[64, 256, 384]` for documents, `[64, 32, 384]` for
//!   queries), the light decoder (2 layers, 6 heads, FFN 4x, dropout 0.1, pooled-memory input:
//!   genret's default `DecoderConfig`) runs over the start
//!   vector and a prefix of 2 codes (M = 3, K = 64, progressive step T = 3), then the losses of
//!   `genret_model::losses` (ranking, step-T generation of query and document, prefix generation
//!   of query and document, reconstruction, authors' weights), backward, AdamW step. Steps/s.
//! * `t5-encode`: a t5-small-shaped randomly initialised T5 (d_model 512, 6+6 layers, 8 heads,
//!   d_ff 2048, vocab 32128) encodes 16 texts of 128 tokens, without gradients. Docs/s.
//! * `t5-train`: the same GenRet step on that T5, fully fine-tuned: documents `[16, 128]` and
//!   queries `[16, 32]` go through the encoder in training mode, T5's decoder reads the start
//!   vector and code embeddings. Steps/s.
//!
//! Token ids are a fixed arithmetic pattern (identical in both scripts); codes are fixed random
//! values (the training targets' source, Sinkhorn, is not part of the model core). The earlier
//! steps' codebooks are frozen, as in progressive training. Timings exclude warm-up iterations;
//! each line reports the median of the repeats.
//!
//! `--check-dir DIR` instead writes, for `bert-train` and `t5-train`, the initial weights, the
//! inputs and the loss terms (dropout off) before and after one AdamW step, plus the MiniLM
//! embeddings of the bench batch; `bench_model.py --check-dir DIR` recomputes them in PyTorch and
//! fails unless they agree, which shows the two scripts run the same computation.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use genret_model::backbone::Backbone;
use genret_model::backbone::Encoded;
use genret_model::bert::BertModel;
use genret_model::checkpoint::{load_weights, Checkpoint};
use genret_model::decoder::DecoderConfig;
use genret_model::embed::l2_normalize;
use genret_model::genret::{BackboneConfig, GenRet, HeadsConfig, ENCODER_PREFIX};
use genret_model::losses::{
    combine, generation_loss, ranking_loss, reconstruction_loss, LossTerms, LossWeights,
};
use genret_model::t5::{T5Config, T5Model};
use serde_json::json;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

const LR: f64 = 5e-4;
const WEIGHT_DECAY: f64 = 0.01;
const SEED: i64 = 1234;

struct Opts {
    threads: usize,
    only: Vec<String>,
    repeats: Option<usize>,
    warmup: Option<usize>,
    model: PathBuf,
    check_dir: Option<PathBuf>,
}

fn parse_args() -> Result<Opts> {
    let mut o = Opts {
        threads: 1,
        only: vec![],
        repeats: None,
        warmup: None,
        model: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/models/all-MiniLM-L6-v2"
        )),
        check_dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--threads" => o.threads = value()?.parse()?,
            "--only" => o.only = value()?.split(',').map(str::to_string).collect(),
            "--repeats" => o.repeats = Some(value()?.parse()?),
            "--warmup" => o.warmup = Some(value()?.parse()?),
            "--model" => o.model = value()?.into(),
            "--check-dir" => o.check_dir = Some(value()?.into()),
            "-h" | "--help" => {
                println!("bench_model [--threads N] [--only minilm-encode,bert-train,t5-encode,t5-train] [--repeats R] [--warmup W] [--model DIR] [--check-dir DIR]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if o.only.is_empty() {
        o.only = ["minilm-encode", "bert-train", "t5-encode", "t5-train"]
            .map(String::from)
            .to_vec();
    }
    Ok(o)
}

/// The token-id pattern both scripts use: `[B, L]`, ids in `1000..29000`, deterministic.
fn token_ids(b: i64, l: i64) -> Tensor {
    let ids: Vec<i64> = (0..b * l).map(|i| 1000 + (i * 7919) % 28000).collect();
    Tensor::from_slice(&ids).view([b, l])
}

/// Times `f` `warmup + repeats` times; returns the timed durations in seconds.
fn time(warmup: usize, repeats: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        f()?;
    }
    let mut out = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        f()?;
        out.push(start.elapsed().as_secs_f64());
    }
    Ok(out)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn report(
    backbone: &str,
    measurement: &str,
    unit: &str,
    per_iter: f64,
    threads: usize,
    samples: &[f64],
) {
    let m = median(samples);
    let line = json!({
        "impl": "genret",
        "backbone": backbone,
        "measurement": measurement,
        "threads": threads,
        "unit": unit,
        "value": per_iter / m,
        "median_s": m,
        "samples_s": samples,
    });
    println!("{line}");
}

// ---------------------------------------------------------------------------------------------
// MiniLM encoding.

fn load_minilm(dir: &Path) -> Result<(nn::VarStore, BertModel)> {
    let ckpt = Checkpoint::resolve(dir.to_str().context("model path is not UTF-8")?)?;
    let cfg = match GenRet::backbone_config(&ckpt)? {
        BackboneConfig::Bert(cfg) => cfg,
        BackboneConfig::T5(_) => bail!("{}: not a BERT checkpoint", dir.display()),
    };
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = BertModel::new(vs.root(), &cfg)?;
    let report = load_weights(&vs, &ckpt.weights, "", &["bert."])?;
    anyhow::ensure!(
        report.missing.is_empty(),
        "checkpoint lacks {:?}",
        report.missing
    );
    vs.freeze();
    Ok((vs, model))
}

fn minilm_embed(model: &BertModel, ids: &Tensor, mask: &Tensor) -> Tensor {
    tch::no_grad(|| {
        let states = model.forward(ids, mask, false);
        l2_normalize(
            &Encoded {
                states,
                mask: mask.shallow_clone(),
            }
            .mean_pool(),
        )
    })
}

fn bench_minilm(o: &Opts) -> Result<()> {
    let (_vs, model) = load_minilm(&o.model)?;
    let (b, l) = (32, 256);
    let ids = token_ids(b, l);
    let mask = Tensor::ones([b, l], (Kind::Int64, Device::Cpu));
    let samples = time(o.warmup.unwrap_or(1), o.repeats.unwrap_or(5), || {
        let e = minilm_embed(&model, &ids, &mask);
        anyhow::ensure!(e.size() == [b, 384], "unexpected shape {:?}", e.size());
        Ok(())
    })?;
    report(
        "bert (all-MiniLM-L6-v2)",
        "encode 32x256, docs/s",
        "docs/s",
        b as f64,
        o.threads,
        &samples,
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// GenRet training step.

/// Heads of the benchmark: M = 3, K = 64, light decoder 2 layers x 6 heads, FFN 4x.
fn heads() -> HeadsConfig {
    HeadsConfig {
        num_steps: 3,
        codebook_size: 64,
        temperature: 1.0,
        decoder: DecoderConfig {
            layers: 2,
            heads: 6,
            ffn_multiple: 4,
            dropout: 0.1,
            max_positions: 16,
            // genret's default: the mean-pooled encoder states, projected, join every decoder input.
            pooled_input: true,
        },
        residual: false,
    }
}

fn t5_small() -> Result<T5Config> {
    Ok(serde_json::from_value(json!({
        "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6, "num_decoder_layers": 6,
        "num_heads": 8, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
        "dropout_rate": 0.1, "layer_norm_epsilon": 1e-6, "feed_forward_proj": "relu",
        "tie_word_embeddings": true, "vocab_size": 32128, "pad_token_id": 0, "decoder_start_token_id": 0
    }))?)
}

/// The loss terms at progressive step T = M for documents and queries already encoded.
/// `codes`: `[B, M]`, the documents' docids (z_1 .. z_{T-1} fixed, z_T the step-T targets).
fn step_losses(
    model: &GenRet,
    docs: &Encoded,
    queries: &Encoded,
    codes: &Tensor,
    train: bool,
) -> LossTerms {
    let t = model.num_steps() - 1;
    let k = model.codebook_size();
    let temperature = model.heads.temperature;
    let prefix = codes.narrow(1, 0, t);
    let z_t = codes.select(1, t);
    let ds = model.decode_states(docs, &prefix, train);
    let qs = model.decode_states(queries, &prefix, train);
    let (d_t, q_t) = (ds.select(1, t), qs.select(1, t));
    let ranking = ranking_loss(&q_t, &d_t, temperature);
    let generation = generation_loss(&model.step_logits(t as usize, &q_t), &z_t)
        + generation_loss(&model.step_logits(t as usize, &d_t), &z_t);
    // Prefix: the logits of steps 1 .. T-1 against the fixed codes, for queries and documents.
    let prefix_logits = |states: &Tensor| {
        let per_step: Vec<Tensor> = (0..t)
            .map(|s| model.step_logits(s as usize, &states.select(1, s)))
            .collect();
        Tensor::stack(&per_step, 1).reshape([-1, k])
    };
    let prefix_targets = prefix.reshape([-1]);
    let prefix_loss = generation_loss(&prefix_logits(&qs), &prefix_targets)
        + generation_loss(&prefix_logits(&ds), &prefix_targets);
    let reconstruction = reconstruction_loss(&model.codebooks[t as usize], &z_t, &d_t, temperature);
    combine(
        &LossWeights::default(),
        Some(ranking),
        Some(generation),
        Some(prefix_loss),
        Some(reconstruction),
    )
}

/// Freezes what progressive training at step T = M freezes: earlier codebooks; with
/// `frozen_encoder`, also every encoder weight.
fn freeze(vs: &nn::VarStore, model: &GenRet, frozen_encoder: bool) {
    for cb in &model.codebooks[..model.codebooks.len() - 1] {
        let _ = cb.shallow_clone().set_requires_grad(false);
    }
    if frozen_encoder {
        for (name, var) in vs.variables() {
            if name.starts_with(ENCODER_PREFIX) {
                let _ = var.set_requires_grad(false);
            }
        }
    }
}

/// The benchmark's fixed random docids `[B, M]`.
fn codes(b: i64) -> Tensor {
    Tensor::randint(64, [b, 3], (Kind::Int64, Device::Cpu))
}

/// Model inputs of a training step: precomputed states (BERT, frozen) or token ids (T5).
enum Inputs {
    States { docs: Tensor, queries: Tensor },
    Ids { docs: Tensor, queries: Tensor },
}

impl Inputs {
    fn encode(&self, model: &GenRet, train: bool) -> (Encoded, Encoded) {
        match self {
            Inputs::States { docs, queries } => {
                let mask = |x: &Tensor| {
                    Tensor::ones([x.size()[0], x.size()[1]], (Kind::Int64, Device::Cpu))
                };
                (
                    Encoded {
                        states: docs.shallow_clone(),
                        mask: mask(docs),
                    },
                    Encoded {
                        states: queries.shallow_clone(),
                        mask: mask(queries),
                    },
                )
            }
            Inputs::Ids { docs, queries } => {
                let mask = |x: &Tensor| x.ones_like();
                (
                    model.encode(docs, &mask(docs), train),
                    model.encode(queries, &mask(queries), train),
                )
            }
        }
    }
    fn tensors(&self) -> Vec<(&str, &Tensor)> {
        match self {
            Inputs::States { docs, queries } => {
                vec![("doc_states", docs), ("query_states", queries)]
            }
            Inputs::Ids { docs, queries } => vec![("doc_ids", docs), ("query_ids", queries)],
        }
    }
}

struct TrainSetup {
    vs: nn::VarStore,
    model: GenRet,
    inputs: Inputs,
    codes: Tensor,
}

fn bert_setup() -> Result<TrainSetup> {
    tch::manual_seed(SEED);
    let mut bert = genret_model::genret::tiny_bert_config(30522);
    // all-MiniLM-L6-v2's shape: the encoder's weights are never used (its states are given),
    // but its width sets the decoder's.
    bert.hidden_size = 384;
    bert.num_hidden_layers = 6;
    bert.num_attention_heads = 12;
    bert.intermediate_size = 1536;
    bert.max_position_embeddings = 512;
    let vs = nn::VarStore::new(Device::Cpu);
    let model = GenRet::new(&vs.root(), &BackboneConfig::Bert(bert), &heads())?;
    freeze(&vs, &model, true);
    let (b, ld, lq, h) = (64, 256, 32, 384);
    let inputs = Inputs::States {
        docs: Tensor::randn([b, ld, h], (Kind::Float, Device::Cpu)),
        queries: Tensor::randn([b, lq, h], (Kind::Float, Device::Cpu)),
    };
    Ok(TrainSetup {
        vs,
        model,
        inputs,
        codes: codes(b),
    })
}

fn t5_setup() -> Result<TrainSetup> {
    tch::manual_seed(SEED);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = GenRet::new(&vs.root(), &BackboneConfig::T5(t5_small()?), &heads())?;
    freeze(&vs, &model, false);
    let b = 16;
    let inputs = Inputs::Ids {
        docs: token_ids(b, 128),
        queries: token_ids(b, 32),
    };
    Ok(TrainSetup {
        vs,
        model,
        inputs,
        codes: codes(b),
    })
}

fn optimizer(vs: &nn::VarStore) -> Result<nn::Optimizer> {
    Ok(nn::adamw(0.9, 0.999, WEIGHT_DECAY).build(vs, LR)?)
}

fn train_step(s: &TrainSetup, opt: &mut nn::Optimizer, train: bool) -> LossTerms {
    let (docs, queries) = s.inputs.encode(&s.model, train);
    let terms = step_losses(&s.model, &docs, &queries, &s.codes, train);
    opt.zero_grad();
    terms.total.backward();
    opt.step();
    terms
}

fn bench_train(o: &Opts, backbone: &str) -> Result<()> {
    let s = if backbone == "bert" {
        bert_setup()?
    } else {
        t5_setup()?
    };
    let mut opt = optimizer(&s.vs)?;
    let (warmup, repeats) = if backbone == "bert" { (2, 7) } else { (1, 3) };
    let samples = time(
        o.warmup.unwrap_or(warmup),
        o.repeats.unwrap_or(repeats),
        || {
            let terms = train_step(&s, &mut opt, true);
            anyhow::ensure!(
                terms.total.double_value(&[]).is_finite(),
                "loss is not finite"
            );
            Ok(())
        },
    )?;
    let (name, what) = if backbone == "bert" {
        (
            "bert (frozen MiniLM-shaped encoder)",
            "train step B=64 L=256, steps/s",
        )
    } else {
        (
            "t5 (t5-small shape, random)",
            "train step B=16 L=128, steps/s",
        )
    };
    report(name, what, "steps/s", 1.0, o.threads, &samples);
    Ok(())
}

fn bench_t5_encode(o: &Opts) -> Result<()> {
    tch::manual_seed(SEED);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = T5Model::new(vs.root(), &t5_small()?)?;
    vs.freeze();
    let (b, l) = (16, 128);
    let ids = token_ids(b, l);
    let mask = ids.ones_like();
    let samples = time(o.warmup.unwrap_or(1), o.repeats.unwrap_or(5), || {
        let e = tch::no_grad(|| model.encode(&ids, &mask, false));
        anyhow::ensure!(e.states.size() == [b, l, 512], "unexpected shape");
        Ok(())
    })?;
    report(
        "t5 (t5-small shape, random)",
        "encode 16x128, docs/s",
        "docs/s",
        b as f64,
        o.threads,
        &samples,
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Parity dump.

fn loss_json(t: &LossTerms) -> serde_json::Value {
    json!({
        "total": t.total.double_value(&[]),
        "ranking": t.ranking,
        "generation": t.generation,
        "prefix": t.prefix,
        "reconstruction": t.reconstruction,
    })
}

fn write_check(o: &Opts, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut reference = serde_json::Map::new();
    for backbone in ["bert", "t5"] {
        let s = if backbone == "bert" {
            bert_setup()?
        } else {
            t5_setup()?
        };
        // Initial weights (without the BERT encoder, whose states are given) and inputs.
        let vars: Vec<(String, Tensor)> =
            s.vs.variables()
                .into_iter()
                .filter(|(n, _)| backbone != "bert" || !n.starts_with(ENCODER_PREFIX))
                .collect();
        Tensor::write_safetensors(&vars, dir.join(format!("{backbone}-weights.safetensors")))?;
        let mut inputs: Vec<(&str, &Tensor)> = s.inputs.tensors();
        inputs.push(("codes", &s.codes));
        Tensor::write_safetensors(&inputs, dir.join(format!("{backbone}-inputs.safetensors")))?;
        // Dropout off: loss before the step, one AdamW step, loss after it.
        let mut opt = optimizer(&s.vs)?;
        let (docs, queries) = s.inputs.encode(&s.model, false);
        let before = step_losses(&s.model, &docs, &queries, &s.codes, false);
        opt.zero_grad();
        before.total.backward();
        let grads: Vec<(String, Tensor)> = vars
            .iter()
            .filter_map(|(n, v)| {
                let g = v.grad();
                g.defined().then(|| (n.clone(), g.copy()))
            })
            .collect();
        Tensor::write_safetensors(&grads, dir.join(format!("{backbone}-grads.safetensors")))?;
        opt.step();
        let after = tch::no_grad(|| {
            let (docs, queries) = s.inputs.encode(&s.model, false);
            step_losses(&s.model, &docs, &queries, &s.codes, false)
        });
        reference.insert(
            backbone.into(),
            json!({ "before": loss_json(&before), "after_one_step": loss_json(&after) }),
        );
    }
    let (_vs, minilm) = load_minilm(&o.model)?;
    let ids = token_ids(32, 256);
    let e = minilm_embed(&minilm, &ids, &ids.ones_like()).narrow(0, 0, 2);
    let rows: Vec<Vec<f32>> = (0..2)
        .map(|i| Vec::<f32>::try_from(e.get(i)).unwrap_or_default())
        .collect();
    reference.insert("minilm".into(), json!({ "embeddings_rows_0_1": rows }));
    let path = dir.join("reference.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&serde_json::Value::Object(reference))?,
    )?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn main() -> Result<()> {
    let o = parse_args()?;
    tch::set_num_threads(o.threads as i32);
    if let Some(dir) = &o.check_dir {
        return write_check(&o, dir);
    }
    for m in &o.only {
        match m.as_str() {
            "minilm-encode" => bench_minilm(&o)?,
            "bert-train" => bench_train(&o, "bert")?,
            "t5-encode" => bench_t5_encode(&o)?,
            "t5-train" => bench_train(&o, "t5")?,
            other => bail!("unknown measurement {other}"),
        }
    }
    Ok(())
}
