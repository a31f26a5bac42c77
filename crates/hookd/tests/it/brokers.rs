//! Broker destinations against the real brokers the machine runs (their
//! addresses in `HOOKD_TEST_{NATS,AMQP,REDIS,MQTT}_URL`): every message
//! arrives once, signed, also when the connection to the broker is cut
//! and comes back; misdirected publishes fail with the broker's words. A
//! NATS server and a Redis of the tests' own (the same programs) are
//! restarted under load.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Client, Proxy, Server};

/// A broker's address, from its variable (the tests need every broker).
fn broker(var: &str) -> (url::Url, SocketAddr) {
    let url = std::env::var(var).unwrap_or_else(|_| panic!("{var} must name the broker (scripts/test sets it)"));
    let url = url::Url::parse(&url).unwrap_or_else(|e| panic!("{var}: {e}"));
    let addr = (url.host_str().unwrap(), url.port().unwrap())
        .to_socket_addrs_one()
        .unwrap_or_else(|| panic!("{var}: cannot resolve"));
    (url, addr)
}

trait OneAddr {
    fn to_socket_addrs_one(&self) -> Option<SocketAddr>;
}

impl OneAddr for (&str, u16) {
    fn to_socket_addrs_one(&self) -> Option<SocketAddr> {
        std::net::ToSocketAddrs::to_socket_addrs(self).ok()?.next()
    }
}

/// A name no other run uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}{}{}", std::process::id(), rand::random::<u32>())
}

/// One message as a consumer read it.
#[derive(Clone, Debug)]
struct Got {
    headers: HashMap<String, String>,
    body: String,
}

/// A JetStream stream's messages 1 to `last`.
async fn stored(stream: &async_nats::jetstream::stream::Stream, last: u64) -> Vec<Got> {
    let mut got = Vec::new();
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.unwrap();
        let headers = m
            .headers
            .iter()
            .map(|(k, v)| (k.to_string().to_lowercase(), v[0].to_string()))
            .collect();
        got.push(Got {
            headers,
            body: String::from_utf8(m.payload.to_vec()).unwrap(),
        });
    }
    got
}

/// A Redis stream's entries: the body in `payload`, the headers beside it.
fn entries(entries: Vec<(String, Vec<(String, String)>)>) -> Vec<Got> {
    entries
        .into_iter()
        .map(|(_, fields)| {
            let mut headers: HashMap<String, String> = fields.into_iter().collect();
            let body = headers.remove("payload").unwrap();
            Got { headers, body }
        })
        .collect()
}

/// Waits until `read` has at least `n` messages; answers them.
async fn until_read(n: usize, read: &impl AsyncFn() -> Vec<Got>) -> Vec<Got> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = read().await;
        if got.len() >= n {
            return got;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} of {n} arrived", got.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publishes ten messages to an endpoint at `url_at(proxy port)`, the last
/// five while the connection to the broker is cut; each arrives once, signed.
async fn every_message_once_across_a_cut(
    addr: SocketAddr,
    url_at: impl Fn(u16) -> String,
    read: &impl AsyncFn() -> Vec<Got>,
) -> (Server, Client, String, String) {
    let proxy = Proxy::start(addr).await;
    let (down, up) = (async || proxy.cut(), async || proxy.restore());
    every_message_once_across(url_at(proxy.port), down, up, read).await
}

