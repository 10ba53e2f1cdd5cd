//! Relevance judgements: BEIR `qrels/<split>.tsv` and TREC qrels.
//!
//! * BEIR: a header line `query-id<TAB>corpus-id<TAB>score`, then `qid<TAB>docid<TAB>rel`.
//! * TREC: `qid 0 docid rel`, whitespace separated, no header.
//!
//! Relevance is an integer grade; rows with grade 0 are kept (trec_eval counts them as judged
//! non-relevant) and negative grades are kept as given (trec_eval treats them as non-relevant).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::corpus::Lines;
use crate::error::{DataError, Location, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrelsFormat {
    /// Header line, three tab-separated columns.
    Beir,
    /// Four whitespace-separated columns, no header.
    Trec,
}

/// Judgements: query id -> document id -> relevance grade. Ordered maps keep every output
/// (files, per-query tables) deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Qrels {
    map: BTreeMap<String, BTreeMap<String, i32>>,
}

/// How many judgements named a query or document that the dataset does not have.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UnknownRefs {
    pub unknown_queries: usize,
    pub unknown_documents: usize,
    pub dropped_rows: usize,
}

impl Qrels {
    /// Reads a qrels file, detecting the format from its first line (a BEIR header, or four
    /// columns for TREC).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut lines = Lines::open(path)?;
        let mut qrels = Qrels::default();
        let mut format: Option<QrelsFormat> = None;
        while let Some((line_no, line)) = lines.next_line()? {
            let loc = Location::line(path, line_no);
            if format.is_none() {
                let lower = line.to_ascii_lowercase();
                if lower.starts_with("query-id") || lower.starts_with("query_id") || lower.starts_with("qid\t") {
                    format = Some(QrelsFormat::Beir);
                    continue;
                }
                format = Some(if line.split_whitespace().count() == 4 { QrelsFormat::Trec } else { QrelsFormat::Beir });
            }
            let (qid, docid, rel) = match format {
                Some(QrelsFormat::Beir) => {
                    let cols: Vec<&str> = line.split('\t').collect();
                    if cols.len() != 3 {
                        return Err(DataError::format(
                            loc,
                            format!("expected 3 tab-separated columns (query-id, corpus-id, score), found {}", cols.len()),
                        ));
                    }
                    (cols[0].trim(), cols[1].trim(), cols[2].trim())
                }
                _ => {
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    if cols.len() != 4 {
                        return Err(DataError::format(
                            loc,
                            format!("expected 4 columns (qid iter docid rel), found {}", cols.len()),
                        ));
                    }
                    (cols[0], cols[2], cols[3])
                }
            };
            if qid.is_empty() {
                return Err(DataError::field(loc, "query-id", "is empty"));
            }
            if docid.is_empty() {
                return Err(DataError::field(loc, "corpus-id", "is empty"));
            }
            let rel: i32 = rel
                .parse()
                .or_else(|_| rel.parse::<f64>().map_err(|_| ()).and_then(|f| if f.fract() == 0.0 { Ok(f as i32) } else { Err(()) }))
                .map_err(|_| DataError::field(loc.clone(), "score", format!("`{rel}` is not an integer")))?;
            qrels.insert(qid, docid, rel);
        }
        Ok(qrels)
    }

    pub fn insert(&mut self, qid: &str, docid: &str, rel: i32) {
        self.map.entry(qid.to_string()).or_default().insert(docid.to_string(), rel);
    }

    /// Judgements of one query (document id -> grade).
    pub fn query(&self, qid: &str) -> Option<&BTreeMap<String, i32>> {
        self.map.get(qid)
    }
    pub fn contains_query(&self, qid: &str) -> bool {
        self.map.contains_key(qid)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &BTreeMap<String, i32>)> {
        self.map.iter()
    }
    pub fn query_ids(&self) -> impl Iterator<Item = &String> {
        self.map.keys()
    }
    /// Number of judged queries.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Number of judgement rows.
    pub fn num_judgements(&self) -> usize {
        self.map.values().map(BTreeMap::len).sum()
    }

    /// Keeps only the queries for which `keep` is true.
    pub fn retain_queries(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.map.retain(|q, _| keep(q));
    }

    /// Drops rows that name a query or document the dataset lacks and counts them, as BEIR's
    /// loader does silently; with `strict` the first such row is an error instead.
    pub fn check_refs(
        &mut self,
        source: &Path,
        has_query: impl Fn(&str) -> bool,
        has_document: impl Fn(&str) -> bool,
        strict: bool,
    ) -> Result<UnknownRefs> {
        let mut unknown = UnknownRefs::default();
        let mut err = None;
        self.map.retain(|qid, docs| {
            if !has_query(qid) {
                unknown.unknown_queries += 1;
                unknown.dropped_rows += docs.len();
                if err.is_none() {
                    err = Some(format!("query `{qid}` is not in the queries file"));
                }
                return false;
            }
            docs.retain(|docid, _| {
                let ok = has_document(docid);
                if !ok {
                    unknown.unknown_documents += 1;
                    unknown.dropped_rows += 1;
                    if err.is_none() {
                        err = Some(format!("document `{docid}` (query `{qid}`) is not in the corpus"));
                    }
                }
                ok
            });
            !docs.is_empty()
        });
        if strict {
            if let Some(message) = err {
                return Err(DataError::format(Location::file(source), message));
            }
        } else if unknown.dropped_rows > 0 {
            tracing::warn!(
                file = %source.display(),
                unknown_queries = unknown.unknown_queries,
                unknown_documents = unknown.unknown_documents,
                "dropped {} judgement rows naming unknown ids (use --strict to fail instead)",
                unknown.dropped_rows
            );
        }
        Ok(unknown)
    }

    /// Writes TREC qrels (`qid 0 docid rel`) atomically.
    pub fn write_trec(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::run::write_atomically(path.as_ref(), |w| {
            for (qid, docs) in &self.map {
                for (docid, rel) in docs {
                    writeln!(w, "{qid} 0 {docid} {rel}")?;
                }
            }
            Ok(())
        })
    }

    /// Writes BEIR qrels (header and three tab-separated columns) atomically.
    pub fn write_beir(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::run::write_atomically(path.as_ref(), |w| {
            writeln!(w, "query-id\tcorpus-id\tscore")?;
            for (qid, docs) in &self.map {
                for (docid, rel) in docs {
                    writeln!(w, "{qid}\t{docid}\t{rel}")?;
                }
            }
            Ok(())
        })
    }
}
