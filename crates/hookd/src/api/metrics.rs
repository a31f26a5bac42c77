//! `GET /metrics` (Prometheus text format): on the API's port for the admin
//! token, and on `--metrics-listen` for anyone who can reach that address.
//! Also the middleware that counts every API request by its route template.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;

const TEXT_FORMAT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// The metrics alone, without a token, for `--metrics-listen`.
pub fn standalone(state: AppState) -> axum::Router {
    axum::Router::new().route("/metrics", get(render)).with_state(state)
}

/// Prometheus metrics (operator only).
#[utoipa::path(get, path = "/metrics", tag = "Health", operation_id = "hookd.metrics",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
async fn metrics(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require_admin()?;
    render(State(state)).await
}

async fn render(State(state): State<AppState>) -> ApiResult<Response> {
    let text = state.metrics.render(&*state.store).await?;
    Ok(([(CONTENT_TYPE, TEXT_FORMAT)], text).into_response())
}

/// Counts a request by route template (never the raw path, which holds ids).
pub async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    state
        .metrics
        .http(&route, &method, resp.status().as_u16(), started.elapsed());
    resp
}
