//! One attempt: sign, POST, read the answer, and decide what comes next.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::http::Method;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use super::client::HttpClient;
use super::retry::{self, Next};
use super::urls::Urls;
use super::{DeliveryConfig, sign};
use crate::ids::{self, Kind};
use crate::metrics::AttemptOutcome;
use crate::security::ssrf::{self, AddressPolicy};
use crate::store::{AttemptRecord, DeliveryStatus, DeliveryTask, EndpointRecord, Outcome};
use crate::time::{self, Micros};

/// What the receiver answered, or why there was no answer.
pub struct Response {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub error: Option<String>,
    pub duration: Duration,
    /// When the attempt began: the time in its signature.
    pub started_at: Micros,
    /// Not sent: the endpoint's transformation canceled it.
    pub canceled: bool,
}

/// What an attempt sends: the message as the endpoint's settings shape it,
/// then maybe changed by its transformation.
pub struct Request {
    pub method: Method,
    pub url: String,
    pub body: String,
    /// Headers the transformation set, beside the endpoint's own.
    pub headers: BTreeMap<String, String>,
}

impl Request {
    pub fn of(task: &DeliveryTask) -> Request {
        Request {
            method: Method::POST,
            url: crate::subscriptions::url_for(&task.endpoint, &task.message),
            body: super::body::render(&task.endpoint, &task.message),
            headers: BTreeMap::new(),
        }
    }
}

/// When an attempt began, read once: the time its request is signed with,
/// and with its duration the attempt's own time. So the headers an attempt
/// was sent with can be computed again from the attempt log.
#[derive(Clone, Copy)]
pub struct Start {
    instant: Instant,
    pub at: Micros,
}

impl Start {
    /// Now, to the millisecond: the log keeps durations in whole
    /// milliseconds, and [`started_at`] must give this reading back exactly.
    pub fn now() -> Start {
        let at = time::now();
        Start {
            instant: Instant::now(),
            at: at - at.rem_euclid(1000),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.instant.elapsed()
    }
}

/// When a logged attempt began. Its `created_at` is that start plus its
/// duration in microseconds, and `duration_ms` is that duration floored, so
/// what remains after taking off `duration_ms` is the start plus less than a
/// millisecond; the start is a whole millisecond, so flooring finds it.
pub fn started_at(created_at: Micros, duration_ms: i64) -> Micros {
    let t = created_at - duration_ms * 1000;
    t - t.rem_euclid(1000)
}

impl Response {
    /// No answer, and why.
    pub fn failed(error: String, start: Start) -> Response {
        Response {
            status_code: 0,
            headers: BTreeMap::new(),
            body: String::new(),
            error: Some(error),
            duration: start.elapsed(),
            started_at: start.at,
            canceled: false,
        }
    }

    /// Not sent: the transformation said so.
    pub fn canceled(start: Start) -> Response {
        Response {
            canceled: true,
            ..Response::failed("canceled by the endpoint's transformation".into(), start)
        }
    }

    /// A 2xx answer, read whole.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && (200..300).contains(&self.status_code)
    }

    /// How the attempt ended, for the metrics. Errors reach here as text
    /// (through hyper's error chain, from the resolver among others), so the
    /// address policy's refusals are told by the words it always uses.
    pub fn metric_outcome(&self) -> AttemptOutcome {
        match &self.error {
            _ if self.succeeded() => AttemptOutcome::success,
            _ if self.canceled => AttemptOutcome::canceled,
            _ if self.status_code != 0 => AttemptOutcome::failure,
            Some(e) if e.starts_with(TIMED_OUT) => AttemptOutcome::timeout,
            Some(e) if e.contains(ssrf::REFUSED_HINT) => AttemptOutcome::refused,
            _ => AttemptOutcome::error,
        }
    }
}

const TIMED_OUT: &str = "timed out after";

