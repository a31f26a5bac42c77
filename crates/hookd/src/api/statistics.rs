//! Svix's counts over every tenant: endpoints by state, applications with an
//! active endpoint. For the operator.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::{Json, Query};
use super::messages::yes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(endpoint_count))
        .routes(routes!(count_active))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlayParams {
    /// Leave out endpoints pointing at play.svix.com (default true).
    #[serde(default = "yes")]
    pub exclude_svix_play: bool,
    /// Count only applications with an enabled endpoint (default true).
    #[serde(default = "yes")]
    pub exclude_disabled: bool,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointCountOut {
    pub active: i64,
    pub disabled: i64,
}

/// Count the endpoints of every application, enabled and disabled.
#[utoipa::path(get, path = "/api/v1/stats/endpoint/count", tag = "Statistics", operation_id = "v1.statistics.endpoint-count",
    params(PlayParams), responses((status = 200, body = EndpointCountOut)))]
async fn endpoint_count(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PlayParams>,
) -> ApiResult<Json<EndpointCountOut>> {
    caller.require_admin()?;
    let (active, disabled) = state.store.count_endpoints(q.exclude_svix_play).await?;
    Ok(Json(EndpointCountOut { active, disabled }))
}

#[derive(Serialize, ToSchema)]
pub struct ActiveAppCount {
    pub count: i64,
}

/// Count the applications with at least one active endpoint.
#[utoipa::path(get, path = "/api/v1/app/stats/count-active", tag = "Application", operation_id = "v1.application.count-active",
    params(PlayParams), responses((status = 200, body = ActiveAppCount)))]
async fn count_active(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PlayParams>,
) -> ApiResult<Json<ActiveAppCount>> {
    caller.require_admin()?;
    let count = state
        .store
        .count_active_apps(q.exclude_disabled, q.exclude_svix_play)
        .await?;
    Ok(Json(ActiveAppCount { count }))
}
