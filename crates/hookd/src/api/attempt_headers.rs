//! The headers an attempt was sent with, computed again as Svix does: from
//! the message, the endpoint as it is now, and the time the attempt began
//! (which the attempt log gives back exactly, see `delivery::attempt::started_at`).
//! An endpoint whose headers or secret changed since shows its current ones.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::endpoint_extras::is_sensitive;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::messages;
use crate::delivery::{attempt, body, sign};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_headers))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptHeadersOut {
    /// Every header of the request, sensitive ones with their value hidden.
    pub sent_headers: BTreeMap<String, String>,
    /// The receiver's answer's headers, as `[name, value]` pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_headers: Option<Vec<[String; 2]>>,
    /// Headers whose values are not shown.
    pub sensitive: BTreeSet<String>,
}

const HIDDEN: &str = "********";

/// Get the headers an attempt was sent with (and those its answer had).
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/headers", tag = "Message Attempt",
    operation_id = "v1.message-attempt.get-headers",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("attempt_id" = String, Path)),
    responses((status = 200, body = MessageAttemptHeadersOut)))]
async fn get_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<Json<MessageAttemptHeadersOut>> {
    let (app, msg) = messages::find(&state, &caller, &app_id, &msg_id).await?;
    let a = state
        .store
        .get_attempt(&msg.id, &attempt_id)
        .await?
        .ok_or(ApiError::NotFound("attempt"))?;
    let ep = state
        .store
        .get_endpoint(&app.id, &a.endpoint_id)
        .await?
        .ok_or(ApiError::NotFound("endpoint"))?;
    let body = body::render(&ep, &msg);
    let started = attempt::started_at(a.created_at, a.duration_ms);
    let sent = sign::headers(&ep, &msg, body.as_bytes(), started, None);
    let mut sent_headers = BTreeMap::new();
    let mut sensitive = BTreeSet::new();
    for (name, value) in &sent {
        let name = name.as_str().to_owned();
        // The bearer scheme's secret travels in `authorization`, sensitive too.
        let value = match is_sensitive(&name) {
            true => {
                sensitive.insert(name.clone());
                HIDDEN.to_owned()
            }
            false => String::from_utf8_lossy(value.as_bytes()).into_owned(),
        };
        sent_headers.insert(name, value);
    }
    let response_headers = a.response_headers.map(|h| h.into_iter().map(|(k, v)| [k, v]).collect());
    Ok(Json(MessageAttemptHeadersOut {
        sent_headers,
        response_headers,
        sensitive,
    }))
}
