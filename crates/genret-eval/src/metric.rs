//! Measure names: parsing trec_eval, ir-measures and paper spellings into one [`Metric`].
//!
//! Accepted spellings are case-insensitive; `_` and `-` inside the name are ignored, and the
//! cutoff may follow `@`, `_`, `.` or nothing:
//!
//! | Metric                    | canonical name | trec_eval name   | also accepted                       |
//! |---------------------------|----------------|------------------|-------------------------------------|
//! | [`Metric::Ndcg`]`(k)`     | `nDCG@k`       | `ndcg_cut_k`     | `ndcg_cut.k`, `ndcg@k`              |
//! | [`Metric::Recall`]`(k)`   | `R@k`          | `recall_k`       | `recall.k`, `Recall@k`              |
//! | [`Metric::Precision`]`(k)`| `P@k`          | `P_k`            | `P.k`, `precision@k`                |
//! | [`Metric::RecipRank`]`(Some(k))` | `MRR@k` | (none)           | `RR@k`, `recip_rank@k`              |
//! | [`Metric::RecipRank`]`(None)` | `MRR`      | `recip_rank`     | `RR`                                |
//! | [`Metric::Map`]`(None)`   | `MAP`          | `map`            | `AP`                                |
//! | [`Metric::Map`]`(Some(k))`| `MAP@k`        | `map_cut_k`      | `AP@k`, `map_cut.k`                 |
//! | [`Metric::NumRet`]        | `num_ret`      | `num_ret`        | `NumRet`                            |
//! | [`Metric::NumRel`]        | `num_rel`      | `num_rel`        | `NumRel`                            |
//! | [`Metric::NumRelRet`]     | `num_rel_ret`  | `num_rel_ret`    | `NumRelRet`                         |
//!
//! [`Metric::parse_list`] also takes trec_eval's `-m ndcg_cut.5,10,100` shorthand: a bare number
//! after a cutoff measure repeats that measure with the new cutoff.

use std::fmt;
use std::str::FromStr;

use crate::error::{EvalError, Result};

/// One retrieval measure. Cutoffs are positive (`0` is rejected by parsing and by
/// [`crate::evaluate`]). See the crate documentation for the exact definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// nDCG at cutoff k with linear gains (trec_eval `ndcg_cut.k`).
    Ndcg(usize),
    /// Fraction of the relevant documents found in the top k (trec_eval `recall.k`).
    Recall(usize),
    /// Fraction of the top k that is relevant, missing ranks counted non-relevant (`P.k`).
    Precision(usize),
    /// Reciprocal rank of the first relevant document, 0 if it is below rank k
    /// (`Some(k)`, ir-measures `RR@k`) or never retrieved (`None`, trec_eval `recip_rank`).
    RecipRank(Option<usize>),
    /// Average precision over all ranks (`None`, trec_eval `map`) or the top k
    /// (`Some(k)`, trec_eval `map_cut.k`).
    Map(Option<usize>),
    /// Number of documents retrieved (after removing duplicates, if allowed).
    NumRet,
    /// Number of relevant judged documents (grade >= relevance level).
    NumRel,
    /// Number of relevant documents retrieved.
    NumRelRet,
}

impl Metric {
    /// The measures genret reports when none are named: nDCG@10, R@1, R@10, R@100, MRR@10,
    /// MAP and P@10.
    pub fn default_set() -> Vec<Metric> {
        vec![
            Metric::Ndcg(10),
            Metric::Recall(1),
            Metric::Recall(10),
            Metric::Recall(100),
            Metric::RecipRank(Some(10)),
            Metric::Map(None),
            Metric::Precision(10),
        ]
    }

    /// The canonical name: the key in [`crate::Evaluation`] maps and JSON output.
    pub fn name(&self) -> String {
        match self {
            Metric::Ndcg(k) => format!("nDCG@{k}"),
            Metric::Recall(k) => format!("R@{k}"),
            Metric::Precision(k) => format!("P@{k}"),
            Metric::RecipRank(Some(k)) => format!("MRR@{k}"),
            Metric::RecipRank(None) => "MRR".to_string(),
            Metric::Map(None) => "MAP".to_string(),
            Metric::Map(Some(k)) => format!("MAP@{k}"),
            Metric::NumRet => "num_ret".to_string(),
            Metric::NumRel => "num_rel".to_string(),
            Metric::NumRelRet => "num_rel_ret".to_string(),
        }
    }

