//! Relay endpoints: endpoints whose deliveries travel down a WebSocket that
//! `hookd listen` opened from a developer's machine, instead of over HTTP.
//!
//! A relay endpoint is an endpoint like any other (filters, signing, retries,
//! the attempt log); its URL is `relay://NAME`. This module keeps, per
//! endpoint, the listeners connected to this node, and hands each attempt to
//! one of them in turn. While none is connected, attempts are not made at all:
//! the engine parks the delivery ([`PARK`]) and the API pulls the endpoint's
//! parked deliveries forward when a listener attaches, so that closing a
//! laptop loses nothing and costs no retries.
//!
//! The frames are JSON text messages, each with the protocol version `v`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::attempt::{Response, Start};
use super::{DeliveryConfig, attempt, sign};
use crate::store::DeliveryTask;

/// The frame protocol this build speaks.
pub const PROTOCOL: u32 = 1;

/// The URL scheme of relay endpoints.
pub const SCHEME: &str = "relay";

/// How long a delivery to a relay endpoint with no listener on this node waits
/// before it is looked at again. A listener attaching on this node pulls the
/// endpoint's deliveries forward at once; the wait matters only in a cluster,
/// where the node holding the listener may not be the one that claimed them.
pub const PARK: Duration = Duration::from_secs(30);

/// Whether deliveries to this URL go to listeners rather than over HTTP.
pub fn is_relay(url: &str) -> bool {
    url.strip_prefix(SCHEME).is_some_and(|rest| rest.starts_with("://"))
}

/// The URL of the relay endpoint called `name`.
pub fn url(name: &str) -> String {
    format!("{SCHEME}://{name}")
}

/// One frame of the listen protocol.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Frame {
    /// Server to listener, once attached: which endpoint it serves.
    #[serde(rename_all = "camelCase")]
    Hello {
        v: u32,
        app_id: String,
        endpoint_id: String,
        name: String,
        /// The endpoint is disabled: nothing reaches it until it is enabled.
        #[serde(default)]
        disabled: bool,
    },
    /// Server to listener: one attempt to forward.
    #[serde(rename_all = "camelCase")]
    Request {
        v: u32,
        id: u64,
        msg_id: String,
        event_type: String,
        headers: BTreeMap<String, String>,
        body: String,
    },
    /// Listener to server: what the local receiver answered (status 0 and an
    /// error when it could not be reached).
    #[serde(rename_all = "camelCase")]
    Response {
        v: u32,
        id: u64,
        status: u16,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        body: String,
        #[serde(default)]
        error: Option<String>,
        /// How long the local receiver took, as the listener measured it.
        #[serde(default)]
        duration_ms: Option<u64>,
    },
}

/// An attempt handed to a listener's connection, and where its answer goes.
pub struct Forward {
    pub msg_id: String,
    pub event_type: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub reply: oneshot::Sender<Answer>,
}

/// The local receiver's answer, as the listener reported it.
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub error: Option<String>,
    pub duration: Option<Duration>,
}

/// A listener's connection: its number, and where its attempts go.
type Listener = (u64, mpsc::Sender<Forward>);

/// The listeners connected to this node, by endpoint id.
#[derive(Default)]
pub struct Relays {
    listeners: Mutex<HashMap<String, Vec<Listener>>>,
    ids: AtomicU64,
}

/// A listener's place in [`Relays`]; dropping it detaches the listener.
pub struct Attachment {
    relays: Arc<Relays>,
    endpoint_id: String,
    id: u64,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let mut all = self.relays.listeners.lock().expect("relays lock");
        if let Some(list) = all.get_mut(&self.endpoint_id) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                all.remove(&self.endpoint_id);
            }
        }
    }
}

impl Relays {
    /// Adds a listener for `endpoint_id`, whose connection takes attempts from `tx`.
    pub fn attach(self: &Arc<Self>, endpoint_id: &str, tx: mpsc::Sender<Forward>) -> Attachment {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let mut all = self.listeners.lock().expect("relays lock");
        all.entry(endpoint_id.to_owned()).or_default().push((id, tx));
        Attachment {
            relays: self.clone(),
            endpoint_id: endpoint_id.to_owned(),
            id,
        }
    }

    pub fn is_attached(&self, endpoint_id: &str) -> bool {
        self.listeners.lock().expect("relays lock").contains_key(endpoint_id)
    }

    /// The next listener of the endpoint in turn, so that several share its work.
    fn pick(&self, endpoint_id: &str) -> Option<mpsc::Sender<Forward>> {
        let mut all = self.listeners.lock().expect("relays lock");
        let list = all.get_mut(endpoint_id)?;
        list.rotate_left(1);
        list.last().map(|(_, tx)| tx.clone())
    }

    /// Makes one attempt through a listener: signed and shaped as over HTTP.
    pub async fn send(
        &self,
        cfg: &DeliveryConfig,
        task: &DeliveryTask,
        traceparent: Option<&str>,
        start: Start,
    ) -> Response {
        let failed = |error: &str| Response::failed(error.to_owned(), start);
        let Some(listener) = self.pick(&task.endpoint.id) else {
            return failed("no hookd listen is connected to this relay endpoint");
        };
        let body = super::body::render(&task.endpoint, &task.message);
        let headers = sign::headers(&task.endpoint, &task.message, body.as_bytes(), start.at, traceparent)
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let (reply, answer) = oneshot::channel();
        let forward = Forward {
            msg_id: task.message.id.clone(),
            event_type: task.message.event_type.clone(),
            headers,
            body,
            reply,
        };
        let timeout = attempt::timeout(cfg, &task.endpoint);
        let exchange = async {
            listener.send(forward).await.map_err(|_| ())?;
            answer.await.map_err(|_| ())
        };
        let answer = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(a)) => a,
            Ok(Err(())) => return failed("the listener disconnected before answering"),
            Err(_) => return failed(&attempt::timed_out(timeout)),
        };
        let mut body = answer.body;
        if body.len() > cfg.response_body_limit {
            let mut end = cfg.response_body_limit;
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body.truncate(end);
        }
        let error = answer
            .error
            .or_else(|| attempt::redirect_error(answer.status, &answer.headers));
        Response {
            status_code: answer.status,
            headers: answer.headers,
            body,
            error,
            // The receiver's own time, as for HTTP; the hop to the listener is not its.
            duration: answer.duration.unwrap_or_else(|| start.elapsed()),
            started_at: start.at,
            canceled: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls_are_told_apart() {
        assert!(is_relay(&url("laptop")));
        assert!(!is_relay("https://relay.example.com/"));
        assert!(!is_relay("relayx://a"));
    }

    #[test]
    fn listeners_take_turns_and_detach_when_dropped() {
        let relays = Arc::new(Relays::default());
        let (a, mut ra) = mpsc::channel(1);
        let (b, mut rb) = mpsc::channel(1);
        let first = relays.attach("ep_1", a);
        let second = relays.attach("ep_1", b);
        let send = |tx: mpsc::Sender<Forward>| {
            let (reply, _) = oneshot::channel();
            let f = Forward {
                msg_id: String::new(),
                event_type: String::new(),
                headers: BTreeMap::new(),
                body: String::new(),
                reply,
            };
            tx.try_send(f).expect("room");
        };
        send(relays.pick("ep_1").expect("attached"));
        send(relays.pick("ep_1").expect("attached"));
        assert!(ra.try_recv().is_ok() && rb.try_recv().is_ok(), "one each");
        drop(first);
        assert!(relays.is_attached("ep_1"));
        drop(second);
        assert!(!relays.is_attached("ep_1"));
    }
}
