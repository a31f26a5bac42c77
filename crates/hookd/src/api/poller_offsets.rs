//! Svix's offset-based poller (pollerv2): a consumer reads an endpoint's
//! messages in order, each numbered with an offset, and commits the offset of
//! the last one it has processed. What it read is leased to it: until the
//! lease ends the next reads go on after it; once it ends without a commit,
//! reading starts again after the last commit, so nothing processed by a
//! crashed consumer is lost. Offsets number the messages from where the
//! consumer started (0 first); only settled messages are read (see
//! `message_feeds::SETTLED`), so the numbering after a commit never changes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::message_feeds::SETTLED;
use super::poller::{PollingEndpointMessageOut, check_consumer, find_sink};
use crate::ids::{self, Kind};
use crate::store::{ConsumerOffsets, EndpointRecord, MessageFilter, MessageRecord, Page};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(consumer_poll))
        .routes(routes!(consumer_commit))
}

/// Where a new consumer starts.
#[derive(Deserialize, ToSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub enum StartingPosition {
    /// With the endpoint's oldest message still kept.
    #[default]
    Earliest,
    /// With the messages made from now on.
    Latest,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumerPollParams {
    /// At most this many messages (1 to 250, default 50).
    #[param(minimum = 1, maximum = 250)]
    pub limit: Option<u64>,
    /// How long what is read stays leased to this consumer, in milliseconds
    /// (default 30000, at most 3600000).
    #[param(maximum = 3_600_000)]
    pub lease_duration_ms: Option<u64>,
    /// Where a consumer reading for the first time starts.
    #[param(inline)]
    pub starting_position: Option<StartingPosition>,
}

#[derive(Serialize, ToSchema)]
pub struct PollerV2MessageOut {
    /// The message's place in this consumer's reading; commit it once processed.
    pub offset: u64,
    #[serde(flatten)]
    pub message: PollingEndpointMessageOut,
}

#[derive(Serialize, ToSchema)]
pub struct PollerV2PollOut {
    pub data: Vec<PollerV2MessageOut>,
    /// Whether the messages are read to their end for now.
    pub done: bool,
}

const DEFAULT_LEASE_MS: u64 = 30_000;

/// The next messages for this consumer: after what it has leased while the
/// lease lasts, else after what it committed. Leases what it returns.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/polling-endpoint/{sink_id}/consumer/{consumer_id}", tag = "Message",
    operation_id = "v1.message.pollerv2.consumer-poll",
    params(("app_id" = String, Path), ("sink_id" = String, Path), ("consumer_id" = String, Path), ConsumerPollParams),
    responses((status = 200, body = PollerV2PollOut)))]
async fn consumer_poll(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, sink_id, consumer_id)): Path<(String, String, String)>,
    Query(q): Query<ConsumerPollParams>,
) -> ApiResult<Json<PollerV2PollOut>> {
    check_consumer(&consumer_id)?;
    let limit = q.limit.unwrap_or(50);
    super::pagination::check_limit(limit)?;
    let lease_ms = q.lease_duration_ms.unwrap_or(DEFAULT_LEASE_MS);
    if lease_ms > 3_600_000 {
        return Err(ApiError::invalid(
            &["query", "lease_duration_ms"],
            "must be at most 3600000",
        ));
    }
    let ep = find_sink(&state, &caller, &app_id, &sink_id).await?;
    let now = time::now();
    let known = state.store.consumer_offsets(&ep.id, &consumer_id).await?;
    let mut at = known.clone().unwrap_or_else(|| ConsumerOffsets {
        committed: match q.starting_position.unwrap_or_default() {
            StartingPosition::Earliest => None,
            StartingPosition::Latest => Some(ids::floor(Kind::Message, now)),
        },
        ..Default::default()
    });
    let (after, first) = match (&at.leased, at.lease_until > now) {
        (Some(leased), true) => (Some(leased.clone()), at.lease_next),
        _ => (at.committed.clone(), at.next_offset),
    };
    let (rows, done) = settled_after(&state, &ep, after, limit as i64).await?;
    if let Some(last) = rows.last() {
        at.leased = Some(last.id.clone());
        at.lease_next = first + rows.len() as i64;
        at.lease_until = now + lease_ms as i64 * 1000;
    }
    if known.as_ref() != Some(&at) {
        state.store.set_consumer_offsets(&ep.id, &consumer_id, &at).await?;
    }
    let data = (rows.into_iter().zip(first..))
        .map(|(m, offset)| PollerV2MessageOut {
            offset: offset as u64,
            message: PollingEndpointMessageOut::from_record(m),
        })
        .collect();
    Ok(Json(PollerV2PollOut { data, done }))
}

