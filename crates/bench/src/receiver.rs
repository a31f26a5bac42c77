//! The receiver: answers 200 at once and records, per message, when it arrived.
//! It shares the machine with hookd, so recording is a push onto a list;
//! arrivals are matched to publishes once a phase is over.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::HeaderMap;

#[derive(Default)]
pub struct Log {
    /// (webhook-id, arrival time), one per delivery.
    pub arrivals: Vec<(String, Instant)>,
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
                        log.arrivals.push((id.to_owned(), now));
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
