//! Svix's usage aggregates, as finished background tasks: deliveries made per
//! application over a range (`application.stats`), and the event types each
//! application's endpoints subscribe to (`event-type.aggregate`).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::Caller;
use super::background_tasks::TaskStartedOut;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::pagination::every;
use crate::store::{AppRecord, EndpointRecord, Page, TaskKind};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(app_usage))
        .routes(routes!(event_type_usage))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppUsageStatsIn {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Only these applications (ids or uids); none: every application.
    pub app_ids: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppUsageStatsOut {
    #[serde(flatten)]
    pub task: TaskStartedOut,
    /// The given ids or uids that name no application.
    pub unresolved_app_ids: Vec<String>,
}

/// Every application, in id order.
async fn every_app(state: &AppState) -> ApiResult<Vec<AppRecord>> {
    every(
        |p: Page| async move { state.store.list_apps(&p, None).await },
        |a: &AppRecord| a.id.clone(),
    )
    .await
}

/// Count each application's deliveries (`messageDestinations`) of messages
/// made in a range (at most 31 days), as a finished `application.stats` task.
#[utoipa::path(post, path = "/api/v1/stats/usage/app", tag = "Statistics", operation_id = "v1.statistics.aggregate-app-stats",
    request_body = AppUsageStatsIn, responses((status = 202, body = AppUsageStatsOut)))]
async fn app_usage(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AppUsageStatsIn>,
) -> ApiResult<(StatusCode, Json<AppUsageStatsOut>)> {
    caller.require_admin()?;
    let (since, until) = (time::from_datetime(body.since), time::from_datetime(body.until));
    if !(since < until && until - since <= 31 * time::DAY) {
        return Err(ApiError::invalid(
            &["body", "until"],
            "the range must be positive and at most 31 days",
        ));
    }
    let (apps, unresolved) = match &body.app_ids {
        None => (every_app(&state).await?, Vec::new()),
        Some(ids) => {
            let (mut apps, mut unresolved) = (Vec::new(), Vec::new());
            for id in ids {
                match applications::lookup(&state, id).await? {
                    Some(app) => apps.push(app),
                    None => unresolved.push(id.clone()),
                }
            }
            if apps.is_empty() {
                return Err(ApiError::invalid(
                    &["body", "appIds"],
                    "none of these names an application",
                ));
            }
            (apps, unresolved)
        }
    };
    let mut stats = Vec::new();
    for app in &apps {
        let rows = state
            .store
            .app_stats(&app.id, since, until, None, 31 * time::DAY)
            .await?;
        let made: i64 = rows.iter().map(|r| r.n).sum();
        stats.push(json!({"appId": app.id, "appUid": app.uid, "messageDestinations": made}));
    }
    let data = json!({ "since": time::to_rfc3339(since), "until": time::to_rfc3339(until), "appStats": stats });
    let task = state
        .store
        .finish_task(TaskKind::AppStats, data, apps.len() as i64)
        .await?;
    state.engine.wrote_operational_events();
    Ok((
        StatusCode::ACCEPTED,
        Json(AppUsageStatsOut {
            task: task.into(),
            unresolved_app_ids: unresolved,
        }),
    ))
}

/// List, per application, the event types its endpoints subscribe to and
/// whether one takes every event type, as a finished `event-type.aggregate` task.
#[utoipa::path(put, path = "/api/v1/stats/usage/event-types", tag = "Statistics", operation_id = "v1.statistics.aggregate-event-types",
    responses((status = 202, body = TaskStartedOut)))]
async fn event_type_usage(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<(StatusCode, Json<TaskStartedOut>)> {
    caller.require_admin()?;
    let apps = every_app(&state).await?;
    let mut out = Vec::new();
    for app in &apps {
        let mut types = BTreeSet::new();
        let mut catch_all = false;
        let store = &state.store;
        let list = |p: Page| async move { store.list_endpoints(&app.id, &p).await };
        let endpoints = every(list, |e: &EndpointRecord| e.id.clone()).await?;
        for ep in endpoints.iter().filter(|e| !e.disabled) {
            match ep.event_types.as_deref() {
                None | Some([]) => catch_all = true,
                Some(list) if list.iter().any(|t| t == "*") => catch_all = true,
                Some(list) => types.extend(list.iter().cloned()),
            }
        }
        out.push(json!({
            "appId": app.id,
            "explicitlySubscribedEventTypes": types,
            "hasCatchAllEndpoint": catch_all,
        }));
    }
    let task = state
        .store
        .finish_task(
            TaskKind::EventTypeAggregate,
            json!({ "event_types": out }),
            apps.len() as i64,
        )
        .await?;
    state.engine.wrote_operational_events();
    Ok((StatusCode::ACCEPTED, Json(task.into())))
}
