//! Relevance judgements: BEIR `qrels/<split>.tsv` and TREC qrels.
//!
//! * BEIR: a header line `query-id<TAB>corpus-id<TAB>score`, then `qid<TAB>docid<TAB>rel`.
//! * TREC: `qid 0 docid rel`, whitespace separated, no header.
//!
//! Relevance is an integer grade; rows with grade 0 are kept (trec_eval counts them as judged
//! non-relevant) and negative grades are kept as given (trec_eval treats them as non-relevant).

use std::collections::{BTreeMap, BTreeSet};
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
    /// Queries not in the queries file (their rows are dropped).
    pub unknown_queries: usize,
    /// Judgements naming documents not in the corpus (kept, as BEIR keeps them).
    pub unknown_documents: usize,
    /// Rows dropped (those of unknown queries).
    pub dropped_rows: usize,
}

impl Qrels {
    /// Reads a qrels file, detecting the format from its first line: a BEIR header
    /// (`query-id<TAB>corpus-id<TAB>score`), four whitespace-separated columns for TREC, or
    /// tab-separated columns for BEIR without a header.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let mut qrels = Qrels::default();
        read_rows(path.as_ref(), None, |_, qid, docid, rel| {
            qrels.insert(qid, docid, rel);
            Ok(())
        })?;
        Ok(qrels)
    }

    /// Reads a qrels file of a known format (a BEIR header line is skipped when present).
    pub fn load_format(path: impl AsRef<Path>, format: QrelsFormat) -> Result<Self> {
        let mut qrels = Qrels::default();
        read_rows(path.as_ref(), Some(format), |_, qid, docid, rel| {
            qrels.insert(qid, docid, rel);
            Ok(())
        })?;
        Ok(qrels)
    }

    /// Reads a qrels file and checks every row against the dataset as it goes: rows naming a
    /// query the dataset lacks are dropped and counted; rows naming a missing document are kept
    /// and counted (BEIR's evaluation keeps them: unretrievable, but they count in recall and
    /// ideal DCG); a warning is logged. With `strict` the first such row is an error naming its
    /// line and field. Counting follows [`Qrels::check_refs`].
    pub fn load_checked(
        path: impl AsRef<Path>,
        has_query: impl Fn(&str) -> bool,
        has_document: impl Fn(&str) -> bool,
        strict: bool,
    ) -> Result<(Self, UnknownRefs)> {
        let path = path.as_ref();
        let mut qrels = Qrels::default();
        let mut unknown = UnknownRefs::default();
        let mut unknown_qids: BTreeSet<String> = BTreeSet::new();
        let mut first_problem: Option<String> = None;
        read_rows(path, None, |loc, qid, docid, rel| {
            if !has_query(qid) {
                if strict {
                    return Err(DataError::field(
                        loc.clone(),
                        "query-id",
                        format!("query `{qid}` is not in the queries file (drop --strict to skip such rows)"),
                    ));
                }
                first_problem.get_or_insert_with(|| format!("{loc}: unknown query `{qid}`"));
                unknown_qids.insert(qid.to_string());
                unknown.dropped_rows += 1;
                return Ok(());
            }
            if !has_document(docid) {
                if strict {
                    return Err(DataError::field(
                        loc.clone(),
                        "corpus-id",
                        format!("document `{docid}` is not in the corpus (drop --strict to skip such rows)"),
                    ));
                }
                first_problem.get_or_insert_with(|| format!("{loc}: unknown document `{docid}`"));
                unknown.unknown_documents += 1;
            }
            qrels.insert(qid, docid, rel);
            Ok(())
        })?;
        unknown.unknown_queries = unknown_qids.len();
        if let Some(first) = first_problem {
            tracing::warn!(
                file = %path.display(),
                unknown_queries = unknown.unknown_queries,
                unknown_documents = unknown.unknown_documents,
                "dropped {} judgement rows of unknown queries and kept those of unknown documents, first problem at {first} (use --strict to fail instead)",
                unknown.dropped_rows
            );
        }
        Ok((qrels, unknown))
    }

    pub fn insert(&mut self, qid: &str, docid: &str, rel: i32) {
        self.map
            .entry(qid.to_string())
            .or_default()
            .insert(docid.to_string(), rel);
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
            // Judgements of documents missing from the corpus are kept, as BEIR's evaluation
            // keeps them: they cannot be retrieved, but they count in recall and ideal DCG.
            for docid in docs.keys() {
                if !has_document(docid) {
                    unknown.unknown_documents += 1;
                    if err.is_none() {
                        err = Some(format!(
                            "document `{docid}` (query `{qid}`) is not in the corpus"
                        ));
                    }
                }
            }
            true
        });
        if strict {
            if let Some(message) = err {
                return Err(DataError::format(Location::file(source), message));
            }
        } else if unknown.unknown_queries + unknown.unknown_documents > 0 {
            tracing::warn!(
                file = %source.display(),
                unknown_queries = unknown.unknown_queries,
                unknown_documents = unknown.unknown_documents,
                "dropped {} judgement rows of unknown queries; kept the judgements of unknown \
                 documents, which count as relevant but unretrievable (use --strict to fail instead)",
                unknown.dropped_rows
            );
        }
        Ok(unknown)
    }

    /// Writes TREC qrels (`qid 0 docid rel`) atomically.
    pub fn write_trec(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        crate::files::write_atomically(path, |w| {
            for (qid, docs) in &self.map {
                check_token(path, "query id", qid)?;
                for (docid, rel) in docs {
                    check_token(path, "document id", docid)?;
                    writeln!(w, "{qid} 0 {docid} {rel}")?;
                }
            }
            Ok(())
        })
    }

    /// Writes BEIR qrels (header and three tab-separated columns) atomically.
    pub fn write_beir(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        crate::files::write_atomically(path, |w| {
            writeln!(w, "query-id\tcorpus-id\tscore")?;
            for (qid, docs) in &self.map {
                check_beir_token(path, "query id", qid)?;
                for (docid, rel) in docs {
                    check_beir_token(path, "document id", docid)?;
                    writeln!(w, "{qid}\t{docid}\t{rel}")?;
                }
            }
            Ok(())
        })
    }
}

