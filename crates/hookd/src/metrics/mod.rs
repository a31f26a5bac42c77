//! Prometheus metrics: one registry per server (so that servers in one
//! process, as in the tests, count apart), served at `/metrics`.
//!
//! Units are in the names (`_seconds`) and not in `# UNIT` lines, which not
//! every parser takes on histograms.
//!
//! No label names an application or an endpoint: an operator with ten
//! thousand tenants would get ten thousand series. Per-application detail
//! stays in the API's stats.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

mod process;

use crate::store::{Pending, Store, StoreError};
use crate::time;

/// How an attempt ended, as `hookd_attempts_total{outcome}` counts it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AttemptOutcome {
    /// A 2xx answer.
    success,
    /// An answer that was not 2xx.
    failure,
    /// No answer within the attempt's timeout.
    timeout,
    /// Not sent: the address policy refused the destination.
    refused,
    /// No answer: connection, DNS, TLS or the like.
    error,
    /// Not sent: the endpoint's transformation canceled it.
    canceled,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: AttemptOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum PendingState {
    due,
    scheduled,
    in_flight,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: PendingState,
}

type RouteHistograms = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub messages_published: Counter,
    pub deliveries_created: Counter,
    attempts: Family<OutcomeLabels, Counter>,
    attempt_duration: Histogram,
    delivery_latency: Histogram,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: RouteHistograms,
    commit_batch_size: Histogram,
    commit_duration: Histogram,
    pending: Family<StateLabels, Gauge>,
    oldest_due_age: Gauge<f64, AtomicU64>,
    pub endpoints_disabled: Counter,
    pub operational_sent: Counter,
    pub http_connections: Gauge,
    process: process::Gauges,
}

/// Seconds from 1 ms to about 65 s, doubling.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("hookd");
        let m = Metrics {
            messages_published: Counter::default(),
            deliveries_created: Counter::default(),
            attempts: Family::default(),
            attempt_duration: seconds(),
            delivery_latency: Histogram::new(exponential_buckets(0.001, 2.0, 24)),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(seconds),
            commit_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            commit_duration: seconds(),
            pending: Family::default(),
            oldest_due_age: Gauge::default(),
            endpoints_disabled: Counter::default(),
            operational_sent: Counter::default(),
            http_connections: Gauge::default(),
            process: process::Gauges::default(),
            registry: Registry::default(),
        };
        registry.register(
            "messages_published",
            "Messages stored (answered 2xx)",
            m.messages_published.clone(),
        );
        registry.register(
            "deliveries_created",
            "Deliveries created: one per message and matching endpoint",
            m.deliveries_created.clone(),
        );
        registry.register("attempts", "Delivery attempts by outcome", m.attempts.clone());
        registry.register(
            "attempt_duration_seconds",
            "How long attempts took, answer read",
            m.attempt_duration.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From a message's publication to the first successful attempt of a delivery",
            m.delivery_latency.clone(),
        );
        registry.register(
            "http_requests",
            "API requests by route template, method and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "How long API requests took, by route template",
            m.http_duration.clone(),
        );
        registry.register(
            "store_commit_batch_size",
            "Writes (messages and outcomes) per group commit",
            m.commit_batch_size.clone(),
        );
        registry.register(
            "store_commit_duration_seconds",
            "How long group commits took, durable",
            m.commit_duration.clone(),
        );
        registry.register(
            "deliveries_pending",
            "Deliveries not finished: due now, scheduled for later, or leased to a node",
            m.pending.clone(),
        );
        registry.register(
            "deliveries_oldest_due_age_seconds",
            "How long the oldest due, unleased delivery has waited",
            m.oldest_due_age.clone(),
        );
        registry.register(
            "endpoints_disabled",
            "Endpoints disabled, automatically after failing too long or by hand (as announced)",
            m.endpoints_disabled.clone(),
        );
        registry.register(
            "operational_webhooks_sent",
            "Operational webhooks delivered to the operator's endpoints (2xx answers)",
            m.operational_sent.clone(),
        );
        registry.register(
            "http_connections_open",
            "HTTP connections open now (the API's and the metrics listener's)",
            m.http_connections.clone(),
        );
        m.process.register(&mut registry);
        Arc::new(Metrics { registry, ..m })
    }

    pub fn attempt(&self, outcome: AttemptOutcome, took: Duration) {
        self.attempts.get_or_create(&OutcomeLabels { outcome }).inc();
        self.attempt_duration.observe(took.as_secs_f64());
    }

    /// A delivery succeeded, `since` its message was published.
    pub fn delivered(&self, since: Duration) {
        self.delivery_latency.observe(since.as_secs_f64());
    }

    pub fn http(&self, route: &str, method: &str, status: u16, took: Duration) {
        let labels = HttpLabels {
            route: route.to_owned(),
            method: method.to_owned(),
            status,
        };
        self.http_requests.get_or_create(&labels).inc();
        let route = RouteLabels { route: labels.route };
        self.http_duration.get_or_create(&route).observe(took.as_secs_f64());
    }

    pub fn commit(&self, writes: usize, took: Duration) {
        self.commit_batch_size.observe(writes as f64);
        self.commit_duration.observe(took.as_secs_f64());
    }

    /// The text exposition, with the queue's gauges read from the store now.
    pub async fn render(&self, store: &dyn Store) -> Result<String, StoreError> {
        let now = time::now();
        let Pending {
            due,
            scheduled,
            in_flight,
            oldest_due,
        } = store.pending(now).await?;
        for (state, n) in [
            (PendingState::due, due),
            (PendingState::scheduled, scheduled),
            (PendingState::in_flight, in_flight),
        ] {
            self.pending.get_or_create(&StateLabels { state }).set(n);
        }
        let age = oldest_due.map_or(0.0, |t| (now - t).max(0) as f64 / time::SECOND as f64);
        self.oldest_due_age.set(age);
        self.process.read();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        Ok(out)
    }
}
