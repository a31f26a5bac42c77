//! Test deliveries: one request to a URL, answered at once, nothing saved.
//! The same address policy, TLS rules and signing apply as to real deliveries.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::Caller;
use super::endpoints;
use super::error::ApiResult;
use super::extract::Json;
use super::validate::Checks;
use crate::ids::{self, Kind};
use crate::store::{DeliveryTask, EndpointOptions, EndpointRecord, MessageRecord, trigger};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(test_delivery))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestDeliveryIn {
    pub url: String,
    /// Signs with this secret (default: a throwaway one).
    pub secret: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Default `hookd.test`.
    pub event_type: Option<String>,
    /// Default `{"type": "hookd.test"}`.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Box<RawValue>>,
    /// `signature`, `sslVerification` and `attemptTimeout`, as on endpoints.
    #[serde(flatten)]
    pub options: EndpointOptions,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestDeliveryOut {
    /// Whether the receiver answered 2xx.
    pub success: bool,
    /// 0 when there was no answer.
    pub status_code: u16,
    pub response_headers: BTreeMap<String, String>,
    /// The response body, truncated.
    pub response: String,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The id the request carried as `webhook-id`.
    pub msg_id: String,
}

/// Send one test request to a URL and answer with what came back (hookd extension).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/test-delivery", tag = "Testing", operation_id = "hookd.test-delivery",
    params(("app_id" = String, Path)), request_body = TestDeliveryIn,
    responses((status = 200, body = TestDeliveryOut), (status = 422, body = super::error::HttpValidationError)))]
async fn test_delivery(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Json(body): Json<TestDeliveryIn>,
) -> ApiResult<Json<TestDeliveryOut>> {
    let app = applications::find(&state, &caller, &app_id).await?;
    caller.manage(&app.id)?;
    let event_type = body.event_type.unwrap_or_else(|| "hookd.test".into());
    let payload = body
        .payload
        .map(|p| p.get().to_owned())
        .unwrap_or_else(|| r#"{"type":"hookd.test"}"#.into());
    let mut c = Checks::default();
    c.name(&["body", "eventType"], &event_type, 256);
    c.check(payload.starts_with('{'), &["body", "payload"], "must be a JSON object");
    c.check(
        payload.len() <= state.cfg.max_payload_bytes,
        &["body", "payload"],
        "too large",
    );
    c.done()?;
    let now = time::now();
    let mut ep = EndpointRecord {
        id: ids::new(Kind::Endpoint),
        app_id: app.id.clone(),
        uid: None,
        url: body.url,
        description: String::new(),
        version: 1,
        throttle_rate: None,
        disabled: false,
        event_types: None,
        channels: None,
        metadata: Default::default(),
        headers: body.headers,
        secret: body.secret.unwrap_or_default(),
        old_secrets: Vec::new(),
        options: body.options,
        first_failure_at: None,
        created_at: now,
        updated_at: now,
    };
    endpoints::fit_secret(&mut ep);
    endpoints::check(&state, &ep).await?;
    let message = MessageRecord {
        id: ids::new(Kind::Message),
        app_id: app.id,
        event_type,
        event_id: None,
        channels: None,
        tags: None,
        payload: Some(payload),
        deliver_at: None,
        created_at: now,
        expires_at: now,
    };
    let task = DeliveryTask {
        delivery_id: ids::new(Kind::Delivery),
        attempts: 0,
        trigger_type: trigger::MANUAL,
        message: message.into(),
        endpoint: ep.into(),
    };
    let r = state.engine.attempt_once(&task).await;
    let success = (200..300).contains(&r.status_code) && r.error.is_none();
    Ok(Json(TestDeliveryOut {
        success,
        status_code: r.status_code,
        response_headers: r.headers,
        response: r.body,
        duration_ms: r.duration.as_millis() as u64,
        error: r.error,
        msg_id: task.message.id.clone(),
    }))
}
