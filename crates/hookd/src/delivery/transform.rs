//! Transformations: an endpoint's `function handler(webhook)`, run in an
//! embedded QuickJS (rquickjs) before each attempt. It may change the
//! request's method, URL, payload and headers, or cancel it; `eventType` is
//! read-only.
//!
//! Each endpoint's script gets a runtime and context of its own, so one
//! tenant's script never sees another's globals, and the limits hold per
//! script: [`MEMORY_LIMIT`] of heap, [`TIME_LIMIT`] per run (an interrupt
//! handler stops it). Engines are kept per thread, keyed by endpoint and the
//! transformation's `updatedAt`, and reused across deliveries; one that
//! failed is dropped, so a script that ran out of memory or time starts the
//! next run afresh.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rquickjs::{CatchResultExt, Context, Function, Persistent, Runtime};
use serde::{Deserialize, Serialize};

use super::attempt::Request;
use crate::store::DeliveryTask;
use crate::time::Micros;
use axum::http::Method;

/// How long one run may take.
pub const TIME_LIMIT: Duration = Duration::from_millis(50);
/// How much heap one script's runtime may hold.
pub const MEMORY_LIMIT: usize = 16 << 20;
/// Engines kept per thread; past it the thread's cache starts again.
const KEPT: usize = 32;

/// What a transformation is given and returns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub method: String,
    pub url: String,
    pub payload: serde_json::Value,
    pub event_type: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub cancel: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<BTreeMap<String, String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("the transformation failed: {0}")]
    Script(String),
    #[error("the transformation ran longer than {} ms", TIME_LIMIT.as_millis())]
    TimedOut,
    #[error("the transformation returned {0}")]
    BadReturn(String),
}

/// Which script an engine runs: its endpoint, and when it was last changed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScriptKey {
    pub endpoint_id: String,
    pub updated_at: Micros,
}

struct Engine {
    // Dropped in this order: the handler before its context and runtime.
    handler: Persistent<Function<'static>>,
    context: Context,
    _runtime: Runtime,
    /// When the run under way must stop, in µs since [`epoch`]; 0 when idle.
    deadline: Arc<AtomicU64>,
    interrupted: Arc<AtomicBool>,
}

thread_local! {
    static ENGINES: RefCell<HashMap<ScriptKey, Engine>> = RefCell::new(HashMap::new());
}

fn epoch() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn micros_since_epoch() -> u64 {
    epoch().elapsed().as_micros() as u64
}

impl Engine {
    fn new(code: &str) -> Result<Engine, TransformError> {
        let script = |e: rquickjs::Error| TransformError::Script(e.to_string());
        let runtime = Runtime::new().map_err(script)?;
        runtime.set_memory_limit(MEMORY_LIMIT);
        runtime.set_max_stack_size(512 << 10);
        let deadline = Arc::new(AtomicU64::new(0));
        let interrupted = Arc::new(AtomicBool::new(false));
        let (d, i) = (deadline.clone(), interrupted.clone());
        runtime.set_interrupt_handler(Some(Box::new(move || {
            let until = d.load(Ordering::Relaxed);
            let stop = until != 0 && micros_since_epoch() > until;
            if stop {
                i.store(true, Ordering::Relaxed);
            }
            stop
        })));
        let context = Context::full(&runtime).map_err(script)?;
        let engine_deadline = deadline.clone();
        engine_deadline.store(micros_since_epoch() + TIME_LIMIT.as_micros() as u64, Ordering::Relaxed);
        // The script's top level runs once, here, under the same limits; its
        // `handler` is taken from inside a function, so it defines no global.
        // The wrapper adds no line before the code: errors name the script's own lines.
        let wrapped =
            format!("(function () {{ {code}\n;return typeof handler === 'function' ? handler : undefined; }})()");
        let handler = context.with(|ctx| {
            let value: rquickjs::Value = ctx
                .eval(wrapped)
                .catch(&ctx)
                .map_err(|e| TransformError::Script(e.to_string()))?;
            match value.into_function() {
                Some(f) => Ok(Persistent::save(&ctx, f)),
                None => Err(TransformError::Script(
                    "the script defines no function handler(webhook)".into(),
                )),
            }
        });
        deadline.store(0, Ordering::Relaxed);
        if interrupted.load(Ordering::Relaxed) {
            return Err(TransformError::TimedOut);
        }
        Ok(Engine {
            handler: handler?,
            context,
            _runtime: runtime,
            deadline,
            interrupted,
        })
    }

