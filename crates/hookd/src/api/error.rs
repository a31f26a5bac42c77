//! The API's one error type, and the one place errors become HTTP responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

/// One problem with a request field, as in `HTTPValidationError`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ValidationError {
    /// Where the problem is, e.g. `["body", "url"]`.
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl ValidationError {
    pub fn new(loc: &[&str], msg: impl Into<String>) -> Self {
        ValidationError {
            loc: loc.iter().map(|s| s.to_string()).collect(),
            msg: msg.into(),
            kind: "value_error".into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HttpErrorOut {
    pub code: String,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HttpValidationError {
    pub detail: Vec<ValidationError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing, unknown, expired or revoked token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("request body or payload is larger than {0} bytes")]
    TooLarge(usize),
    #[error("validation failed")]
    Validation(Vec<ValidationError>),
    #[error("the database is unavailable; try again")]
    Unavailable,
    #[error("this node is shutting down; try another")]
    ShuttingDown,
    /// What was asked was done, but its outcome is not known in time.
    #[error("{0}")]
    TimedOut(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(loc: &[&str], msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![ValidationError::new(loc, msg)])
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("entity"),
            StoreError::Conflict(detail) => ApiError::Conflict(detail),
            StoreError::Unstorable(_) => ApiError::invalid(&["body"], "a text value holds a NUL character"),
            StoreError::Unavailable(detail) => {
                static SAID: crate::log_limit::Every = crate::log_limit::Every::new(std::time::Duration::from_secs(10));
                if SAID.ready() {
                    tracing::warn!(%detail, "database unavailable; answering 503 (said at most every 10 s)");
                }
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::contracts::ContractError> for ApiError {
    fn from(e: crate::contracts::ContractError) -> Self {
        use crate::contracts::ContractError;
        match e {
            ContractError::Store(e) => e.into(),
            ContractError::Violations(found) => ApiError::Validation(
                found
                    .into_iter()
                    .map(|v| {
                        let mut loc = vec!["body".to_string(), "payload".to_string()];
                        loc.extend(v.path);
                        ValidationError {
                            loc,
                            msg: v.msg,
                            kind: "value_error.jsonschema".into(),
                        }
                    })
                    .collect(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "authentication_failed"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "insufficient_access"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Unavailable | ApiError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
            ApiError::TimedOut(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            ApiError::Validation(errors) => {
                let body = HttpValidationError { detail: errors.clone() };
                return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        };
        (
            status,
            Json(HttpErrorOut {
                code: code.into(),
                detail: self.to_string(),
            }),
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