/// Sends `req` for `task` once, on `client` (which checks certificates
/// unless the endpoint turned that off).
#[allow(clippy::too_many_arguments)]
pub async fn send(
    client: &HttpClient,
    urls: &Urls,
    policy: &AddressPolicy,
    cfg: &DeliveryConfig,
    task: &DeliveryTask,
    req: Request,
    traceparent: Option<&str>,
    start: Start,
) -> Response {
    let ep = &task.endpoint;
    let msg = &task.message;
    let body = req.body;
    let failed = |error: String| Response::failed(error, start);
    // A templated or transformed URL differs per message: kept, it would only churn the cache.
    let parsed = match req.url == ep.url {
        true => urls.parse(&req.url),
        false => url::Url::parse(&req.url),
    };
    let url = match parsed {
        Ok(u) => u,
        Err(e) => return failed(format!("invalid URL: {e}")),
    };
    if let Err(refused) = ssrf::check_literal(policy, &url) {
        return failed(refused.to_string());
    }
    let mut headers = sign::headers(ep, msg, body.as_bytes(), start.at, traceparent);
    // Checked when the transformation returned them: names and values valid, none of hookd's own.
    for (name, value) in &req.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::try_from(name.as_str()),
            axum::http::HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(n, v);
        }
    }
    let timeout = timeout(cfg, ep);

    let mut request = axum::http::Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = req.method;
    *request.headers_mut() = headers;
    *request.uri_mut() = match url.as_str().parse() {
        Ok(uri) => uri,
        Err(e) => return failed(format!("invalid URL: {e}")),
    };
    let exchange = async {
        let resp = client.request(request).await.map_err(|e| chain(&e))?;
        let (parts, mut incoming) = resp.into_parts();
        let mut body = Vec::new();
        let mut error = None;
        while let Some(frame) = incoming.frame().await {
            match frame {
                Ok(frame) => {
                    let Ok(chunk) = frame.into_data() else { continue };
                    let room = cfg.response_body_limit.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if chunk.len() > room {
                        break;
                    }
                }
                Err(e) => {
                    error = Some(chain(&e));
                    break;
                }
            }
        }
        Ok::<_, String>((parts, body, error))
    };
    let (parts, body, mut error) = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return failed(e),
        Err(_) => return failed(timed_out(timeout)),
    };
    let status_code = parts.status.as_u16();
    let mut out_headers = BTreeMap::new();
    for (name, value) in &parts.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out_headers
            .entry(name.as_str().to_owned())
            .and_modify(|old: &mut String| *old = format!("{old}, {v}"))
            .or_insert(v);
    }
    if let Some(redirect) = redirect_error(status_code, &out_headers) {
        error = Some(redirect);
    }
    Response {
        status_code,
        headers: out_headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        error,
        duration: start.elapsed(),
        started_at: start.at,
        canceled: false,
    }
}

/// A 3xx is a failure: redirects are not followed (a receiver could point
/// hookd anywhere with one).
pub(super) fn redirect_error(status_code: u16, headers: &BTreeMap<String, String>) -> Option<String> {
    (300..400).contains(&status_code).then(|| {
        let to = headers.get("location").map_or("", String::as_str);
        format!("redirects are not followed (Location: {to})")
    })
}

/// How long an attempt at `ep` may take: its own setting, or the server's.
pub fn timeout(cfg: &DeliveryConfig, ep: &EndpointRecord) -> Duration {
    ep.options
        .attempt_timeout
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(cfg.attempt_timeout)
}

pub(super) fn timed_out(timeout: Duration) -> String {
    format!("{TIMED_OUT} {:.1} s", timeout.as_secs_f64())
}

/// The error's whole chain, which holds the useful part (refused address, DNS, TLS).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Turns a response into the attempt record and the delivery's next state.
/// Retries follow the endpoint's schedule, else `event_type_schedule` (the
/// message's event type's), else the server's.
pub fn outcome(
    cfg: &DeliveryConfig,
    task: &DeliveryTask,
    resp: Response,
    event_type_schedule: Option<&[f64]>,
) -> Outcome {
    // The attempt's time is its start plus its duration (see `started_at`).
    let now = resp.started_at + resp.duration.as_micros() as i64;
    let ok = resp.succeeded();
    let attempts = task.attempts as u32 + 1;
    let (status, next_attempt_at) = if ok {
        (DeliveryStatus::Success, None)
    } else if resp.canceled {
        (DeliveryStatus::Canceled, None)
    } else {
        let own = task.endpoint.options.retry_schedule.as_deref().or(event_type_schedule);
        let schedule: Vec<Duration> = match own {
            Some(s) => s.iter().filter_map(|x| Duration::try_from_secs_f64(*x).ok()).collect(),
            None => cfg.retry_schedule.clone(),
        };
        let retry_after = matches!(resp.status_code, 429 | 503)
            .then(|| {
                resp.headers
                    .get("retry-after")
                    .and_then(|v| retry::parse_retry_after(v, chrono::Utc::now()))
            })
            .flatten();
        match retry::next(&schedule, attempts, retry_after, rand::random_range(-1.0..=1.0)) {
            Next::RetryIn(d) => (DeliveryStatus::Sending, Some(now + d.as_micros() as i64)),
            Next::GiveUp => (DeliveryStatus::Fail, None),
        }
    };
    Outcome {
        attempt: AttemptRecord {
            id: ids::new(Kind::Attempt),
            app_id: task.message.app_id.clone(),
            msg_id: task.message.id.clone(),
            endpoint_id: task.endpoint.id.clone(),
            url: crate::security::url_password::masked(&task.endpoint.url),
            status: match (ok, resp.canceled) {
                (true, _) => DeliveryStatus::Success,
                (false, true) => DeliveryStatus::Canceled,
                (false, false) => DeliveryStatus::Fail,
            },
            status_code: resp.status_code as i64,
            response: Some(resp.body),
            response_headers: Some(resp.headers),
            duration_ms: resp.duration.as_millis() as i64,
            trigger_type: task.trigger_type,
            error: resp.error,
            ssl_verification: task.endpoint.options.ssl_verification != Some(false),
            created_at: now,
        },
        delivery_id: task.delivery_id.clone(),
        status,
        next_attempt_at,
        disable_if_failing_since: (!ok && !resp.canceled).then(|| now - cfg.disable_after.as_micros() as i64),
        announce: None,
    }
}
