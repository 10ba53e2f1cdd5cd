//! The datasets genret can fetch by name: the public BEIR archive's catalogue.

use crate::error::{DataError, Result};

/// A dataset the public BEIR archive serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownDataset {
    /// The name used on the command line and as the archive's file name (`{name}.zip`).
    pub name: &'static str,
    /// Sub-datasets inside the archive (`name/sub`), for archives that hold several; empty when
    /// the archive's top folder is the dataset itself.
    pub subsets: &'static [&'static str],
    /// Size of the archive, for the message before a download.
    pub approx_size: &'static str,
}

/// The public BEIR archive (`{base}/{name}.zip`).
pub const BEIR_BASE_URL: &str =
    "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets";

const CQADUPSTACK_FORUMS: &[&str] = &[
    "android",
    "english",
    "gaming",
    "gis",
    "mathematica",
    "physics",
    "programmers",
    "stats",
    "tex",
    "unix",
    "webmasters",
    "wordpress",
];

/// The datasets the public BEIR archive serves (BioASQ, Signal-1M, TREC-NEWS and Robust04 are
/// not freely redistributable and are not there; use `--data DIR` for them).
pub const KNOWN_DATASETS: &[KnownDataset] = &[
    KnownDataset {
        name: "msmarco",
        subsets: &[],
        approx_size: "1.1 GB",
    },
    KnownDataset {
        name: "trec-covid",
        subsets: &[],
        approx_size: "70 MB",
    },
    KnownDataset {
        name: "nfcorpus",
        subsets: &[],
        approx_size: "2.4 MB",
    },
    KnownDataset {
        name: "nq",
        subsets: &[],
        approx_size: "490 MB",
    },
    KnownDataset {
        name: "hotpotqa",
        subsets: &[],
        approx_size: "630 MB",
    },
    KnownDataset {
        name: "fiqa",
        subsets: &[],
        approx_size: "17 MB",
    },
    KnownDataset {
        name: "arguana",
        subsets: &[],
        approx_size: "3.8 MB",
    },
    KnownDataset {
        name: "webis-touche2020",
        subsets: &[],
        approx_size: "220 MB",
    },
    KnownDataset {
        name: "cqadupstack",
        subsets: CQADUPSTACK_FORUMS,
        approx_size: "440 MB",
    },
    KnownDataset {
        name: "quora",
        subsets: &[],
        approx_size: "16 MB",
    },
    KnownDataset {
        name: "dbpedia-entity",
        subsets: &[],
        approx_size: "630 MB",
    },
    KnownDataset {
        name: "scidocs",
        subsets: &[],
        approx_size: "14 MB",
    },
    KnownDataset {
        name: "fever",
        subsets: &[],
        approx_size: "1.2 GB",
    },
    KnownDataset {
        name: "climate-fever",
        subsets: &[],
        approx_size: "1.2 GB",
    },
    KnownDataset {
        name: "scifact",
        subsets: &[],
        approx_size: "2.7 MB",
    },
];

/// Looks up a dataset name (`scifact`, `cqadupstack/android`): the archive entry and the
/// sub-dataset, if any. Unknown names get an error listing the known ones.
pub fn known_dataset(name: &str) -> Result<(&'static KnownDataset, Option<&'static str>)> {
    let (archive, sub) = match name.split_once('/') {
        Some((a, s)) => (a, Some(s)),
        None => (name, None),
    };
    let Some(entry) = KNOWN_DATASETS.iter().find(|d| d.name == archive) else {
        return Err(DataError::Dataset(format!(
            "unknown dataset `{name}`; known: {} (or pass --data DIR with a folder in BEIR layout)",
            known_names().join(", ")
        )));
    };
    let members = || {
        entry
            .subsets
            .iter()
            .map(|s| format!("{archive}/{s}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (entry.subsets.is_empty(), sub) {
        (true, None) => Ok((entry, None)),
        (true, Some(_)) => Err(DataError::Dataset(format!(
            "unknown dataset `{name}`: `{archive}` has no sub-datasets"
        ))),
        (false, Some(s)) => match entry.subsets.iter().find(|x| **x == s) {
            Some(s) => Ok((entry, Some(*s))),
            None => Err(DataError::Dataset(format!(
                "unknown dataset `{name}`; `{archive}` holds: {}",
                members()
            ))),
        },
        (false, None) => Err(DataError::Dataset(format!(
            "`{archive}` is a collection; name one of its datasets: {}",
            members()
        ))),
    }
}

/// Every name [`Dataset::resolve`] accepts, in registry order.
pub fn known_names() -> Vec<String> {
    KNOWN_DATASETS
        .iter()
        .flat_map(|d| {
            if d.subsets.is_empty() {
                vec![d.name.to_string()]
            } else {
                d.subsets
                    .iter()
                    .map(|s| format!("{}/{s}", d.name))
                    .collect()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names() {
        assert_eq!(known_dataset("scifact").unwrap().0.name, "scifact");
        assert_eq!(known_dataset("cqadupstack/tex").unwrap().1, Some("tex"));
        let err = known_dataset("nosuch").unwrap_err().to_string();
        for name in [
            "scifact",
            "nfcorpus",
            "fiqa",
            "arguana",
            "scidocs",
            "trec-covid",
            "msmarco",
        ] {
            assert!(err.contains(name), "{err}");
        }
        assert!(known_dataset("cqadupstack")
            .unwrap_err()
            .to_string()
            .contains("cqadupstack/android"));
        assert!(known_dataset("scifact/x").is_err());
    }
}
