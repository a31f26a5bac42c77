//! How fast the console's pages answer on a large store: one application
//! with 1,000 endpoints (each subscribed to its own event type) and, by
//! default, 1,000,000 delivered messages. A page is the set of API requests
//! the console's script makes for it at once; its time is until the last
//! answer, as the browser waits for all of them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::Opts;
use crate::receiver::Receiver;
use crate::scenario::Hookd;

const ENDPOINTS: usize = 1000;
/// Times each page is loaded.
const SAMPLES: usize = 30;

pub struct PageRow {
    pub name: &'static str,
    pub requests: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// Fills a store and loads each page `SAMPLES` times.
pub async fn pages(opts: &Opts, bin: &Path, rx: &Receiver, messages: u64) -> Vec<PageRow> {
    let h = Arc::new(Hookd::start(opts, bin));
    let app = h
        .post("/api/v1/app", &json!({"name": "console", "uid": "console"}))
        .await;
    let app = app["id"].as_str().unwrap().to_owned();
    let mut endpoints = Vec::new();
    for i in 0..ENDPOINTS {
        let t = format!("bench.e{i}");
        h.post(
            "/api/v1/event-type",
            &json!({"name": t, "description": "a bench event"}),
        )
        .await;
        let ep = h
            .post(
                &format!("/api/v1/app/{app}/endpoint"),
                &json!({"url": format!("{}/c{i}", rx.url), "eventTypes": [t]}),
            )
            .await;
        endpoints.push(ep["id"].as_str().unwrap().to_owned());
    }
    rx.reset();
    fill(&h, &app, messages).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    while rx.count() < messages && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("console: {} messages published, {} delivered", messages, rx.count());

    let page = h
        .get(&format!("/api/v1/app/{app}/msg?limit=50&with_content=false"))
        .await;
    let msg = page["data"][0]["id"].as_str().unwrap().to_owned();
    let iterator = page["iterator"].as_str().unwrap().to_owned();
    let ep = &endpoints[ENDPOINTS / 2];
    let a = format!("/api/v1/app/{app}");
    let views: Vec<(&'static str, Vec<String>)> = vec![
        (
            "the page and its script",
            vec!["/console/".into(), "/console/console.js".into()],
        ),
        ("applications", vec!["/api/v1/app?limit=100".into()]),
        (
            "overview",
            vec![
                a.clone(),
                format!("{a}/stats/attempts/hourly?hours=24"),
                format!("{a}/endpoint?limit=250"),
            ],
        ),
        (
            "endpoints",
            vec![
                format!("{a}/endpoint?limit=250"),
                format!("{a}/stats/attempts/hourly?hours=24"),
            ],
        ),
        (
            "an endpoint",
            vec![
                format!("{a}/endpoint/{ep}"),
                format!("{a}/stats/attempts/hourly?hours=24"),
                format!("{a}/attempt/endpoint/{ep}?limit=20"),
                "/api/v1/event-type?limit=250".into(),
            ],
        ),
        (
            "messages",
            vec![
                "/api/v1/event-type?limit=250".into(),
                format!("{a}/endpoint?limit=250"),
                format!("{a}/msg?limit=50&with_content=false"),
            ],
        ),
        (
            "messages, older page",
            vec![format!("{a}/msg?limit=50&with_content=false&iterator={iterator}")],
        ),
        (
            "messages of an event type",
            vec![format!("{a}/msg?limit=50&with_content=false&event_types=bench.e7")],
        ),
        (
            "messages at an endpoint, failed",
            vec![format!("{a}/endpoint/{ep}/msg?limit=50&with_content=false&status=2")],
        ),
        (
            "a message",
            vec![
                format!("{a}/msg/{msg}"),
                format!("{a}/msg/{msg}/endpoint?limit=250"),
                format!("{a}/attempt/msg/{msg}?limit=250"),
            ],
        ),
        (
            "event types",
            vec!["/api/v1/event-type?limit=250&with_content=true".into()],
        ),
    ];
    let mut rows = Vec::new();
    for (name, paths) in views {
        let mut took = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let start = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for p in &paths {
                let (h, p) = (h.clone(), p.clone());
                set.spawn(async move { h.get_status(&p).await });
            }
            for status in set.join_all().await {
                assert_eq!(status, 200, "{name}");
            }
            took.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        took.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let at = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
        rows.push(PageRow {
            name,
            requests: paths.len(),
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            max_ms: *took.last().unwrap(),
        });
    }
    rx.reset();
    rows
}

/// Publishes `n` messages from 16 clients, each to one of the endpoints' types.
async fn fill(h: &Arc<Hookd>, app: &str, n: u64) {
    let next = Arc::new(AtomicU64::new(0));
    let url = format!("{}/api/v1/app/{app}/msg?with_content=false", h.url);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (h, next, url) = (h.clone(), next.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= n {
                    break;
                }
                let body = format!(
                    r#"{{"eventType":"bench.e{}","payload":{{"seq":{seq},"note":"a console bench message"}}}}"#,
                    seq % ENDPOINTS as u64
                );
                while !h
                    .http
                    .post_json(&url, body.clone())
                    .await
                    .is_ok_and(|r| r.status == 202)
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

pub fn print(rows: &[PageRow], messages: u64) {
    println!("console pages, embedded store: {ENDPOINTS} endpoints, {messages} messages, {SAMPLES} loads each");
    println!("| page | requests | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} |",
            r.name, r.requests, r.p50_ms, r.p95_ms, r.max_ms
        );
    }
}
