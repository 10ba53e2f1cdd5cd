//! The document store: one SQLite file (`store.sqlite`) holding every indexed document, its
//! docid and where it came from.
//!
//! # Why a transactional store
//!
//! A GenRet index changes after it is built: new documents get docids from the tokenizer alone
//! and become searchable (specification, "New documents"). The promise to the user is that an
//! interrupted or refused `genret index add` leaves the index exactly as it was. SQLite gives
//! that for free: every batch of documents goes in ONE transaction, so either all of them are
//! stored or none is, even if the process dies half-way (the rollback journal is replayed on the
//! next open). The in-memory [`crate::trie::DocidTrie`] is rebuilt from this file at load, so
//! the file is the single source of truth.
//!
//! # Layout
//!
//! ```sql
//! documents(pos INTEGER PRIMARY KEY,   -- 0, 1, 2, ... in insertion order: the stable order
//!           doc_id TEXT UNIQUE NOT NULL,
//!           title TEXT NOT NULL, text TEXT NOT NULL,   -- what search results show
//!           codes BLOB NOT NULL,       -- the docid, u32 little-endian each
//!           origin TEXT NOT NULL)      -- 'train' (built with the model) or 'added'
//! meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)
//! doc_states(pos INTEGER PRIMARY KEY,  -- the document's states for within-docid ordering
//!            decoder BLOB, encoder BLOB)  -- float16 vectors (see crate::states)
//! ```
//!
//! A store made before `doc_states` existed opens as before; its index searches by codes only.
//!
//! `pos` is never reused (documents are never deleted), so "ascending position" is "order of
//! insertion": documents sharing a docid come back from search in that order.
//!
//! ```no_run
//! # fn main() -> Result<(), genret_index::IndexError> {
//! use genret_data::Document;
//! use genret_index::store::{DocStore, Origin};
//!
//! let mut store = DocStore::create("index/store.sqlite".as_ref())?;
//! let doc = Document { id: "d1".into(), title: "".into(), text: "hello".into() };
//! let positions = store.insert_documents(&[(doc, vec![3, 1, 4], Origin::Train)])?;
//! assert_eq!(store.get(positions[0])?.codes, vec![3, 1, 4]);
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use genret_data::Document;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::error::{IndexError, Result};

/// Version of the table layout, kept in `meta` under [`SCHEMA_KEY`].
pub const STORE_SCHEMA_VERSION: u32 = 1;
/// The `meta` key holding [`STORE_SCHEMA_VERSION`].
pub const SCHEMA_KEY: &str = "store_schema_version";

/// How a document entered the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Part of the corpus the model was trained on; its docid came from training.
    Train,
    /// Added later: its docid came from the tokenizer alone (greedy decoding), no retraining.
    Added,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Train => "train",
            Origin::Added => "added",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "train" => Some(Origin::Train),
            "added" => Some(Origin::Added),
            _ => None,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredDoc {
    pub pos: u64,
    pub doc_id: String,
    pub title: String,
    pub text: String,
    pub codes: Vec<u32>,
    pub origin: Origin,
}

impl From<StoredDoc> for Document {
    fn from(d: StoredDoc) -> Self {
        Document {
            id: d.doc_id,
            title: d.title,
            text: d.text,
        }
    }
}

/// The SQLite document store of an index.
pub struct DocStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for DocStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Encodes a docid as a BLOB: u32 little-endian each.
pub fn encode_codes(codes: &[u32]) -> Vec<u8> {
    codes.iter().flat_map(|c| c.to_le_bytes()).collect()
}

/// Decodes [`encode_codes`]' BLOB; `None` when its length is not a multiple of 4.
pub fn decode_codes(blob: &[u8]) -> Option<Vec<u32>> {
    let chunks = blob.chunks_exact(4);
    if !chunks.remainder().is_empty() {
        return None;
    }
    Some(
        chunks
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

const SCHEMA: &str = "
CREATE TABLE documents (
    pos    INTEGER PRIMARY KEY,
    doc_id TEXT UNIQUE NOT NULL,
    title  TEXT NOT NULL,
    text   TEXT NOT NULL,
    codes  BLOB NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('train', 'added'))
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE doc_states (
    pos     INTEGER PRIMARY KEY REFERENCES documents (pos),
    decoder BLOB NOT NULL,
    encoder BLOB NOT NULL
);";

/// A document's stored states (see [`crate::states`]), each a float16 vector, little-endian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateBlobs {
    pub decoder: Vec<u8>,
    pub encoder: Vec<u8>,
}

/// What one insertion did (see [`DocStore::insert_documents_reporting`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// The new documents' positions.
    pub positions: Vec<u64>,
    /// Distinct docids the store did not hold before.
    pub new_docids: usize,
    /// Documents whose docid the store already held.
    pub joined: usize,
}

