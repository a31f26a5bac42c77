//! Messages: publishing (one delivery per matching endpoint, stored durably
//! before the 202), listing, reading and expunging.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications::{self, ApplicationIn};
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::pagination::{ListParams, ListResponse, Ordering, Pager};
use super::validate::Checks;
use crate::delivery::AttemptReport;
use crate::ids::{self, Kind};
use crate::store::{AppRecord, DeliveryStatus, EndpointRecord, MessageFilter, MessageRecord, NewMessage, StoreError};
use crate::telemetry::{self, KeyValue, SpanKind};
use crate::time;
use tokio::sync::oneshot;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get))
        .routes(routes!(expunge))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    pub event_type: String,
    /// The webhook body, a JSON object, sent as published.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// Makes publishing idempotent: a second message with the same id is refused (409).
    pub event_id: Option<String>,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Creates the application (with the path's uid) when it does not exist.
    pub application: Option<ApplicationIn>,
    /// Deliver no earlier than this.
    pub deliver_at: Option<DateTime<Utc>>,
    /// Days the payload is kept (1 to 90, default 90).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub payload_retention_period: Option<i64>,
    /// Hours the payload is kept (1 to 2160); wins over days.
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub payload_retention_hours: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub transformations_params: Option<serde_json::Value>,
    /// The publish request's W3C trace context (its headers, not its body).
    #[serde(skip)]
    pub trace: Option<(String, Option<String>)>,
}

