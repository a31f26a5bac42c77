//! `GET /api/v1/listen`: the WebSocket that `hookd listen` opens. The caller
//! is attached to the application's relay endpoint of that name (made on first
//! use), and the endpoint's attempts travel down the socket while it is open.
//! The frames are `delivery::relay::Frame`s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::Caller;
use super::endpoints::{self, EndpointIn};
use super::error::{ApiError, ApiResult};
use super::extract::Query;
use super::validate::Checks;
use crate::delivery::relay::{self, Answer, Forward, Frame, PROTOCOL};
use crate::store::{AppRecord, EndpointRecord, StoreError};

/// How often each side pings, and how long a silent peer is given.
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENT_FOR: Duration = Duration::from_secs(45);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(listen))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListenParams {
    /// The application, by id or uid.
    pub app: String,
    /// The relay endpoint's name; its uid is `listen-NAME`.
    #[serde(default = "default_name")]
    pub name: String,
    /// Event types the relay endpoint subscribes to, comma-separated (on
    /// creation, or to change them); all when none were ever given.
    pub events: Option<String>,
    /// The frame protocol the listener speaks.
    pub v: Option<u32>,
}

fn default_name() -> String {
    "default".into()
}

/// Attach to a relay endpoint over a WebSocket (`hookd listen`).
#[utoipa::path(get, path = "/api/v1/listen", tag = "Listen", operation_id = "hookd.listen",
    params(ListenParams), responses((status = 101, description = "Switching to the listen protocol")))]
async fn listen(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListenParams>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if q.v.is_some_and(|v| v != PROTOCOL) {
        return Err(ApiError::BadRequest(format!(
            "this server speaks listen protocol {PROTOCOL}; use a hookd of the same version"
        )));
    }
    let mut c = Checks::default();
    c.name(&["query", "name"], &q.name, 200);
    c.done()?;
    let upgrade = upgrade.map_err(|e| ApiError::BadRequest(format!("a WebSocket upgrade is expected: {e}")))?;
    let app = applications::find(&state, &caller, &q.app).await?;
    caller.manage(&app.id)?;
    let events = q.events.as_deref().map(|e| {
        e.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    });
    let ep = relay_endpoint(&state, &app, &q.name, events).await?;
    Ok(upgrade.on_upgrade(move |socket| serve(state, app.id, q.name, ep, socket)))
}

/// The application's relay endpoint called `name`, made now if there is none.
async fn relay_endpoint(
    state: &AppState,
    app: &AppRecord,
    name: &str,
    events: Option<Vec<String>>,
) -> ApiResult<EndpointRecord> {
    let uid = format!("listen-{name}");
    for _ in 0..2 {
        if let Some(mut ep) = state.store.get_endpoint(&app.id, &uid).await? {
            if !relay::is_relay(&ep.url) {
                return Err(ApiError::Conflict(format!(
                    "endpoint {uid} exists and is not a relay endpoint"
                )));
            }
            if let Some(events) = events.filter(|e| !e.is_empty() && ep.event_types.as_ref() != Some(e)) {
                let changed = EndpointRecord {
                    event_types: Some(events),
                    ..ep.clone()
                };
                let saved = endpoints::save(state, app, &ep, changed).await?;
                ep = saved;
            }
            return Ok(ep);
        }
        let body = EndpointIn {
            url: relay::url(name),
            description: format!("hookd listen: {name}"),
            throttle_rate: None,
            uid: Some(uid.clone()),
            disabled: false,
            event_types: events.clone(),
            channels: None,
            secret: None,
            metadata: Default::default(),
            headers: None,
            version: None,
            options: Default::default(),
        };
        match endpoints::insert(state, app, body, None).await {
            // Another listener made it first: use theirs.
            Err(ApiError::Conflict(_)) => continue,
            made => return made,
        }
    }
    Err(StoreError::Conflict(format!("endpoint {uid} keeps changing")).into())
}

/// Runs one listener's connection until either side closes it.
async fn serve(state: AppState, app_id: String, name: String, ep: EndpointRecord, socket: WebSocket) {
    let (tx, mut attempts) = mpsc::channel::<Forward>(64);
    let _attached = state.engine.relays().attach(&ep.id, tx);
    let (mut sink, mut stream) = socket.split();
    let hello = Frame::Hello {
        v: PROTOCOL,
        app_id,
        endpoint_id: ep.id.clone(),
        name,
        disabled: ep.disabled,
    };
    if sink.send(text(&hello)).await.is_err() {
        return;
    }
    if let Err(e) = state.engine.relay_attached(&ep.id).await {
        tracing::warn!(error = %e, "could not bring a relay endpoint's waiting deliveries forward");
    }
    let stopping = state.engine.stopping();
    let mut waiting: HashMap<u64, oneshot::Sender<Answer>> = HashMap::new();
    let mut next_id = 0;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut heard = Instant::now();
    let close = loop {
        tokio::select! {
            Some(f) = attempts.recv() => {
                next_id += 1;
                let frame = Frame::Request {
                    v: PROTOCOL,
                    id: next_id,
                    msg_id: f.msg_id,
                    event_type: f.event_type,
                    headers: f.headers,
                    body: f.body,
                };
                if sink.send(text(&frame)).await.is_err() {
                    break None;
                }
                waiting.insert(next_id, f.reply);
            }
            m = stream.next() => {
                heard = Instant::now();
                match m {
                    Some(Ok(Message::Text(t))) => match serde_json::from_str::<Frame>(t.as_str()) {
                        Ok(Frame::Response { id, status, headers, body, error, duration_ms, .. }) => {
                            if let Some(reply) = waiting.remove(&id) {
                                let duration = duration_ms.map(Duration::from_millis);
                                let _ = reply.send(Answer { status, headers, body, error, duration });
                            }
                        }
                        _ => break Some((close_code::PROTOCOL, "expected a response frame")),
                    },
                    Some(Ok(Message::Binary(_))) => break Some((close_code::UNSUPPORTED, "frames are JSON text")),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENT_FOR {
                    break Some((close_code::AWAY, "no word from the listener"));
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
            }
            _ = stopping.cancelled() => break Some((close_code::RESTART, "server shutting down")),
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
}

fn text(frame: &Frame) -> Message {
    Message::Text(serde_json::to_string(frame).expect("frames serialise").into())
}