impl DocStore {
    /// Creates a new, empty store; refuses to overwrite an existing file.
    pub fn create(path: &Path) -> Result<Self> {
        if path.exists() {
            return Err(IndexError::File {
                path: path.into(),
                message: "already exists; refusing to overwrite it".into(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite_err(path, e))?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        let tx = store.conn.transaction().map_err(|e| sqlite_err(path, e))?;
        tx.execute_batch(SCHEMA).map_err(|e| sqlite_err(path, e))?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![SCHEMA_KEY, STORE_SCHEMA_VERSION.to_string()],
        )
        .map_err(|e| sqlite_err(path, e))?;
        tx.commit().map_err(|e| sqlite_err(path, e))?;
        Ok(store)
    }

    /// Opens an existing store and checks its layout.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(IndexError::File {
                path: path.into(),
                message: "no such file (not a genret index?)".into(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite_err(path, e))?;
        let store = Self {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        let tables: Vec<String> = {
            let mut stmt = store
                .conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .map_err(|e| sqlite_err(path, e))?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .map_err(|e| sqlite_err(path, e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| sqlite_err(path, e))?
        };
        for table in ["documents", "meta"] {
            if !tables.iter().any(|t| t == table) {
                return Err(
                    store.corrupt(format!("no `{table}` table (not a genret document store)"))
                );
            }
        }
        match store.meta(SCHEMA_KEY)? {
            Some(v) if v == STORE_SCHEMA_VERSION.to_string() => Ok(store),
            Some(v) => Err(store.corrupt(format!(
                "store schema version {v}, this build of genret reads version {STORE_SCHEMA_VERSION}"
            ))),
            None => Err(store.corrupt(format!("meta table lacks `{SCHEMA_KEY}`"))),
        }
    }

    fn configure(&self) -> Result<()> {
        self.conn
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| self.sql(e))?;
        // Rollback journal (no -wal/-shm side files) with full fsync: a crash mid-commit
        // rolls back on the next open.
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SQLite's own check of every page, index and row (`PRAGMA integrity_check`): slow on a
    /// large store, so `genret index verify` runs it, not every open.
    pub fn integrity_check(&self) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.sql(e))?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| self.sql(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql(e))?;
        if rows.len() == 1 && rows[0] == "ok" {
            Ok(())
        } else {
            Err(self.corrupt(format!(
                "SQLite's integrity check failed: {}",
                rows.join("; ")
            )))
        }
    }

    fn sql(&self, e: rusqlite::Error) -> IndexError {
        sqlite_err(&self.path, e)
    }

    fn corrupt(&self, message: impl Into<String>) -> IndexError {
        IndexError::Corrupt {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// Inserts documents with their docids in ONE transaction and returns their positions.
    /// All or nothing: a document id already stored, or repeated within `docs`, is an
    /// [`IndexError::DuplicateDocId`] naming it, and nothing is inserted.
    pub fn insert_documents(&mut self, docs: &[(Document, Vec<u32>, Origin)]) -> Result<Vec<u64>> {
        self.insert_documents_with_meta(docs, &[])
    }

    /// [`DocStore::insert_documents`], also setting `meta` entries in the same transaction.
    pub fn insert_documents_with_meta(
        &mut self,
        docs: &[(Document, Vec<u32>, Origin)],
        meta: &[(&str, &str)],
    ) -> Result<Vec<u64>> {
        self.insert_documents_with_states(docs, None, meta)
    }

    /// [`DocStore::insert_documents_with_meta`] with each document's states, in the same
    /// transaction (`states` has one entry per document).
    pub fn insert_documents_with_states(
        &mut self,
        docs: &[(Document, Vec<u32>, Origin)],
        states: Option<&[StateBlobs]>,
        meta: &[(&str, &str)],
    ) -> Result<Vec<u64>> {
        Ok(self
            .insert_documents_reporting(docs, states, meta)?
            .positions)
    }

    /// [`DocStore::insert_documents_with_states`], also counting, inside the write
    /// transaction, which docids are new to the store and which join stored ones: the counts
    /// are the store's, even when another process added documents since this one opened it.
    pub fn insert_documents_reporting(
        &mut self,
        docs: &[(Document, Vec<u32>, Origin)],
        states: Option<&[StateBlobs]>,
        meta: &[(&str, &str)],
    ) -> Result<Inserted> {
        if let Some(st) = states {
            if st.len() != docs.len() {
                return Err(self.corrupt(format!(
                    "{} documents but {} state rows to store",
                    docs.len(),
                    st.len()
                )));
            }
            if !self.has_state_table()? {
                return Err(self.corrupt("this store has no `doc_states` table (made by an older genret); rebuild the index to store document states"));
            }
        }
        let path = self.path.clone();
        let err = |e| sqlite_err(&path, e);
        // IMMEDIATE: take the write lock first, so positions read below stay ours until commit.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let first: i64 = tx
            .query_row("SELECT COALESCE(MAX(pos) + 1, 0) FROM documents", [], |r| {
                r.get(0)
            })
            .map_err(err)?;
        let (new_docids, joined) = {
            let mut stmt = tx
                .prepare("SELECT DISTINCT codes FROM documents")
                .map_err(err)?;
            let stored: HashSet<Vec<u8>> = stmt
                .query_map([], |r| r.get::<_, Vec<u8>>(0))
                .map_err(err)?
                .collect::<rusqlite::Result<_>>()
                .map_err(err)?;
            let mut fresh: HashSet<Vec<u8>> = HashSet::new();
            let mut joined = 0;
            for (_, codes, _) in docs {
                let blob = encode_codes(codes);
                if stored.contains(&blob) {
                    joined += 1;
                } else {
                    fresh.insert(blob);
                }
            }
            (fresh.len(), joined)
        };
        let mut positions = Vec::with_capacity(docs.len());
        {
            let mut stmt = tx
                .prepare("INSERT INTO documents (pos, doc_id, title, text, codes, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(err)?;
            for (i, (doc, codes, origin)) in docs.iter().enumerate() {
                let pos = first + i as i64;
                let inserted = stmt.execute(params![
                    pos,
                    doc.id,
                    doc.title,
                    doc.text,
                    encode_codes(codes),
                    origin.as_str()
                ]);
                match inserted {
                    Ok(_) => positions.push(pos as u64),
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                    {
                        // Dropping `tx` rolls everything back.
                        let in_batch = docs[..i].iter().any(|(d, _, _)| d.id == doc.id);
                        return Err(IndexError::DuplicateDocId {
                            id: doc.id.clone(),
                            in_batch,
                        });
                    }
                    Err(e) => return Err(err(e)),
                }
            }
        }
        if let Some(st) = states {
            let mut stmt = tx
                .prepare("INSERT INTO doc_states (pos, decoder, encoder) VALUES (?1, ?2, ?3)")
                .map_err(err)?;
            for (&pos, row) in positions.iter().zip(st) {
                stmt.execute(params![pos as i64, row.decoder, row.encoder])
                    .map_err(err)?;
            }
        }
        for (key, value) in meta {
            upsert_meta(&tx, key, value).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Inserted {
            positions,
            new_docids,
            joined,
        })
    }

    fn has_state_table(&self) -> Result<bool> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'doc_states'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        Ok(n == 1)
    }

    /// Every document's states in ascending position, when every document has them (`None`
    /// for a store without states, or where some document lacks them).
    pub fn all_states(&self) -> Result<Option<Vec<StateBlobs>>> {
        if !self.has_state_table()? {
            return Ok(None);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT d.pos, s.decoder, s.encoder FROM documents d LEFT JOIN doc_states s ON s.pos = d.pos ORDER BY d.pos")
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.sql(e))? {
            let decoder: Option<Vec<u8>> = row.get(1).map_err(|e| self.sql(e))?;
            let encoder: Option<Vec<u8>> = row.get(2).map_err(|e| self.sql(e))?;
            match (decoder, encoder) {
                (Some(decoder), Some(encoder)) => out.push(StateBlobs { decoder, encoder }),
                _ => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Every document's position and docid, in ascending position.
    pub fn all_codes(&self) -> Result<Vec<(u64, Vec<u32>)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT pos, codes FROM documents ORDER BY pos")
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.sql(e))? {
            let pos: i64 = row.get(0).map_err(|e| self.sql(e))?;
            let blob: Vec<u8> = row.get(1).map_err(|e| self.sql(e))?;
            let codes = decode_codes(&blob).ok_or_else(|| {
                self.corrupt(format!(
                    "document at position {pos}: docid blob of {} bytes",
                    blob.len()
                ))
            })?;
            out.push((pos as u64, codes));
        }
        Ok(out)
    }

    /// Every document's position and id, in ascending position.
    pub fn all_doc_ids(&self) -> Result<Vec<(u64, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT pos, doc_id FROM documents ORDER BY pos")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sql(e))
    }

    /// Every document's id and origin, in ascending position (to split an evaluation into
    /// documents seen in training and documents added afterwards).
    pub fn all_origins(&self) -> Result<Vec<(String, Origin)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT doc_id, origin FROM documents ORDER BY pos")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, origin) = row.map_err(|e| self.sql(e))?;
            let origin = Origin::parse(&origin)
                .ok_or_else(|| self.corrupt(format!("document `{id}`: origin `{origin}`")))?;
            out.push((id, origin));
        }
        Ok(out)
    }

    /// The document at `pos`.
    pub fn get(&self, pos: u64) -> Result<StoredDoc> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT pos, doc_id, title, text, codes, origin FROM documents WHERE pos = ?1",
            )
            .map_err(|e| self.sql(e))?;
        let raw = stmt
            .query_row([pos as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .optional()
            .map_err(|e| self.sql(e))?
            .ok_or(IndexError::UnknownPosition { pos })?;
        let (pos, doc_id, title, text, blob, origin) = raw;
        let codes = decode_codes(&blob).ok_or_else(|| {
            self.corrupt(format!(
                "document at position {pos}: docid blob of {} bytes",
                blob.len()
            ))
        })?;
        let origin = Origin::parse(&origin).ok_or_else(|| {
            self.corrupt(format!("document at position {pos}: origin `{origin}`"))
        })?;
        Ok(StoredDoc {
            pos: pos as u64,
            doc_id,
            title,
            text,
            codes,
            origin,
        })
    }

    /// The documents at `positions`, in that order.
    pub fn get_many(&self, positions: &[u64]) -> Result<Vec<StoredDoc>> {
        positions.iter().map(|&p| self.get(p)).collect()
    }

    /// Every stored document, by position (added ones included), as corpus documents.
    pub fn all_documents(&self) -> Result<Vec<Document>> {
        let positions: Vec<u64> = (0..self.len()?).collect();
        Ok(self
            .get_many(&positions)?
            .into_iter()
            .map(Document::from)
            .collect())
    }

    /// The position of the document with this id.
    pub fn position_of(&self, doc_id: &str) -> Result<Option<u64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT pos FROM documents WHERE doc_id = ?1")
            .map_err(|e| self.sql(e))?;
        let pos: Option<i64> = stmt
            .query_row([doc_id], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(pos.map(|p| p as u64))
    }

    /// Number of stored documents.
    pub fn len(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM documents", [], |r| r.get(0))
            .map_err(|e| self.sql(e))?;
        Ok(n as u64)
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Number of documents of each origin: `(train, added)`.
    pub fn count_by_origin(&self) -> Result<(u64, u64)> {
        let mut stmt = self
            .conn
            .prepare("SELECT origin, COUNT(*) FROM documents GROUP BY origin")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.sql(e))?;
        let (mut train, mut added) = (0, 0);
        for row in rows {
            let (origin, n) = row.map_err(|e| self.sql(e))?;
            match Origin::parse(&origin) {
                Some(Origin::Train) => train = n as u64,
                Some(Origin::Added) => added = n as u64,
                None => return Err(self.corrupt(format!("origin `{origin}`"))),
            }
        }
        Ok((train, added))
    }

    /// A `meta` value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Sets a `meta` value (its own transaction).
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        upsert_meta(&self.conn, key, value).map_err(|e| self.sql(e))?;
        Ok(())
    }
}

fn upsert_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
}

