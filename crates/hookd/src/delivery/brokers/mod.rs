//! Broker destinations: an endpoint whose URL is `nats://`, `amqp://`,
//! `redis://` or `mqtt://` gets each message published to that broker,
//! through the broker's own client crate: the body an HTTP delivery would
//! carry, signed the same way, with the delivery's headers beside it
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`, and
//! `webhook-event-type`). An acknowledgement is a success (recorded as a
//! 200 with what the broker said); anything else is a failed attempt,
//! retried on the schedule, with the broker's words in the attempt log.
//!
//! Connections are pooled per broker address, user and database; one that
//! failed is dropped and made again by the next attempt. The broker's host
//! passes the address policy as an HTTP receiver's does, and the connection
//! goes to the address that was checked.

mod amqp;
mod mqtt;
mod nats;
mod redis;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::attempt::{Response, Start};
use super::{DeliveryConfig, sign};
use crate::security::ssrf::{self, AddressPolicy};
use crate::store::DeliveryTask;

/// The kinds of broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Nats,
    Amqp,
    Redis,
    Mqtt,
}

impl Kind {
    fn of(scheme: &str) -> Option<Kind> {
        Some(match scheme {
            "nats" => Kind::Nats,
            "amqp" => Kind::Amqp,
            "redis" => Kind::Redis,
            "mqtt" => Kind::Mqtt,
            _ => return None,
        })
    }

    fn default_port(self) -> u16 {
        match self {
            Kind::Nats => 4222,
            Kind::Amqp => 5672,
            Kind::Redis => 6379,
            Kind::Mqtt => 1883,
        }
    }
}

pub fn is_broker(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(scheme, _)| Kind::of(scheme).is_some())
}

/// Where a broker URL publishes.
#[derive(Clone, Debug)]
pub struct Destination {
    pub kind: Kind,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// NATS: the subject; MQTT: the topic; AMQP: the virtual host; Redis: the database.
    pub path: String,
    pub exchange: String,
    pub routing_key: String,
    pub stream: String,
    pub maxlen: Option<u64>,
    pub qos: u8,
}

impl Destination {
    /// Reads a broker URL, saying what is wrong with it.
    pub fn parse(url: &str) -> Result<Destination, String> {
        let u = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        let kind = Kind::of(u.scheme()).ok_or("not a broker URL")?;
        if u.fragment().is_some() {
            return Err("the URL must not have a fragment (#)".into());
        }
        // Bytes that are not UTF-8 cannot name anything a broker client takes.
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let path = decode(u.path().trim_start_matches('/'));
        let mut d = Destination {
            kind,
            host: u
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or("the URL must name the broker's host")?
                .trim_matches(['[', ']'])
                .to_owned(),
            port: u.port().unwrap_or(kind.default_port()),
            user: Some(decode(u.username())).filter(|s| !s.is_empty()),
            password: u.password().map(decode),
            path,
            exchange: String::new(),
            routing_key: String::new(),
            stream: String::new(),
            maxlen: None,
            qos: 1,
        };
        for (key, value) in u.query_pairs() {
            match (kind, key.as_ref()) {
                (Kind::Amqp, "exchange") => d.exchange = value.into_owned(),
                (Kind::Amqp, "routingKey") => d.routing_key = value.into_owned(),
                (Kind::Redis, "stream") => d.stream = value.into_owned(),
                (Kind::Redis, "maxlen") => {
                    d.maxlen = Some(value.parse().map_err(|_| "maxlen must be a whole number")?);
                }
                (Kind::Mqtt, "qos") => {
                    d.qos = match value.as_ref() {
                        "0" => 0,
                        "1" => 1,
                        _ => return Err("qos must be 0 or 1".into()),
                    }
                }
                (_, other) => return Err(format!("unknown parameter {other:?} for a {kind:?} URL")),
            }
        }
        match kind {
            Kind::Nats | Kind::Mqtt if d.path.is_empty() => {
                return Err(format!(
                    "the URL's path must name the {}",
                    if kind == Kind::Nats { "subject" } else { "topic" }
                ));
            }
            Kind::Nats if d.path.contains(['*', '>', ' ', '/']) => {
                return Err("the subject must be a plain subject (no wildcards, spaces or slashes)".into());
            }
            Kind::Mqtt if d.path.contains(['+', '#']) => return Err("the topic must not hold wildcards".into()),
            Kind::Redis if d.stream.is_empty() => return Err("the URL must name the stream: ?stream=KEY".into()),
            Kind::Redis if !d.path.is_empty() && d.path.parse::<u32>().is_err() => {
                return Err("the URL's path must be the database number".into());
            }
            _ => {}
        }
        Ok(d)
    }

    /// What a pooled connection is keyed by: everything that makes one
    /// connection different from another, at the checked address.
    fn connection_key(&self, addr: SocketAddr) -> String {
        let scope = match self.kind {
            Kind::Amqp | Kind::Redis => self.path.as_str(),
            Kind::Nats | Kind::Mqtt => "",
        };
        format!("{:?} {addr} {:?} {:?} {scope}", self.kind, self.user, self.password)
    }
}

/// One message to publish: the body and the headers carried beside it.
pub struct Outgoing<'a> {
    pub id: String,
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

/// A pooled connection to one broker.
#[derive(Clone)]
enum Connection {
    Nats(async_nats::jetstream::Context),
    Amqp(Arc<amqp::Channel>),
    Redis(::redis::aio::MultiplexedConnection),
    Mqtt(Arc<mqtt::Client>),
}

/// The connections of this node, by [`Destination::connection_key`].
#[derive(Default)]
pub struct Brokers {
    pool: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Connection>>>>>,
}

impl Brokers {
    /// Publishes `task`'s message to its endpoint's broker once.
    pub async fn send(
        &self,
        policy: &AddressPolicy,
        cfg: &DeliveryConfig,
        task: &DeliveryTask,
        traceparent: Option<&str>,
        start: Start,
    ) -> Response {
        let timeout = super::attempt::timeout(cfg, &task.endpoint);
        match self.publish(policy, task, traceparent, start, timeout).await {
            Ok(ack) => Response {
                status_code: 200,
                headers: Default::default(),
                body: ack,
                error: None,
                duration: start.elapsed(),
                started_at: start.at,
                canceled: false,
            },
            Err(e) => Response::failed(e, start),
        }
    }

    async fn publish(
        &self,
        policy: &AddressPolicy,
        task: &DeliveryTask,
        traceparent: Option<&str>,
        start: Start,
        timeout: Duration,
    ) -> Result<String, String> {
        let dest = Destination::parse(&task.endpoint.url)?;
        let addr = match tokio::time::timeout(timeout, resolve(policy, &dest)).await {
            Ok(addr) => addr?,
            Err(_) => {
                return Err(format!(
                    "resolving {}: {}",
                    dest.host,
                    super::attempt::timed_out(timeout)
                ));
            }
        };
        let body = super::body::render(&task.endpoint, &task.message);
        let mut headers: Vec<(String, String)> =
            sign::headers(&task.endpoint, &task.message, body.as_bytes(), start.at, traceparent)
                .iter()
                .filter(|(name, _)| *name != "user-agent")
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
        headers.push(("webhook-event-type".into(), task.message.event_type.clone()));
        let out = Outgoing {
            id: format!("{}:{}", task.message.id, task.endpoint.id),
            headers,
            body: body.as_bytes(),
        };
        let slot = {
            let mut pool = self.pool.lock().expect("broker pool lock");
            pool.entry(dest.connection_key(addr)).or_default().clone()
        };
        let conn = {
            let mut held = slot.lock().await;
            match held.as_ref() {
                Some(c) => c.clone(),
                None => {
                    let c = connect(&dest, addr, timeout).await?;
                    *held = Some(c.clone());
                    c
                }
            }
        };
        let publish = async {
            match &conn {
                Connection::Nats(js) => nats::publish(js, &dest, &out).await,
                Connection::Amqp(ch) => ch.publish(&dest, &out).await,
                Connection::Redis(r) => redis::publish(r.clone(), &dest, &out).await,
                Connection::Mqtt(m) => m.publish(&dest, &out).await,
            }
        };
        let result = match tokio::time::timeout(timeout, publish).await {
            Ok(r) => r,
            Err(_) => Err(PublishError::broken(super::attempt::timed_out(timeout))),
        };
        if let Err(e) = &result
            && !e.refused_by_broker
        {
            // The connection may be broken (or hang): the next attempt makes a new one.
            *slot.lock().await = None;
        }
        result.map_err(|e| e.text)
    }
}

/// Why a publish failed: the broker's refusal (the connection is still good)
/// or a broken connection.
pub struct PublishError {
    pub text: String,
    pub refused_by_broker: bool,
}

impl PublishError {
    fn broken(text: impl Into<String>) -> Self {
        PublishError {
            text: text.into(),
            refused_by_broker: false,
        }
    }

    fn refused(text: impl Into<String>) -> Self {
        PublishError {
            text: text.into(),
            refused_by_broker: true,
        }
    }
}

/// The broker's address, checked against the address policy.
async fn resolve(policy: &AddressPolicy, dest: &Destination) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((dest.host.as_str(), dest.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", dest.host))?
        .collect();
    let addrs = ssrf::check_resolved(policy, &dest.host, addrs).map_err(|e| e.to_string())?;
    Ok(addrs[0])
}

async fn connect(dest: &Destination, addr: SocketAddr, timeout: Duration) -> Result<Connection, String> {
    let made = async {
        Ok(match dest.kind {
            Kind::Nats => Connection::Nats(nats::connect(dest, addr, timeout).await?),
            Kind::Amqp => Connection::Amqp(Arc::new(amqp::Channel::open(dest, addr).await?)),
            Kind::Redis => Connection::Redis(redis::connect(dest, addr).await?),
            Kind::Mqtt => Connection::Mqtt(Arc::new(mqtt::Client::connect(dest, addr).await?)),
        })
    };
    match tokio::time::timeout(timeout, made).await {
        Ok(r) => r.map_err(|e: String| format!("cannot connect to {:?} at {addr}: {e}", dest.kind)),
        Err(_) => Err(format!(
            "cannot connect to {:?} at {addr}: {}",
            dest.kind,
            super::attempt::timed_out(timeout)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_name_what_each_broker_needs() {
        let d = Destination::parse("amqp://guest:pa%40ss@127.0.0.1:5672/%2F?exchange=hooks&routingKey=user.created")
            .unwrap();
        assert_eq!((d.kind, d.port, d.path.as_str()), (Kind::Amqp, 5672, "/"));
        assert_eq!(
            (d.user.as_deref(), d.password.as_deref()),
            (Some("guest"), Some("pa@ss"))
        );
        assert_eq!((d.exchange.as_str(), d.routing_key.as_str()), ("hooks", "user.created"));
        let d = Destination::parse("redis://localhost/2?stream=hooks&maxlen=1000").unwrap();
        assert_eq!(
            (d.port, d.path.as_str(), d.stream.as_str(), d.maxlen),
            (6379, "2", "hooks", Some(1000))
        );
        let d = Destination::parse("mqtt://broker.example.com/devices/42?qos=0").unwrap();
        assert_eq!((d.path.as_str(), d.qos), ("devices/42", 0));
        assert_eq!(
            Destination::parse("nats://n.example.com/orders.created").unwrap().path,
            "orders.created"
        );
        for (bad, says) in [
            ("nats://n.example.com", "subject"),
            ("nats://n.example.com/orders.*", "wildcards"),
            ("redis://r.example.com/0", "stream"),
            ("redis://r.example.com/x?stream=a", "database number"),
            ("mqtt://m.example.com/a/%23", "wildcards"),
            ("mqtt://m.example.com/a/#", "fragment"),
            ("mqtt://m.example.com/a?qos=2", "qos"),
            ("amqp://a.example.com/?exchange=x&priority=1", "unknown parameter"),
        ] {
            let e = Destination::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(is_broker("nats://x/y") && is_broker("amqp://x") && !is_broker("https://x") && !is_broker("natsx://x"));
    }
}
