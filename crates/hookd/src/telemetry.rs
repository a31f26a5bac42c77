//! Spans exported over OTLP (`--otlp-endpoint`): a publish, its commit, and
//! every attempt, in the trace the publish came in (see `delivery::trace`).
//! Without an endpoint there is no [`Telemetry`] and nothing here runs.
//!
//! An attempt's span is the one whose id the delivery's `traceparent`
//! carries, so a receiver's spans hang under it.

use std::time::{Duration, SystemTime};

use opentelemetry::Context;
use opentelemetry::trace::{
    SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer, TracerProvider,
};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::runtime;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{BatchConfigBuilder, SdkTracer, SdkTracerProvider};

pub use opentelemetry::KeyValue;
pub use opentelemetry::trace::{Span, SpanKind};
pub type OtelSpan = opentelemetry_sdk::trace::Span;

#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter: {0}")]
pub struct TelemetryError(String);

pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Telemetry {
    /// Exports to `endpoint` (OTLP over HTTP with protobuf; `/v1/traces` is
    /// added to a URL without a path). Must run inside the server's runtime.
    pub fn start(endpoint: &str) -> Result<Telemetry, TelemetryError> {
        let url = match url::Url::parse(endpoint) {
            Ok(u) if u.path() == "/" || u.path().is_empty() => format!("{}/v1/traces", endpoint.trim_end_matches('/')),
            Ok(_) => endpoint.to_owned(),
            Err(e) => return Err(TelemetryError(format!("{endpoint}: {e}"))),
        };
        let client = opentelemetry_http::hyper::HyperClient::with_default_connector(Duration::from_secs(10), None);
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(url)
            .build()
            .map_err(|e| TelemetryError(e.to_string()))?;
        let batches = BatchConfigBuilder::default()
            .with_scheduled_delay(Duration::from_secs(1))
            .build();
        let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio)
            .with_batch_config(batches)
            .build();
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("hookd")
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("hookd");
        Ok(Telemetry { provider, tracer })
    }

    /// Starts a span named `name` under `parent` (a `traceparent`), or a new
    /// trace without one, from `start`.
    pub fn span(&self, name: &'static str, kind: SpanKind, parent: Option<&str>, start: SystemTime) -> OtelSpan {
        let cx = parent
            .and_then(remote)
            .map_or_else(Context::new, |sc| Context::new().with_remote_span_context(sc));
        self.tracer
            .span_builder(name)
            .with_kind(kind)
            .with_start_time(start)
            .start_with_context(&self.tracer, &cx)
    }

    /// Sends what is left and stops exporting.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "spans not exported at shutdown");
        }
    }
}

/// The W3C `traceparent` of a span.
pub fn traceparent(span: &OtelSpan) -> String {
    let sc = span.span_context();
    format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8())
}

/// Records how an attempt or a request ended and ends the span.
pub fn end(mut span: OtelSpan, ok: bool, attributes: Vec<KeyValue>) {
    span.set_attributes(attributes);
    if !ok {
        span.set_status(Status::error(""));
    }
    span.end();
}

/// A remote span context from a valid `traceparent`.
fn remote(tp: &str) -> Option<SpanContext> {
    let mut parts = tp.split('-');
    let (_, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let sc = SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        TraceFlags::new(u8::from_str_radix(flags, 16).ok()?),
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}
