use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiResult;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ping))
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
