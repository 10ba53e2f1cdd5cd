//! Documents: the BEIR `corpus.jsonl(.gz)` file, one JSON object a line.
//!
//! A line is `{"_id": "...", "title": "...", "text": "...", "metadata": {...}}`; `title` and
//! `metadata` are optional. [`CorpusReader`] streams documents one at a time (a corpus may hold
//! millions of lines); [`Corpus`] collects them for random access by position or id.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{DataError, Location, Result};

/// One retrievable unit of text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub text: String,
}

impl Document {
    /// Title and body as one string, the way BEIR baselines index them.
    pub fn full_text(&self) -> String {
        if self.title.is_empty() {
            self.text.clone()
        } else {
            format!("{} {}", self.title, self.text)
        }
    }
}

/// Opens a possibly gzip-compressed text file (by its `.gz` suffix).
pub(crate) fn open_text(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).map_err(|e| DataError::io(Location::file(path), e))?;
    let reader: Box<dyn Read> = if is_gzip(path) {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}

fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Reads a file line by line as UTF-8, reporting the line number of any decoding failure.
/// Blank lines are skipped, a UTF-8 byte order mark at the start is dropped, and `\r\n` line
/// ends are accepted. An empty file (no non-blank line) is an error. Only one line is held in
/// memory at a time.
pub(crate) struct Lines {
    path: PathBuf,
    reader: Box<dyn BufRead>,
    buf: Vec<u8>,
    line_no: usize,
    seen_content: bool,
}

impl Lines {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            reader: open_text(path)?,
            buf: Vec::new(),
            line_no: 0,
            seen_content: false,
        })
    }

    /// The next non-blank line with its 1-based number, or `None` at the end.
    pub(crate) fn next_line(&mut self) -> Result<Option<(usize, &str)>> {
        loop {
            self.buf.clear();
            let n = self.reader.read_until(b'\n', &mut self.buf).map_err(|e| {
                let loc = Location::line(&self.path, self.line_no + 1);
                if is_gzip(&self.path)
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::UnexpectedEof
                            | std::io::ErrorKind::InvalidInput
                            | std::io::ErrorKind::InvalidData
                    )
                {
                    DataError::format(loc, format!("gzip data is cut short or corrupt ({e})"))
                } else {
                    DataError::io(loc, e)
                }
            })?;
            if n == 0 {
                if !self.seen_content {
                    return Err(DataError::Empty {
                        loc: Location::file(&self.path),
                    });
                }
                return Ok(None);
            }
            self.line_no += 1;
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            let start = if self.line_no == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
                3
            } else {
                0
            };
            if self.buf[start..].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.seen_content = true;
            let loc = Location::line(&self.path, self.line_no);
            let text = std::str::from_utf8(&self.buf[start..]).map_err(|e| {
                DataError::format(
                    loc,
                    format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1),
                )
            })?;
            return Ok(Some((self.line_no, text)));
        }
    }
}

/// Parses one JSON line into `T`; when that fails, says which field is wrong rather than only
/// where serde stopped (`field `title`: expected a string, found a number`).
pub(crate) fn parse_json_line<T: serde::de::DeserializeOwned>(
    line: &str,
    loc: &Location,
    fields: &[(&'static str, JsonKind)],
) -> Result<T> {
    match serde_json::from_str(line) {
        Ok(v) => Ok(v),
        Err(typed) => {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| DataError::Json {
                    loc: loc.clone(),
                    message: e.to_string(),
                })?;
            let Some(obj) = value.as_object() else {
                return Err(DataError::Json {
                    loc: loc.clone(),
                    message: format!("expected a JSON object, found {}", json_kind_name(&value)),
                });
            };
            for &(field, kind) in fields {
                if let Some(v) = obj.get(field) {
                    if !v.is_null() && !kind.accepts(v) {
                        return Err(DataError::field(
                            loc.clone(),
                            field,
                            format!("expected {}, found {}", kind.describe(), json_kind_name(v)),
                        ));
                    }
                }
            }
            Err(DataError::Json {
                loc: loc.clone(),
                message: typed.to_string(),
            })
        }
    }
}

/// What a field of a JSON line may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JsonKind {
    String,
    StringOrNumber,
}

