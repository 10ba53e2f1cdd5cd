//! How far a trained index's stored docids are from what its final tokenizer gives the same
//! documents: the share of documents whose first 1, 2, ... codes agree.
//!
//!     cargo run -p genret-index --example docid_drift -- runs/scifact/index ../shared/data/scifact

use genret_data::{Dataset, DatasetSource};
use genret_index::{Index, Origin};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: docid_drift INDEX_DIR DATA_DIR");
    let index = Index::open(std::path::Path::new(&args[1]), tch::Device::Cpu)?;
    let corpus = Dataset::resolve(&DatasetSource::Dir(args[2].clone().into()))?.load_corpus()?;
    let stored: Vec<(u64, Vec<u32>)> = index.store().all_codes()?;
    let origins = index.store().all_origins()?;
    let by_id: std::collections::HashMap<&str, &genret_data::Document> = corpus
        .documents()
        .iter()
        .map(|d| (d.id.as_str(), d))
        .collect();
    let docs: Vec<genret_data::Document> = origins
        .iter()
        .map(|(id, _)| (*by_id[id.as_str()]).clone())
        .collect();
    let fresh = index.assign_docids(&docs, 64)?;
    let m = fresh[0].len();
    for origin in [Origin::Train, Origin::Added] {
        let rows: Vec<usize> = (0..docs.len())
            .filter(|&i| origins[i].1 == origin)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let agree: Vec<String> = (1..=m)
            .map(|l| {
                let n = rows
                    .iter()
                    .filter(|&&i| stored[i].1[..l] == fresh[i][..l])
                    .count();
                format!("{l} codes {:.3}", n as f64 / rows.len() as f64)
            })
            .collect();
        println!(
            "{origin} documents ({}): stored docid prefix equals the final tokenizer's: {}",
            rows.len(),
            agree.join(", ")
        );
    }
    Ok(())
}
