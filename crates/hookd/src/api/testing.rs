//! Test deliveries, answered at once with nothing saved: one request to any
//! URL, or to a saved endpoint one request per event type it subscribes to
//! (each on its own route when the URL has `{eventType}`), as Fig's Test
//! button tries every route. The same address policy, TLS rules, signing and
//! envelope apply as to real deliveries.

use std::collections::BTreeMap;
use std::sync::Arc;

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
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::validate::Checks;
use crate::ids::{self, Kind};
use crate::routing;
use crate::store::{DeliveryTask, EndpointOptions, EndpointRecord, MessageRecord, Trigger};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(test_delivery))
        .routes(routes!(test_endpoint))
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
    pub event_type: String,
    /// The URL the request went to (placeholders filled in).
    pub url: String,
}

impl TestDeliveryOut {
    fn new(task: &DeliveryTask, r: crate::delivery::attempt::Response) -> TestDeliveryOut {
        TestDeliveryOut {
            success: r.succeeded(),
            status_code: r.status_code,
            response_headers: r.headers,
            response: r.body,
            duration_ms: r.duration.as_millis() as u64,
            error: r.error,
            msg_id: task.message.id.clone(),
            event_type: task.message.event_type.clone(),
            url: crate::subscriptions::url_for(&task.endpoint, &task.message),
        }
    }
}

/// A message that exists only for one test request.
fn test_message(app_id: &str, event_type: String, payload: String) -> MessageRecord {
    let now = time::now();
    MessageRecord {
        id: ids::new(Kind::Message),
        app_id: app_id.to_owned(),
        event_type,
        event_id: None,
        channels: None,
        tags: None,
        payload: Some(payload),
        deliver_at: None,
        created_at: now,
        expires_at: now,
        traceparent: Some(crate::delivery::trace::start()),
        tracestate: None,
    }
}

fn test_task(message: MessageRecord, endpoint: Arc<EndpointRecord>) -> DeliveryTask {
    DeliveryTask {
        fifo_key: None,
        delivery_id: ids::new(Kind::Delivery),
        attempts: 0,
        trigger_type: Trigger::Manual,
        message: message.into(),
        endpoint,
    }
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
        tls: None,
        transformation: None,
        first_failure_at: None,
        created_at: now,
        updated_at: now,
    };
    endpoints::fit_secret(&mut ep);
    endpoints::check(&state, &ep).await?;
    let task = test_task(test_message(&app.id, event_type, payload), ep.into());
    let r = state.engine.attempt_once(&task).await;
    Ok(Json(TestDeliveryOut::new(&task, r)))
}

/// Event types a test of a saved endpoint tries at most.
const MAX_TESTED: usize = 50;

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTestIn {
    /// Test this event type only (default: every type the endpoint subscribes to).
    pub event_type: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointTestOut {
    /// One test request per event type, each with the first example of its newest schema
    /// (or `{}` when the type has none).
    pub data: Vec<TestDeliveryOut>,
}

/// Send a saved endpoint one test request per event type it subscribes to, and answer
/// with each outcome; nothing is stored (hookd extension).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/test", tag = "Testing", operation_id = "hookd.endpoint.test",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), request_body = EndpointTestIn,
    responses((status = 200, body = EndpointTestOut), (status = 422, body = super::error::HttpValidationError)))]
async fn test_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<EndpointTestIn>,
) -> ApiResult<Json<EndpointTestOut>> {
    let (app, ep) = endpoints::find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    let types = tested_types(&state, &ep, body.event_type).await?;
    let ep = Arc::new(ep);
    let mut running = tokio::task::JoinSet::new();
    for (i, (name, example)) in types.into_iter().enumerate() {
        let task = test_task(test_message(&app.id, name, example), ep.clone());
        let engine = state.engine.clone();
        running.spawn(async move {
            let r = engine.attempt_once(&task).await;
            (i, TestDeliveryOut::new(&task, r))
        });
    }
    let mut data: Vec<(usize, TestDeliveryOut)> = running.join_all().await;
    data.sort_by_key(|(i, _)| *i);
    Ok(Json(EndpointTestOut {
        data: data.into_iter().map(|(_, out)| out).collect(),
    }))
}

/// The event types to test, each with its example payload: the one asked for,
/// or the endpoint's, wildcards expanded against the catalogue.
async fn tested_types(state: &AppState, ep: &EndpointRecord, only: Option<String>) -> ApiResult<Vec<(String, String)>> {
    let catalogue = super::catalog::catalogue(state, false).await?;
    let example = |name: &str| {
        catalogue
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| super::endpoint_extras::example_payload(e.schemas.as_ref(), 0))
            .map_or_else(|| "{}".to_owned(), |v| v.to_string())
    };
    let mut names: Vec<String> = match (only, &ep.event_types) {
        (Some(one), _) => {
            let mut c = Checks::default();
            c.name(&["body", "eventType"], &one, 256);
            c.done()?;
            vec![one]
        }
        (None, Some(patterns)) => {
            let mut names = Vec::new();
            for p in patterns {
                if routing::is_wildcard(p) {
                    names.extend(
                        catalogue
                            .iter()
                            .filter(|e| routing::type_matches(p, &e.name))
                            .map(|e| e.name.clone()),
                    );
                } else {
                    names.push(p.clone());
                }
            }
            names
        }
        (None, None) => catalogue.iter().map(|e| e.name.clone()).collect(),
    };
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    if names.is_empty() {
        return Err(ApiError::invalid(
            &["body", "eventType"],
            "the endpoint subscribes to no event type in the catalogue; name one to test",
        ));
    }
    names.truncate(MAX_TESTED);
    Ok(names
        .into_iter()
        .map(|n| {
            let payload = example(&n);
            (n, payload)
        })
        .collect())
}