    /// The name trec_eval and pytrec_eval print for this measure, when they have one
    /// (`MRR@k` has none: trec_eval's `recip_rank` is never cut).
    pub fn trec_name(&self) -> Option<String> {
        Some(match self {
            Metric::Ndcg(k) => format!("ndcg_cut_{k}"),
            Metric::Recall(k) => format!("recall_{k}"),
            Metric::Precision(k) => format!("P_{k}"),
            Metric::RecipRank(Some(_)) => return None,
            Metric::RecipRank(None) => "recip_rank".to_string(),
            Metric::Map(None) => "map".to_string(),
            Metric::Map(Some(k)) => format!("map_cut_{k}"),
            Metric::NumRet => "num_ret".to_string(),
            Metric::NumRel => "num_rel".to_string(),
            Metric::NumRelRet => "num_rel_ret".to_string(),
        })
    }

    /// True for the counting measures (`num_ret`, `num_rel`, `num_rel_ret`), whose summary in
    /// trec_eval is a total over queries rather than a mean.
    pub fn is_count(&self) -> bool {
        matches!(self, Metric::NumRet | Metric::NumRel | Metric::NumRelRet)
    }

    /// The cutoff, for measures that have one.
    pub fn cutoff(&self) -> Option<usize> {
        match *self {
            Metric::Ndcg(k) | Metric::Recall(k) | Metric::Precision(k) => Some(k),
            Metric::RecipRank(k) | Metric::Map(k) => k,
            Metric::NumRet | Metric::NumRel | Metric::NumRelRet => None,
        }
    }

    /// The same measure at another cutoff; `None` for measures without one.
    pub fn with_cutoff(&self, k: usize) -> Option<Metric> {
        match self {
            Metric::Ndcg(_) => Some(Metric::Ndcg(k)),
            Metric::Recall(_) => Some(Metric::Recall(k)),
            Metric::Precision(_) => Some(Metric::Precision(k)),
            Metric::RecipRank(Some(_)) => Some(Metric::RecipRank(Some(k))),
            Metric::Map(Some(_)) => Some(Metric::Map(Some(k))),
            _ => None,
        }
    }

    /// Rejects a zero cutoff (P@0 would divide by zero; trec_eval refuses it as well).
    pub fn validate(&self) -> Result<()> {
        if self.cutoff() == Some(0) {
            return Err(EvalError::UnknownMetric {
                name: self.name(),
                reason: "cutoffs must be positive".into(),
            });
        }
        Ok(())
    }

    /// Parses a comma- or space-separated list, e.g. `ndcg_cut_10,R@100,MRR@10` or trec_eval's
    /// `ndcg_cut.5,10,100`. Repeated measures are kept once, in first-seen order.
    pub fn parse_list(list: &str) -> Result<Vec<Metric>> {
        let mut out: Vec<Metric> = Vec::new();
        let mut previous: Option<Metric> = None;
        for token in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            let metric = if token.bytes().all(|b| b.is_ascii_digit()) {
                let k = parse_cutoff(token, token)?;
                previous.and_then(|p| p.with_cutoff(k)).ok_or_else(|| EvalError::UnknownMetric {
                    name: token.to_string(),
                    reason: "a bare cutoff must follow a measure with a cutoff, as in `ndcg_cut.5,10`".into(),
                })?
            } else {
                token.parse()?
            };
            previous = Some(metric);
            if !out.contains(&metric) {
                out.push(metric);
            }
        }
        if out.is_empty() {
            return Err(EvalError::UnknownMetric {
                name: list.to_string(),
                reason: "no measure named".into(),
            });
        }
        Ok(out)
    }
}

fn parse_cutoff(name: &str, digits: &str) -> Result<usize> {
    let k: usize = digits.parse().map_err(|_| EvalError::UnknownMetric {
        name: name.to_string(),
        reason: format!("cutoff `{digits}` is not a positive integer"),
    })?;
    if k == 0 {
        return Err(EvalError::UnknownMetric {
            name: name.to_string(),
            reason: "cutoffs must be positive".into(),
        });
    }
    Ok(k)
}

impl FromStr for Metric {
    type Err = EvalError;