fn is_beir_header(line: &str) -> bool {
    let lower = line.trim_start().to_ascii_lowercase();
    lower.starts_with("query-id") || lower.starts_with("query_id") || lower.starts_with("qid\t")
}

/// Reads the rows of a qrels file, calling `row(location, qid, docid, rel)` for each.
fn read_rows(
    path: &Path,
    format: Option<QrelsFormat>,
    mut row: impl FnMut(&Location, &str, &str, i32) -> Result<()>,
) -> Result<()> {
    let mut lines = Lines::open(path)?;
    let mut format = format;
    let mut first = true;
    while let Some((line_no, line)) = lines.next_line()? {
        let loc = Location::line(path, line_no);
        if first {
            first = false;
            if is_beir_header(line) {
                if format.is_none() {
                    format = Some(QrelsFormat::Beir);
                }
                continue;
            }
            if format.is_none() {
                let n = line.split_whitespace().count();
                format = Some(if n != 4 && line.contains('\t') {
                    QrelsFormat::Beir
                } else {
                    QrelsFormat::Trec
                });
            }
        }
        let (qid, docid, rel) = match format {
            Some(QrelsFormat::Beir) => {
                let cols: Vec<&str> = line.split('\t').collect();
                if cols.len() != 3 {
                    return Err(DataError::format(
                        loc,
                        format!(
                            "expected 3 tab-separated columns (query-id, corpus-id, score), found {}",
                            cols.len()
                        ),
                    ));
                }
                (cols[0].trim(), cols[1].trim(), cols[2].trim())
            }
            _ => {
                let cols: Vec<&str> = line.split_whitespace().collect();
                if cols.len() != 4 {
                    return Err(DataError::format(
                        loc,
                        format!(
                            "expected 4 columns (qid iter docid rel), found {}",
                            cols.len()
                        ),
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
        let rel = parse_grade(rel).ok_or_else(|| {
            DataError::field(
                loc.clone(),
                "score",
                format!("`{rel}` is not an integer relevance grade"),
            )
        })?;
        row(&loc, qid, docid, rel)?;
    }
    Ok(())
}

/// An integer grade; `1.0` is accepted as 1 (some tools write grades as floats).
fn parse_grade(s: &str) -> Option<i32> {
    if let Ok(v) = s.parse::<i32>() {
        return Some(v);
    }
    let f: f64 = s.parse().ok()?;
    (f.is_finite() && f.fract() == 0.0 && f.abs() <= i32::MAX as f64).then_some(f as i32)
}

/// Checks that an id can be written in a whitespace-separated format.
pub(crate) fn check_token(path: &Path, what: &str, s: &str) -> std::io::Result<()> {
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "cannot write {what} `{s}` to {}: it is empty or holds whitespace",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Checks that an id can be written as one column of a tab-separated file.
fn check_beir_token(path: &Path, what: &str, s: &str) -> std::io::Result<()> {
    if s.trim().is_empty() || s.contains(['\t', '\n', '\r']) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "cannot write {what} `{s}` to {}: it is empty or holds a tab or line break",
                path.display()
            ),
        ));
    }
    Ok(())
}
