//! Svix's poller API: an endpoint's messages read in the order they were
//! made, for a consumer that cannot take webhooks (a `poller://` endpoint)
//! or that also wants to read what is pushed to it. A consumer id keeps its
//! place on the server: each read moves it on, `seek` sets it. A poller
//! token reads one endpoint's messages and nothing else; the operator can
//! ask for it again (it is kept sealed) and rotate it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::{Caller, Scope};
use super::auth_routes::ApiTokenOut;
use super::endpoints;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::message_feeds::{SETTLED, next_iterator, start_at};
use super::messages::raw_payload;
use super::pagination::{ListParams, Ordering, Pager};
use crate::ids::{self, Kind};
use crate::security::tokens;
use crate::store::{EndpointRecord, MessageFilter, MessageRecord, Page, TokenRecord};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(poll))
        .routes(routes!(consumer_poll))
        .routes(routes!(consumer_seek))
        .routes(routes!(get_token))
        .routes(routes!(rotate_token))
}

/// The endpoint to read: a poller token's own only, else as any endpoint is found.
pub(super) async fn find_sink(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    sink_id: &str,
) -> ApiResult<EndpointRecord> {
    if let Scope::Poller {
        app_id: own,
        endpoint_id,
    } = &caller.scope
    {
        let app = applications::lookup(state, app_id)
            .await?
            .filter(|a| &a.id == own)
            .ok_or(ApiError::NotFound("application"))?;
        return state
            .store
            .get_endpoint(&app.id, sink_id)
            .await?
            .filter(|e| &e.id == endpoint_id)
            .ok_or(ApiError::NotFound("endpoint"));
    }
    Ok(endpoints::find(state, caller, app_id, sink_id).await?.1)
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

impl PollingEndpointMessageOut {
    pub fn from_record(m: MessageRecord) -> Self {
        PollingEndpointMessageOut {
            payload: raw_payload(&m, true),
            timestamp: time::to_rfc3339(m.created_at),
            id: m.id,
            event_type: m.event_type,
            event_id: m.event_id,
            channels: m.channels,
            tags: m.tags,
        }
    }
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
    let pager = Pager::new(&params, Ordering::Ascending)?;
    filter.before = Some(settled);
    filter.with_content = true;
    let rows = state.store.list_endpoint_messages(&ep.id, &filter, &pager.page).await?;
    let page = pager.finish(
        rows,
        |(m, _)| m.id.clone(),
        |(m, _)| PollingEndpointMessageOut::from_record(m),
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
    let ep = find_sink(&state, &caller, &app_id, &sink_id).await?;
    let start = start_at(q.iterator, q.after);
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
pub(super) fn check_consumer(id: &str) -> ApiResult<()> {
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
    let ep = find_sink(&state, &caller, &app_id, &sink_id).await?;
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
    let ep = find_sink(&state, &caller, &app_id, &sink_id).await?;
    // Just past the endpoint's last message made at or before `after` (an id
    // alone cannot say: ids made within one KSUID tick may come either side).
    let at = time::from_datetime(body.after);
    let last = MessageFilter {
        before: Some(at + 1),
        ..Default::default()
    };
    let page = Page {
        limit: 1,
        after: None,
        descending: true,
    };
    let found = state.store.list_endpoint_messages(&ep.id, &last, &page).await?;
    let iterator = match found.first() {
        Some((m, _)) => m.id.clone(),
        None => ids::floor(Kind::Message, at),
    };
    state
        .store
        .set_consumer_position(&ep.id, &consumer_id, &iterator)
        .await?;
    Ok(Json(PollingEndpointConsumerSeekOut { iterator }))
}

/// Issues a poller token for `ep`, valid for `expiry` seconds (none: no end).
async fn issue(state: &AppState, ep: &EndpointRecord, expiry: Option<i64>) -> ApiResult<(TokenRecord, String)> {
    let token = tokens::generate("poll");
    let (id, now) = (ids::new(Kind::Token), time::now());
    let record = TokenRecord {
        hash: tokens::hash(&token),
        app_id: Some(ep.app_id.clone()),
        read_only: true,
        expires_at: expiry.map(|e| now + e * time::SECOND),
        revoked: false,
        created_at: now,
        session_id: None,
        name: None,
        publish_only: false,
        endpoint_id: Some(ep.id.clone()),
        text: Some(token.clone()),
        id,
    };
    state.store.insert_token(&record).await?;
    Ok((record, token))
}

fn token_out(t: TokenRecord, token: String) -> ApiTokenOut {
    ApiTokenOut {
        id: t.id,
        token,
        name: None,
        created_at: time::to_rfc3339(t.created_at),
        expires_at: t.expires_at.map(time::to_rfc3339),
        scopes: vec!["poller:read".into()],
    }
}

/// Get the endpoint's current poller token (one is made the first time).
#[utoipa::path(get, path = "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token", tag = "Authentication",
    operation_id = "v1.authentication.get-poller-token", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = ApiTokenOut)))]
async fn get_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<ApiTokenOut>> {
    applications::require_admin_in(&state, &caller, &app_id).await?;
    let (_, ep) = endpoints::find(&state, &caller, &app_id, &ep_id).await?;
    let current = state
        .store
        .endpoint_tokens(&ep.id, time::now())
        .await?
        .into_iter()
        .next();
    let (record, token) = match current {
        Some(t) => {
            let token = t
                .text
                .clone()
                .ok_or(ApiError::Internal("a poller token without its text".into()))?;
            (t, token)
        }
        None => issue(&state, &ep, None).await?,
    };
    Ok(Json(token_out(record, token)))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct RotatePollerTokenIn {
    /// Seconds the new token is valid for (1 to 31536000; none: no end).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub expiry: Option<i64>,
    /// Seconds the earlier tokens still work (0 to 86400, default 300; 0: not at all).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub old_token_expiry: Option<i64>,
}

/// Make a new poller token for the endpoint; the earlier ones end after `oldTokenExpiry`.
#[utoipa::path(post, path = "/api/v1/auth/app/{app_id}/poller/{endpoint_id}/token/rotate", tag = "Authentication",
    operation_id = "v1.authentication.rotate-poller-token", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = RotatePollerTokenIn, responses((status = 201, body = ApiTokenOut)))]
async fn rotate_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<RotatePollerTokenIn>,
) -> ApiResult<(StatusCode, Json<ApiTokenOut>)> {
    applications::require_admin_in(&state, &caller, &app_id).await?;
    let mut c = crate::api::validate::Checks::default();
    if body.expiry.is_some_and(|e| !(1..=31_536_000).contains(&e)) {
        c.fail(&["body", "expiry"], "must be 1 to 31536000 seconds");
    }
    let old = body.old_token_expiry.unwrap_or(300);
    if !(0..=86_400).contains(&old) {
        c.fail(&["body", "oldTokenExpiry"], "must be 0 to 86400 seconds");
    }
    c.done()?;
    let (_, ep) = endpoints::find(&state, &caller, &app_id, &ep_id).await?;
    let (record, token) = issue(&state, &ep, body.expiry).await?;
    let ended = state
        .store
        .expire_endpoint_tokens(&ep.id, &record.id, time::now() + old * time::SECOND)
        .await?;
    if old == 0 {
        // This node stops trusting them at once; others within their token cache's seconds.
        state.tokens.forget_endpoint(&ep.id);
    }
    tracing::debug!(endpoint = %ep.id, ended, "poller token rotated");
    Ok((StatusCode::CREATED, Json(token_out(record, token))))
}