    fn from_str(s: &str) -> Result<Metric> {
        let name = s.trim();
        let unknown = |reason: &str| EvalError::UnknownMetric {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let head = name.trim_end_matches(|c: char| c.is_ascii_digit());
        let digits = &name[head.len()..];
        let (base, cutoff) = if digits.is_empty() {
            (head, None)
        } else {
            let base = head.strip_suffix(['@', '_', '.']).unwrap_or(head);
            (base, Some(parse_cutoff(name, digits)?))
        };
        let key: String = base
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect();
        let needs_cutoff = |make: fn(usize) -> Metric, example: &str| {
            cutoff
                .map(make)
                .ok_or_else(|| unknown(&format!("needs a cutoff, e.g. `{example}`")))
        };
        let no_cutoff = |metric: Metric| match cutoff {
            None => Ok(metric),
            Some(_) => Err(unknown("takes no cutoff")),
        };
        match key.as_str() {
            "ndcg" | "ndcgcut" => needs_cutoff(Metric::Ndcg, "nDCG@10"),
            "r" | "recall" => needs_cutoff(Metric::Recall, "R@100"),
            "p" | "precision" => needs_cutoff(Metric::Precision, "P@10"),
            "mrr" | "rr" | "reciprank" | "reciprankcut" => Ok(Metric::RecipRank(cutoff)),
            "map" | "ap" | "mapcut" => {
                if key == "mapcut" && cutoff.is_none() {
                    return Err(unknown("needs a cutoff, e.g. `map_cut_100`"));
                }
                Ok(Metric::Map(cutoff))
            }
            "numret" => no_cutoff(Metric::NumRet),
            "numrel" => no_cutoff(Metric::NumRel),
            "numrelret" => no_cutoff(Metric::NumRelRet),
            "" => Err(unknown("empty measure name")),
            _ => Err(unknown(
                "known measures: nDCG@k (ndcg_cut_k), R@k (recall_k), P@k (P_k), MRR@k, MRR (recip_rank), \
                 MAP (map), MAP@k (map_cut_k), num_ret, num_rel, num_rel_ret",
            )),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl serde::Serialize for Metric {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Metric {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_every_spelling() {
        for s in [
            "ndcg_cut_10",
            "ndcg_cut.10",
            "nDCG@10",
            "NDCG@10",
            "ndcg10",
            "ndcg-cut-10",
        ] {
            assert_eq!(p(s), Metric::Ndcg(10), "{s}");
        }
        for s in ["recall_100", "recall.100", "R@100", "r@100", "Recall@100"] {
            assert_eq!(p(s), Metric::Recall(100), "{s}");
        }
        for s in ["P_5", "P.5", "P@5", "p5", "precision@5"] {
            assert_eq!(p(s), Metric::Precision(5), "{s}");
        }
        for s in [
            "MRR@10",
            "RR@10",
            "mrr_10",
            "recip_rank@10",
            "recip_rank_cut_10",
        ] {
            assert_eq!(p(s), Metric::RecipRank(Some(10)), "{s}");
        }
        for s in ["recip_rank", "MRR", "RR"] {
            assert_eq!(p(s), Metric::RecipRank(None), "{s}");
        }
        for s in ["map", "MAP", "AP"] {
            assert_eq!(p(s), Metric::Map(None), "{s}");
        }
        for s in ["map_cut_100", "map_cut.100", "MAP@100", "AP@100"] {
            assert_eq!(p(s), Metric::Map(Some(100)), "{s}");
        }
        assert_eq!(p("num_ret"), Metric::NumRet);
        assert_eq!(p("NumRel"), Metric::NumRel);
        assert_eq!(p("num_rel_ret"), Metric::NumRelRet);
    }

    #[test]
    fn names_round_trip() {
        let all = [
            Metric::Ndcg(10),
            Metric::Recall(1),
            Metric::Precision(5),
            Metric::RecipRank(Some(10)),
            Metric::RecipRank(None),
            Metric::Map(None),
            Metric::Map(Some(100)),
            Metric::NumRet,
            Metric::NumRel,
            Metric::NumRelRet,
        ];
        for m in all {
            assert_eq!(p(&m.name()), m);
            if let Some(t) = m.trec_name() {
                assert_eq!(p(&t), m);
            }
        }
        assert_eq!(Metric::Ndcg(10).trec_name().as_deref(), Some("ndcg_cut_10"));
        assert_eq!(Metric::RecipRank(Some(10)).trec_name(), None);
    }

    #[test]
    fn rejects_bad_names() {
        for s in [
            "ndcg",
            "recall",
            "P",
            "ndcg@0",
            "P@x",
            "bpref",
            "",
            "num_ret@5",
            "map_cut",
            "R@99999999999999999999999",
        ] {
            assert!(s.parse::<Metric>().is_err(), "{s} should not parse");
        }
    }

    #[test]
    fn parses_lists() {
        assert_eq!(
            Metric::parse_list("ndcg_cut.5,10, recall_100 MRR@10,nDCG@5").unwrap(),
            vec![
                Metric::Ndcg(5),
                Metric::Ndcg(10),
                Metric::Recall(100),
                Metric::RecipRank(Some(10))
            ]
        );
        assert!(Metric::parse_list("map,10").is_err());
        assert!(Metric::parse_list("10").is_err());
        assert!(Metric::parse_list(" , ").is_err());
    }
}
