//! Replays of an endpoint's messages as background tasks (`background::replay`
//! runs them): what it never got (`replay-missing`), and what filters choose
//! (`bulk-replay`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::background_tasks::TaskStartedOut;
use super::endpoints::find;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::validate::Checks;
use crate::background::replay::Replay;
use crate::store::{DeliveryStatus, TaskKind};

#[derive(Deserialize, ToSchema)]
pub struct ReplayIn {
    pub since: DateTime<Utc>,
    /// Now when not given.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkReplayIn {
    pub since: DateTime<Utc>,
    /// Now when not given.
    pub until: Option<DateTime<Utc>>,
    /// Only messages of these event types.
    pub event_types: Option<Vec<String>>,
    /// Only messages sent to this channel.
    pub channel: Option<String>,
    /// Only messages with this tag.
    pub tag: Option<String>,
    /// Only deliveries in this state (0 success, 1 pending, 2 fail, 3 sending); 2 when not given.
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub status: Option<i64>,
    /// Only deliveries whose last attempt's status code is in this class (0: no answer).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub status_code_class: Option<i64>,
}

/// Send the endpoint every message since a time that it takes and never
/// got, such as those published while it was disabled.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing", tag = "Endpoint",
    operation_id = "v1.endpoint.replay-missing", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = ReplayIn, responses((status = 202, body = TaskStartedOut)))]
pub async fn replay_missing(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<ReplayIn>,
) -> ApiResult<(StatusCode, Json<TaskStartedOut>)> {
    let (app, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    let replay = Replay {
        app_id: app.id,
        endpoint_id: ep.id,
        since: body.since,
        until: until(body.since, body.until)?,
        event_types: None,
        channel: None,
        tag: None,
        status: None,
        status_code_class: None,
        cursor: None,
    };
    start(&state, TaskKind::EndpointReplay, &replay).await
}

/// Send the endpoint's messages of a period again, chosen by event type,
/// channel, tag, delivery state (failed ones by default) and the class of
/// their last answer.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay", tag = "Endpoint",
    operation_id = "v1.endpoint.bulk-replay", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = BulkReplayIn, responses((status = 202, body = TaskStartedOut)))]
pub async fn bulk_replay(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<BulkReplayIn>,
) -> ApiResult<(StatusCode, Json<TaskStartedOut>)> {
    let (app, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    let mut checks = Checks::default();
    for t in body.event_types.iter().flatten() {
        checks.name(&["body", "eventTypes"], t, 256);
    }
    let channel = body.channel.clone().map(|c| vec![c]);
    checks.channels(&["body", "channel"], channel.as_ref());
    if let Some(tag) = &body.tag {
        checks.tag(&["body", "tag"], tag);
    }
    let status_ok = body.status.is_none_or(|s| DeliveryStatus::from_code(s).is_some());
    checks.check(status_ok, &["body", "status"], "must be 0, 1, 2, 3 or 4");
    checks.status_code_class(&["body", "statusCodeClass"], body.status_code_class);
    checks.done()?;
    let replay = Replay {
        app_id: app.id,
        endpoint_id: ep.id,
        since: body.since,
        until: until(body.since, body.until)?,
        event_types: body.event_types.filter(|t| !t.is_empty()),
        channel: body.channel,
        tag: body.tag,
        status: body.status,
        status_code_class: body.status_code_class,
        cursor: None,
    };
    start(&state, TaskKind::EndpointBulkReplay, &replay).await
}

/// The period's end: as given, or now.
fn until(since: DateTime<Utc>, until: Option<DateTime<Utc>>) -> ApiResult<DateTime<Utc>> {
    match until {
        Some(u) if u < since => Err(ApiError::invalid(&["body", "until"], "must not be before since")),
        Some(u) => Ok(u),
        None => Ok(Utc::now()),
    }
}

async fn start(state: &AppState, kind: TaskKind, replay: &Replay) -> ApiResult<(StatusCode, Json<TaskStartedOut>)> {
    let data = serde_json::to_value(replay).expect("a replay serialises");
    let task = state.store.start_task(kind, data).await?;
    state.engine.started_task();
    Ok((StatusCode::ACCEPTED, Json(task.into())))
}
