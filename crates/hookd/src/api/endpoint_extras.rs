//! Endpoint sub-resources: headers, secret, recover, send-example, stats,
//! rate-limit status.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::endpoints::{find, save};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::messages::{self, MessageOut};
use super::validate::Checks;
use crate::delivery::is_reserved_header;
use crate::security;
use crate::store::OldSecret;
use crate::time;

/// Header values that are write-only: listed by name, never shown.
const SENSITIVE: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
];

pub fn check_headers(c: &mut Checks, loc: &[&str], headers: &BTreeMap<String, String>) {
    for (name, value) in headers {
        let valid = axum::http::header::HeaderName::try_from(name.as_str()).is_ok()
            && axum::http::header::HeaderValue::try_from(value.as_str()).is_ok();
        c.check(valid, loc, format!("invalid header {name:?}"));
        c.check(
            !is_reserved_header(name),
            loc,
            format!("header {name:?} is set by hookd and cannot be replaced"),
        );
    }
    c.check(headers.len() <= 50, loc, "at most 50 headers");
}

#[derive(Serialize, ToSchema)]
pub struct EndpointHeadersOut {
    pub headers: BTreeMap<String, String>,
    /// Headers that are set but whose values are not shown.
    pub sensitive: BTreeSet<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct EndpointHeadersIn {
    pub headers: BTreeMap<String, String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHeadersPatchIn {
    /// Headers to set; a `null` value removes the header.
    pub headers: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub delete_headers: Vec<String>,
}

/// Get the headers sent with every delivery to this endpoint.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint", operation_id = "v1.endpoint.get-headers",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), responses((status = 200, body = EndpointHeadersOut)))]
pub async fn get_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let (_, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    Ok(Json(headers_out(ep)))
}

/// Whether a header's value is write-only (shown by name only).
pub fn is_sensitive(name: &str) -> bool {
    SENSITIVE.contains(&name.to_ascii_lowercase().as_str())
}

/// The headers as shown: sensitive ones by name only.
pub fn headers_out(ep: crate::store::EndpointRecord) -> EndpointHeadersOut {
    let (sensitive, shown): (BTreeMap<_, _>, BTreeMap<_, _>) =
        ep.headers.into_iter().partition(|(k, _)| is_sensitive(k));
    EndpointHeadersOut {
        headers: shown,
        sensitive: sensitive.into_keys().collect(),
    }
}

/// Replace the endpoint's headers.
#[utoipa::path(put, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint", operation_id = "v1.endpoint.set-headers",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), request_body = EndpointHeadersIn, responses((status = 204, description = "Set")))]
pub async fn set_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    let (app, before) = find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    let mut ep = before.clone();
    ep.headers = body.headers;
    save(&state, &app, &before, ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set or remove some of the endpoint's headers.
#[utoipa::path(patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", tag = "Endpoint", operation_id = "v1.endpoint.patch-headers",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), request_body = EndpointHeadersPatchIn, responses((status = 204, description = "Updated")))]
pub async fn patch_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<EndpointHeadersPatchIn>,
) -> ApiResult<StatusCode> {
    let (app, before) = find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    let mut ep = before.clone();
    for (k, v) in body.headers {
        match v {
            Some(v) => ep.headers.insert(k, v),
            None => ep.headers.remove(&k),
        };
    }
    for k in body.delete_headers {
        ep.headers.remove(&k);
    }
    save(&state, &app, &before, ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSecretOut {
    pub key: String,
    /// For the `bearer` scheme: the secret hashed as Fig's receivers keep it
    /// (bcrypt `2a`, cost 11, over base64 of its SHA-384; a fresh salt each
    /// time), for BCrypt.Net-Next's `EnhancedVerify` (hookd extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashed_key: Option<String>,
}

impl EndpointSecretOut {
    /// What the receiver of `ep` needs to check deliveries.
    pub async fn of(ep: &crate::store::EndpointRecord) -> ApiResult<Self> {
        let hashed_key = match ep.options.scheme() {
            crate::store::Scheme::Bearer => {
                let secret = ep.secret.clone();
                // bcrypt at cost 11 takes a tenth of a second of CPU: not on the API's threads.
                let hashed = tokio::task::spawn_blocking(move || security::hashed_secret::hash(&secret))
                    .await
                    .map_err(|e| ApiError::Internal(format!("hashing the secret: {e}")))?;
                Some(hashed)
            }
            _ => None,
        };
        Ok(EndpointSecretOut {
            key: shown_secret(ep),
            hashed_key,
        })
    }
}

/// Get the endpoint's signing secret.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret", tag = "Endpoint", operation_id = "v1.endpoint.get-secret",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), responses((status = 200, body = EndpointSecretOut)))]
pub async fn get_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let (_, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    EndpointSecretOut::of(&ep).await.map(Json)
}

/// What the receiver needs: the secret, or for ed25519 signing the `whpk_` public key.
pub fn shown_secret(ep: &crate::store::EndpointRecord) -> String {
    if ep.options.asymmetric() {
        security::public_key(&ep.secret).unwrap_or_default()
    } else {
        ep.secret.clone()
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSecretRotateIn {
    /// The new secret; generated when absent.
    pub key: Option<String>,
    /// How long the old secret keeps signing too (default 86400, at most 604800).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub grace_period_seconds: Option<i64>,
}

/// Old secrets kept signing at once, at most.
const MAX_OLD_SECRETS: usize = 10;

/// Rotate the signing secret; the old one keeps signing for the grace period. Answers the new secret.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", tag = "Endpoint", operation_id = "v1.endpoint.rotate-secret",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), request_body = Option<EndpointSecretRotateIn>,
    responses((status = 200, body = EndpointSecretOut)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    body: bytes::Bytes,
) -> ApiResult<Json<EndpointSecretOut>> {
    let (app, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    rotate(&state, &app, ep, &body).await.map(Json)
}

/// Rotates `ep`'s secret as `body` (optional JSON) asks.
pub async fn rotate(
    state: &AppState,
    app: &crate::store::AppRecord,
    before: crate::store::EndpointRecord,
    body: &[u8],
) -> ApiResult<EndpointSecretOut> {
    let mut ep = before.clone();
    // The body is optional: an empty one rotates to a generated secret with the default grace.
    let body: EndpointSecretRotateIn = super::extract::parse_optional_json(body)?;
    let grace = body.grace_period_seconds.unwrap_or(86400);
    let mut c = Checks::default();
    c.check(
        (0..=604_800).contains(&grace),
        &["body", "gracePeriodSeconds"],
        "must be 0 to 604800",
    );
    if let Some(key) = &body.key {
        let candidate = crate::store::EndpointRecord {
            secret: key.clone(),
            ..ep.clone()
        };
        super::endpoints::check_secret(&mut c, &["body", "key"], &candidate);
    }
    c.done()?;
    let now = time::now();
    // An empty secret is replaced by a new one of the scheme's kind when saved.
    let old = std::mem::replace(&mut ep.secret, body.key.unwrap_or_default());
    ep.old_secrets.retain(|o| o.expires_at > now);
    if grace > 0 {
        ep.old_secrets.insert(
            0,
            OldSecret {
                key: old,
                expires_at: now + grace * time::SECOND,
            },
        );
        ep.old_secrets.truncate(MAX_OLD_SECRETS);
    }
    let ep = save(state, app, &before, ep).await?;
    EndpointSecretOut::of(&ep).await
}

#[derive(Deserialize, ToSchema)]
pub struct RecoverIn {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverOut {
    /// The background task, as `/api/v1/background-task/{task_id}` shows it.
    pub id: String,
    /// `finished`: the failed deliveries are queued again.
    pub status: String,
    pub task: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// How many rows the task changed (`recover`: deliveries queued again; a hookd extension).
    pub recovered: i64,
}

impl From<crate::store::BackgroundTask> for RecoverOut {
    fn from(task: crate::store::BackgroundTask) -> Self {
        RecoverOut {
            id: task.id,
            status: task.status.name().into(),
            task: task.kind.name().into(),
            updated_at: time::to_rfc3339(task.updated_at),
            recovered: task.count.unwrap_or(0),
        }
    }
}

/// Queue the endpoint's failed deliveries since a time again.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover", tag = "Endpoint", operation_id = "v1.endpoint.recover",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), request_body = RecoverIn, responses((status = 202, body = RecoverOut)))]
pub async fn recover(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<RecoverIn>,
) -> ApiResult<(StatusCode, Json<RecoverOut>)> {
    let (app, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    let since = time::from_datetime(body.since);
    let until = body.until.map(time::from_datetime);
    if until.is_some_and(|u| u < since) {
        return Err(ApiError::invalid(&["body", "until"], "must not be before since"));
    }
    let params = serde_json::json!({
        "appId": app.id,
        "endpointId": ep.id,
        "since": time::to_rfc3339(since),
        "until": until.map(time::to_rfc3339),
    });
    let task = state.store.recover(&ep.id, since, until, params).await?;
    state.engine.announce();
    state.engine.wrote_operational_events();
    Ok((StatusCode::ACCEPTED, Json(task.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelMsgsIn {
    pub created_before: DateTime<Utc>,
}

/// Cancel the endpoint's deliveries of messages created before a time that
/// have not succeeded yet (pending or waiting for a retry): they are not sent again.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/cancel-msgs", tag = "Endpoint",
    operation_id = "v1.endpoint.cancel-msgs", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = CancelMsgsIn, responses((status = 204, description = "Canceled")))]
pub async fn cancel_msgs(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<CancelMsgsIn>,
) -> ApiResult<StatusCode> {
    let (app, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    let canceled = state
        .store
        .cancel_endpoint(&ep.id, time::from_datetime(body.created_before))
        .await?;
    tracing::debug!(endpoint = %ep.id, canceled, "deliveries canceled");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventExampleIn {
    pub event_type: String,
    #[serde(default, deserialize_with = "super::whole::req")]
    pub example_index: usize,
}

/// Send an example of an event type (from its schema's `examples`) to this endpoint only.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example", tag = "Endpoint", operation_id = "v1.endpoint.send-example",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), request_body = EventExampleIn, responses((status = 202, body = MessageOut)))]
pub async fn send_example(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<EventExampleIn>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    let (app, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    let et = state
        .store
        .get_event_type(&body.event_type)
        .await?
        .ok_or(ApiError::NotFound("event type"))?;
    let example = example_payload(et.schemas.as_ref(), body.example_index)
        .ok_or_else(|| ApiError::invalid(&["body", "exampleIndex"], "the event type has no example at this index"))?;
    let msg = messages::MessageIn::example(&body.event_type, example);
    let stored = messages::publish(&state, &app, msg, Some(ep.id)).await?;
    Ok((StatusCode::ACCEPTED, Json(MessageOut::from_record(&stored, true))))
}

/// The `n`th example of the newest schema version that has examples.
pub fn example_payload(schemas: Option<&serde_json::Value>, n: usize) -> Option<serde_json::Value> {
    let versions = schemas?.as_object()?;
    let mut keys: Vec<&String> = versions.keys().collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.parse::<u64>().unwrap_or(0)));
    keys.into_iter()
        .find_map(|k| {
            versions[k]
                .get("examples")
                .and_then(|e| e.as_array())
                .filter(|a| !a.is_empty())
        })
        .and_then(|examples| examples.get(n).cloned())
        .filter(serde_json::Value::is_object)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointStats {
    pub success: i64,
    pub pending: i64,
    pub sending: i64,
    pub fail: i64,
    pub canceled: i64,
}

/// Delivery counts by status for this endpoint.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats", tag = "Endpoint", operation_id = "v1.endpoint.get-stats",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), StatsParams), responses((status = 200, body = EndpointStats)))]
pub async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Query(q): Query<StatsParams>,
) -> ApiResult<Json<EndpointStats>> {
    let (_, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    let s = state
        .store
        .endpoint_stats(
            &ep.id,
            q.since.map(time::from_datetime),
            q.until.map(time::from_datetime),
        )
        .await?;
    Ok(Json(EndpointStats {
        success: s.success,
        pending: s.pending,
        sending: s.sending,
        fail: s.fail,
        canceled: s.canceled,
    }))
}

#[derive(Serialize, ToSchema)]
pub enum RateLimitStatus {
    Ok,
    RateLimited,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitStatusOut {
    pub status: RateLimitStatus,
    /// When sends started waiting for the endpoint's `throttleRate`, while they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub throttled_since: Option<String>,
}

/// Whether sends to this endpoint are being held back by its `throttleRate`
/// now, and since when. Each node paces its own sends: this is the answering node's view.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/rate-limit-status", tag = "Endpoint",
    operation_id = "v1.endpoint.get-throttling-status", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = RateLimitStatusOut)))]
pub async fn rate_limit_status(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<RateLimitStatusOut>> {
    let (_, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    let since = state.engine.throttled_since(&ep.id);
    Ok(Json(RateLimitStatusOut {
        status: match since {
            Some(_) => RateLimitStatus::RateLimited,
            None => RateLimitStatus::Ok,
        },
        throttled_since: since.map(|t| time::to_rfc3339(time::from_system(t))),
    }))
}
