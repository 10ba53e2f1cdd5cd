//! Queries: the BEIR `queries.jsonl` file, `{"_id": "...", "text": "..."}` a line.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::corpus::{id_field, parse_json_line, JsonKind, Lines};
use crate::error::{DataError, Location, Result};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Query {
    pub id: String,
    pub text: String,
}

/// All queries of a dataset, in file order, addressable by id.
#[derive(Debug, Clone, Default)]
pub struct Queries {
    queries: Vec<Query>,
    index: HashMap<String, usize>,
}

#[derive(Deserialize)]
struct RawQuery {
    #[serde(rename = "_id")]
    id: Option<serde_json::Value>,
    text: Option<String>,
}

impl Queries {
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut lines = Lines::open(path)?;
        let mut out = Queries::default();
        let mut first_lines = Vec::new();
        while let Some((line_no, line)) = lines.next_line()? {
            let loc = Location::line(path, line_no);
            let raw: RawQuery = parse_json_line(
                line,
                &loc,
                &[
                    ("_id", JsonKind::StringOrNumber),
                    ("text", JsonKind::String),
                ],
            )?;
            let id = id_field(raw.id, &loc)?;
            let text = raw
                .text
                .ok_or_else(|| DataError::field(loc.clone(), "text", "is missing (or null)"))?;
            if text.trim().is_empty() {
                return Err(DataError::field(loc, "text", "is empty"));
            }
            if let Some(&first) = out.index.get(&id) {
                return Err(DataError::DuplicateId {
                    loc,
                    id,
                    first_line: first_lines[first],
                });
            }
            first_lines.push(line_no);
            out.index.insert(id.clone(), out.queries.len());
            out.queries.push(Query { id, text });
        }
        Ok(out)
    }

    pub fn from_queries(queries: impl IntoIterator<Item = Query>) -> Self {
        let mut out = Queries::default();
        for q in queries {
            if !out.index.contains_key(&q.id) {
                out.index.insert(q.id.clone(), out.queries.len());
                out.queries.push(q);
            }
        }
        out
    }

    pub fn len(&self) -> usize {
        self.queries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }
    pub fn get(&self, id: &str) -> Option<&Query> {
        self.index.get(id).map(|&i| &self.queries[i])
    }
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Query> {
        self.queries.iter()
    }
    /// The queries that have judgements in `qrels`, in file order (what an evaluation runs).
    pub fn judged(&self, qrels: &crate::Qrels) -> Vec<Query> {
        self.queries
            .iter()
            .filter(|q| qrels.contains_query(&q.id))
            .cloned()
            .collect()
    }
}
