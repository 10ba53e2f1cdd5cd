//! The training signal: queries paired with the document they should retrieve.
//!
//! Three sources, combined per document: judged training queries (`qrels/train.tsv`),
//! pseudo-queries from a file (docT5query style: a document id and one or more queries), and a
//! model-free fallback made from the document itself (its title and sampled sentences), so a
//! corpus without any queries still trains.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use anyhow::{bail, Context, Result};
use genret_data::{Corpus, Qrels, Queries};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::{SignalSection, SignalSource};

/// Training queries of each document (by corpus position); the query texts are deduplicated.
#[derive(Debug, Clone, Default)]
pub struct TrainingSignal {
    /// `queries[pos]`: the texts that should retrieve document `pos`.
    pub queries: Vec<Vec<String>>,
    /// `specific[pos][i]`: whether `queries[pos][i]` is a judged or pseudo query (written by a
    /// person or a query generator, not a fallback made from the document's own text) that is
    /// not a topic (judged relevant to at most `max_docs_per_query` documents). Encoder
    /// adaptation trains on these pairs only: a topic query would pull all its documents onto
    /// one embedding, erasing what tells them apart.
    pub specific: Vec<Vec<bool>>,
    pub stats: SignalStats,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SignalStats {
    pub sources: Vec<SignalSource>,
    pub qrels_pairs: usize,
    pub pseudo_pairs: usize,
    pub fallback_pairs: usize,
    pub docs_with_queries: usize,
    /// Judged queries used for only `max_docs_per_query` of their relevant documents.
    #[serde(default)]
    pub queries_capped: usize,
    /// Pairs left out because their document already had `max_queries_per_doc` queries.
    #[serde(default)]
    pub pairs_capped: usize,
}

impl TrainingSignal {
    /// Builds the signal for the documents where `in_training[pos]` is true.
    pub fn build(
        cfg: &SignalSection,
        corpus: &Corpus,
        in_training: &[bool],
        train_qrels: Option<(&Qrels, &Queries)>,
        seed: u64,
    ) -> Result<Self> {
        let mut sources = cfg.sources.clone();
        if sources.is_empty() {
            if train_qrels.is_some() {
                sources.push(SignalSource::Qrels);
            }
            if cfg.pseudo_queries.is_some() {
                sources.push(SignalSource::Pseudo);
            }
            sources.push(SignalSource::Fallback);
        }
        let mut out = TrainingSignal {
            queries: vec![Vec::new(); corpus.len()],
            specific: vec![Vec::new(); corpus.len()],
            stats: SignalStats::default(),
        };
        for source in &sources {
            match source {
                SignalSource::Qrels => {
                    let Some((qrels, queries)) = train_qrels else {
                        bail!(
                            "signal source `qrels` needs a `{}` split in the dataset",
                            cfg.train_split
                        )
                    };
                    for (qid, docs) in qrels.iter() {
                        let Some(q) = queries.get(qid) else { continue };
                        let mut relevant: Vec<usize> = docs
                            .iter()
                            .filter_map(|(doc_id, &rel)| {
                                corpus
                                    .position(doc_id)
                                    .filter(|&p| rel > 0 && in_training[p])
                            })
                            .collect();
                        let topic =
                            cfg.max_docs_per_query > 0 && relevant.len() > cfg.max_docs_per_query;
                        if topic {
                            // A query judged relevant to many documents is a topic, not an
                            // identifier: used for all of them, it pulls them onto one code.
                            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ fnv(qid.as_bytes()));
                            relevant.shuffle(&mut rng);
                            relevant.truncate(cfg.max_docs_per_query);
                            out.stats.queries_capped += 1;
                        }
                        for pos in relevant {
                            if cfg.max_queries_per_doc > 0
                                && out.queries[pos].len() >= cfg.max_queries_per_doc
                            {
                                out.stats.pairs_capped += 1;
                                continue;
                            }
                            out.stats.qrels_pairs += usize::from(out.push(pos, &q.text, !topic));
                        }
                    }
                }
                SignalSource::Pseudo => {
                    let Some(path) = &cfg.pseudo_queries else {
                        bail!("signal source `pseudo` needs signal.pseudo_queries (a JSONL or TSV file)")
                    };
                    for (doc_id, query) in read_pseudo_queries(path)? {
                        if let Some(pos) = corpus.position(&doc_id).filter(|&p| in_training[p]) {
                            if cfg.max_queries_per_doc > 0
                                && out.queries[pos].len() >= cfg.max_queries_per_doc
                            {
                                out.stats.pairs_capped += 1;
                                continue;
                            }
                            out.stats.pseudo_pairs += usize::from(out.push(pos, &query, true));
                        }
                    }
                }
                SignalSource::Fallback => {
                    for (pos, doc) in corpus.iter().enumerate() {
                        if !in_training[pos] {
                            continue;
                        }
                        let mut rng = ChaCha8Rng::seed_from_u64(
                            seed ^ (pos as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                        );
                        for q in
                            fallback_queries(&doc.title, &doc.text, cfg.fallback_per_doc, &mut rng)
                        {
                            out.stats.fallback_pairs += usize::from(out.push(pos, &q, false));
                        }
                    }
                }
            }
        }
        out.stats.sources = sources;
        out.stats.docs_with_queries = out.queries.iter().filter(|q| !q.is_empty()).count();
        Ok(out)
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl TrainingSignal {
    /// Adds `text` to document `pos`'s queries unless it is blank or already there.
    fn push(&mut self, pos: usize, text: &str, specific: bool) -> bool {
        let text = text.trim();
        let list = &mut self.queries[pos];
        if text.is_empty() || list.iter().any(|q| q == text) {
            return false;
        }
        list.push(text.to_string());
        self.specific[pos].push(specific);
        true
    }
}

/// Splits text into sentences at `.`, `?` or `!` followed by whitespace (good enough for
/// abstracts and passages; no model needed).
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        if matches!(bytes[i], b'.' | b'?' | b'!')
            && bytes.get(i + 1).is_some_and(u8::is_ascii_whitespace)
        {
            let s = text[start..=i].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = i + 1;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Up to `n` pseudo-queries from a document: its title first, then randomly chosen sentences
/// (long sentences cut to a random 8-24 word window, like a short query).
pub fn fallback_queries(title: &str, text: &str, n: usize, rng: &mut ChaCha8Rng) -> Vec<String> {
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    if !title.trim().is_empty() {
        out.push(title.trim().to_string());
    }
    let mut sents = sentences(text);
    sents.shuffle(rng);
    for s in sents {
        if out.len() >= n {
            break;
        }
        let words: Vec<&str> = s.split_whitespace().collect();
        if words.len() < 3 {
            continue;
        }
        let len = rand::Rng::gen_range(rng, 8..=24usize).min(words.len());
        let start = rand::Rng::gen_range(rng, 0..=words.len() - len);
        out.push(words[start..start + len].join(" "));
    }
    out
}

/// Reads pseudo-queries: JSONL lines `{"_id"|"doc_id"|"id": ..., "queries": [...]}` or with a
/// single `"query"` / `"text"`, or TSV lines `doc_id<TAB>query`.
pub fn read_pseudo_queries(path: &Path) -> Result<Vec<(String, String)>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening pseudo-queries {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let loc = format!("{}:{}", path.display(), i + 1);
        let line = line.with_context(|| format!("{loc}: not valid UTF-8 text"))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("{loc}: invalid JSON"))?;
            let id = ["doc_id", "_id", "id"]
                .iter()
                .find_map(|k| v.get(*k))
                .and_then(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .or_else(|| v.as_i64().map(|n| n.to_string()))
                })
                .with_context(|| format!("{loc}: field `doc_id` (or `_id`) is missing"))?;
            if let Some(qs) = v.get("queries").and_then(|q| q.as_array()) {
                for q in qs {
                    let q = q
                        .as_str()
                        .with_context(|| format!("{loc}: field `queries` must hold strings"))?;
                    out.push((id.clone(), q.to_string()));
                }
            } else {
                let q = ["query", "text"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(|q| q.as_str()))
                    .with_context(|| format!("{loc}: field `queries` (or `query`) is missing"))?;
                out.push((id, q.to_string()));
            }
        } else {
            let Some((id, q)) = line.split_once('\t') else {
                bail!("{loc}: expected `doc_id<TAB>query` or a JSON object")
            };
            out.push((id.trim().to_string(), q.trim().to_string()));
        }
    }
    Ok(out)
}

