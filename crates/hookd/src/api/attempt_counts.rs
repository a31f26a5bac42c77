//! An application's attempts per hour, in all and per endpoint, over the last
//! hours (hookd extension; the console's charts). Read from the counts the
//! group commit keeps (`attempt_counts`), so a busy application costs a few
//! rows per endpoint and hour, not a row per attempt.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use crate::store::DeliveryStatus;
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(hourly))
}

/// The most hours a request may cover (the counts are kept eight days).
const MAX_HOURS: i64 = 7 * 24;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HourlyParams {
    /// How many hours back, the current one included (1 to 168, default 24).
    pub hours: Option<i64>,
}

#[derive(Serialize, ToSchema, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct HourlyCounts {
    /// Attempts answered 2xx, one count per hour, oldest first.
    pub success_count: Vec<i64>,
    /// Attempts that failed (an error, a timeout, a refused address or a non-2xx answer).
    pub failure_count: Vec<i64>,
}

impl HourlyCounts {
    fn zeros(hours: usize) -> Self {
        HourlyCounts {
            success_count: vec![0; hours],
            failure_count: vec![0; hours],
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HourlyOut {
    /// The start of the first hour.
    #[schema(format = DateTime)]
    pub start_date: String,
    pub data: HourlyCounts,
    /// The same for each endpoint that had attempts.
    pub by_endpoint: BTreeMap<String, HourlyCounts>,
}

/// An application's attempts per hour, in all and per endpoint (hookd extension).
#[utoipa::path(get, path = "/api/v1/app/{app_id}/stats/attempts/hourly", tag = "Statistics", operation_id = "hookd.stats.hourly-attempts",
    params(("app_id" = String, Path), HourlyParams),
    responses((status = 200, body = HourlyOut), (status = 404, body = super::error::HttpErrorOut),
        (status = 422, body = super::error::HttpValidationError)))]
async fn hourly(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<HourlyParams>,
) -> ApiResult<Json<HourlyOut>> {
    let app = applications::find(&state, &caller, &app_id).await?;
    let hours = q.hours.unwrap_or(24);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::invalid(&["query", "hours"], "must be 1 to 168"));
    }
    let first = (time::now().div_euclid(time::HOUR) - (hours - 1)) * time::HOUR;
    let n = hours as usize;
    let mut data = HourlyCounts::zeros(n);
    let mut by_endpoint: BTreeMap<String, HourlyCounts> = BTreeMap::new();
    for row in state.store.attempt_counts(&app.id, first).await? {
        let Some(i) = usize::try_from((row.period - first) / time::HOUR)
            .ok()
            .filter(|i| *i < n)
        else {
            continue;
        };
        let ep = by_endpoint
            .entry(row.endpoint_id)
            .or_insert_with(|| HourlyCounts::zeros(n));
        let (all, one) = match row.status {
            DeliveryStatus::Success => (&mut data.success_count[i], &mut ep.success_count[i]),
            _ => (&mut data.failure_count[i], &mut ep.failure_count[i]),
        };
        *all += row.n;
        *one += row.n;
    }
    Ok(Json(HourlyOut {
        start_date: time::to_rfc3339(first),
        data,
        by_endpoint,
    }))
}
