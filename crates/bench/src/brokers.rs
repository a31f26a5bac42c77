//! Broker destinations: hookd publishing to NATS JetStream or a Redis
//! stream, beside what the same broker takes from a client driving it
//! directly, with the same client crate hookd uses, the same concurrency and
//! a message of the same size and headers. Deliveries are counted in the
//! broker (the stream's length), so the phase has no latency figures.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Opts;
use crate::scenario::{Hookd, Row, Shape, Target, publish_for};

#[derive(Clone, Copy, Debug)]
pub enum Broker {
    Nats,
    Redis,
}

/// The broker's stream for one phase, made afresh and removed after it.
pub struct Sink {
    broker: Broker,
    name: String,
    nats: Option<async_nats::jetstream::Context>,
    redis: Option<redis::aio::MultiplexedConnection>,
}

/// About what hookd publishes: a 230-byte body and its seven headers.
fn message() -> (Vec<u8>, Vec<(String, String)>) {
    let body = format!(r#"{{"seq":1,"data":"{}"}}"#, "x".repeat(200)).into_bytes();
    let headers = [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
        "webhook-event-type",
    ]
    .iter()
    .map(|k| {
        (
            k.to_string(),
            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=".to_string(),
        )
    })
    .collect();
    (body, headers)
}

impl Sink {
    pub async fn new(broker: Broker, url: &str) -> Sink {
        let name = format!("bench{}", std::process::id());
        match broker {
            Broker::Nats => {
                let client = async_nats::connect(url).await.expect("NATS answers");
                let js = async_nats::jetstream::new(client);
                let config = async_nats::jetstream::stream::Config {
                    name: name.clone(),
                    subjects: vec![format!("{name}.events")],
                    ..Default::default()
                };
                js.create_stream(config).await.expect("a stream");
                Sink {
                    broker,
                    name,
                    nats: Some(js),
                    redis: None,
                }
            }
            Broker::Redis => {
                let client = redis::Client::open(url).expect("a Redis URL");
                let conn = client.get_multiplexed_async_connection().await.expect("Redis answers");
                Sink {
                    broker,
                    name,
                    nats: None,
                    redis: Some(conn),
                }
            }
        }
    }

    /// The endpoint URL that publishes here.
    pub fn endpoint_url(&self, url: &str) -> String {
        let base = url.trim_end_matches('/');
        match self.broker {
            Broker::Nats => format!("{base}/{}.events", self.name),
            Broker::Redis => format!("{base}/0?stream={}", self.name),
        }
    }

    async fn count(&self) -> u64 {
        match self.broker {
            Broker::Nats => {
                let js = self.nats.as_ref().unwrap();
                let mut stream = js.get_stream(&self.name).await.expect("the stream");
                stream.info().await.map_or(0, |i| i.state.messages)
            }
            Broker::Redis => {
                let mut conn = self.redis.clone().unwrap();
                redis::cmd("XLEN")
                    .arg(&self.name)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or(0)
            }
        }
    }

    /// Empties the stream.
    async fn clear(&self) {
        match self.broker {
            Broker::Nats => {
                let js = self.nats.as_ref().unwrap();
                let stream = js.get_stream(&self.name).await.expect("the stream");
                stream.purge().await.expect("purged");
            }
            Broker::Redis => {
                let mut conn = self.redis.clone().unwrap();
                let _: i64 = redis::cmd("DEL")
                    .arg(&self.name)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or(0);
            }
        }
    }

    pub async fn remove(&self) {
        match self.broker {
            Broker::Nats => {
                let _ = self.nats.as_ref().unwrap().delete_stream(&self.name).await;
            }
            Broker::Redis => self.clear().await,
        }
    }

    /// Messages per second the broker takes from `concurrency` clients
    /// publishing directly, each waiting for its acknowledgement as hookd does.
    pub async fn direct(&self, concurrency: usize, secs: Duration) -> f64 {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let (body, headers) = message();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (stop, done, body, headers) = (stop.clone(), done.clone(), body.clone(), headers.clone());
            let (nats, mut redis, name) = (self.nats.clone(), self.redis.clone(), self.name.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let ok = match (&nats, &mut redis) {
                        (Some(js), _) => {
                            let mut h = async_nats::HeaderMap::new();
                            for (k, v) in &headers {
                                h.insert(k.as_str(), v.as_str());
                            }
                            let subject = format!("{name}.events");
                            match js.publish_with_headers(subject, h, body.clone().into()).await {
                                Ok(ack) => ack.await.is_ok(),
                                Err(_) => false,
                            }
                        }
                        (None, Some(conn)) => {
                            let mut cmd = redis::cmd("XADD");
                            cmd.arg(&name).arg("*").arg("payload").arg(&body);
                            for (k, v) in &headers {
                                cmd.arg(k).arg(v);
                            }
                            cmd.query_async::<String>(conn).await.is_ok()
                        }
                        _ => false,
                    };
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        let start = Instant::now();
        tokio::time::sleep(secs).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
        self.clear().await;
        rate
    }
}

/// hookd publishing to the broker for `secs`; delivered when the stream holds it.
pub async fn closed_loop(opts: &Opts, bin: &Path, sink: &Sink, url: &str, name: &str, secs: Duration) -> Row {
    let h = Arc::new(Hookd::start(opts, bin));
    let shape = Shape {
        name,
        apps: 1,
        per_app: 1,
        filter: None,
        transform: None,
    };
    let endpoint = sink.endpoint_url(url);
    let ids = h.setup(&Target::Broker(&endpoint), 1, 1, &shape).await;
    sink.clear().await;
    let (sent, began) = publish_for(opts, &h, &ids, secs).await;
    let publish_secs = began.at.elapsed().as_secs_f64();
    let expected = sent.lock().unwrap().len() as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut delivered = sink.count().await;
    while delivered < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        delivered = sink.count().await;
    }
    let took = began.at.elapsed().as_secs_f64();
    let cpu = h.cpu_secs() - began.cpu;
    if delivered < expected {
        eprintln!("{name}: only {delivered} of {expected} messages reached the stream in time");
    }
    sink.clear().await;
    Row {
        name: name.to_string(),
        published_per_s: expected as f64 / publish_secs,
        delivered_per_s: delivered as f64 / took,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        max_ms: f64::NAN,
        peak_rss_mib: h.peak_rss_mib(),
        cpu_us_per_delivery: cpu * 1e6 / delivered.max(1) as f64,
    }
}
