//! Ranked results: TREC run files, `qid Q0 docid rank score tag` a line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::corpus::Lines;
use crate::error::{DataError, Location, Result};
use crate::files::write_atomically;
use crate::qrels::check_token;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoredDoc {
    pub doc_id: String,
    pub score: f64,
}

/// Retrieved documents per query, each list in the order the system ranked them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    map: BTreeMap<String, Vec<ScoredDoc>>,
}

impl Run {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the ranked list of one query (highest first).
    pub fn insert(&mut self, qid: impl Into<String>, docs: Vec<ScoredDoc>) {
        self.map.insert(qid.into(), docs);
    }
    pub fn get(&self, qid: &str) -> Option<&[ScoredDoc]> {
        self.map.get(qid).map(Vec::as_slice)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<ScoredDoc>)> {
        self.map.iter()
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Reads a TREC run file. The order of lines is kept as given; evaluation re-sorts by score
    /// the way trec_eval does.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut lines = Lines::open(path)?;
        let mut run = Run::default();
        while let Some((line_no, line)) = lines.next_line()? {
            let loc = Location::line(path, line_no);
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() != 6 {
                return Err(DataError::format(
                    loc,
                    format!(
                        "expected 6 columns (qid Q0 docid rank score tag), found {}",
                        cols.len()
                    ),
                ));
            }
            cols[3].parse::<i64>().map_err(|_| {
                DataError::field(
                    loc.clone(),
                    "rank",
                    format!("`{}` is not an integer", cols[3]),
                )
            })?;
            let score: f64 = cols[4].parse().map_err(|_| {
                DataError::field(
                    loc.clone(),
                    "score",
                    format!("`{}` is not a number", cols[4]),
                )
            })?;
            if !score.is_finite() {
                return Err(DataError::field(loc, "score", "is not finite"));
            }
            run.map
                .entry(cols[0].to_string())
                .or_default()
                .push(ScoredDoc {
                    doc_id: cols[2].to_string(),
                    score,
                });
        }
        Ok(run)
    }

    /// Writes a TREC run file atomically (temporary file, then rename), ranks from 1 in the
    /// order of each list. Scores are written in the shortest form that reads back to the same
    /// `f64`, so no ties appear that the ranking did not have. Ids and the tag must be non-empty
    /// and free of whitespace; scores must be finite.
    pub fn write_trec(&self, path: impl AsRef<Path>, tag: &str) -> Result<()> {
        let path = path.as_ref();
        write_atomically(path, |w| {
            check_token(path, "run tag", tag)?;
            for (qid, docs) in &self.map {
                check_token(path, "query id", qid)?;
                for (rank, d) in docs.iter().enumerate() {
                    check_token(path, "document id", &d.doc_id)?;
                    if !d.score.is_finite() {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            format!("score of `{}` for query `{qid}` is not finite", d.doc_id),
                        ));
                    }
                    writeln!(w, "{qid} Q0 {} {} {:?} {tag}", d.doc_id, rank + 1, d.score)?;
                }
            }
            Ok(())
        })
    }
}
