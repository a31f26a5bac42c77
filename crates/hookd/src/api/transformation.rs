//! An endpoint's transformation (Svix's): its JavaScript, whether it runs,
//! and trying a script on a payload without sending anything. The engine
//! runs it before each attempt (`delivery::transform`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::endpoints::{find, save};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, nullable};
use super::validate::Checks;
use crate::delivery::transform::{self, Webhook};
use crate::time;

type EpPath = Path<(String, String)>;

/// How long a script may be, in bytes.
const CODE: std::ops::RangeInclusive<usize> = 10..=51_200;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTransformationOut {
    pub code: Option<String>,
    pub enabled: bool,
    pub variables: Option<BTreeMap<String, String>>,
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTransformationPatch {
    /// `function handler(webhook) { … return webhook; }`; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub code: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// Values the script reads as `webhook.variables`; `null` removes them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub variables: Option<Option<BTreeMap<String, String>>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransformationSimulateIn {
    pub code: String,
    pub event_type: String,
    pub channels: Option<Vec<String>>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Map<String, serde_json::Value>,
    pub variables: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransformationSimulateOut {
    pub url: String,
    /// The body that would be sent.
    pub payload: String,
    pub method: String,
    pub cancel: bool,
}

/// The endpoint's transformation.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", tag = "Endpoint",
    operation_id = "v1.endpoint.transformation.get", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointTransformationOut)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): EpPath,
) -> ApiResult<Json<EndpointTransformationOut>> {
    let (_, ep) = find(&state, &caller, &p.0, &p.1).await?;
    let t = ep.transformation.unwrap_or_default();
    Ok(Json(EndpointTransformationOut {
        updated_at: (t.updated_at != 0).then(|| time::to_rfc3339(t.updated_at)),
        code: t.code,
        enabled: t.enabled,
        variables: t.variables,
    }))
}

/// Change the endpoint's transformation: its code (checked: it must define
/// `handler`), whether it runs, its variables.
#[utoipa::path(patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", tag = "Endpoint",
    operation_id = "v1.endpoint.transformation.patch", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = EndpointTransformationPatch, responses((status = 204, description = "Changed")))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): EpPath,
    Json(body): Json<EndpointTransformationPatch>,
) -> ApiResult<StatusCode> {
    let (app, before) = find(&state, &caller, &p.0, &p.1).await?;
    caller.manage(&app.id)?;
    let mut t = before.transformation.clone().unwrap_or_default();
    if let Some(code) = body.code {
        if let Some(code) = &code {
            check_code(code).await?;
        }
        t.code = code;
    }
    if let Some(v) = body.variables {
        t.variables = v;
    }
    if let Some(enabled) = body.enabled {
        t.enabled = enabled;
    }
    if t.enabled && t.code.is_none() {
        return Err(ApiError::invalid(&["body", "enabled"], "there is no code to run"));
    }
    t.updated_at = time::now();
    let mut ep = before.clone();
    ep.transformation = Some(t);
    save(&state, &app, &before, ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run a script on an event type and payload as a delivery to this endpoint
/// would, and show what would be sent. Nothing is sent or stored.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation/simulate", tag = "Endpoint",
    operation_id = "v1.endpoint.transformation.simulate", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = TransformationSimulateIn, responses((status = 200, body = TransformationSimulateOut)))]
pub async fn simulate(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): EpPath,
    Json(body): Json<TransformationSimulateIn>,
) -> ApiResult<Json<TransformationSimulateOut>> {
    let (_, ep) = find(&state, &caller, &p.0, &p.1).await?;
    let mut checks = Checks::default();
    checks.name(&["body", "eventType"], &body.event_type, 256);
    checks.channels(&["body", "channels"], body.channels.as_ref());
    checks.done()?;
    check_code(&body.code).await?;
    let input = Webhook {
        method: "POST".into(),
        url: ep.url.clone(),
        payload: serde_json::Value::Object(body.payload),
        event_type: body.event_type,
        headers: BTreeMap::new(),
        cancel: false,
        variables: body.variables,
    };
    let code = body.code;
    // The script runs on a thread where waiting is allowed, never on the API's own.
    let out = tokio::task::spawn_blocking(move || transform::run(None, &code, &input))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::invalid(&["body", "code"], e.to_string()))?;
    Ok(Json(TransformationSimulateOut {
        url: out.url,
        payload: out.payload.to_string(),
        method: out.method,
        cancel: out.cancel,
    }))
}

/// A script of a length Svix takes that defines `handler` when it runs.
async fn check_code(code: &str) -> ApiResult<()> {
    if !CODE.contains(&code.len()) {
        return Err(ApiError::invalid(&["body", "code"], "must be 10 to 51200 bytes"));
    }
    let code = code.to_owned();
    tokio::task::spawn_blocking(move || transform::compile(&code))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::invalid(&["body", "code"], e.to_string()))
}
