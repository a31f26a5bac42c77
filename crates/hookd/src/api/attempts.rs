//! Attempts and per-endpoint delivery state: the log of every request made.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::endpoints::{self, EndpointOut};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::messages::{self, MessageListParams, MessageOut, raw_payload, split_list, yes};
use super::pagination::{ListParams, ListResponse, Ordering, Pager};
use crate::store::{AttemptFilter, AttemptRecord, AttemptScope, DeliveryState, DeliveryStatus};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_by_endpoint))
        .routes(routes!(count_by_endpoint))
        .routes(routes!(test_attempt))
        .routes(routes!(list_by_msg))
        .routes(routes!(list_endpoint_messages))
        .routes(routes!(get))
        .routes(routes!(expunge))
        .routes(routes!(list_destinations))
        .routes(routes!(resend))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptOut {
    pub url: String,
    /// The response body, truncated.
    pub response: String,
    pub response_status_code: i64,
    pub response_duration_ms: i64,
    /// 0 success, 2 fail.
    pub status: i64,
    pub status_text: String,
    /// 0 scheduled, 1 manual.
    pub trigger_type: i64,
    pub msg_id: String,
    pub endpoint_id: String,
    pub id: String,
    #[schema(format = DateTime)]
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<MessageOut>,
    /// The response's headers (hookd extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_headers: Option<BTreeMap<String, String>>,
    /// Why the attempt failed when there was no usable response (hookd extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the receiver's TLS certificate was verified; `false` when the endpoint turned it off (hookd extension).
    pub ssl_verification: bool,
}

impl MessageAttemptOut {
    fn new(a: AttemptRecord, msg: Option<MessageOut>) -> Self {
        MessageAttemptOut {
            url: a.url,
            response: a.response.unwrap_or_default(),
            response_status_code: a.status_code,
            response_duration_ms: a.duration_ms,
            status: a.status.code(),
            status_text: a.status.name().into(),
            trigger_type: a.trigger_type.code(),
            msg_id: a.msg_id,
            endpoint_id: a.endpoint_id,
            id: a.id,
            timestamp: time::to_rfc3339(a.created_at),
            msg,
            response_headers: a.response_headers,
            error: a.error,
            ssl_verification: a.ssl_verification,
        }
    }
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct AttemptListParams {
    limit: Option<u64>,
    iterator: Option<String>,
    /// 0 success, 2 fail.
    #[param(value_type = Option<i64>)]
    status: Option<DeliveryStatus>,
    /// 0 (no response), 100, 200, 300, 400 or 500.
    status_code_class: Option<i64>,
    channel: Option<String>,
    tag: Option<String>,
    endpoint_id: Option<String>,
    before: Option<DateTime<Utc>>,
    after: Option<DateTime<Utc>>,
    #[serde(default = "yes")]
    with_content: bool,
    /// Include each attempt's message.
    #[serde(default)]
    with_msg: bool,
    #[serde(default)]
    event_types: Vec<String>,
}

/// The attempts in `scope` that the query's filters select.
fn filter_of(scope: AttemptScope, q: &AttemptListParams) -> ApiResult<AttemptFilter> {
    // Checked here too, for the count, which takes the same parameters and pages nothing.
    if let Some(limit) = q.limit {
        super::pagination::check_limit(limit)?;
    }
    if let Some(it) = &q.iterator {
        super::pagination::check_iterator(it)?;
    }
    let mut c = super::validate::Checks::default();
    c.status_code_class(&["query", "status_code_class"], q.status_code_class);
    c.done()?;
    Ok(AttemptFilter {
        scope,
        endpoint_id: q.endpoint_id.clone(),
        status: q.status,
        status_code_class: q.status_code_class,
        event_types: split_list(&q.event_types),
        channel: q.channel.clone(),
        tag: q.tag.clone(),
        before: q.before.map(time::from_datetime),
        after: q.after.map(time::from_datetime),
        with_content: q.with_content,
    })
}

async fn attempt_list(
    state: &AppState,
    app_id: &str,
    scope: AttemptScope,
    q: AttemptListParams,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let filter = filter_of(scope, &q)?;
    let p = ListParams {
        limit: q.limit,
        iterator: q.iterator.clone(),
        order: None,
    };
    let pager = Pager::new(&p, Ordering::Descending)?;
    let rows = state.store.list_attempts(&filter, &pager.page).await?;
    let mut msgs = HashMap::new();
    if q.with_msg {
        for a in &rows {
            if !msgs.contains_key(&a.msg_id)
                && let Some(m) = state.store.get_message(app_id, &a.msg_id).await?
            {
                msgs.insert(a.msg_id.clone(), m);
            }
        }
    }
    Ok(Json(pager.finish(
        rows,
        |a| a.id.clone(),
        |a| {
            let msg = msgs.get(&a.msg_id).map(|m| MessageOut::from_record(m, q.with_content));
            MessageAttemptOut::new(a, msg)
        },
    )))
}

/// List attempts made to an endpoint, newest first.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}", tag = "Message Attempt",
    operation_id = "v1.message-attempt.list-by-endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), AttemptListParams),
    responses((status = 200, body = ListResponse<MessageAttemptOut>)))]
