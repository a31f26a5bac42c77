//! The phases: the receiver driven directly, and hookd in front of it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Opts;
use crate::client::Http;
use crate::receiver::Receiver;

const TOKEN: &str = "bench-admin-token";

pub struct Row {
    pub name: String,
    pub published_per_s: f64,
    pub delivered_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub peak_rss_mib: f64,
    /// hookd's CPU time (user + system, all nodes) per delivery, in microseconds:
    /// steadier than throughput on a machine shared with other work.
    pub cpu_us_per_delivery: f64,
}

/// Requests per second the receiver takes from `concurrency` clients posting directly.
pub async fn direct(rx: &Receiver, concurrency: usize, secs: Duration) -> f64 {
    let http = Http::new(None);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let body = hyper::body::Bytes::from(json!({"seq": 1, "kind": "direct"}).to_string());
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, stop, done, url, body) = (
            http.clone(),
            stop.clone(),
            done.clone(),
            format!("{}/direct", rx.url),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = http.post_json(&url, body.clone()).await;
                if r.is_ok_and(|r| (200..300).contains(&r.status)) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(secs).await;
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    for t in tasks {
        let _ = t.await;
    }
    rx.reset();
    n
}

/// One hookd, or several nodes on one PostgreSQL database.
pub struct Hookd {
    children: Vec<Child>,
    urls: Vec<String>,
    pub url: String,
    pub http: Http,
    database: Option<(String, String)>,
    _dirs: Vec<tempfile::TempDir>,
}

/// Nodes of one cluster share the key that seals secrets.
const MAIN_KEY: &str = "YmVuY2htYXJrLWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE=";

impl Hookd {
    pub fn start(opts: &Opts, bin: &Path) -> Hookd {
        let database = opts.database_url.as_ref().map(|server| {
            let name = format!("hookd_bench_{}", std::process::id());
            let psql = |sql: &str| {
                Command::new("psql")
                    .args([server.as_str(), "-qc", sql])
                    .status()
                    .expect("psql runs")
            };
            psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            assert!(psql(&format!("CREATE DATABASE {name}")).success());
            let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
            (server.clone(), format!("{base}/{name}"))
        });
        let (mut children, mut urls, mut dirs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..opts.nodes {
            let dir = tempfile::tempdir().unwrap();
            let mut cmd = Command::new(bin);
            cmd.args(["serve", "--listen", "127.0.0.1:0", "--admin-token", TOKEN])
                .arg("--data-dir")
                .arg(dir.path())
                .env("HOOKD_ALLOW_NETWORKS", "127.0.0.0/8")
                .env("HOOKD_MAIN_KEY", MAIN_KEY)
                .env("HOOKD_LOG", "warn")
                .stderr(Stdio::inherit())
                .stdout(Stdio::piped());
            if let Some((_, url)) = &database {
                cmd.env("HOOKD_DATABASE_URL", url);
            }
            let mut child = cmd.spawn().expect("hookd starts");
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let url = loop {
                let line = lines.next().expect("hookd prints its address").unwrap();
                if let Some(u) = line.strip_prefix("hookd listening on ") {
                    break u.to_string();
                }
            };
            std::thread::spawn(move || for _ in lines {});
            children.push(child);
            urls.push(url);
            dirs.push(dir);
        }
        Hookd {
            url: urls[0].clone(),
            children,
            urls,
            http: Http::new(Some(TOKEN)),
            database,
            _dirs: dirs,
        }
    }

    /// A GET of `path`, its body as JSON; it must answer 200.
    pub async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(&format!("{}{path}", self.url))
            .await
            .expect("hookd answers");
        assert_eq!(r.status, 200, "{path}");
        serde_json::from_slice(&r.body).unwrap()
    }

