//! Svix's broadcast: one message to every application, sent by a background
//! task (`broadcast.rs` at the crate's top says how it survives crashes).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::background_tasks::TaskStartedOut;
use super::error::ApiResult;
use super::extract::Json;
use super::messages::{MessageIn, check, retention};
use crate::background::broadcast::Broadcast;
use crate::store::TaskKind;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(broadcast))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageBroadcastIn {
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// Each application's message gets it (a second broadcast with it reaches no one twice).
    pub event_id: Option<String>,
    pub channels: Option<Vec<String>>,
    /// Days the payloads are kept (1 to 90, default 90).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub payload_retention_period: Option<i64>,
    /// Hours the payloads are kept (1 to 2160); wins over days.
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub payload_retention_hours: Option<i64>,
}

/// Send a message to every application (operator only). The answer is the
/// running `message.broadcast` task; its `messages` count says how many went out.
#[utoipa::path(post, path = "/api/v1/msg/broadcast", tag = "Message", operation_id = "v1.message.broadcast",
    request_body = MessageBroadcastIn, responses((status = 202, body = TaskStartedOut)))]
async fn broadcast(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<MessageBroadcastIn>,
) -> ApiResult<(StatusCode, Json<TaskStartedOut>)> {
    caller.require_admin()?;
    let mut m = MessageIn::example(&body.event_type, serde_json::Value::Null);
    m.payload = body.payload;
    m.event_id = body.event_id;
    m.channels = body.channels;
    m.payload_retention_period = body.payload_retention_period;
    m.payload_retention_hours = body.payload_retention_hours;
    check(&state, &m)?;
    state
        .contracts
        .check(&*state.store, &m.event_type, m.payload.get())
        .await?;
    let b = Broadcast {
        retention: retention(&m),
        event_type: m.event_type,
        payload: m.payload,
        event_id: m.event_id,
        channels: m.channels.filter(|c| !c.is_empty()),
        cursor: None,
    };
    let data = serde_json::to_value(&b).expect("a broadcast serialises");
    let task = state.store.start_task(TaskKind::MessageBroadcast, data).await?;
    state.engine.started_task();
    Ok((StatusCode::ACCEPTED, Json(task.into())))
}
