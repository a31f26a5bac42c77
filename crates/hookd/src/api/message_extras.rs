//! Svix's smaller message operations: whether a message would reach anyone
//! before it is published (`precheck/active`), a payload as published
//! (`raw`), and every payload of an application dropped (`expunge-all-contents`).

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use super::validate::Checks;
use crate::routing::{Candidate, Subscription};
use crate::store::Page;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(precheck))
        .routes(routes!(raw))
        .routes(routes!(expunge_all_contents))
        .routes(routes!(bulk_expunge))
}

#[derive(Deserialize, ToSchema)]
pub struct BulkExpungeContentsIn {
    /// Message ids or `eventId`s, at most 1,000.
    #[serde(default)]
    pub ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BulkExpungeContentsOut {
    /// Each id as given: `expunged` or `not-found`.
    pub results: std::collections::BTreeMap<String, &'static str>,
}

/// Drop the payloads of these messages (a message sent with what it should not have held).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/bulk-expunge", tag = "Message",
    operation_id = "v1.message.bulk-expunge-content", params(("app_id" = String, Path)),
    request_body = BulkExpungeContentsIn, responses((status = 200, body = BulkExpungeContentsOut)))]
async fn bulk_expunge(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Json(body): Json<BulkExpungeContentsIn>,
) -> ApiResult<Json<BulkExpungeContentsOut>> {
    applications::require_admin_in(&state, &caller, &app_id).await?;
    let app = applications::find(&state, &caller, &app_id).await?;
    let mut c = Checks::default();
    c.check(body.ids.len() <= 1000, &["body", "ids"], "at most 1000 ids");
    for id in &body.ids {
        c.name(&["body", "ids"], id, 256);
    }
    c.done()?;
    let mut results = std::collections::BTreeMap::new();
    for id in body.ids {
        let found = match state.store.get_message(&app.id, &id).await? {
            Some(m) => match state.store.expunge_message(&app.id, &m.id).await {
                Ok(()) => true,
                // Deleted meanwhile.
                Err(crate::store::StoreError::NotFound) => false,
                Err(e) => return Err(e.into()),
            },
            None => false,
        };
        results.insert(id, if found { "expunged" } else { "not-found" });
    }
    Ok(Json(BulkExpungeContentsOut { results }))
}

/// Drop every message payload of the application (attempts and metadata stay),
/// as a finished `application.purge_content` background task whose data says
/// how many (`messagesPurged`).
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/expunge-all-contents", tag = "Message",
    operation_id = "v1.message.expunge-all-contents", params(("app_id" = String, Path)),
    responses((status = 202, body = super::background_tasks::TaskStartedOut)))]
async fn expunge_all_contents(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<(axum::http::StatusCode, Json<super::background_tasks::TaskStartedOut>)> {
    applications::require_admin_in(&state, &caller, &app_id).await?;
    let app = applications::find(&state, &caller, &app_id).await?;
    let params = serde_json::json!({"appId": app.id});
    let task = state.store.purge_app_contents(&app.id, params).await?;
    state.engine.wrote_operational_events();
    Ok((axum::http::StatusCode::ACCEPTED, Json(task.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePrecheckIn {
    pub event_type: String,
    pub channels: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct MessagePrecheckOut {
    /// Whether an enabled endpoint would get such a message.
    pub active: bool,
}

/// Whether a message of this event type (and channels) would reach any
/// enabled endpoint. Payload filters are not run: there is no payload yet, so
/// an endpoint that filters counts as one that may receive it.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/msg/precheck/active", tag = "Message", operation_id = "v1.message.precheck",
    params(("app_id" = String, Path)), request_body = MessagePrecheckIn,
    responses((status = 200, body = MessagePrecheckOut), (status = 422, body = super::error::HttpValidationError)))]
async fn precheck(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Json(body): Json<MessagePrecheckIn>,
) -> ApiResult<Json<MessagePrecheckOut>> {
    let app = applications::find(&state, &caller, &app_id).await?;
    let mut c = Checks::default();
    c.name(&["body", "eventType"], &body.event_type, 256);
    c.channels(&["body", "channels"], body.channels.as_ref());
    c.done()?;
    let candidate = Candidate::new(&body.event_type, body.channels.as_deref(), None);
    let mut page = Page {
        limit: 250,
        after: None,
        descending: false,
    };
    loop {
        let endpoints = state.store.list_endpoints(&app.id, &page).await?;
        let active = endpoints.iter().filter(|e| !e.disabled).any(|e| {
            let subscription = Subscription {
                event_types: e.event_types.as_deref(),
                channels: e.channels.as_deref(),
                filter: None,
            };
            subscription.accepts(&candidate)
        });
        if active {
            return Ok(Json(MessagePrecheckOut { active: true }));
        }
        match endpoints.last() {
            Some(last) if endpoints.len() as i64 == page.limit => page.after = Some(last.id.clone()),
            _ => return Ok(Json(MessagePrecheckOut { active: false })),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MessageRawPayloadOut {
    /// The payload exactly as it was published, as a string.
    pub payload: String,
}

/// A message's payload exactly as it was published (`payload` of the message
/// is parsed JSON; this is its text, byte for byte).
#[utoipa::path(get, path = "/api/v1/app/{app_id}/msg/{msg_id}/raw", tag = "Message", operation_id = "v1.message.get-raw-payload",
    params(("app_id" = String, Path), ("msg_id" = String, Path)), responses((status = 200, body = MessageRawPayloadOut)))]
async fn raw(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> ApiResult<Json<MessageRawPayloadOut>> {
    let (_, m) = super::messages::find(&state, &caller, &app_id, &msg_id).await?;
    let payload = m.payload.clone().ok_or(ApiError::NotFound("payload (expunged)"))?;
    Ok(Json(MessageRawPayloadOut { payload }))
}
