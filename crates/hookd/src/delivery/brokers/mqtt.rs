//! MQTT 5: a QoS 1 publish the broker acknowledges (PUBACK), headers as user
//! properties. (QoS 0, when asked for, is done once the client has written it.)
//!
//! rumqttc hands out packet ids in its event loop, in the order publishes
//! were queued: each publish is queued with its waiter under one lock (the
//! waiter first, as the loop may report the publish before the call that
//! queued it returns), so the n-th `Outgoing::Publish(pkid)` the loop reports
//! belongs to the n-th waiter, and the PUBACK with that pkid settles it. A
//! publish that cannot be queued takes its waiter back under the same lock.
//! When the connection fails, every waiter fails and the client is made
//! again next time.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::Outgoing as Sent;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::sync::oneshot;

use super::{Destination, Outgoing, PublishError};

type Waiter = oneshot::Sender<Result<(), PublishError>>;

#[derive(Default)]
struct Waiting {
    /// Queued, their packet id not known yet, oldest first.
    queued: VecDeque<Waiter>,
    /// Sent, by packet id.
    sent: HashMap<u16, Waiter>,
    /// The connection failed: no waiter will be settled.
    broken: Option<String>,
}

pub struct Client {
    client: AsyncClient,
    waiting: Arc<Mutex<Waiting>>,
    /// Makes queuing a publish and its waiter one step.
    queue: tokio::sync::Mutex<()>,
    events: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.events.abort();
    }
}

impl Client {
    pub async fn connect(dest: &Destination, addr: SocketAddr) -> Result<Client, String> {
        let id = format!("hookd-{}", crate::ids::new(crate::ids::Kind::Attempt));
        let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        options.set_keep_alive(Duration::from_secs(30));
        if let Some(user) = &dest.user {
            options.set_credentials(user.clone(), dest.password.clone().unwrap_or_default());
        }
        let (client, mut events) = AsyncClient::new(options, 64);
        // Connected once the broker answers CONNECT.
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => break,
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let events = tokio::spawn(run(events, waiting.clone()));
        Ok(Client {
            client,
            waiting,
            queue: tokio::sync::Mutex::new(()),
            events,
        })
    }

    pub async fn publish(&self, dest: &Destination, out: &Outgoing<'_>) -> Result<String, PublishError> {
        let properties = PublishProperties {
            user_properties: out.headers.clone(),
            content_type: Some("application/json".into()),
            ..PublishProperties::default()
        };
        let qos = if dest.qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        let body = Bytes::copy_from_slice(out.body);
        let (tx, rx) = oneshot::channel();
        {
            let _order = self.queue.lock().await;
            {
                // The waiter goes first: the loop may report the publish before `publish` returns.
                let mut w = self.waiting.lock().expect("mqtt waiters");
                if let Some(why) = &w.broken {
                    return Err(PublishError::broken(why.clone()));
                }
                w.queued.push_back(tx);
            }
            let queued = self
                .client
                .publish_bytes_with_properties(dest.path.clone(), qos, false, body, properties)
                .await;
            if let Err(e) = queued {
                // Not queued: its waiter, the last one (the lock is held), goes too.
                self.waiting.lock().expect("mqtt waiters").queued.pop_back();
                return Err(PublishError::broken(format!("publishing to {}: {e}", dest.path)));
            }
        }
        match rx.await {
            Ok(Ok(())) => Ok(format!("acknowledged by the broker (topic {})", dest.path)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(PublishError::broken(format!(
                "publishing to {}: the connection closed",
                dest.path
            ))),
        }
    }
}

/// Drives the connection and settles waiters, until it fails.
async fn run(mut events: EventLoop, waiting: Arc<Mutex<Waiting>>) {
    loop {
        let event = events.poll().await;
        let mut w = waiting.lock().expect("mqtt waiters");
        match event {
            // QoS 0 has packet id 0 and no answer: done once written.
            Ok(Event::Outgoing(Sent::Publish(0))) => {
                if let Some(tx) = w.queued.pop_front() {
                    let _ = tx.send(Ok(()));
                }
            }
            Ok(Event::Outgoing(Sent::Publish(pkid))) => {
                if let Some(tx) = w.queued.pop_front() {
                    w.sent.insert(pkid, tx);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Some(tx) = w.sent.remove(&ack.pkid) {
                    let answer = match ack.reason {
                        PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Ok(()),
                        other => Err(PublishError::refused(format!("the broker answered {other:?}"))),
                    };
                    let _ = tx.send(answer);
                }
            }
            Ok(_) => {}
            Err(e) => {
                let why = format!("the connection failed: {e}");
                let w = &mut *w;
                for tx in w.queued.drain(..).chain(w.sent.drain().map(|(_, tx)| tx)) {
                    let _ = tx.send(Err(PublishError::broken(why.clone())));
                }
                w.broken = Some(why);
                return;
            }
        }
    }
}
