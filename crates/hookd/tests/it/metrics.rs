//! `/metrics`: scraped as Prometheus would, parsed with a Prometheus text
//! parser, and each counter checked to move with what happened.

use std::time::Duration;

use openmetrics_parser::openmetrics::parse_openmetrics;
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};
use serde_json::json;

use crate::harness::{Behaviour, Receiver, Server};

/// A scrape, parsed by an OpenMetrics parser (the format Prometheus scrapes).
pub struct Metrics(MetricsExposition<OpenMetricsType, OpenMetricsValue>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        Metrics(parse_openmetrics(text).unwrap_or_else(|e| panic!("not OpenMetrics ({e:?}): {text}")))
    }

    /// Family `name`'s sample with these labels: a counter's or gauge's value,
    /// a histogram's count (0 when absent, as Prometheus reads a missing series).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let Some(family) = self.0.families.get(name) else {
            return 0.0;
        };
        let sample = family.iter_samples().find(|s| {
            let set = s.get_labelset().expect("bound to its family");
            labels.iter().all(|(k, v)| set.get_label_value(k) == Some(*v))
        });
        sample.map_or(0.0, |s| match &s.value {
            OpenMetricsValue::Counter(c) => c.value.as_f64(),
            OpenMetricsValue::Gauge(n) | OpenMetricsValue::Unknown(n) => n.as_f64(),
            OpenMetricsValue::Histogram(h) => h.count.unwrap_or(0) as f64,
            other => panic!("{name}: {other:?}"),
        })
    }

    /// A histogram's sum.
    fn sum(&self, name: &str) -> f64 {
        let family = self.0.families.get(name).expect("the family");
        match &family.iter_samples().next().expect("a sample").value {
            OpenMetricsValue::Histogram(h) => h.sum.as_ref().map_or(0.0, |s| s.as_f64()),
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn metrics_count_what_happens_and_only_the_operator_reads_them_on_the_api_port() {
    let port = free_port();
    let metrics_listen = format!("127.0.0.1:{port}");
    let s = Server::start(&[("HOOKD_METRICS_LISTEN", &metrics_listen)]);
    let rx = Receiver::start().await;
    rx.on(
        "/slow",
        Behaviour {
            delay: Duration::from_secs(3),
            ..Default::default()
        },
    );
    rx.on(
        "/bad",
        Behaviour {
            statuses: vec![500],
            ..Default::default()
        },
    );
    let c = s.admin();
    let app = c.app("m").await;
    for (path, extra) in [
        ("/ok", json!({})),
        ("/bad", json!({})),
        ("/slow", json!({"attemptTimeout": 0.3})),
    ] {
        let mut body = json!({"url": format!("{}{path}", rx.url)});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c.endpoint(&app, body).await;
    }
    // Refused by the address policy, and nobody listening.
    c.endpoint(&app, json!({"url": "http://192.168.255.1/x"})).await;
    c.endpoint(&app, json!({"url": format!("http://127.0.0.1:{}/x", free_port())}))
        .await;
    for n in 0..3 {
        c.publish(&app, json!({"eventType": "t", "payload": {"n": n}})).await;
    }
    rx.wait("/ok", 3).await;
    // Once every first attempt is in: 3 messages to 5 endpoints.
    let attempted = |b: &serde_json::Value| {
        Metrics::parse(b.as_str().unwrap_or_default()).get("hookd_attempt_duration_seconds", &[]) >= 15.0
    };
    let m = Metrics::parse(c.wait_for("/metrics", attempted).await.as_str().unwrap());
    assert_eq!(m.get("hookd_messages_published", &[]), 3.0);
    assert_eq!(m.get("hookd_deliveries_created", &[]), 15.0);
    for (outcome, n) in [
        ("success", 3.0),
        ("failure", 3.0),
        ("timeout", 3.0),
        ("refused", 3.0),
        ("error", 3.0),
    ] {
        assert_eq!(m.get("hookd_attempts", &[("outcome", outcome)]), n, "{outcome}");
    }
    assert_eq!(m.get("hookd_delivery_latency_seconds", &[]), 3.0);
    assert_eq!(
        m.get("hookd_deliveries_pending", &[("state", "scheduled")]),
        12.0,
        "failures wait for a retry"
    );
    assert_eq!(m.get("hookd_deliveries_pending", &[("state", "due")]), 0.0);
    let route = [
        ("route", "/api/v1/app/{app_id}/msg"),
        ("method", "POST"),
        ("status", "202"),
    ];
    assert_eq!(m.get("hookd_http_requests", &route), 3.0);
    assert!(m.get("hookd_store_commit_duration_seconds", &[]) >= 1.0);
    assert!(
        m.sum("hookd_store_commit_batch_size") >= 18.0,
        "3 messages and 15 outcomes"
    );
    // The process, read at the scrape (this scrape's own connection is open).
    assert!(m.get("hookd_process_resident_memory_bytes", &[]) > 1e6);
    assert!(m.get("hookd_process_threads", &[]) >= 2.0);
    assert!(m.get("hookd_process_open_fds", &[]) >= 3.0);
    assert!(m.get("hookd_http_connections_open", &[]) >= 1.0);

    // Every series the Grafana dashboard graphs is one hookd serves.
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../../../docs/grafana-dashboard.json")).unwrap();
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    let text = c.get("/metrics").await.body.as_str().unwrap().to_owned();
    for expr in exprs {
        for name in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if name.starts_with("hookd_") {
                assert!(
                    text.contains(&format!("\n{name}")),
                    "the dashboard graphs {name}, which is not served"
                );
            }
        }
    }

    // The API's port wants the operator; the metrics port wants nothing.
    assert_eq!(s.as_token("").get("/metrics").await.status, 401);
    let portal = c
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), json!({}))
        .await;
    let app_token = portal.body["token"].as_str().unwrap();
    assert_eq!(s.as_token(app_token).get("/metrics").await.status, 403);
    let open = reqwest::get(format!("http://{metrics_listen}/metrics")).await.unwrap();
    assert_eq!(open.status(), 200);
    let m = Metrics::parse(&open.text().await.unwrap());
    assert_eq!(m.get("hookd_messages_published", &[]), 3.0);
}
