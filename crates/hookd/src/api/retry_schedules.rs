//! Svix's `/event-type/{name}/retry-schedule`: a retry schedule per event
//! type, which its deliveries follow unless their endpoint has its own.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::validate::Checks;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get, set))
}

/// A delay, as Svix writes durations.
// Named `Duration` in the document, as Svix names it; not in Rust, where
// utoipa would take the name for a string.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Duration)]
pub struct Delay {
    #[serde(deserialize_with = "super::whole::req")]
    pub secs: u64,
    #[serde(default, deserialize_with = "super::whole::req")]
    pub nanos: u32,
}

#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct RetryScheduleInOut {
    /// The delays before each retry; `null` for the server's schedule.
    pub retry_schedule: Option<Vec<Delay>>,
}

async fn find(state: &AppState, caller: &Caller, name: &str) -> ApiResult<()> {
    caller.require_admin()?;
    match state.store.get_event_type(name).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound("event type")),
    }
}

fn out(seconds: Option<Vec<f64>>) -> RetryScheduleInOut {
    let delays = seconds.map(|s| {
        s.into_iter()
            .map(|d| Delay {
                secs: d.trunc() as u64,
                nanos: (d.fract() * 1e9).round() as u32,
            })
            .collect()
    });
    RetryScheduleInOut { retry_schedule: delays }
}

/// Get the retry schedule of an event type's deliveries.
#[utoipa::path(get, path = "/api/v1/event-type/{event_type_name}/retry-schedule", tag = "Event Type",
    operation_id = "v1.event-type.get-retry-schedule", params(("event_type_name" = String, Path)),
    responses((status = 200, body = RetryScheduleInOut)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<RetryScheduleInOut>> {
    find(&state, &caller, &name).await?;
    Ok(Json(out(state.store.get_retry_schedule(&name).await?)))
}

/// Set (or with `null`, remove) the retry schedule of an event type's deliveries.
#[utoipa::path(put, path = "/api/v1/event-type/{event_type_name}/retry-schedule", tag = "Event Type",
    operation_id = "v1.event-type.set-retry-schedule", params(("event_type_name" = String, Path)),
    request_body = RetryScheduleInOut, responses((status = 200, body = RetryScheduleInOut)))]
async fn set(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<RetryScheduleInOut>,
) -> ApiResult<Json<RetryScheduleInOut>> {
    find(&state, &caller, &name).await?;
    if let Some(s) = &body.retry_schedule {
        let mut c = Checks::default();
        let ok = s.len() <= 30 && s.iter().all(|d| d.secs <= 7 * 86400 && d.nanos < 1_000_000_000);
        c.check(
            ok,
            &["body", "retrySchedule"],
            "at most 30 delays, each 0 to 604800 seconds",
        );
        c.done()?;
    }
    let seconds: Option<Vec<f64>> = body
        .retry_schedule
        .map(|s| s.iter().map(|d| d.secs as f64 + f64::from(d.nanos) / 1e9).collect());
    state.store.set_retry_schedule(&name, seconds.as_deref()).await?;
    state.engine.forget_schedule(&name);
    Ok(Json(out(seconds)))
}
