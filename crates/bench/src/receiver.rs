//! The receiver: answers 200 at once and records, per message, when it arrived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::HeaderMap;

#[derive(Default)]
pub struct Log {
    /// webhook-id -> arrival times (one per delivery of it).
    pub arrivals: HashMap<String, Vec<Instant>>,
    pub count: u64,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub log: Arc<Mutex<Log>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let log: Arc<Mutex<Log>> = Arc::default();
        let rec = log.clone();
        let app = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(move |headers: HeaderMap, _body: Bytes| {
                let rec = rec.clone();
                async move {
                    let now = Instant::now();
                    let mut log = rec.lock().unwrap();
                    log.count += 1;
                    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                        log.arrivals.entry(id.to_owned()).or_default().push(now);
                    }
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, log }
    }

    pub fn reset(&self) {
        *self.log.lock().unwrap() = Log::default();
    }

    pub fn count(&self) -> u64 {
        self.log.lock().unwrap().count
    }
}
