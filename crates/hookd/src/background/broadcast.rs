//! Broadcasts: one message to every application, as a `message.broadcast`
//! background task that outlives the node that started it.
//!
//! The task's `data` holds the message and how far it got (`cursor`, the last
//! application done; applications are taken in id order), [`STEP`]
//! applications a step.
//!
//! Each application's message has the broadcast's `eventId` (or, without
//! one, the task id), so a step done again after a crash is refused as a
//! reused `eventId` for the applications it had reached: each application
//! gets the message once.

use serde::{Deserialize, Serialize};

use super::Stepped;
use crate::delivery::Engine;
use crate::ids::{self, Kind};
use crate::store::{MessageRecord, Page, Store, StoreError};
use crate::time::{self, Micros};

/// Applications per step.
const STEP: i64 = 100;

/// What a broadcast task keeps in its `data`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Broadcast {
    pub event_type: String,
    pub payload: Box<serde_json::value::RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// How long each message's payload is kept, in microseconds.
    pub retention: Micros,
    /// The last application sent to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Sends the broadcast to the next [`STEP`] applications.
pub async fn step(
    store: &dyn Store,
    engine: &Engine,
    task_id: &str,
    data: serde_json::Value,
) -> Result<Stepped, StoreError> {
    let mut b: Broadcast = super::read(data)?;
    let page = Page {
        limit: STEP,
        after: b.cursor.clone(),
        descending: false,
    };
    let apps = store.list_apps(&page, None).await?;
    let mut added = 0;
    for app in &apps {
        added += publish(engine, task_id, &b, &app.id).await? as i64;
    }
    b.cursor = apps.last().map(|a| a.id.clone()).or(b.cursor);
    Ok(Stepped {
        data: super::write(&b),
        added,
        finished: (apps.len() as i64) < STEP,
    })
}

/// Publishes the broadcast to one application; whether it was new there.
async fn publish(engine: &Engine, task_id: &str, b: &Broadcast, app_id: &str) -> Result<bool, StoreError> {
    let now = time::now();
    let message = MessageRecord {
        id: ids::new(Kind::Message),
        app_id: app_id.to_owned(),
        event_type: b.event_type.clone(),
        event_id: Some(b.event_id.clone().unwrap_or_else(|| task_id.to_owned())),
        channels: b.channels.clone(),
        tags: None,
        payload: Some(b.payload.get().to_owned()),
        deliver_at: None,
        created_at: now,
        expires_at: now + b.retention,
        traceparent: Some(crate::delivery::trace::start()),
        tracestate: None,
    };
    // A taken eventId: sent there before (by this task before a crash).
    engine.publish_own(message).await
}
