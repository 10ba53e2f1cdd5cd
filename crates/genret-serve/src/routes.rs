//! The routes: thin async handlers that read the body, check it, and hand the work to a
//! blocking thread (model workers and SQLite block). Each is annotated with its OpenAPI
//! description, from which `/openapi.json` is generated.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::api::*;
use crate::body::{parse_documents, parse_json, read_limited};
use crate::error::ApiError;
use crate::state::AppState;

type AppResult<T> = Result<T, ApiError>;

/// Every route, with the request log, metrics, timeouts and panic guard around them.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/search", post(search))
        .route("/documents", post(add_documents))
        .route("/documents/{id}", get(get_document))
        .route("/health", get(health))
        .route("/info", get(info))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .route(
            "/",
            get(|| async { axum::response::Redirect::temporary("/docs") }),
        )
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("a handler panicked").into_response()
            },
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Around every request: the timeout (adds get their own, longer one), one log line, and the
/// request metrics.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().path().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let limit = if route == "/documents" && method == axum::http::Method::POST {
        state.settings.add_timeout
    } else {
        state.settings.request_timeout
    };
    state.metrics.started();
    let response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        // The work may still finish on its blocking thread (an add then completes whole);
        // the client is told it did not wait for it.
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            None,
            format!(
                "the request took longer than {:.1} s and was abandoned",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    };
    let took = start.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .finished(&route, method.as_str(), status, took);
    tracing::info!("{method} {uri} {status} {:.1} ms", took.as_secs_f64() * 1e3);
    response
}

/// Search one query or a batch.
#[utoipa::path(
    post,
    path = "/search",
    request_body(content = SearchRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One result list per query", body = SearchResponse),
        (status = 400, description = "Malformed JSON, a missing or empty query, `k` or `beam` out of range, an unknown system (the field is named)", body = ErrorResponse),
        (status = 413, description = "The body is over the configured limit", body = ErrorResponse),
        (status = 500, description = "Internal fault (detail in the server's log)", body = ErrorResponse),
        (status = 503, description = "Overloaded or timed out", body = ErrorResponse),
    )
)]
pub async fn search(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> AppResult<Json<SearchResponse>> {
    let bytes = read_limited(body, state.settings.max_body_bytes).await?;
    let request: SearchRequest = parse_json(&bytes)?;
    let plan = state.plan(&request)?;
    let response = tokio::task::spawn_blocking(move || state.search(plan)).await??;
    Ok(Json(response))
}

/// Add documents: all or nothing, durable and searchable before the answer.
#[utoipa::path(
    post,
    path = "/documents",
    request_body(
        content = Vec<NewDocument>,
        description = "JSON lines (one document a line, as in corpus.jsonl) or a JSON array of documents",
        content_type = "application/json"
    ),
    responses(
        (status = 200, description = "Every document was added, stored durably, and is searchable", body = AddResponse),
        (status = 400, description = "A document is malformed (the field is named); nothing was added", body = ErrorResponse),
        (status = 409, description = "A document id is already in the index or twice in the body; nothing was added", body = ErrorResponse),
        (status = 413, description = "The body is over the configured size or document count", body = ErrorResponse),
        (status = 500, description = "Internal fault (detail in the server's log)", body = ErrorResponse),
        (status = 503, description = "Timed out", body = ErrorResponse),
    )
)]
pub async fn add_documents(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> AppResult<Json<AddResponse>> {
    let bytes = read_limited(body, state.settings.max_body_bytes).await?;
    let docs = parse_documents(&bytes, state.settings.max_documents)?;
    let response = tokio::task::spawn_blocking(move || state.add(docs)).await??;
    Ok(Json(response))
}

/// A stored document by its id.
#[utoipa::path(
    get,
    path = "/documents/{id}",
    params(("id" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "The document", body = DocumentResponse),
        (status = 404, description = "No document has this id", body = ErrorResponse),
        (status = 500, description = "Internal fault", body = ErrorResponse),
    )
)]
pub async fn get_document(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> AppResult<Json<DocumentResponse>> {
    let lookup = id.clone();
    let doc = tokio::task::spawn_blocking(move || state.document(&lookup)).await??;
    let doc = doc
        .ok_or_else(|| ApiError::not_found(Some("id"), format!("no document has the id `{id}`")))?;
    Ok(Json(DocumentResponse {
        doc_id: doc.doc_id,
        pos: doc.pos,
        title: doc.title,
        text: doc.text,
        docid: doc.codes,
        origin: doc.origin.as_str().to_string(),
    }))
}

/// Liveness: answers without touching the model.
#[utoipa::path(
    get,
    path = "/health",
    responses((status = 200, description = "The server is up", body = HealthResponse))
)]
pub async fn health(State(state): State<Arc<AppState>>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
        num_docs: state.num_docs(),
        uptime_s: state.uptime().as_secs_f64(),
    })
}

/// The model, K and M, document counts, docid health, systems, queue and limits.
#[utoipa::path(
    get,
    path = "/info",
    responses(
        (status = 200, description = "About this server and its index", body = InfoResponse),
        (status = 500, description = "Internal fault", body = ErrorResponse),
    )
)]
pub async fn info(State(state): State<Arc<AppState>>) -> AppResult<Json<InfoResponse>> {
    Ok(Json(
        tokio::task::spawn_blocking(move || state.info()).await??,
    ))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Request counts and latency histograms by route and status, model batch sizes, queue depth", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics_text(),
    )
        .into_response()
}

/// This description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    responses((status = 200, description = "The OpenAPI 3 description of this server", content_type = "application/json"))
)]
pub async fn openapi_json() -> Response {
    match crate::docs::openapi().to_pretty_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => ApiError::internal(format!("writing the OpenAPI document: {e}")).into_response(),
    }
}

/// A page that shows the OpenAPI description and can send requests; no external assets.
#[utoipa::path(
    get,
    path = "/docs",
    responses((status = 200, description = "The API viewer page", content_type = "text/html"))
)]
pub async fn docs_page() -> Html<&'static str> {
    Html(crate::docs::VIEWER_HTML)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(
        None,
        format!(
            "no route {} {}; see /docs",
            request.method(),
            request.uri().path()
        ),
    )
}