/// Publishes ten messages to an endpoint at `url`, the last five while the
/// broker is away (between `down` and `up`); each arrives once, signed.
async fn every_message_once_across(
    url: String,
    down: impl AsyncFnOnce(),
    up: impl AsyncFnOnce(),
    read: &impl AsyncFn() -> Vec<Got>,
) -> (Server, Client, String, String) {
    let s = Server::start(&[]);
    let c = s.admin();
    let app = c.app("brokers").await;
    let ep = c
        .endpoint(
            &app,
            json!({"url": url, "retrySchedule": [0.2, 0.3, 0.5, 1, 1, 2, 2, 3]}),
        )
        .await;
    let ep_id = ep["id"].as_str().unwrap().to_owned();
    let secret = c.secret(&app, &ep_id).await;
    let publish = async |n: i64| {
        c.publish(&app, json!({"eventType": "order.created", "payload": {"n": n}}))
            .await;
    };
    let succeeded = async |n: usize| {
        let path = format!("/api/v1/app/{app}/attempt/endpoint/{ep_id}?status=0");
        c.wait_for(&path, |b| b["data"].as_array().is_some_and(|d| d.len() >= n))
            .await;
    };
    for n in 0..5 {
        publish(n).await;
    }
    // Acknowledged and recorded before the cut: none of these is sent again.
    succeeded(5).await;
    down().await;
    for n in 5..10 {
        publish(n).await;
    }
    let failed = c
        .wait_for(&format!("/api/v1/app/{app}/attempt/endpoint/{ep_id}?status=2"), |b| {
            b["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    let error = failed["data"][0]["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "a failed attempt says why: {failed}");
    up().await;
    succeeded(10).await;
    let got = until_read(10, read).await;

    let mut seen = Vec::new();
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    for g in &got {
        let mut h = axum::http::HeaderMap::new();
        for (k, v) in &g.headers {
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::try_from(k.as_str()),
                axum::http::HeaderValue::try_from(v.as_str()),
            ) {
                h.insert(k, v);
            }
        }
        verifier
            .verify(g.body.as_bytes(), &h)
            .expect("a broker message verifies like a webhook");
        assert_eq!(g.headers["webhook-event-type"], "order.created");
        seen.push(serde_json::from_str::<Value>(&g.body).unwrap()["n"].as_i64().unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>(), "each message once");
    let attempts = c
        .get(&format!("/api/v1/app/{app}/attempt/endpoint/{ep_id}?status=0"))
        .await;
    let ok = &attempts.body["data"][0];
    assert_eq!(ok["responseStatusCode"], 200, "{ok}");
    (s, c, app, ep_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_destination_gets_every_message_once_in_its_stream() {
    let (url, addr) = broker("HOOKD_TEST_NATS_URL");
    let nats = async_nats::connect(url.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(nats);
    let (name, subject) = (unique("HOOKD_"), unique("hookd.orders."));
    let stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let read = async || {
        let last = stream.clone().info().await.unwrap().state.last_sequence;
        stored(&stream, last).await
    };
    let (_s, c, app, _) =
        every_message_once_across_a_cut(addr, |port| format!("nats://127.0.0.1:{port}/{subject}"), &read).await;

    // A subject no stream takes.
    let ep = c
        .endpoint(&app, json!({"url": format!("nats://{addr}/{}", unique("hookd.nowhere.")), "retrySchedule": [], "channels": ["x"]}))
        .await;
    let error = first_error(&c, &app, &ep, "x").await;
    assert!(error.contains("no JetStream stream takes subject"), "{error}");
    js.delete_stream(&name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amqp_destination_gets_every_message_once_confirmed() {
    use lapin::options::{BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
    let (url, addr) = broker("HOOKD_TEST_AMQP_URL");
    let conn = lapin::Connection::connect(url.as_str(), lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let (exchange, queue) = (unique("hookd-x-"), unique("hookd-q-"));
    let opts = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    ch.exchange_declare(
        exchange.as_str().into(),
        lapin::ExchangeKind::Topic,
        opts,
        Default::default(),
    )
    .await
    .unwrap();
    let qopts = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    ch.queue_declare(queue.as_str().into(), qopts, Default::default())
        .await
        .unwrap();
    ch.queue_bind(
        queue.as_str().into(),
        exchange.as_str().into(),
        "orders.#".into(),
        QueueBindOptions::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let taken = Arc::new(Mutex::new(Vec::new()));
    let read = async || {
        while let Some(m) = ch
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            let headers = m
                .properties
                .headers()
                .clone()
                .unwrap_or_default()
                .inner()
                .iter()
                .filter_map(|(k, v)| match v {
                    lapin::types::AMQPValue::LongString(s) => Some((k.to_string(), s.to_string())),
                    _ => None,
                })
                .collect();
            taken.lock().unwrap().push(Got {
                headers,
                body: String::from_utf8(m.data.clone()).unwrap(),
            });
        }
        taken.lock().unwrap().clone()
    };
    let user = url.username();
    let pass = url.password().unwrap_or("guest");
    let target =
        |host: String| format!("amqp://{user}:{pass}@{host}/%2F?exchange={exchange}&routingKey=orders.created");
    let (s, c, app, ep_id) =
        every_message_once_across_a_cut(addr, |port| target(format!("127.0.0.1:{port}")), &read).await;

    // The password is shown masked, kept sealed, and kept when the masked URL is sent back.
    let shown = c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}")).await;
    let masked = shown.body["url"].as_str().unwrap().to_owned();
    assert!(masked.contains(&format!("{user}:****@")), "{masked}");
    let attempts = c.get(&format!("/api/v1/app/{app}/attempt/endpoint/{ep_id}")).await;
    assert!(
        attempts.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["url"] == masked.as_str())
    );
    let stored = stored_urls(&s).await;
    assert!(
        stored
            .iter()
            .all(|(url, sealed)| !url.contains(&format!(":{pass}@"))
                && sealed.as_deref().is_none_or(|p| !p.contains(pass))),
        "{stored:?}"
    );
    let mut again = shown.body.clone();
    again["description"] = json!("sent back as read");
    let r = c.put(&format!("/api/v1/app/{app}/endpoint/{ep_id}"), again).await;
    assert_eq!(r.status, 200, "{}", r.body);
    c.publish(&app, json!({"eventType": "order.created", "payload": {"n": 10}}))
        .await;
    until_read(11, &read).await;

    // An exchange that does not exist, and one no queue is bound to.
    let missing = c
        .endpoint(&app, json!({"url": target(addr.to_string()).replace(&exchange, &unique("hookd-none-")), "retrySchedule": [], "channels": ["m"]}))
        .await;
    let error = first_error(&c, &app, &missing, "m").await;
    assert!(error.contains("NOT_FOUND") || error.contains("no exchange"), "{error}");
    let lonely = unique("hookd-lonely-");
    ch.exchange_declare(
        lonely.as_str().into(),
        lapin::ExchangeKind::Direct,
        opts,
        Default::default(),
    )
    .await
    .unwrap();
    let unbound = c
        .endpoint(&app, json!({"url": target(addr.to_string()).replace(&exchange, &lonely), "retrySchedule": [], "channels": ["u"]}))
        .await;
    let error = first_error(&c, &app, &unbound, "u").await;
    assert!(error.contains("no queue is bound"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_destination_adds_every_message_once_to_its_stream() {
    let (url, addr) = broker("HOOKD_TEST_REDIS_URL");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = unique("hookd:stream:");
    let read = async || {
        let mut conn = conn.clone();
        let found: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        entries(found)
    };
    every_message_once_across_a_cut(
        addr,
        |port| format!("redis://127.0.0.1:{port}/0?stream={key}&maxlen=1000"),
        &read,
    )
    .await;
    let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();

    // The address policy applies to brokers: loopback is refused unless allowed.
    let s = Server::start(&[("HOOKD_ALLOW_NETWORKS", "10.255.255.0/24")]);
    let c = s.admin();
    let app = c.app("guarded").await;
    let ep = c
        .endpoint(
            &app,
            json!({"url": format!("redis://{addr}/0?stream={key}"), "retrySchedule": [], "channels": ["g"]}),
        )
        .await;
    let error = first_error(&c, &app, &ep, "g").await;
    assert!(error.contains("is not public"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_destination_gets_every_message_once_acknowledged() {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let (_, addr) = broker("HOOKD_TEST_MQTT_URL");
    let topic = unique("hookd/orders/");
    let mut options = MqttOptions::new(unique("hookd-test-"), addr.ip().to_string(), addr.port());
    options.set_keep_alive(Duration::from_secs(30));
    let (sub, mut events) = AsyncClient::new(options, 64);
    sub.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
    let taken = Arc::new(Mutex::new(Vec::new()));
    let (into, subscribed) = (taken.clone(), Arc::new(tokio::sync::Notify::new()));
    let ready = subscribed.clone();
    tokio::spawn(async move {
        while let Ok(event) = events.poll().await {
            match event {
                Event::Incoming(Packet::SubAck(_)) => ready.notify_one(),
                Event::Incoming(Packet::Publish(p)) => {
                    let headers = p
                        .properties
                        .map(|p| p.user_properties.into_iter().collect())
                        .unwrap_or_default();
                    into.lock().unwrap().push(Got {
                        headers,
                        body: String::from_utf8(p.payload.to_vec()).unwrap(),
                    });
                }
                _ => {}
            }
        }
    });
    subscribed.notified().await;
    let read = async || taken.lock().unwrap().clone();
    every_message_once_across_a_cut(addr, |port| format!("mqtt://127.0.0.1:{port}/{topic}?qos=1"), &read).await;
}

/// The error of the first attempt at `ep` of a message sent to `channel`.
async fn first_error(c: &Client, app: &str, ep: &Value, channel: &str) -> String {
    c.publish(
        app,
        json!({"eventType": "order.created", "channels": [channel], "payload": {}}),
    )
    .await;
    let path = format!("/api/v1/app/{app}/attempt/endpoint/{}", ep["id"].as_str().unwrap());
    let a = c
        .wait_for(&path, |b| b["data"].as_array().is_some_and(|d| !d.is_empty()))
        .await;
    assert_eq!(a["data"][0]["status"], 2, "{a}");
    a["data"][0]["error"].as_str().unwrap().to_owned()
}

/// Every endpoint's `url` and `url_password` columns as stored.
async fn stored_urls(s: &Server) -> Vec<(String, Option<String>)> {
    match s.database_env().pop() {
        None => {
            let db = rusqlite::Connection::open(s.dir.path().join("hookd.db")).unwrap();
            let mut q = db.prepare("SELECT url, url_password FROM endpoints").unwrap();
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
        Some((_, url)) => {
            use sqlx::Row;
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let rows = sqlx::query("SELECT url, url_password FROM endpoints")
                .fetch_all(&pool)
                .await
                .unwrap();
            rows.iter().map(|r| (r.get(0), r.get(1))).collect()
        }
    }
}

/// A broker of this test's own (the machine's are shared with other tests),
/// stopped and started again on the same port and data directory.
struct OwnBroker {
    program: &'static str,
    args: Vec<String>,
    port: u16,
    child: Option<std::process::Child>,
    _dir: tempfile::TempDir,
}

impl OwnBroker {
    /// NATS with JetStream kept in files.
    fn nats() -> OwnBroker {
        OwnBroker::new("nats-server", |port, dir| {
            vec![
                "-js".into(),
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                "-sd".into(),
                dir.into(),
            ]
        })
    }

    /// Redis with every write in its append-only file before it answers.
    fn redis() -> OwnBroker {
        OwnBroker::new("redis-server", |port, dir| {
            [
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--dir",
                dir,
                "--appendonly",
                "yes",
            ]
            .into_iter()
            .chain(["--appendfsync", "always", "--save", ""])
            .map(String::from)
            .collect()
        })
    }

    fn new(program: &'static str, args: impl Fn(u16, &str) -> Vec<String>) -> OwnBroker {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let args = args(port, dir.path().to_str().unwrap());
        OwnBroker {
            program,
            args,
            port,
            child: None,
            _dir: dir,
        }
    }

    /// Starts it and waits until it takes connections.
    async fn start(&mut self) {
        let child = std::process::Command::new(self.program)
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts (Debian's package): {e}", self.program));
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "{} did not start", self.program);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops it as its service manager would (SIGTERM), and waits for it.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(child.id());
            child.wait().unwrap();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// SIGTERM, through `kill(1)`.
fn terminate(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_nats_server_gets_every_message_once() {
    let mut own = OwnBroker::nats();
    own.start().await;
    let url = format!("nats://127.0.0.1:{}", own.port);
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let config = async_nats::jetstream::stream::Config {
        name: "RESTARTS".into(),
        subjects: vec!["orders.created".into()],
        ..Default::default()
    };
    js.create_stream(config).await.unwrap();
    let read = async || {
        let Ok(client) = async_nats::connect(&url).await else {
            return Vec::new();
        };
        let Ok(mut stream) = async_nats::jetstream::new(client).get_stream("RESTARTS").await else {
            return Vec::new();
        };
        let last = stream.info().await.map_or(0, |i| i.state.last_sequence);
        stored(&stream, last).await
    };
    let own = tokio::sync::Mutex::new(own);
    let down = async || own.lock().await.stop();
    let up = async || own.lock().await.start().await;
    every_message_once_across(format!("{url}/orders.created"), down, up, &read).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_redis_gets_every_message_once() {
    let mut own = OwnBroker::redis();
    own.start().await;
    let url = format!("redis://127.0.0.1:{}", own.port);
    let read = async || {
        let client = redis::Client::open(url.as_str()).unwrap();
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return Vec::new();
        };
        let found: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg("orders")
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        entries(found)
    };
    let own = tokio::sync::Mutex::new(own);
    let down = async || own.lock().await.stop();
    let up = async || own.lock().await.start().await;
    every_message_once_across(format!("{url}/0?stream=orders"), down, up, &read).await;
}