impl MessageIn {
    pub fn example(event_type: &str, payload: serde_json::Value) -> MessageIn {
        MessageIn {
            event_type: event_type.to_owned(),
            payload: RawValue::from_string(payload.to_string()).expect("a JSON value is valid JSON"),
            event_id: None,
            channels: None,
            tags: None,
            application: None,
            deliver_at: None,
            payload_retention_period: None,
            payload_retention_hours: None,
            transformations_params: None,
            trace: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    pub id: String,
    #[schema(format = DateTime)]
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub deliver_at: Option<String>,
    /// Only when publishing with `wait`: each endpoint's first attempt and whether the policy was met.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<super::transactional::WaitOut>,
}

pub fn raw_payload(m: &MessageRecord, with_content: bool) -> Box<RawValue> {
    let text = m.payload.as_deref().filter(|_| with_content).unwrap_or("{}");
    RawValue::from_string(text.to_owned()).unwrap_or_else(|_| RawValue::from_string("{}".into()).expect("valid"))
}

impl MessageOut {
    pub fn from_record(m: &MessageRecord, with_content: bool) -> MessageOut {
        MessageOut {
            event_id: m.event_id.clone(),
            event_type: m.event_type.clone(),
            payload: raw_payload(m, with_content),
            channels: m.channels.clone(),
            id: m.id.clone(),
            timestamp: time::to_rfc3339(m.created_at),
            tags: m.tags.clone(),
            deliver_at: m.deliver_at.map(time::to_rfc3339),
            wait: None,
        }
    }
}

pub(super) fn check(state: &AppState, m: &MessageIn) -> ApiResult<()> {
    let size = m.payload.get().len();
    if size > state.cfg.max_payload_bytes {
        return Err(ApiError::TooLarge(state.cfg.max_payload_bytes));
    }
    let mut c = Checks::default();
    c.name(&["body", "eventType"], &m.event_type, 256);
    c.opt_name(&["body", "eventId"], m.event_id.as_ref(), 256);
    c.check(
        m.payload.get().starts_with('{'),
        &["body", "payload"],
        "must be a JSON object",
    );
    c.channels(&["body", "channels"], m.channels.as_ref());
    if let Some(tags) = &m.tags {
        c.check(tags.len() <= 5, &["body", "tags"], "at most 5 tags");
        for t in tags {
            c.tag(&["body", "tags"], t);
        }
    }
    if let Some(d) = m.payload_retention_period {
        c.check(
            (1..=90).contains(&d),
            &["body", "payloadRetentionPeriod"],
            "must be 1 to 90 days",
        );
    }
    if let Some(h) = m.payload_retention_hours {
        c.check(
            (1..=2160).contains(&h),
            &["body", "payloadRetentionHours"],
            "must be 1 to 2160 hours",
        );
    }
    c.done()
}

/// How long a message's payload is kept: its hours, else its days, else 90 days.
pub(super) fn retention(m: &MessageIn) -> time::Micros {
    m.payload_retention_hours
        .map(|h| h * time::HOUR)
        .unwrap_or(m.payload_retention_period.unwrap_or(90) * time::DAY)
}

/// A stored message, and for a publisher that waits, each matching endpoint
/// with a receiver for its first attempt (`None` when another node or a later
/// time will make it).
pub struct Publication {
    pub message: Arc<MessageRecord>,
    pub waits: Vec<Waiting>,
}

pub struct Waiting {
    pub endpoint: Arc<EndpointRecord>,
    pub delivery_id: String,
    pub report: Option<oneshot::Receiver<AttemptReport>>,
}

/// Stores a message with its deliveries and starts sending those this node leased.
pub async fn publish(
    state: &AppState,
    app: &AppRecord,
    m: MessageIn,
    only_endpoint: Option<String>,
) -> ApiResult<Arc<MessageRecord>> {
    Ok(publish_watched(state, app, m, only_endpoint, false).await?.message)
}

/// As [`publish`]; with `watch`, also reports the first attempts this node makes.
pub async fn publish_watched(
    state: &AppState,
    app: &AppRecord,
    m: MessageIn,
    only_endpoint: Option<String>,
    watch: bool,
) -> ApiResult<Publication> {
    if state.engine.stopping().is_cancelled() {
        // Shutting down: the publisher (or its load balancer) tries another node.
        return Err(ApiError::ShuttingDown);
    }
    check(state, &m)?;
    state
        .contracts
        .check(&*state.store, &m.event_type, m.payload.get())
        .await?;
    let now = time::now();
    let retention = retention(&m);
    let deliver_at = m.deliver_at.map(time::from_datetime).filter(|t| *t > now);
    // With spans exported, the message's trace context is hookd's publish
    // span (a child of the publisher's), and its attempts are children of it.
    let telemetry = state.engine.telemetry();
    let given = m.trace.as_ref().map(|(tp, _)| tp.as_str());
    let span = telemetry.map(|t| t.span("publish", SpanKind::Server, given, SystemTime::now()));
    let (traceparent, tracestate) = match (&span, m.trace) {
        (Some(span), given) => (telemetry::traceparent(span), given.and_then(|(_, state)| state)),
        (None, Some(given)) => given,
        (None, None) => (crate::delivery::trace::start(), None),
    };
    let message = MessageRecord {
        id: ids::new(Kind::Message),
        app_id: app.id.clone(),
        event_type: m.event_type,
        event_id: m.event_id,
        channels: m.channels.filter(|c| !c.is_empty()),
        tags: m.tags.filter(|t| !t.is_empty()),
        payload: Some(m.payload.get().to_owned()),
        deliver_at,
        created_at: now,
        expires_at: now + retention,
        traceparent: Some(traceparent),
        tracestate,
    };
    let lease_room = state.engine.room();
    let req = NewMessage {
        message: Arc::new(message),
        lease: (lease_room > 0).then(|| state.engine.lease()),
        lease_room,
        only_endpoint,
    };
    let commit = telemetry.map(|t| {
        let parent = req.message.traceparent.as_deref();
        t.span("commit", SpanKind::Internal, parent, SystemTime::now())
    });
    let result = state.committer.publish(req).await;
    if let Some(commit) = commit {
        telemetry::end(commit, matches!(result, Some(Ok(_))), Vec::new());
    }
    let Some(result) = result else {
        return Err(ApiError::Unavailable);
    };
    let published = result.map_err(|e| match e {
        StoreError::Conflict(d) => ApiError::Conflict(d),
        e => e.into(),
    })?;
    let message = published.message.clone();
    let leased = published.leased;
    let mut waits = Vec::new();
    if watch {
        let ids: Vec<String> = published.tasks[..leased]
            .iter()
            .map(|t| t.delivery_id.clone())
            .collect();
        let rxs = state.engine.watch(&ids).into_iter().map(Some);
        let rxs: Vec<_> = rxs
            .chain(std::iter::repeat_with(|| None))
            .take(published.tasks.len())
            .collect();
        waits = published
            .tasks
            .iter()
            .zip(rxs)
            .map(|(t, report)| Waiting {
                endpoint: t.endpoint.clone(),
                delivery_id: t.delivery_id.clone(),
                report,
            })
            .collect();
    }
    if let Some(span) = span {
        let attributes = vec![
            KeyValue::new("hookd.msg_id", message.id.clone()),
            KeyValue::new("hookd.event_type", message.event_type.clone()),
            KeyValue::new("hookd.deliveries", published.tasks.len() as i64),
        ];
        telemetry::end(span, true, attributes);
    }
    state.engine.start_published(published);
    Ok(Publication { message, waits })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateParams {
    /// Include the payload in the answer (default true).
    #[serde(default = "yes")]
    pub with_content: bool,
    /// Wait for the first attempt at every matching endpoint and say whether
    /// `all` succeeded or `any` did (hookd extension, for transactional webhooks).
    pub wait: Option<super::transactional::WaitPolicy>,
    /// Seconds to wait at most (default 10, at most 60); then the answer says what is known.
    pub wait_timeout: Option<f64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContentParam {
    /// Include payloads (default true).
    #[serde(default = "yes")]
    pub with_content: bool,
}

pub fn yes() -> bool {
    true
}

/// Publish a message to every endpoint of the application that subscribes to it.
/// Answers 202 once the message and its deliveries are durably stored.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg", tag = "Message", operation_id = "v1.message.create",
    params(("app_id" = String, Path), CreateParams), request_body = MessageIn,
    responses((status = 202, body = MessageOut), (status = 409, body = super::error::HttpErrorOut), (status = 413, body = super::error::HttpErrorOut), (status = 422, body = super::error::HttpValidationError)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<CreateParams>,
    headers: HeaderMap,
    Json(mut body): Json<MessageIn>,
) -> ApiResult<(StatusCode, Json<MessageOut>)> {
    applications::require_publisher_in(&state, &caller, &app_id).await?;
    body.trace = crate::delivery::trace::of_publish(&headers);
    let timeout = super::transactional::timeout(&q, body.deliver_at.is_some())?;
    if let Some(a) = &body.application {
        applications::check_new(a)?;
    }
    let app = match (applications::lookup(&state, &app_id).await?, body.application.take()) {
        (Some(app), _) => app,
        (None, Some(new_app)) if !ids::is_valid(Kind::App, &app_id) => {
            let mut c = Checks::default();
            c.name(&["path", "app_id"], &app_id, 256);
            c.done()?;
            match applications::insert(&state, new_app, Some(app_id.clone())).await {
                Ok(app) => app,
                // Created meanwhile by a concurrent publish.
                Err(ApiError::Conflict(_)) => state
                    .store
                    .get_app(&app_id)
                    .await?
                    .ok_or(ApiError::NotFound("application"))?,
                Err(e) => return Err(e),
            }
        }
        (None, _) => return Err(ApiError::NotFound("application")),
    };
    let p = publish_watched(&state, &app, body, None, q.wait.is_some()).await?;
    let mut out = MessageOut::from_record(&p.message, q.with_content);
    if let Some(policy) = q.wait {
        out.wait = Some(super::transactional::settle(&state, p.waits, policy, timeout).await);
    }
    Ok((StatusCode::ACCEPTED, Json(out)))
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct MessageListParams {
    pub limit: Option<u64>,
    pub iterator: Option<String>,
    pub channel: Option<String>,
    pub tag: Option<String>,
    pub before: Option<DateTime<Utc>>,
    pub after: Option<DateTime<Utc>>,
    #[serde(default = "yes")]
    pub with_content: bool,
    /// Comma-separated, or repeated.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Delivery status (per-endpoint lists).
    #[param(value_type = Option<i64>)]
    pub status: Option<DeliveryStatus>,
}

impl MessageListParams {
    pub fn pager(&self) -> ApiResult<Pager> {
        let p = ListParams {
            limit: self.limit,
            iterator: self.iterator.clone(),
            order: None,
        };
        Pager::new(&p, Ordering::Descending)
    }

    pub fn filter(&self) -> MessageFilter {
        MessageFilter {
            event_types: split_list(&self.event_types),
            channels: self.channel.iter().cloned().collect(),
            tag: self.tag.clone(),
            before: self.before.map(time::from_datetime),
            after: self.after.map(time::from_datetime),
            status: self.status,
            with_content: self.with_content,
        }
    }
}

/// Lists come as repeated keys or comma-separated (the SDKs do either).
pub fn split_list(v: &[String]) -> Option<Vec<String>> {
    let items: Vec<String> = v
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

/// List an application's messages, newest first.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg", tag = "Message", operation_id = "v1.message.list",
    params(("app_id" = String, Path), MessageListParams), responses((status = 200, body = ListResponse<MessageOut>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<MessageListParams>,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
    list_page(&state, &caller, &app_id, q).await.map(Json)
}

/// A page of an application's messages, newest first (the list and search).
pub async fn list_page(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: MessageListParams,
) -> ApiResult<ListResponse<MessageOut>> {
    let app = applications::find(state, caller, app_id).await?;
    let pager = q.pager()?;
    let rows = state
        .store
        .list_messages(Some(&app.id), &q.filter(), &pager.page)
        .await?;
    Ok(pager.finish(rows, |m| m.id.clone(), |m| MessageOut::from_record(&m, q.with_content)))
}

/// Finds a message of an application the caller may read, by id or `eventId`.
pub async fn find(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    msg_id: &str,
) -> ApiResult<(AppRecord, MessageRecord)> {
    let app = applications::find(state, caller, app_id).await?;
    let m = state
        .store
        .get_message(&app.id, msg_id)
        .await?
        .ok_or(ApiError::NotFound("message"))?;
    Ok((app, m))
}

/// Get a message by id or `eventId`.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}", tag = "Message", operation_id = "v1.message.get",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ContentParam), responses((status = 200, body = MessageOut)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(q): Query<ContentParam>,
) -> ApiResult<Json<MessageOut>> {
    let (_, m) = find(&state, &caller, &app_id, &msg_id).await?;
    Ok(Json(MessageOut::from_record(&m, q.with_content)))
}

/// Delete a message's payload, keeping its record and attempts.
#[utoipa::path(delete, path = "/api/v1/app/{app_id}/msg/{msg_id}/content", tag = "Message", operation_id = "v1.message.expunge-content",
    params(("app_id" = String, Path), ("msg_id" = String, Path)), responses((status = 204, description = "Expunged")))]
async fn expunge(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    applications::require_admin_in(&state, &caller, &app_id).await?;
    let (app, m) = find(&state, &caller, &app_id, &msg_id).await?;
    state.store.expunge_message(&app.id, &m.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