impl JsonKind {
    fn accepts(self, v: &serde_json::Value) -> bool {
        match self {
            JsonKind::String => v.is_string(),
            JsonKind::StringOrNumber => v.is_string() || v.is_number(),
        }
    }
    fn describe(self) -> &'static str {
        match self {
            JsonKind::String => "a string",
            JsonKind::StringOrNumber => "a string or a number",
        }
    }
}

fn json_kind_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[derive(Deserialize)]
struct RawDoc {
    #[serde(rename = "_id")]
    id: Option<serde_json::Value>,
    title: Option<String>,
    text: Option<String>,
}

/// Reads an `_id` that BEIR files write either as a string or as a number.
pub(crate) fn id_field(v: Option<serde_json::Value>, loc: &Location) -> Result<String> {
    match v {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(serde_json::Value::String(_)) => Err(DataError::field(loc.clone(), "_id", "is empty")),
        Some(_) => Err(DataError::field(
            loc.clone(),
            "_id",
            "must be a string or a number",
        )),
        None => Err(DataError::field(loc.clone(), "_id", "is missing")),
    }
}

/// Streams documents from a BEIR corpus file without holding the file in memory.
pub struct CorpusReader {
    path: PathBuf,
    lines: Lines,
}

impl CorpusReader {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            path: path.as_ref().to_path_buf(),
            lines: Lines::open(path.as_ref())?,
        })
    }

    /// The next document and the line it came from.
    pub fn next_document(&mut self) -> Result<Option<(usize, Document)>> {
        let Some((line_no, line)) = self.lines.next_line()? else {
            return Ok(None);
        };
        let loc = Location::line(&self.path, line_no);
        let raw: RawDoc = parse_json_line(
            line,
            &loc,
            &[
                ("_id", JsonKind::StringOrNumber),
                ("title", JsonKind::String),
                ("text", JsonKind::String),
            ],
        )?;
        let id = id_field(raw.id, &loc)?;
        let title = raw.title.unwrap_or_default();
        let text = raw
            .text
            .ok_or_else(|| DataError::field(loc.clone(), "text", "is missing (or null)"))?;
        if text.trim().is_empty() && title.trim().is_empty() {
            return Err(DataError::field(
                loc,
                "text",
                "is empty (and so is the title)",
            ));
        }
        Ok(Some((line_no, Document { id, title, text })))
    }
}

impl Iterator for CorpusReader {
    type Item = Result<Document>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_document().map(|o| o.map(|(_, d)| d)).transpose()
    }
}

/// A corpus in memory: documents in file order, addressable by position and by id.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    docs: Vec<Document>,
    index: HashMap<String, usize>,
}

impl Corpus {
    /// Reads a whole corpus file; duplicate ids are an error naming both lines.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut reader = CorpusReader::open(path)?;
        let mut corpus = Corpus::default();
        let mut lines: Vec<usize> = Vec::new();
        while let Some((line_no, doc)) = reader.next_document()? {
            if let Some(&first) = corpus.index.get(&doc.id) {
                return Err(DataError::DuplicateId {
                    loc: Location::line(path, line_no),
                    id: doc.id,
                    first_line: lines[first],
                });
            }
            lines.push(line_no);
            corpus.push_unchecked(doc);
        }
        Ok(corpus)
    }

    /// Builds a corpus from documents already in memory; duplicate ids are rejected.
    pub fn from_documents(docs: impl IntoIterator<Item = Document>) -> Result<Self> {
        let mut corpus = Corpus::default();
        for doc in docs {
            if corpus.index.contains_key(&doc.id) {
                return Err(DataError::Dataset(format!(
                    "duplicate document id `{}`",
                    doc.id
                )));
            }
            corpus.push_unchecked(doc);
        }
        Ok(corpus)
    }

    fn push_unchecked(&mut self, doc: Document) {
        self.index.insert(doc.id.clone(), self.docs.len());
        self.docs.push(doc);
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }
    pub fn get(&self, position: usize) -> Option<&Document> {
        self.docs.get(position)
    }
    pub fn by_id(&self, id: &str) -> Option<&Document> {
        self.index.get(id).map(|&i| &self.docs[i])
    }
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Document> {
        self.docs.iter()
    }
    pub fn documents(&self) -> &[Document] {
        &self.docs
    }
}

impl<'a> IntoIterator for &'a Corpus {
    type Item = &'a Document;
    type IntoIter = std::slice::Iter<'a, Document>;
    fn into_iter(self) -> Self::IntoIter {
        self.docs.iter()
    }
}
