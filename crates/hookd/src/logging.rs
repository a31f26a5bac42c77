//! Log lines on standard error, each line written while an API request runs
//! carrying that request's id (`request_id`).
//!
//! The id travels in a task-local value rather than a span: a span per
//! request is formatted and tracked on every request, though few requests
//! log anything, and cost several percent of a publish. The task-local costs
//! a swap per poll, and a line pays for the id only when one is written.

use std::fmt;

use axum::http::HeaderValue;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

tokio::task_local! {
    static REQUEST_ID: HeaderValue;
}

/// Runs `fut` as the request `id`: what it logs carries the id.
pub async fn in_request<F: Future>(id: HeaderValue, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Log lines go to standard error, as `HOOKD_LOG` selects (default `level`).
pub fn to_stderr(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_env("HOOKD_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let lines = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => lines
            .map_event_format(|f| WithRequestId { inner: f, json: false })
            .init(),
        LogFormat::Json => lines
            .json()
            .map_event_format(|f| WithRequestId { inner: f, json: true })
            .init(),
    }
}

/// A line format, plus the request's id: first on a text line, a
/// `request_id` field in a JSON one.
struct WithRequestId<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let id = REQUEST_ID.try_with(|id| id.to_str().map(str::to_owned).unwrap_or_default());
        let Ok(id) = id else {
            return self.inner.format_event(ctx, writer, event);
        };
        if !self.json {
            write!(writer, "[{id}] ")?;
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            // The id was checked to be printable ASCII, which JSON escapes only for `"` and `\`.
            Some(rest) => {
                let id = serde_json::to_string(&id).map_err(|_| fmt::Error)?;
                write!(writer, "{{\"request_id\":{id},{rest}")
            }
            None => writer.write_str(&line),
        }
    }
}