/// Number of documents each query retrieves, for reporting.
pub fn query_counts(signal: &TrainingSignal) -> HashMap<usize, usize> {
    let mut h = HashMap::new();
    for q in &signal.queries {
        *h.entry(q.len()).or_insert(0) += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use genret_data::Document;

    #[test]
    fn sentences_split_on_terminal_punctuation() {
        assert_eq!(
            sentences("A b. C d? E f! g"),
            vec!["A b.", "C d?", "E f!", "g"]
        );
        assert_eq!(
            sentences("p < 0.05 was significant."),
            vec!["p < 0.05 was significant."]
        );
    }

    #[test]
    fn fallback_is_deterministic_and_bounded() {
        let text = "One two three four five. Six seven eight nine ten eleven. Twelve thirteen fourteen fifteen.";
        let a = fallback_queries("Title", text, 3, &mut ChaCha8Rng::seed_from_u64(1));
        let b = fallback_queries("Title", text, 3, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0], "Title");
        for q in &a[1..] {
            assert!(text.contains(q.as_str()), "{q}");
        }
    }

    #[test]
    fn pseudo_queries_read_jsonl_and_tsv_with_line_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.jsonl");
        std::fs::write(
            &p,
            "{\"doc_id\": \"d1\", \"queries\": [\"a\", \"b\"]}\n{\"_id\": 7, \"query\": \"c\"}\n",
        )
        .unwrap();
        assert_eq!(
            read_pseudo_queries(&p).unwrap(),
            vec![
                ("d1".into(), "a".into()),
                ("d1".into(), "b".into()),
                ("7".into(), "c".into())
            ]
        );
        let t = dir.path().join("q.tsv");
        std::fs::write(&t, "d1\thello world\nbad line\n").unwrap();
        let err = read_pseudo_queries(&t).unwrap_err().to_string();
        assert!(err.contains("q.tsv:2"), "{err}");
    }

    #[test]
    fn sources_combine_and_skip_held_out_documents() {
        let corpus = Corpus::from_documents(vec![
            Document {
                id: "a".into(),
                title: "Alpha".into(),
                text: "First sentence here now. Second one is here.".into(),
            },
            Document {
                id: "b".into(),
                title: "".into(),
                text: "Beta text of some length here.".into(),
            },
        ])
        .unwrap();
        let mut qrels = Qrels::default();
        qrels.insert("q1", "a", 1);
        qrels.insert("q1", "b", 0);
        let queries = Queries::from_queries(vec![genret_data::Query {
            id: "q1".into(),
            text: "what is alpha".into(),
        }]);
        let cfg = SignalSection::default();
        let s = TrainingSignal::build(&cfg, &corpus, &[true, false], Some((&qrels, &queries)), 3)
            .unwrap();
        assert_eq!(s.queries[0][0], "what is alpha");
        assert!(s.queries[1].is_empty(), "held-out document got queries");
        assert_eq!(s.stats.qrels_pairs, 1);
        assert_eq!(
            s.stats.sources,
            vec![SignalSource::Qrels, SignalSource::Fallback]
        );
        // The judged query is specific (encoder adaptation trains on it); fallbacks are not.
        assert!(s.specific[0][0]);
        assert!(s.specific[0][1..].iter().all(|&x| !x));
        assert_eq!(s.specific[0].len(), s.queries[0].len());

        // A query relevant to more documents than max_docs_per_query is a topic: still a
        // training query (for a sample of them), never an adaptation pair.
        let cfg = SignalSection {
            max_docs_per_query: 1,
            sources: vec![SignalSource::Qrels],
            ..SignalSection::default()
        };
        let mut qrels = Qrels::default();
        qrels.insert("q1", "a", 1);
        qrels.insert("q1", "b", 1);
        let s = TrainingSignal::build(&cfg, &corpus, &[true, true], Some((&qrels, &queries)), 3)
            .unwrap();
        assert_eq!(s.stats.queries_capped, 1);
        let pairs: Vec<(usize, bool)> = (0..2)
            .flat_map(|p| s.specific[p].iter().map(move |&x| (p, x)))
            .collect();
        assert_eq!(pairs.len(), 1);
        assert!(!pairs[0].1);
    }
}