async fn list_by_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Query(q): Query<AttemptListParams>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let (app, ep) = endpoints::find(&state, &caller, &app_id, &ep_id).await?;
    attempt_list(&state, &app.id, AttemptScope::Endpoint(ep.id), q).await
}

#[derive(Serialize, ToSchema)]
pub struct CountOut {
    /// How many attempts match, up to [`COUNT_AT_MOST`].
    pub count: i64,
    /// `true` when there are more than `count`.
    pub approximated: bool,
}

/// Counting stops here: a count reads every row it counts.
const COUNT_AT_MOST: i64 = 10_000;

/// Count the attempts made to an endpoint, with the list's filters.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}/count", tag = "Message Attempt",
    operation_id = "v1.message-attempt.count-by-endpoint",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), AttemptListParams),
    responses((status = 200, body = CountOut)))]
async fn count_by_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Query(q): Query<AttemptListParams>,
) -> ApiResult<Json<CountOut>> {
    let (_, ep) = endpoints::find(&state, &caller, &app_id, &ep_id).await?;
    let filter = filter_of(AttemptScope::Endpoint(ep.id), &q)?;
    let n = state.store.count_attempts(&filter, COUNT_AT_MOST + 1).await?;
    Ok(Json(CountOut {
        count: n.min(COUNT_AT_MOST),
        approximated: n > COUNT_AT_MOST,
    }))
}

/// Send a message to this endpoint only, and answer its first attempt.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg/test-attempt", tag = "Message",
    operation_id = "v1.message.test-attempt", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = messages::MessageIn,
    responses((status = 201, body = MessageAttemptOut), (status = 504, body = super::error::HttpErrorOut)))]
async fn test_attempt(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    Json(mut body): Json<messages::MessageIn>,
) -> ApiResult<(StatusCode, Json<MessageAttemptOut>)> {
    let (app, ep) = endpoints::find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    body.trace = crate::delivery::trace::of_publish(&headers);
    body.deliver_at = None;
    let wait = crate::delivery::attempt::timeout(&state.cfg.delivery, &ep) + std::time::Duration::from_secs(5);
    let published = messages::publish_watched(&state, &app, body, Some(ep.id), true).await?;
    let msg_id = published.message.id.clone();
    let attempt_id = match published.waits.into_iter().next().and_then(|w| w.report) {
        Some(rx) => tokio::time::timeout(wait, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .map(|r| r.attempt_id),
        // Not sent from here (a FIFO endpoint's delivery waits for its turn): read its attempt when it comes.
        None => first_attempt(&state, &msg_id, wait).await?,
    };
    let Some(attempt_id) = attempt_id else {
        return Err(ApiError::TimedOut(format!(
            "message {msg_id} is stored and will be delivered, but its first attempt did not end in time; \
             see its attempts"
        )));
    };
    let a = state
        .store
        .get_attempt(&msg_id, &attempt_id)
        .await?
        .ok_or(ApiError::NotFound("attempt"))?;
    Ok((StatusCode::CREATED, Json(MessageAttemptOut::new(a, None))))
}

/// The id of the first attempt at a message, once there is one, within `wait`.
async fn first_attempt(state: &AppState, msg_id: &str, wait: std::time::Duration) -> ApiResult<Option<String>> {
    let filter = AttemptFilter::all(AttemptScope::Message(msg_id.to_owned()));
    let first = crate::store::Page {
        limit: 1,
        after: None,
        descending: false,
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(a) = state.store.list_attempts(&filter, &first).await?.pop() {
            return Ok(Some(a.id));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// List attempts made for a message, newest first.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/attempt/msg/{msg_id}", tag = "Message Attempt",
    operation_id = "v1.message-attempt.list-by-msg",
    params(("app_id" = String, Path), ("msg_id" = String, Path), AttemptListParams),
    responses((status = 200, body = ListResponse<MessageAttemptOut>)))]
async fn list_by_msg(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(q): Query<AttemptListParams>,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let (app, m) = messages::find(&state, &caller, &app_id, &msg_id).await?;
    attempt_list(&state, &app.id, AttemptScope::Message(m.id), q).await
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointMessageOut {
    #[serde(flatten)]
    pub message: MessageOut,
    pub status: i64,
    pub status_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub next_attempt: Option<String>,
}

/// List the messages sent (or to be sent) to an endpoint, with their delivery status.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg", tag = "Message Attempt",
    operation_id = "v1.message-attempt.list-attempted-messages",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path), MessageListParams),
    responses((status = 200, body = ListResponse<EndpointMessageOut>)))]
