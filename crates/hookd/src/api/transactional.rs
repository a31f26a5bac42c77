//! Transactional webhooks (FusionAuth): a publisher may wait for the first
//! attempt at every matching endpoint and learn whether its policy was met,
//! so that it can commit or roll back; one call then cancels what is pending.
//!
//! Waiting reads nothing from the store: the node that stored the message
//! sends it, and its engine reports each outcome once it is durable.

use std::time::Duration;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::Json;
use super::messages::{self, CreateParams, Waiting};
use super::validate::Checks;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(cancel))
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaitPolicy {
    /// Every matching endpoint answered 2xx (true when none matched).
    All,
    /// At least one matching endpoint answered 2xx.
    Any,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitOut {
    pub policy: WaitPolicy,
    /// Whether the policy was met by the first attempts.
    pub met: bool,
    /// Whether every first attempt is known (false after the timeout, or when a
    /// delivery was left for later: `deliverAt`, or this node was full).
    pub complete: bool,
    pub endpoints: Vec<EndpointWait>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointWait {
    pub endpoint_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `success`, `fail` (the delivery is retried on its schedule) or `pending` (not known yet).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
}

/// The wait a publish asked for, checked before anything is stored.
pub fn timeout(q: &CreateParams, deliver_later: bool) -> ApiResult<Duration> {
    let secs = q.wait_timeout.unwrap_or(10.0);
    let mut c = Checks::default();
    c.check(
        (0.1..=60.0).contains(&secs),
        &["query", "wait_timeout"],
        "must be 0.1 to 60 seconds",
    );
    c.check(
        q.wait.is_none() || !deliver_later,
        &["query", "wait"],
        "cannot wait for a message scheduled with deliverAt",
    );
    c.done()?;
    Ok(Duration::from_secs_f64(secs))
}

/// Collects the first attempts until all are known or `timeout` has passed.
pub async fn settle(state: &AppState, waits: Vec<Waiting>, policy: WaitPolicy, timeout: Duration) -> WaitOut {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut endpoints = Vec::with_capacity(waits.len());
    let mut unanswered = Vec::new();
    for w in waits {
        // Each is awaited in turn, but all were sent at once: the total is bounded by the deadline.
        let report = match w.report {
            Some(rx) => tokio::time::timeout_at(deadline, rx).await.ok().and_then(Result::ok),
            None => None,
        };
        if report.is_none() {
            unanswered.push(w.delivery_id);
        }
        endpoints.push(EndpointWait {
            endpoint_id: w.endpoint.id.clone(),
            uid: w.endpoint.uid.clone(),
            status: match &report {
                Some(r) if r.success => "success",
                Some(_) => "fail",
                None => "pending",
            },
            status_code: report.as_ref().map(|r| r.status_code),
            duration_ms: report.as_ref().map(|r| r.duration_ms),
            error: report.as_ref().and_then(|r| r.error.clone()),
            attempt_id: report.map(|r| r.attempt_id),
        });
    }
    state.engine.unwatch(&unanswered);
    let succeeded = endpoints.iter().filter(|e| e.status == "success").count();
    WaitOut {
        policy,
        met: match policy {
            WaitPolicy::All => succeeded == endpoints.len(),
            WaitPolicy::Any => succeeded > 0,
        },
        complete: unanswered.is_empty(),
        endpoints,
    }
}

#[derive(Serialize, ToSchema)]
pub struct CancelOut {
    /// Deliveries that were pending or waiting for a retry and now never will be sent.
    pub canceled: u64,
}

/// Cancel a message's pending deliveries and retries, e.g. after the producer
/// rolled back (hookd extension). An attempt already under way still finishes.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/{msg_id}/cancel", tag = "Message", operation_id = "hookd.message.cancel",
    params(("app_id" = String, Path), ("msg_id" = String, Path)), responses((status = 200, body = CancelOut)))]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> ApiResult<Json<CancelOut>> {
    applications::require_admin_in(&state, &caller, &app_id).await?;
    let (app, m) = messages::find(&state, &caller, &app_id, &msg_id).await?;
    let canceled = state.store.cancel_pending(&app.id, &m.id).await?;
    Ok(Json(CancelOut { canceled }))
}