/// Up to `limit` of the endpoint's settled messages after `after`, oldest
/// first, and whether that was all of them for now.
async fn settled_after(
    state: &AppState,
    ep: &EndpointRecord,
    after: Option<String>,
    limit: i64,
) -> ApiResult<(Vec<MessageRecord>, bool)> {
    let filter = MessageFilter {
        before: Some(time::now() - SETTLED),
        with_content: true,
        ..Default::default()
    };
    let page = Page {
        limit: limit + 1,
        after,
        descending: false,
    };
    let mut rows: Vec<MessageRecord> = (state.store.list_endpoint_messages(&ep.id, &filter, &page).await?)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    let done = rows.len() as i64 <= limit;
    rows.truncate(limit as usize);
    Ok((rows, done))
}

#[derive(Deserialize, ToSchema)]
pub struct PollerV2CommitIn {
    /// The offset of the last message processed: it and those before it are done.
    #[serde(deserialize_with = "super::whole::req")]
    pub offset: u64,
}

/// Commit an offset: this consumer has processed the message with it and
/// every one before. An offset already committed changes nothing; one not
/// handed out to this consumer yet is refused (409).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/polling-endpoint/{sink_id}/consumer/{consumer_id}/commit", tag = "Message",
    operation_id = "v1.message.pollerv2.consumer-commit",
    params(("app_id" = String, Path), ("sink_id" = String, Path), ("consumer_id" = String, Path)),
    request_body = PollerV2CommitIn, responses((status = 204, description = "Committed")))]
async fn consumer_commit(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, sink_id, consumer_id)): Path<(String, String, String)>,
    Json(body): Json<PollerV2CommitIn>,
) -> ApiResult<StatusCode> {
    check_consumer(&consumer_id)?;
    let ep = find_sink(&state, &caller, &app_id, &sink_id).await?;
    let mut at = (state.store.consumer_offsets(&ep.id, &consumer_id).await?).ok_or(ApiError::NotFound("consumer"))?;
    let offset = i64::try_from(body.offset).unwrap_or(i64::MAX);
    if offset < at.next_offset {
        return Ok(StatusCode::NO_CONTENT);
    }
    if offset >= at.lease_next {
        return Err(ApiError::Conflict(format!(
            "offset {offset} was not handed out to this consumer (it has read up to {})",
            at.lease_next - 1
        )));
    }
    // The numbering after the last commit is fixed, so the message with
    // this offset is found by reading up to it again.
    let count = offset - at.next_offset + 1;
    let (rows, _) = settled_after(&state, &ep, at.committed.clone(), count).await?;
    let last = match rows.len() as i64 == count {
        true => rows.last(),
        false => None,
    };
    let Some(last) = last else {
        return Err(ApiError::Conflict(
            "the messages up to this offset are no longer kept; poll again".into(),
        ));
    };
    at.committed = Some(last.id.clone());
    at.next_offset = offset + 1;
    if at.next_offset >= at.lease_next {
        at.leased = None;
        at.lease_until = 0;
    }
    state.store.set_consumer_offsets(&ep.id, &consumer_id, &at).await?;
    Ok(StatusCode::NO_CONTENT)
}