    /// The status a GET of `path` answers with.
    pub async fn get_status(&self, path: &str) -> u16 {
        self.http
            .get(&format!("{}{path}", self.url))
            .await
            .map_or(0, |r| r.status)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Value {
        let r = self
            .http
            .post_json(&format!("{}{path}", self.url), body.to_string())
            .await
            .expect("hookd answers");
        assert!((200..300).contains(&r.status), "{path}: {}", r.status);
        serde_json::from_slice(&r.body).unwrap()
    }

    /// Creates `apps` applications with `per_app` endpoints each at `target`
    /// (the receiver, or a broker destination), each with the shape's filter
    /// and transformation if given; returns the app ids.
    pub async fn setup(&self, target: &Target<'_>, apps: usize, per_app: usize, shape: &Shape<'_>) -> Vec<String> {
        let mut ids = Vec::new();
        for a in 0..apps {
            let app = self.post("/api/v1/app", &json!({"name": format!("bench-{a}")})).await;
            let id = app["id"].as_str().unwrap().to_string();
            for e in 0..per_app {
                let url = match target {
                    Target::Receiver(rx) => format!("{}/a{a}e{e}", rx.url),
                    Target::Broker(url) => url.to_string(),
                };
                let mut endpoint = json!({ "url": url });
                if let Some(f) = &shape.filter {
                    endpoint["filter"] = f.clone();
                }
                let ep = self.post(&format!("/api/v1/app/{id}/endpoint"), &endpoint).await;
                if let Some(code) = shape.transform {
                    let path = format!(
                        "/api/v1/app/{id}/endpoint/{}/transformation",
                        ep["id"].as_str().unwrap()
                    );
                    let r = self
                        .http
                        .patch_json(
                            &format!("{}{path}", self.url),
                            json!({"code": code, "enabled": true}).to_string(),
                        )
                        .await
                        .expect("hookd answers");
                    assert_eq!(r.status, 204, "{path}");
                }
            }
            ids.push(id);
        }
        ids
    }

    /// CPU seconds (user + system) the nodes have used so far.
    pub fn cpu_secs(&self) -> f64 {
        // SAFETY: sysconf only reads a constant of the running system.
        let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let used = |pid: u32| -> f64 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
            (ticks(11) + ticks(12)) / tick
        };
        self.children.iter().map(|c| used(c.id())).sum()
    }

    /// The largest peak resident memory of the nodes.
    pub fn peak_rss_mib(&self) -> f64 {
        let peak = |pid: u32| -> f64 {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        self.children.iter().map(|c| peak(c.id())).fold(0.0, f64::max) / 1024.0
    }
}

impl Drop for Hookd {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some((server, url)) = &self.database {
            let name = url.rsplit('/').next().unwrap_or_default();
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = Command::new("psql").args([server.as_str(), "-qc", &drop]).status();
        }
    }
}

/// (message id, when its publish request was sent), one per accepted message.
pub type Sent = Arc<Mutex<Vec<(String, Instant)>>>;

/// The publish URLs of each application, one per node.
fn publish_urls(h: &Hookd, apps: &[String]) -> Vec<Vec<String>> {
    apps.iter()
        .map(|app| {
            h.urls
                .iter()
                .map(|node| format!("{node}/api/v1/app/{app}/msg?with_content=false"))
                .collect()
        })
        .collect()
}

/// The publisher shares the machine with hookd, so it does little per
/// message: the body is formatted, not built as a JSON tree, and of the
/// answer only the id is read.
async fn publish_one(h: &Hookd, urls: &[String], seq: u64, sent: &Sent) -> bool {
    #[derive(serde::Deserialize)]
    struct Accepted<'a> {
        #[serde(borrow)]
        id: &'a str,
    }
    let started = Instant::now();
    let data = "x".repeat(200);
    let body = format!(r#"{{"eventType":"bench.event","payload":{{"seq":{seq},"data":"{data}"}}}}"#);
    let r = h.http.post_json(&urls[seq as usize % urls.len()], body).await;
    let Ok(r) = r else { return false };
    if r.status != 202 {
        return false;
    }
    match serde_json::from_slice::<Accepted>(&r.body) {
        Ok(a) => {
            sent.lock().unwrap().push((a.id.to_owned(), started));
            true
        }
        Err(_) => false,
    }
}

/// Where a phase began: its clock and hookd's CPU time.
pub struct Began {
    pub at: Instant,
    pub cpu: f64,
}

impl Began {
    fn now(h: &Hookd) -> Began {
        Began {
            at: Instant::now(),
            cpu: h.cpu_secs(),
        }
    }
}

