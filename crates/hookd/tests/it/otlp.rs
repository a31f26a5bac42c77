//! Spans exported over OTLP/HTTP to a collector in the test, which decodes
//! them with the OpenTelemetry protocol's own types.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;
use tokio::sync::Notify;

use crate::harness::{Receiver, Server};

struct Collector {
    url: String,
    spans: Arc<Mutex<Vec<Span>>>,
    arrived: Arc<Notify>,
}

impl Collector {
    async fn start() -> Collector {
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        let arrived = Arc::new(Notify::new());
        let (keep, tell) = (spans.clone(), arrived.clone());
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let (keep, tell) = (keep.clone(), tell.clone());
                async move {
                    let req = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
                    let mut spans = keep.lock().unwrap();
                    for r in req.resource_spans {
                        for s in r.scope_spans {
                            spans.extend(s.spans);
                        }
                    }
                    tell.notify_waiters();
                    ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Collector { url, spans, arrived }
    }

    /// The span named `name` in trace `trace` (hex), once it has come.
    async fn span(&self, trace: &str, name: &str) -> Span {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.arrived.notified();
            let found = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .find(|s| hex::encode(&s.trace_id) == trace && s.name == name)
                .cloned();
            if let Some(s) = found {
                return s;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("no {name} span of trace {trace} exported");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_commit_and_attempt_spans_are_exported_in_the_publishers_trace() {
    let collector = Collector::start().await;
    let s = Server::start(&[("HOOKD_OTLP_ENDPOINT", &collector.url)]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let app = c.app("traced").await;
    c.endpoint(&app, json!({"url": format!("{}/traced", rx.url)})).await;
    let (trace, producer) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let r = c
        .send(
            "POST",
            &format!("/api/v1/app/{app}/msg"),
            Some(&json!({"eventType": "t", "payload": {"n": 1}})),
            &[("traceparent", &format!("00-{trace}-{producer}-01"))],
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let delivered = rx.first("/traced").await;
    let header: Vec<&str> = delivered.headers["traceparent"].split('-').collect();
    assert_eq!(header[1], trace, "the delivery continues the publisher's trace");

    let publish = collector.span(trace, "publish").await;
    assert_eq!(
        hex::encode(&publish.parent_span_id),
        producer,
        "a child of the publisher's span"
    );
    let commit = collector.span(trace, "commit").await;
    assert_eq!(commit.parent_span_id, publish.span_id);
    let attempt = collector.span(trace, "attempt").await;
    assert_eq!(attempt.parent_span_id, publish.span_id);
    assert_eq!(
        hex::encode(&attempt.span_id),
        header[2],
        "the receiver's parent is the exported attempt"
    );
    let status = attempt
        .attributes
        .iter()
        .find(|kv| kv.key == "http.response.status_code")
        .and_then(|kv| kv.value.clone()?.value);
    assert_eq!(status, Some(Value::IntValue(200)));
    assert!(attempt.end_time_unix_nano >= attempt.start_time_unix_nano);
}