    fn call(&self, input: &str) -> Result<String, TransformError> {
        self.interrupted.store(false, Ordering::Relaxed);
        self.deadline
            .store(micros_since_epoch() + TIME_LIMIT.as_micros() as u64, Ordering::Relaxed);
        let out = self.context.with(|ctx| {
            let run = || -> rquickjs::Result<Option<String>> {
                let handler = self.handler.clone().restore(&ctx)?;
                let arg = ctx.json_parse(input)?;
                let result: rquickjs::Value = handler.call((arg,))?;
                Ok(match ctx.json_stringify(result)? {
                    Some(s) => Some(s.to_string()?),
                    None => None,
                })
            };
            run().catch(&ctx).map_err(|e| TransformError::Script(e.to_string()))
        });
        self.deadline.store(0, Ordering::Relaxed);
        if self.interrupted.load(Ordering::Relaxed) {
            return Err(TransformError::TimedOut);
        }
        out?.ok_or_else(|| TransformError::BadReturn("nothing (the handler must return the webhook)".into()))
    }
}

/// `req` as the endpoint's transformation changes it (none: canceled), or
/// as it is when the endpoint has none on.
pub fn apply(task: &DeliveryTask, req: Request) -> Result<Option<Request>, TransformError> {
    let Some(t) = &task.endpoint.transformation else {
        return Ok(Some(req));
    };
    let Some(code) = t.active() else { return Ok(Some(req)) };
    let input = Webhook {
        method: req.method.to_string(),
        url: req.url,
        // The body hookd renders is JSON (the payload, or its envelope).
        payload: serde_json::from_str(&req.body).unwrap_or(serde_json::Value::String(req.body)),
        event_type: task.message.event_type.clone(),
        headers: req.headers,
        cancel: false,
        variables: t.variables.clone(),
    };
    let key = ScriptKey {
        endpoint_id: task.endpoint.id.clone(),
        updated_at: t.updated_at,
    };
    let out = run(Some(&key), code, &input)?;
    if out.cancel {
        return Ok(None);
    }
    Ok(Some(Request {
        method: Method::from_bytes(out.method.as_bytes()).expect("checked: POST, PUT or PATCH"),
        url: out.url,
        body: out.payload.to_string(),
        headers: out.headers,
    }))
}

/// Whether `code` runs and defines `handler`.
pub fn compile(code: &str) -> Result<(), TransformError> {
    Engine::new(code).map(drop)
}

/// Runs `code` on `input`, on an engine kept for `key` (made if there is
/// none); with no key, on an engine made for this run only (a simulation).
pub fn run(key: Option<&ScriptKey>, code: &str, input: &Webhook) -> Result<Webhook, TransformError> {
    let text = serde_json::to_string(input).expect("a webhook serialises");
    let out = match key {
        None => Engine::new(code)?.call(&text),
        Some(key) => ENGINES.with(|engines| {
            let mut engines = engines.borrow_mut();
            if !engines.contains_key(key) {
                if engines.len() >= KEPT {
                    engines.clear();
                }
                // Older versions of this endpoint's script are not run again.
                engines.retain(|k, _| k.endpoint_id != key.endpoint_id);
                engines.insert(key.clone(), Engine::new(code)?);
            }
            let out = engines[key].call(&text);
            if out.is_err() {
                engines.remove(key);
            }
            out
        }),
    }?;
    returned(input, &out)
}

