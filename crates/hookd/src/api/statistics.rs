//! Svix's statistics: counts over every tenant (endpoints by state,
//! applications with an active endpoint) for the operator, and an
//! application's deliveries by outcome, per event type or per period.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::messages::{split_list, yes};
use crate::store::{AppStatsRow, DeliveryStatus};
use crate::time::{self, Micros};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(endpoint_count))
        .routes(routes!(count_active))
        .routes(routes!(app_attempt_stats))
        .routes(routes!(app_attempt_series))
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

#[derive(Serialize, ToSchema, Default, Clone, Copy)]
pub struct AppAttemptEventTypeStats {
    pub success: i64,
    pub failure: i64,
    pub canceled: i64,
}

impl AppAttemptEventTypeStats {
    fn add(&mut self, row: &AppStatsRow) {
        match row.status {
            DeliveryStatus::Success => self.success += row.n,
            DeliveryStatus::Fail => self.failure += row.n,
            DeliveryStatus::Canceled => self.canceled += row.n,
            // Not ended yet: counted once they are.
            DeliveryStatus::Pending | DeliveryStatus::Sending => {}
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppStatsParams {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Comma-separated, or repeated.
    #[serde(default)]
    pub event_types: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AppAttemptStatsOut {
    pub by_event_type: BTreeMap<String, AppAttemptEventTypeStats>,
    pub total_success: i64,
    pub total_failure: i64,
    pub total_canceled: i64,
    #[schema(format = DateTime)]
    pub since: String,
    #[schema(format = DateTime)]
    pub until: String,
}

/// The longest range a statistics request may cover.
const MAX_RANGE: Micros = 31 * time::DAY;

fn range(since: Micros, until: Micros, loc: &[&str]) -> ApiResult<()> {
    match since < until && until - since <= MAX_RANGE {
        true => Ok(()),
        false => Err(ApiError::invalid(loc, "the range must be positive and at most 31 days")),
    }
}

/// An application's deliveries that ended (success, failure, canceled), by
/// event type, for its messages made in a time range.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/stats/attempts", tag = "Application", operation_id = "v1.application.stats.attempts",
    params(("app_id" = String, Path), AppStatsParams), responses((status = 200, body = AppAttemptStatsOut)))]
async fn app_attempt_stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<AppStatsParams>,
) -> ApiResult<Json<AppAttemptStatsOut>> {
    let app = applications::find(&state, &caller, &app_id).await?;
    let (since, until) = (time::from_datetime(q.since), time::from_datetime(q.until));
    range(since, until, &["query", "until"])?;
    let types = split_list(&q.event_types);
    let rows = state
        .store
        .app_stats(&app.id, since, until, types.as_deref(), MAX_RANGE)
        .await?;
    let mut by_event_type: BTreeMap<String, AppAttemptEventTypeStats> = BTreeMap::new();
    let mut total = AppAttemptEventTypeStats::default();
    for row in &rows {
        by_event_type.entry(row.event_type.clone()).or_default().add(row);
        total.add(row);
    }
    Ok(Json(AppAttemptStatsOut {
        by_event_type,
        total_success: total.success,
        total_failure: total.failure,
        total_canceled: total.canceled,
        since: time::to_rfc3339(since),
        until: time::to_rfc3339(until),
    }))
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Copy, PartialEq, Debug)]
pub enum StatisticsPeriod {
    OneDay,
    OneHour,
    FiveMinutes,
}

impl StatisticsPeriod {
    const fn micros(self) -> Micros {
        match self {
            StatisticsPeriod::OneDay => time::DAY,
            StatisticsPeriod::OneHour => time::HOUR,
            StatisticsPeriod::FiveMinutes => 5 * 60 * time::SECOND,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct AppSeriesParams {
    /// Default: a day before `endDate`.
    pub start_date: Option<DateTime<Utc>>,
    /// Default: now.
    pub end_date: Option<DateTime<Utc>>,
    /// Default: `OneHour`.
    #[param(value_type = Option<StatisticsPeriod>)]
    pub period: Option<StatisticsPeriod>,
    /// Comma-separated, or repeated.
    #[serde(default, rename = "event_types")]
    pub event_types: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptStatisticsData {
    pub success_count: Vec<i64>,
    pub failure_count: Vec<i64>,
    pub canceled_count: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptStatisticsResponse {
    /// The start of the first period.
    #[schema(format = DateTime)]
    pub start_date: String,
    #[schema(format = DateTime)]
    pub end_date: String,
    pub period: StatisticsPeriod,
    /// One count per period, oldest first.
    pub data: AttemptStatisticsData,
}

/// An application's deliveries that ended, by outcome, per period (a day, an
/// hour or five minutes) of the time their messages were made.
#[utoipa::path(get, path = "/api/v1/stats/app/{app_id}/attempt", tag = "Statistics", operation_id = "v1.stats.app-attempts",
    params(("app_id" = String, Path), AppSeriesParams), responses((status = 200, body = AttemptStatisticsResponse)))]
async fn app_attempt_series(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<AppSeriesParams>,
) -> ApiResult<Json<AttemptStatisticsResponse>> {
    let app = applications::find(&state, &caller, &app_id).await?;
    let period = q.period.unwrap_or(StatisticsPeriod::OneHour);
    let p = period.micros();
    let end = q.end_date.map_or_else(time::now, time::from_datetime);
    let start = q.start_date.map_or(end - time::DAY, time::from_datetime);
    range(start, end, &["query", "startDate"])?;
    // Whole periods: from the start of the first to the end of the last.
    let first = start.div_euclid(p) * p;
    let buckets = (end - first + p - 1).div_euclid(p).max(1) as usize;
    if buckets > 2_016 {
        return Err(ApiError::invalid(
            &["query", "period"],
            "at most 2016 periods: choose a longer period",
        ));
    }
    let types = split_list(&q.event_types);
    let rows = state.store.app_stats(&app.id, start, end, types.as_deref(), p).await?;
    let mut counts = vec![AppAttemptEventTypeStats::default(); buckets];
    for row in &rows {
        if let Some(c) = usize::try_from((row.period - first) / p)
            .ok()
            .and_then(|i| counts.get_mut(i))
        {
            c.add(row);
        }
    }
    Ok(Json(AttemptStatisticsResponse {
        start_date: time::to_rfc3339(first),
        end_date: time::to_rfc3339(end),
        period,
        data: AttemptStatisticsData {
            success_count: counts.iter().map(|c| c.success).collect(),
            failure_count: counts.iter().map(|c| c.failure).collect(),
            canceled_count: counts.iter().map(|c| c.canceled).collect(),
        },
    }))
}
