//! The JSON bodies of every route, as Rust types: the handlers read and write these, and the
//! OpenAPI description (`/openapi.json`) is generated from the same types, so the document
//! cannot drift from what the server does. The tests check every response they receive
//! against this description.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /search`: one query (`query`) or a batch (`queries`), never both.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// One query text.
    #[serde(default)]
    pub query: Option<String>,
    /// Several query texts, answered in order (at most `--max-queries` of them).
    #[serde(default)]
    pub queries: Option<Vec<String>>,
    /// Documents returned per query, best first (1 to 10000; default 10).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000)]
    pub k: Option<usize>,
    /// GenRet's beam width (1 to 100000); default: the index's own. Other systems ignore it.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100000)]
    pub beam: Option<usize>,
    /// `genret` (default), `bm25`, `dense`, or a fusion of them joined by `+`, e.g.
    /// `genret+bm25`. BM25 and dense answer only when the server was started with `--bm25` or
    /// `--dense`; `GET /info` lists what this server offers.
    #[serde(default)]
    pub system: Option<String>,
    /// How a fusion combines its parts: `z-score` (default; per-query standardised scores,
    /// weighted sum), `min-max` (min-max normalised scores, weighted sum) or `rrf` (reciprocal
    /// rank fusion, k = 60).
    #[serde(default)]
    pub fusion: Option<String>,
    /// A fusion's weight per part, in the order of `system` (default: equal weights).
    #[serde(default)]
    pub weights: Option<Vec<f64>>,
    /// Add a passage of each hit's text around the query's words.
    #[serde(default)]
    pub snippets: bool,
}

/// `POST /search`'s answer: one result list per query, in the order asked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    /// The system that answered, e.g. `genret` or `genret+bm25`.
    pub system: String,
    /// Documents asked for per query.
    pub k: usize,
    /// The beam width GenRet searched with (its part of a fusion included); absent when no
    /// GenRet search ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beam: Option<usize>,
    /// Documents the index held when the search ran.
    pub num_docs: usize,
    /// Server time for the whole request (queueing, search, titles), milliseconds.
    pub took_ms: f64,
    pub results: Vec<QueryResult>,
}

/// The hits of one query.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueryResult {
    pub query: String,
    pub hits: Vec<SearchHit>,
}

/// One retrieved document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    /// Rank, from 1.
    pub rank: usize,
    /// The document's id (`_id` of the corpus).
    pub doc_id: String,
    /// The system's score: higher is better; scales differ between systems.
    pub score: f64,
    /// The document's docid: its M codes, each in 0..K.
    pub docid: Vec<u32>,
    pub title: String,
    /// A passage of the text around the query's words (only with `snippets: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

/// One document of a `POST /documents` body, in the corpus's JSON-lines format. The body is
/// either JSON lines (one such object a line) or a JSON array of them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewDocument {
    /// The document's id: a non-blank string, or a number (read as its decimal text). Must not
    /// be in the index already, nor twice in the body.
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    /// The text; it may be empty only when the title is not.
    pub text: String,
}

/// `POST /documents`'s answer, sent once every document is durable in the store and searchable
/// by every system the server offers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddResponse {
    /// Documents added (all of the body's).
    pub added: usize,
    /// Distinct docids of the body that the index did not hold before.
    pub new_docids: usize,
    /// Added documents whose docid the index already held (they share it with others).
    pub collisions_with_existing: usize,
    /// Documents in the index now.
    pub num_docs: usize,
    /// Each added document with its docid, in the body's order.
    pub documents: Vec<AddedDocument>,
    pub took_ms: f64,
}

/// A document as added.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddedDocument {
    pub doc_id: String,
    /// Position in the store (insertion order, from 0).
    pub pos: u64,
    pub docid: Vec<u32>,
}

/// `GET /documents/{id}`: a stored document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DocumentResponse {
    pub doc_id: String,
    pub pos: u64,
    pub title: String,
    pub text: String,
    pub docid: Vec<u32>,
    /// `train` (indexed with the model) or `added` (added later, docid from the tokenizer).
    #[schema(pattern = "^(train|added)$")]
    pub origin: String,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` while the server answers.
    pub status: String,
    pub num_docs: usize,
    pub uptime_s: f64,
}

/// `GET /info`: the model, its docids, and what this server offers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InfoResponse {
    /// genret's version.
    pub version: String,
    /// The index folder.
    pub index: String,
    /// What the model was built from (a checkpoint folder or hub id).
    pub model: String,
    /// The backbone, e.g. `bert (6 layers, hidden 384)`.
    pub backbone: String,
    /// Codes per docid step (K).
    #[serde(rename = "K")]
    pub codebook_size: i64,
    /// Steps (codes) per docid (M).
    #[serde(rename = "M")]
    pub docid_steps: usize,
    /// How searches score documents, e.g. `codes`.
    pub scoring: String,
    /// The beam width searches use unless they name one.
    pub default_beam: usize,
    pub documents: DocumentCounts,
    pub docids: DocidHealth,
    /// Systems `POST /search` accepts (fusions of them too).
    pub systems: Vec<String>,
    pub queue: QueueSettings,
    pub limits: Limits,
}

/// Document counts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DocumentCounts {
    pub total: u64,
    /// Indexed with the model.
    pub train: u64,
    /// Added later.
    pub added: u64,
    /// When documents were last added (RFC 3339), if ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_added_at: Option<String>,
}

/// How well the docids tell documents apart.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DocidHealth {
    /// Distinct docids.
    pub distinct: usize,
    /// Documents sharing their docid with another.
    pub colliding_docs: usize,
    pub largest_collision_group: usize,
    /// Distinct docids / documents (1 is perfect).
    pub distinct_ratio: f64,
    pub trie_nodes: usize,
}

/// How concurrent searches are batched into model calls.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueSettings {
    pub max_batch: usize,
    pub max_wait_ms: f64,
    pub capacity: usize,
}

/// Request limits.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_queries: usize,
    pub max_documents: usize,
    pub request_timeout_s: f64,
    pub add_timeout_s: f64,
}

/// Every error: a status, a short code, the request field at fault (when one is), and a
/// message for people. Internal faults say only that one happened; the log has the detail.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status, repeated.
    pub status: u16,
    /// `invalid_json`, `invalid_field`, `payload_too_large`, `not_found`, `duplicate_id`,
    /// `timeout`, `overloaded`, `internal`.
    pub code: String,
    /// The field at fault, e.g. `k`, `queries[2]`, `documents[0]._id`, `body`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}
