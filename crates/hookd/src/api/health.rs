use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiResult;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ping))
        .routes(routes!(livez))
        .routes(routes!(readyz))
}

/// For probes: the process answers.
#[utoipa::path(get, path = "/livez", tag = "Health", operation_id = "hookd.livez",
    responses((status = 200, description = "Alive")))]
async fn livez() -> &'static str {
    "ok"
}

#[derive(Serialize, ToSchema)]
pub struct ReadyOut {
    /// `ready`, or what is not.
    pub status: &'static str,
}

/// For load balancers: 200 while this node should get traffic: its store
/// answers and its delivery engine runs (it stops at once on shutdown).
#[utoipa::path(get, path = "/readyz", tag = "Health", operation_id = "hookd.readyz",
    responses((status = 200, body = ReadyOut), (status = 503, body = ReadyOut)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<ReadyOut>) {
    let not = |status| (StatusCode::SERVICE_UNAVAILABLE, Json(ReadyOut { status }));
    if state.engine.stopping().is_cancelled() {
        return not("shutting down");
    }
    match tokio::time::timeout(Duration::from_secs(2), state.store.get_setting("schema")).await {
        Ok(Ok(_)) => (StatusCode::OK, Json(ReadyOut { status: "ready" })),
        _ => not("the database does not answer"),
    }
}

/// Health: 204 when the server and its database answer.
#[utoipa::path(get, path = "/api/v1/health", tag = "Health", operation_id = "v1.health.get",
    responses((status = 204, description = "Healthy"), (status = 503, description = "Database unavailable")))]
async fn health(State(state): State<AppState>) -> ApiResult<StatusCode> {
    state.store.get_setting("schema").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Liveness: 204 while the process serves requests.
#[utoipa::path(get, path = "/api/v1/health/ping", tag = "Health", responses((status = 204, description = "Alive")))]
async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}
