//! `Idempotency-Key` on POST: the first answer is kept and replayed for the same
//! key; the same key with a different request is refused.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::time;

/// Keys are kept this long (as Svix does).
pub const KEEP: i64 = 12 * time::HOUR;

pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(req).await;
    };
    if key.is_empty() || key.len() > 256 {
        return ApiError::invalid(&["header", "idempotency-key"], "must be 1 to 256 characters").into_response();
    }
    let scope = req
        .extensions()
        .get::<Caller>()
        .map(Caller::principal)
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let limit = state.body_limit();
    let Ok(bytes) = to_bytes(body, limit).await else {
        return ApiError::TooLarge(limit).into_response();
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"?");
    hasher.update(parts.uri.query().unwrap_or_default().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let hash = hex::encode(hasher.finalize());

    match state.store.idempotency_begin(&scope, &key, &hash, time::now()).await {
        Err(e) => return ApiError::from(e).into_response(),
        Ok(Some(prior)) if prior.request_hash != hash => {
            return ApiError::invalid(
                &["header", "idempotency-key"],
                "this key was used with a different request",
            )
            .into_response();
        }
        Ok(Some(prior)) => {
            return match prior.response {
                None => ApiError::Conflict("a request with this idempotency key is still in progress".into())
                    .into_response(),
                Some((status, body)) => {
                    let mut resp = Response::new(Body::from(body));
                    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                    resp.headers_mut()
                        .insert("content-type", HeaderValue::from_static("application/json"));
                    resp.headers_mut()
                        .insert("idempotent-replayed", HeaderValue::from_static("true"));
                    resp
                }
            };
        }
        Ok(None) => {}
    }
    let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let stored = if parts.status.is_server_error() {
        // Not an answer to keep: let the client retry with the same key.
        state.store.idempotency_abort(&scope, &key).await
    } else {
        state
            .store
            .idempotency_finish(&scope, &key, parts.status.as_u16(), &String::from_utf8_lossy(&bytes))
            .await
    };
    if let Err(e) = stored {
        tracing::warn!(error = %e, "could not store an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}
