//! Replays: an endpoint's messages of a period sent to it again, as a
//! background task of [`STEP`] messages a step, in id order.
//!
//! - `endpoint.replay` (`replay-missing`) sends each message of the
//!   application that the endpoint's subscription takes (as it is now) and
//!   that the endpoint has no delivery of: those published while it was
//!   disabled, before it existed, or before it subscribed.
//! - `endpoint.bulk-replay` queues the endpoint's deliveries chosen by filters
//!   again (by default the failed ones).
//!
//! Either way the step writes delivery rows keyed by (message, endpoint): a
//! step done twice finds the rows it made and queues nothing more for
//! `replay-missing`, and for `bulk-replay` queues again what is due anyway.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Stepped;
use crate::delivery::Engine;
use crate::store::{
    AttemptFilter, AttemptScope, DeliveryStatus, MessageFilter, MessageRecord, Page, Store, StoreError,
};
use crate::subscriptions;
use crate::time;

/// Messages per step.
const STEP: i64 = 100;

/// What a replay task keeps in its `data`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    pub app_id: String,
    pub endpoint_id: String,
    pub since: DateTime<Utc>,
    /// The task's start when not given: what is published later is routed as usual.
    pub until: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The deliveries' status (Svix's code); bulk replays only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// The class of the last attempt's status code (0 for none); bulk replays only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code_class: Option<i64>,
    /// The last message looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Looks at the next [`STEP`] messages and queues those to send.
pub async fn step(
    store: &dyn Store,
    engine: &Engine,
    data: serde_json::Value,
    bulk: bool,
) -> Result<Stepped, StoreError> {
    let mut r: Replay = super::read(data)?;
    let page = Page {
        limit: STEP,
        after: r.cursor.clone(),
        descending: false,
    };
    // Both bounds are inclusive; the filter's are not.
    let period = MessageFilter {
        after: Some(time::from_datetime(r.since) - 1),
        before: Some(time::from_datetime(r.until) + 1),
        ..MessageFilter::default()
    };
    let (seen, chosen) = match store.get_endpoint(&r.app_id, &r.endpoint_id).await? {
        // Deleted since: nothing left to send to.
        None => (0, Vec::new()),
        Some(ep) if bulk => {
            let filter = MessageFilter {
                event_types: r.event_types.clone(),
                channels: r.channel.iter().cloned().collect(),
                tag: r.tag.clone(),
                status: Some(
                    r.status
                        .and_then(DeliveryStatus::from_code)
                        .unwrap_or(DeliveryStatus::Fail),
                ),
                ..period
            };
            let messages = store.list_endpoint_messages(&ep.id, &filter, &page).await?;
            let seen = messages.len();
            r.cursor = messages.last().map(|(m, _)| m.id.clone()).or(r.cursor);
            let mut chosen = Vec::new();
            for (m, _) in messages {
                if class_matches(store, &ep.id, &m, r.status_code_class).await? {
                    // Its delivery is there, and keeps its FIFO key: this one is not written.
                    chosen.push((m.id, None));
                }
            }
            (seen, chosen)
        }
        Some(ep) => {
            let filter = MessageFilter {
                with_content: true,
                ..period
            };
            let messages = store.list_messages(Some(&r.app_id), &filter, &page).await?;
            let subscription = subscriptions::subscription(&ep);
            r.cursor = messages.last().map(|m| m.id.clone()).or(r.cursor);
            let chosen = messages
                .iter()
                // A message whose payload is gone cannot be sent.
                .filter(|m| m.payload.is_some() && subscription.accepts(&subscriptions::candidate(m)))
                .map(|m| (m.id.clone(), subscriptions::fifo_key(&ep, m)))
                .collect();
            (messages.len(), chosen)
        }
    };
    let queued = store.replay(&r.app_id, &r.endpoint_id, &chosen, bulk).await?;
    if queued > 0 {
        engine.announce();
    }
    Ok(Stepped {
        data: super::write(&r),
        added: queued as i64,
        finished: (seen as i64) < STEP,
    })
}

/// Whether the last attempt at `m` on the endpoint answered in `class`
/// (0: no answer); no class given takes every message.
async fn class_matches(
    store: &dyn Store,
    endpoint_id: &str,
    m: &MessageRecord,
    class: Option<i64>,
) -> Result<bool, StoreError> {
    let Some(class) = class else { return Ok(true) };
    let filter = AttemptFilter {
        endpoint_id: Some(endpoint_id.to_owned()),
        ..AttemptFilter::all(AttemptScope::Message(m.id.clone()))
    };
    let last = Page {
        limit: 1,
        after: None,
        descending: true,
    };
    let attempts = store.list_attempts(&filter, &last).await?;
    Ok(attempts.first().is_some_and(|a| a.status_code / 100 * 100 == class))
}