/// Waits until `expected` deliveries arrived (or two minutes pass) and measures.
async fn settle(name: &str, h: &Hookd, rx: &Receiver, sent: &Sent, expected: u64, began: Began) -> Row {
    let publish_secs = began.at.elapsed().as_secs_f64();
    let start = began.at;
    let deadline = Instant::now() + Duration::from_secs(120);
    while rx.count() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = h.cpu_secs() - began.cpu;
    let log = rx.log.lock().unwrap();
    let sent = sent.lock().unwrap();
    let sent: HashMap<&str, Instant> = sent.iter().map(|(id, t)| (id.as_str(), *t)).collect();
    let mut lat: Vec<f64> = Vec::with_capacity(log.count as usize);
    let mut last = start;
    for (id, t) in &log.arrivals {
        if let Some(t0) = sent.get(id.as_str()) {
            lat.push(t.duration_since(*t0).as_secs_f64() * 1000.0);
            last = last.max(*t);
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let delivered = log.count;
    if delivered < expected {
        eprintln!("{name}: only {delivered} of {expected} deliveries arrived in time");
    }
    Row {
        name: name.to_string(),
        published_per_s: sent.len() as f64 / publish_secs,
        delivered_per_s: delivered as f64 / last.duration_since(start).as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        peak_rss_mib: h.peak_rss_mib(),
        cpu_us_per_delivery: cpu * 1e6 / delivered.max(1) as f64,
    }
}

/// Where the endpoints of a phase deliver.
pub enum Target<'a> {
    Receiver(&'a Receiver),
    /// A broker destination's URL.
    Broker(&'a str),
}

/// What a closed-loop phase publishes to.
#[derive(Clone)]
pub struct Shape<'a> {
    pub name: &'a str,
    pub apps: usize,
    pub per_app: usize,
    /// A payload filter on every endpoint.
    pub filter: Option<Value>,
    /// A transformation on every endpoint.
    pub transform: Option<&'a str>,
}

/// `publishers` clients publish as fast as hookd accepts, for `secs`.
pub async fn closed_loop(opts: &Opts, bin: &Path, rx: &Receiver, shape: Shape<'_>, secs: Duration) -> Row {
    let h = Arc::new(Hookd::start(opts, bin));
    let ids = h.setup(&Target::Receiver(rx), shape.apps, shape.per_app, &shape).await;
    rx.reset();
    let (sent, began) = publish_for(opts, &h, &ids, secs).await;
    let expected = sent.lock().unwrap().len() as u64 * shape.per_app as u64;
    let row = settle(shape.name, &h, rx, &sent, expected, began).await;
    rx.reset();
    row
}

/// `publishers` clients publish to the applications `ids` for `secs`, as fast
/// as hookd accepts; what was accepted, and when it began.
pub async fn publish_for(opts: &Opts, h: &Arc<Hookd>, ids: &[String], secs: Duration) -> (Sent, Began) {
    let urls = Arc::new(publish_urls(h, ids));
    let sent: Sent = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let seq = Arc::new(AtomicU64::new(0));
    let began = Began::now(h);
    let mut tasks = Vec::new();
    for _ in 0..opts.publishers {
        let (h, urls, sent, stop, seq) = (h.clone(), urls.clone(), sent.clone(), stop.clone(), seq.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                publish_one(&h, &urls[n as usize % urls.len()], n, &sent).await;
            }
        }));
    }
    tokio::time::sleep(secs).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    (sent, began)
}

/// Publishes at a fixed rate, whatever hookd's answers take: latency under a set load.
pub async fn open_loop(opts: &Opts, bin: &Path, rx: &Receiver, rate: u64, secs: Duration) -> Row {
    let h = Arc::new(Hookd::start(opts, bin));
    let plain = Shape {
        name: "open loop",
        apps: 1,
        per_app: 1,
        filter: None,
        transform: None,
    };
    let ids = h.setup(&Target::Receiver(rx), 1, 1, &plain).await;
    let urls = Arc::new(publish_urls(&h, &ids));
    rx.reset();
    let sent: Sent = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let began = Began::now(&h);
    let total = (rate as f64 * secs.as_secs_f64()) as u64;
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        tick.tick().await;
        let (h, urls, sent) = (h.clone(), urls.clone(), sent.clone());
        tasks.push(tokio::spawn(async move { publish_one(&h, &urls[0], n, &sent).await }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let expected = sent.lock().unwrap().len() as u64;
    let name = format!("open loop {rate} msg/s, 1 endpoint");
    let row = settle(&name, &h, rx, &sent, expected, began).await;
    rx.reset();
    row
}