/// A file that is not a database at all reads as "file is not a database": say so plainly.
fn sqlite_err(path: &Path, source: rusqlite::Error) -> IndexError {
    match &source {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            IndexError::Corrupt {
                path: path.to_path_buf(),
                message: "not an SQLite database".into(),
            }
        }
        _ => IndexError::Sqlite {
            path: path.to_path_buf(),
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str) -> Document {
        Document {
            id: id.into(),
            title: format!("title {id}"),
            text: format!("text of {id}"),
        }
    }

    #[test]
    fn insert_get_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut store = DocStore::create(&path).unwrap();
        assert!(store.is_empty().unwrap());
        let pos = store
            .insert_documents(&[
                (doc("a"), vec![1, 2, 3], Origin::Train),
                (doc("b"), vec![1, 2, 3], Origin::Train),
            ])
            .unwrap();
        assert_eq!(pos, vec![0, 1]);
        let pos = store
            .insert_documents(&[(doc("c"), vec![u32::MAX, 0, 7], Origin::Added)])
            .unwrap();
        assert_eq!(pos, vec![2]);
        store.set_meta("k", "v1").unwrap();
        store.set_meta("k", "v2").unwrap();
        drop(store);

        let store = DocStore::open(&path).unwrap();
        assert_eq!(store.len().unwrap(), 3);
        assert_eq!(store.count_by_origin().unwrap(), (2, 1));
        let origins: Vec<Origin> = store
            .all_origins()
            .unwrap()
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        assert_eq!(origins, vec![Origin::Train, Origin::Train, Origin::Added]);
        assert_eq!(store.meta("k").unwrap().as_deref(), Some("v2"));
        assert_eq!(store.meta("missing").unwrap(), None);
        let c = store.get(2).unwrap();
        assert_eq!(
            c,
            StoredDoc {
                pos: 2,
                doc_id: "c".into(),
                title: "title c".into(),
                text: "text of c".into(),
                codes: vec![u32::MAX, 0, 7],
                origin: Origin::Added
            }
        );
        assert_eq!(
            store.all_codes().unwrap(),
            vec![
                (0, vec![1, 2, 3]),
                (1, vec![1, 2, 3]),
                (2, vec![u32::MAX, 0, 7])
            ]
        );
        let many = store.get_many(&[2, 0]).unwrap();
        assert_eq!(
            many.iter().map(|d| d.doc_id.as_str()).collect::<Vec<_>>(),
            ["c", "a"]
        );
        assert_eq!(store.position_of("b").unwrap(), Some(1));
        assert_eq!(store.position_of("zz").unwrap(), None);
        assert!(matches!(
            store.get(9),
            Err(IndexError::UnknownPosition { pos: 9 })
        ));
    }

    #[test]
    fn a_duplicate_id_inserts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut store = DocStore::create(&path).unwrap();
        store
            .insert_documents(&[(doc("a"), vec![0], Origin::Train)])
            .unwrap();

        // Already stored: fails on the third row, after two rows went in inside the transaction.
        let batch = [
            (doc("x"), vec![1], Origin::Added),
            (doc("y"), vec![2], Origin::Added),
            (doc("a"), vec![3], Origin::Added),
        ];
        let err = store
            .insert_documents_with_meta(&batch, &[("touched", "yes")])
            .unwrap_err();
        assert!(
            matches!(&err, IndexError::DuplicateDocId { id, in_batch: false } if id == "a"),
            "{err}"
        );
        assert!(
            err.to_string().contains("`a` is already in the index"),
            "{err}"
        );

        // Repeated within the batch.
        let batch = [
            (doc("x"), vec![1], Origin::Added),
            (doc("x"), vec![2], Origin::Added),
        ];
        let err = store.insert_documents(&batch).unwrap_err();
        assert!(
            matches!(&err, IndexError::DuplicateDocId { id, in_batch: true } if id == "x"),
            "{err}"
        );

        assert_eq!(store.len().unwrap(), 1);
        assert_eq!(store.position_of("x").unwrap(), None);
        assert_eq!(store.meta("touched").unwrap(), None);
        // And the next insert still gets the next position.
        assert_eq!(
            store
                .insert_documents(&[(doc("x"), vec![1], Origin::Added)])
                .unwrap(),
            vec![1]
        );
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let err = DocStore::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("store.sqlite") && err.contains("no such file"),
            "{err}"
        );

        std::fs::write(
            &path,
            b"definitely not sqlite, but long enough to look like a header......",
        )
        .unwrap();
        let err = DocStore::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("store.sqlite") && err.contains("not an SQLite database"),
            "{err}"
        );
        let err = DocStore::create(&path).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");

        let other = dir.path().join("other.sqlite");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let err = DocStore::open(&other).unwrap_err().to_string();
        assert!(
            err.contains("other.sqlite") && err.contains("no `documents` table"),
            "{err}"
        );
    }

    #[test]
    fn codes_blob_round_trips() {
        let codes = vec![0, 1, 511, 65_536, u32::MAX];
        assert_eq!(decode_codes(&encode_codes(&codes)).unwrap(), codes);
        assert_eq!(encode_codes(&[1]), vec![1, 0, 0, 0]);
        assert!(decode_codes(&[1, 2, 3]).is_none());
    }
}
