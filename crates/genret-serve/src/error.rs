//! One error type for every route, rendered as [`ErrorResponse`] JSON.
//!
//! The library's errors already separate the caller's mistakes ([`InputError`]) from faults
//! (`Error::Internal`); this maps the first to 4xx naming the field at fault, and the second to
//! 500 with a message that reveals nothing of the machine (paths, SQL, tensor shapes): the
//! detail goes to the log, under the same request line.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use genret_pipeline::{Error, InputError};

use crate::api::{ErrorBody, ErrorResponse};

/// An error answer: status, code, field and message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    /// 400: a field holds a value the server cannot use.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some(field),
            message,
        )
    }

    /// 400: the body is not JSON (or not JSON lines).
    pub fn invalid_json(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            Some(field),
            message,
        )
    }

    /// 413: the body is over the configured limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            Some("body"),
            message,
        )
    }

    pub fn not_found(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", field, message)
    }

    /// 500. `detail` is logged, never sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            None,
            "internal error; the server's log has the detail",
        )
    }

    /// The library's error: input errors as 4xx naming their field, faults as 5xx.
    /// `query_field` names the queries as the request did (`query` or `queries`).
    pub fn from_search(e: Error, query_field: &str) -> Self {
        match e {
            Error::Input(input) => Self::from_input(input, query_field),
            Error::Overloaded { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                None,
                "the search queue is full; retry shortly",
            ),
            Error::Internal(e) => Self::internal(format!("{e:#}")),
        }
    }

    pub fn from_input(input: InputError, query_field: &str) -> Self {
        let message = input.to_string();
        match input {
            InputError::EmptyQuery { index } => {
                let field = if query_field == "query" {
                    "query".to_string()
                } else {
                    format!("queries[{}]", index.saturating_sub(1))
                };
                Self::invalid(&field, message)
            }
            InputError::OutOfRange { field, .. } => Self::invalid(field, message),
            InputError::DuplicateDocId { .. } => {
                Self::new(StatusCode::CONFLICT, "duplicate_id", Some("_id"), message)
            }
            InputError::EmptyDocId { index } => Self::invalid(
                &format!("documents[{}]._id", index.saturating_sub(1)),
                message,
            ),
            InputError::Unsupported(_) => {
                Self::new(StatusCode::BAD_REQUEST, "unsupported", None, message)
            }
        }
    }

    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            error: ErrorBody {
                status: self.status.as_u16(),
                code: self.code.to_string(),
                field: self.field.clone(),
                message: self.message.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("a request's worker task failed: {e}"))
    }
}