/// The handler's return value, checked: what it may not change is put back.
fn returned(input: &Webhook, out: &str) -> Result<Webhook, TransformError> {
    let mut w: Webhook = serde_json::from_str(out)
        .map_err(|e| TransformError::BadReturn(format!("a value that is not a webhook: {e}")))?;
    w.event_type = input.event_type.clone();
    w.variables = None;
    w.method = w.method.to_ascii_uppercase();
    if !["POST", "PUT", "PATCH"].contains(&w.method.as_str()) {
        return Err(TransformError::BadReturn(format!(
            "method {:?} (POST, PUT or PATCH)",
            w.method
        )));
    }
    match url::Url::parse(&w.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => {
            return Err(TransformError::BadReturn(format!(
                "url {:?}, not an http(s) URL",
                w.url
            )));
        }
    }
    for (name, value) in &w.headers {
        if axum::http::HeaderName::try_from(name.as_str()).is_err()
            || axum::http::HeaderValue::try_from(value.as_str()).is_err()
        {
            return Err(TransformError::BadReturn(format!(
                "header {name:?}, not a valid HTTP header"
            )));
        }
        if super::sign::is_reserved_header(name) {
            return Err(TransformError::BadReturn(format!(
                "header {name:?}, which hookd sets itself"
            )));
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook() -> Webhook {
        Webhook {
            method: "POST".into(),
            url: "https://example.com/hook".into(),
            payload: serde_json::json!({}),
            event_type: "t".into(),
            headers: BTreeMap::new(),
            cancel: false,
            variables: None,
        }
    }

    fn key(endpoint_id: &str, updated_at: Micros) -> ScriptKey {
        ScriptKey {
            endpoint_id: endpoint_id.into(),
            updated_at,
        }
    }

    const COUNTER: &str = "let runs = 0; function handler(w) { runs += 1; w.payload.runs = runs; return w; }";

    #[test]
    fn an_engine_is_kept_per_script_and_made_again_when_it_changes() {
        let runs = |k: &ScriptKey| run(Some(k), COUNTER, &webhook()).unwrap().payload["runs"].clone();
        assert_eq!(runs(&key("ep_a", 1)), 1);
        assert_eq!(runs(&key("ep_a", 1)), 2, "the same engine ran again");
        assert_eq!(runs(&key("ep_a", 2)), 1, "a changed script starts afresh");
        assert_eq!(runs(&key("ep_b", 1)), 1, "another endpoint has its own");
        assert_eq!(run(None, COUNTER, &webhook()).unwrap().payload["runs"], 1);
    }

    #[test]
    fn one_script_never_sees_anothers_globals() {
        let leak = "globalThis.stolen = 'secret'; function handler(w) { return w; }";
        let look = "function handler(w) { w.payload.seen = typeof stolen; return w; }";
        run(Some(&key("ep_leak", 1)), leak, &webhook()).unwrap();
        let out = run(Some(&key("ep_look", 1)), look, &webhook()).unwrap();
        assert_eq!(out.payload["seen"], "undefined");
    }

    #[test]
    fn a_script_that_failed_starts_afresh_and_limits_hold_every_run() {
        let flaky =
            "let n = 0; function handler(w) { n += 1; if (n == 2) { while (true) {} } w.payload.n = n; return w; }";
        let k = key("ep_flaky", 1);
        assert_eq!(run(Some(&k), flaky, &webhook()).unwrap().payload["n"], 1);
        assert!(matches!(
            run(Some(&k), flaky, &webhook()),
            Err(TransformError::TimedOut)
        ));
        // Its engine was dropped: the count starts again, and the time limit holds again.
        assert_eq!(run(Some(&k), flaky, &webhook()).unwrap().payload["n"], 1);
        assert!(matches!(
            run(Some(&k), flaky, &webhook()),
            Err(TransformError::TimedOut)
        ));
        let top = "while (true) {} function handler(w) { return w; }";
        assert!(matches!(compile(top), Err(TransformError::TimedOut)));
    }

    #[test]
    fn event_type_and_variables_are_not_the_scripts_to_change() {
        let code = "function handler(w) { w.eventType = 'other'; w.variables = { a: 'b' }; return w; }";
        let out = run(None, code, &webhook()).unwrap();
        assert_eq!((out.event_type.as_str(), out.variables), ("t", None));
    }
}
