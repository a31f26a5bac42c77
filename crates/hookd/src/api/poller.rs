//! Svix's poller API: an endpoint's messages read in the order they were
//! made, for a consumer that cannot take webhooks (a `poller://` endpoint)
//! or that also wants to read what is pushed to it. A consumer id keeps its
//! place on the server: each read moves it on, `seek` sets it.

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::endpoints;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::message_feeds::{SETTLED, next_iterator};
use super::messages::raw_payload;
use super::pagination::{ListParams, Ordering, Pager};
use crate::ids::{self, Kind};
use crate::store::{EndpointRecord, MessageFilter};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(poll))
        .routes(routes!(consumer_poll))
        .routes(routes!(consumer_seek))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollParams {
    pub limit: Option<u64>,
    /// Where the last read ended; the answer's `iterator`.
    pub iterator: Option<String>,
    /// Only messages of this event type.
    pub event_type: Option<String>,
    /// Only messages sent to this channel.
    pub channel: Option<String>,
    /// Start with the messages made after this time (without `iterator`).
    pub after: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollingEndpointMessageOut {
    pub id: String,
    pub event_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[schema(format = DateTime)]
    pub timestamp: String,
}

#[derive(Serialize, ToSchema)]
pub struct PollingEndpointOut {
    pub data: Vec<PollingEndpointMessageOut>,
    /// Where to go on from, also when nothing new has come.
    pub iterator: String,
    /// Whether the messages are read to their end for now.
    pub done: bool,
}

/// One page of the endpoint's messages after `start` (oldest first), up to
/// those that have settled.
async fn read(
    state: &AppState,
    ep: &EndpointRecord,
    start: Option<String>,
    limit: Option<u64>,
    mut filter: MessageFilter,
) -> ApiResult<PollingEndpointOut> {
    let settled = time::now() - SETTLED;
    let params = ListParams {
        limit,
        iterator: start.clone(),
        order: Some(Ordering::Ascending),
    };
    let pager = Pager::new(&params, Ordering::Ascending, |k| ids::is_valid(Kind::Message, k))?;
    filter.before = Some(settled);
    filter.with_content = true;
    let rows = state.store.list_endpoint_messages(&ep.id, &filter, &pager.page).await?;
    let page = pager.finish(
        rows,
        |(m, _)| m.id.clone(),
        |(m, _)| PollingEndpointMessageOut {
            payload: raw_payload(&m, true),
            timestamp: time::to_rfc3339(m.created_at),
            id: m.id,
            event_type: m.event_type,
            event_id: m.event_id,
            channels: m.channels,
            tags: m.tags,
        },
    );
    Ok(PollingEndpointOut {
        iterator: next_iterator(page.iterator, start, settled),
        data: page.data,
        done: page.done,
    })
}

/// Read an endpoint's messages in the order they were made, from an iterator.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/poller/{sink_id}", tag = "Message", operation_id = "v1.message.poller.poll",
    params(("app_id" = String, Path), ("sink_id" = String, Path), PollParams), responses((status = 200, body = PollingEndpointOut)))]
async fn poll(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, sink_id)): Path<(String, String)>,
    Query(q): Query<PollParams>,
) -> ApiResult<Json<PollingEndpointOut>> {
    let (_, ep) = endpoints::find(&state, &caller, &app_id, &sink_id).await?;
    let start = q.iterator.filter(|i| !i.is_empty()).or_else(|| {
        // Just before `after`, so that messages made in its millisecond are read.
        q.after
            .map(|a| ids::floor(Kind::Message, time::from_datetime(a) - 1_000))
    });
    let filter = MessageFilter {
        event_types: q.event_type.map(|t| vec![t]),
        channels: q.channel.into_iter().collect(),
        after: q.after.map(time::from_datetime),
        ..Default::default()
    };
    Ok(Json(read(&state, &ep, start, q.limit, filter).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumerPollParams {
    pub limit: Option<u64>,
    /// Read from here instead of where the consumer is.
    pub iterator: Option<String>,
}

/// A consumer id: 1 to 64 letters, digits, `-`, `_` or `.`.
fn check_consumer(id: &str) -> ApiResult<()> {
    let ok = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    match ok {
        true => Ok(()),
        false => Err(ApiError::invalid(
            &["path", "consumer_id"],
            "1 to 64 letters, digits, '-', '_' or '.'",
        )),
    }
}

/// Read an endpoint's messages from where this consumer is (the start, the
/// first time), and move the consumer on past them.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}", tag = "Message",
    operation_id = "v1.message.poller.consumer-poll",
    params(("app_id" = String, Path), ("sink_id" = String, Path), ("consumer_id" = String, Path), ConsumerPollParams),
    responses((status = 200, body = PollingEndpointOut)))]
async fn consumer_poll(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, sink_id, consumer_id)): Path<(String, String, String)>,
    Query(q): Query<ConsumerPollParams>,
) -> ApiResult<Json<PollingEndpointOut>> {
    check_consumer(&consumer_id)?;
    let (_, ep) = endpoints::find(&state, &caller, &app_id, &sink_id).await?;
    let start = match q.iterator.filter(|i| !i.is_empty()) {
        Some(given) => Some(given),
        None => state.store.consumer_position(&ep.id, &consumer_id).await?,
    };
    let out = read(&state, &ep, start.clone(), q.limit, MessageFilter::default()).await?;
    if start.as_deref() != Some(out.iterator.as_str()) {
        state
            .store
            .set_consumer_position(&ep.id, &consumer_id, &out.iterator)
            .await?;
    }
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
pub struct PollingEndpointConsumerSeekIn {
    /// The consumer reads next the messages made after this time.
    pub after: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct PollingEndpointConsumerSeekOut {
    pub iterator: String,
}

/// Move a consumer to a time: it reads next the messages made after it.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}/seek", tag = "Message",
    operation_id = "v1.message.poller.consumer-seek",
    params(("app_id" = String, Path), ("sink_id" = String, Path), ("consumer_id" = String, Path)),
    request_body = PollingEndpointConsumerSeekIn, responses((status = 200, body = PollingEndpointConsumerSeekOut)))]
async fn consumer_seek(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, sink_id, consumer_id)): Path<(String, String, String)>,
    Json(body): Json<PollingEndpointConsumerSeekIn>,
) -> ApiResult<Json<PollingEndpointConsumerSeekOut>> {
    check_consumer(&consumer_id)?;
    let (_, ep) = endpoints::find(&state, &caller, &app_id, &sink_id).await?;
    let iterator = ids::floor(Kind::Message, time::from_datetime(body.after));
    state
        .store
        .set_consumer_position(&ep.id, &consumer_id, &iterator)
        .await?;
    Ok(Json(PollingEndpointConsumerSeekOut { iterator }))
}