async fn list_endpoint_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Query(q): Query<MessageListParams>,
) -> ApiResult<Json<ListResponse<EndpointMessageOut>>> {
    let (_, ep) = endpoints::find(&state, &caller, &app_id, &ep_id).await?;
    let pager = q.pager()?;
    let rows = state
        .store
        .list_endpoint_messages(&ep.id, &q.filter(), &pager.page)
        .await?;
    Ok(Json(pager.finish(
        rows,
        |(m, _)| m.id.clone(),
        |(m, d): (_, DeliveryState)| EndpointMessageOut {
            message: MessageOut {
                payload: raw_payload(&m, q.with_content),
                ..MessageOut::from_record(&m, false)
            },
            status: d.status.code(),
            status_text: d.status.name().into(),
            next_attempt: d.next_attempt_at.map(time::to_rfc3339),
        },
    )))
}

/// Get one attempt.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", tag = "Message Attempt",
    operation_id = "v1.message-attempt.get",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("attempt_id" = String, Path)),
    responses((status = 200, body = MessageAttemptOut)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<Json<MessageAttemptOut>> {
    let (_, m) = messages::find(&state, &caller, &app_id, &msg_id).await?;
    let a = state
        .store
        .get_attempt(&m.id, &attempt_id)
        .await?
        .ok_or(ApiError::NotFound("attempt"))?;
    Ok(Json(MessageAttemptOut::new(a, None)))
}

/// Delete an attempt's response body and headers.
#[utoipa::path(delete, path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", tag = "Message Attempt",
    operation_id = "v1.message-attempt.expunge-content",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("attempt_id" = String, Path)),
    responses((status = 204, description = "Expunged")))]
async fn expunge(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (app, m) = messages::find(&state, &caller, &app_id, &msg_id).await?;
    caller.manage(&app.id)?;
    state
        .store
        .expunge_attempt(&m.id, &attempt_id)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ApiError::NotFound("attempt"),
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageEndpointOut {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    pub status: i64,
    pub status_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub next_attempt: Option<String>,
}

/// List the endpoints a message goes to, with its status at each.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint", tag = "Message Attempt",
    operation_id = "v1.message-attempt.list-attempted-destinations",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ListParams),
    responses((status = 200, body = ListResponse<MessageEndpointOut>)))]
async fn list_destinations(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<ListResponse<MessageEndpointOut>>> {
    let (_, m) = messages::find(&state, &caller, &app_id, &msg_id).await?;
    let pager = Pager::new(&q, Ordering::Ascending)?;
    let rows = state.store.list_message_endpoints(&m.id, &pager.page).await?;
    Ok(Json(pager.finish(
        rows,
        |(e, _)| e.id.clone(),
        |(e, d)| MessageEndpointOut {
            endpoint: e.into(),
            status: d.status.code(),
            status_text: d.status.name().into(),
            next_attempt: d.next_attempt_at.map(time::to_rfc3339),
        },
    )))
}

#[derive(Serialize, ToSchema)]
pub struct EmptyResponse {}

/// Send a message to an endpoint again, now.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", tag = "Message Attempt",
    operation_id = "v1.message-attempt.resend",
    params(("app_id" = String, Path), ("msg_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 202, body = EmptyResponse)))]
async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id, ep_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<EmptyResponse>)> {
    let (app, m) = messages::find(&state, &caller, &app_id, &msg_id).await?;
    caller.manage(&app.id)?;
    let ep = state
        .store
        .get_endpoint(&app.id, &ep_id)
        .await?
        .ok_or(ApiError::NotFound("endpoint"))?;
    if ep.options.ordering.is_some() {
        // In its place in the endpoint's order: queued for the scheduler, not sent from here.
        let key = crate::subscriptions::fifo_key(&ep, &m);
        state
            .store
            .replay(&app.id, &ep.id, &[(m.id.clone(), key)], true)
            .await?;
        state.engine.announce();
        return Ok((StatusCode::ACCEPTED, Json(EmptyResponse {})));
    }
    let task = state
        .store
        .resend(&app.id, &m.id, &ep.id, &state.engine.lease())
        .await?;
    state.engine.dispatch([task]);
    Ok((StatusCode::ACCEPTED, Json(EmptyResponse {})))
}
