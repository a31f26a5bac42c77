//! Reading messages besides the list: the event feeds, oldest first, that a
//! consumer follows with an iterator (one application's, or every one's for
//! the operator), and Svix's search, the list's filters in a request body.

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::{Json, Query};
use super::messages::{MessageListParams, MessageOut, split_list, yes};
use super::pagination::{ListParams, ListResponse, Ordering, Pager};
use crate::ids::{self, Kind};
use crate::store::{MessageFilter, MessageRecord};
use crate::time::{self, Micros};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(app_events))
        .routes(routes!(all_events))
        .routes(routes!(search))
}

/// A feed shows a message once it is this old. Ids are made when a publish
/// arrives and stored a commit later, so a message may become visible after
/// a later one; past this age every message accepted by then is stored
/// unless the store stalled longer than this (see ARCHITECTURE.md).
pub(super) const SETTLED: Micros = 2 * time::SECOND;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    pub limit: Option<u64>,
    /// Where the last page ended; the answer's `iterator`.
    pub iterator: Option<String>,
    /// Comma-separated, or repeated.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Messages sent to any of these channels.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Start with the messages made after this time (without `iterator`).
    pub after: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageEventsOut {
    pub data: Vec<MessageOut>,
    /// Where to go on from, also when nothing new has come (poll with it again).
    pub iterator: String,
    /// Whether the feed is read to its end for now.
    pub done: bool,
}

/// Read an application's messages in the order they were made, from a point.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/events", tag = "Message", operation_id = "v1.message.events",
    params(("app_id" = String, Path), EventsParams), responses((status = 200, body = MessageEventsOut)))]
async fn app_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<EventsParams>,
) -> ApiResult<Json<MessageEventsOut>> {
    let app = applications::find(&state, &caller, &app_id).await?;
    feed(&state, Some(&app.id), q).await
}

/// Read every application's messages in the order they were made, from a point (operator only).
#[utoipa::path(get, path = "/api/v1/events", tag = "Message", operation_id = "v1.events.stream",
    params(EventsParams), responses((status = 200, body = MessageEventsOut)))]
async fn all_events(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<EventsParams>,
) -> ApiResult<Json<MessageEventsOut>> {
    caller.require_admin()?;
    feed(&state, None, q).await
}

async fn feed(state: &AppState, app_id: Option<&str>, q: EventsParams) -> ApiResult<Json<MessageEventsOut>> {
    let settled = time::now() - SETTLED;
    let start = start_at(q.iterator.clone(), q.after);
    let params = ListParams {
        limit: q.limit,
        iterator: start.clone(),
        order: Some(Ordering::Ascending),
    };
    let pager = Pager::new(&params, Ordering::Ascending)?;
    let filter = MessageFilter {
        event_types: split_list(&q.event_types),
        channels: split_list(&q.channels).unwrap_or_default(),
        before: Some(settled),
        after: q.after.map(time::from_datetime),
        with_content: true,
        ..Default::default()
    };
    let rows = state.store.list_messages(app_id, &filter, &pager.page).await?;
    let page = pager.finish(
        rows,
        |m: &MessageRecord| m.id.clone(),
        |m| MessageOut::from_record(&m, true),
    );
    let iterator = next_iterator(page.iterator, start, settled);
    Ok(Json(MessageEventsOut {
        data: page.data,
        iterator,
        done: page.done,
    }))
}

/// Where a reader of messages in order starts: its iterator, else the first
/// id of `after`'s KSUID tick (ids of that tick may come either side of it;
/// the reader's `after` filter on `created_at` cuts them exactly).
pub(super) fn start_at(iterator: Option<String>, after: Option<DateTime<Utc>>) -> Option<String> {
    iterator
        .filter(|i| !i.is_empty())
        .or_else(|| after.map(|a| ids::floor(Kind::Message, time::from_datetime(a))))
}

/// Where a reader of messages in order goes on from: after the page it got;
/// with nothing new, where it was, or (had it no place yet: nothing before
/// matched) the settled point.
pub(super) fn next_iterator(after_page: Option<String>, start: Option<String>, settled: Micros) -> String {
    after_page
        .or(start)
        .unwrap_or_else(|| ids::floor(Kind::Message, settled))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct MessageSearchIn {
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub limit: Option<u64>,
    pub iterator: Option<String>,
    pub channel: Option<String>,
    pub tag: Option<String>,
    pub before: Option<DateTime<Utc>>,
    pub after: Option<DateTime<Utc>>,
    #[serde(default = "yes")]
    pub with_content: bool,
    #[serde(default)]
    pub event_types: Vec<String>,
}

/// Search an application's messages, newest first: the list's filters, in the body.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/search", tag = "Message", operation_id = "v1.message.search",
    params(("app_id" = String, Path)), request_body = MessageSearchIn,
    responses((status = 200, body = ListResponse<MessageOut>)))]
async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Json(body): Json<MessageSearchIn>,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
    let q = MessageListParams {
        limit: body.limit,
        iterator: body.iterator,
        channel: body.channel,
        tag: body.tag,
        before: body.before,
        after: body.after,
        with_content: body.with_content,
        event_types: body.event_types,
        status: None,
    };
    super::messages::list_page(&state, &caller, &app_id, q).await.map(Json)
}
