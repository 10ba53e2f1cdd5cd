//! `genret embed`: sentence embeddings of the texts on the command line, as JSON on stdout.
//!
//! Mean pooling over real tokens of a BERT-family checkpoint's encoder (what sentence-transformers
//! computes for all-MiniLM-L6-v2 and most embedding models), then, depending on `--normalize`,
//! L2 normalisation. `auto` normalises exactly when the checkpoint's sentence-transformers
//! pipeline (`modules.json`) ends with a `Normalize` module, so the output equals
//! `SentenceTransformer(model).encode(texts)`. Useful to check that a checkpoint loads and
//! computes what its reference implementation computes.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use genret_model::checkpoint::Checkpoint;
use genret_model::embed::Embedder;
use genret_model::tch;
use serde_json::json;

use super::common::{parse_device, set_torch_threads};

const AFTER_HELP: &str = "\
Examples:
  genret embed --model sentence-transformers/all-MiniLM-L6-v2 \"what is generative retrieval?\"
  genret embed --model ../shared/models/all-MiniLM-L6-v2 --normalize no \"first text\" \"second text\"

Output: {\"model\": ..., \"dim\": H, \"normalized\": true|false, \"max_len\": ..., \"embeddings\": [[H floats], ...]}";

/// Arguments of `genret embed`.
#[derive(clap::Args, Debug)]
#[command(about = "Print mean-pooled sentence embeddings of texts as JSON", after_help = AFTER_HELP)]
pub struct Args {
    /// Checkpoint: a folder with config.json, model.safetensors, tokenizer.json, or a hub id.
    #[arg(long)]
    pub model: String,
    /// Tokens per text, special tokens included (longer texts are truncated).
    #[arg(long, default_value_t = 256)]
    pub max_len: usize,
    /// L2-normalise the embeddings: `auto` does when the checkpoint's modules.json lists a
    /// sentence-transformers Normalize module.
    #[arg(long, value_enum, default_value_t = Normalize::Auto)]
    pub normalize: Normalize,
    /// Texts encoded per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// libtorch intra-op threads (0: libtorch's default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where the model runs: `cpu`, `cuda`, `cuda:N`, or `auto` (a GPU when one is visible).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// The texts to embed.
    #[arg(required = true, value_name = "TEXT")]
    pub texts: Vec<String>,
}

/// `--normalize`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    Auto,
    Yes,
    No,
}

/// Whether the sentence-transformers pipeline in `dir/modules.json` contains a `Normalize`
/// module. A folder without modules.json (a plain transformers checkpoint) does not normalise.
pub fn st_normalizes(dir: &Path) -> anyhow::Result<bool> {
    let path = dir.join("modules.json");
    if !path.is_file() {
        return Ok(false);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let modules: Vec<serde_json::Value> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a sentence-transformers module list",
            path.display()
        )
    })?;
    Ok(modules.iter().any(|m| {
        m.get("type").and_then(|t| t.as_str()).is_some_and(|t| {
            t == "sentence_transformers.models.Normalize" || t.ends_with(".Normalize")
        })
    }))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.max_len >= 2, "--max-len must be at least 2");
    set_torch_threads(args.threads);
    let device = parse_device(&args.device)?;
    let ckpt = Checkpoint::resolve(&args.model)?;
    let normalize = match args.normalize {
        Normalize::Yes => true,
        Normalize::No => false,
        // modules.json sits next to config.json, in a folder and in a hub snapshot alike.
        Normalize::Auto => match ckpt.config.parent() {
            Some(dir) => st_normalizes(dir)?,
            None => false,
        },
    };
    let embedder = Embedder::load(&ckpt, args.max_len, device)?;
    let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
    let emb = embedder.embed(&texts, args.batch_size.max(1), normalize)?;
    let emb = emb.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float);
    let (n, dim) = emb.size2()?;
    let flat: Vec<f32> = Vec::<f32>::try_from(emb.reshape([-1]))?;
    let rows: Vec<&[f32]> = flat.chunks(dim.max(1) as usize).take(n as usize).collect();
    let out = json!({
        "model": args.model,
        "dim": dim,
        "normalized": normalize,
        "max_len": args.max_len,
        "embeddings": rows,
    });
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    serde_json::to_writer(&mut w, &out)?;
    writeln!(w)?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_module_detection() {
        let dir = std::env::temp_dir().join(format!("genret-cli-embed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            !st_normalizes(&dir).unwrap(),
            "no modules.json: no normalisation"
        );
        let modules = dir.join("modules.json");
        std::fs::write(
            &modules,
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
               {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#,
        )
        .unwrap();
        assert!(!st_normalizes(&dir).unwrap());
        std::fs::write(
            &modules,
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
               {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
        )
        .unwrap();
        assert!(st_normalizes(&dir).unwrap());
        std::fs::write(&modules, "{not json").unwrap();
        assert!(st_normalizes(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
