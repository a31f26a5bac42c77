//! W3C Trace Context: the `traceparent` a message was published in travels
//! with it, and every delivery carries a child of it (the same trace id, a span
//! id of its own), so that a receiver's spans join the producer's trace. A
//! publish without one (or with a malformed one) starts a trace.

use axum::http::HeaderMap;
use rand::RngCore;

/// The trace context a publish came in: its valid `traceparent` and the
/// `tracestate` that came with it.
pub fn of_publish(headers: &HeaderMap) -> Option<(String, Option<String>)> {
    let given = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|tp| parse(tp).is_some());
    let state = headers
        .get("tracestate")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .map(str::to_owned);
    Some((given?.to_ascii_lowercase(), state))
}

/// A `traceparent` for a new trace, sampled.
pub fn start() -> String {
    format!("00-{}-{}-01", hex_id::<16>(), hex_id::<8>())
}

/// A delivery's `traceparent`: the message's trace and flags, a new span id.
pub fn child(traceparent: &str) -> Option<String> {
    let (trace_id, flags) = parse(traceparent)?;
    Some(format!("00-{trace_id}-{}-{flags}", hex_id::<8>()))
}

/// The trace id and flags of a valid version-00 `traceparent`.
fn parse(tp: &str) -> Option<(&str, &str)> {
    let mut parts = tp.split('-');
    let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    let ok = parts.next().is_none()
        && version == "00"
        && hex(trace_id, 32)
        && !zero(trace_id)
        && hex(parent_id, 16)
        && !zero(parent_id)
        && hex(flags, 2);
    ok.then_some((trace_id, flags))
}

/// N random bytes in lower-case hex, never all zero.
fn hex_id<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    while bytes.iter().all(|b| *b == 0) {
        rand::rng().fill_bytes(&mut bytes);
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_continues_the_publishers_trace() {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        h.insert("tracestate", "congo=t61rcWkgMzE".parse().unwrap());
        let (tp, state) = of_publish(&h).unwrap();
        assert_eq!(state.as_deref(), Some("congo=t61rcWkgMzE"));
        let c = child(&tp).unwrap();
        assert!(c.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && c.ends_with("-01"));
        assert_ne!(c, tp, "a span of its own");
    }

    #[test]
    fn a_malformed_or_missing_traceparent_is_none() {
        for bad in [
            "",
            "00-0000-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let mut h = HeaderMap::new();
            h.insert("traceparent", bad.parse().unwrap());
            h.insert("tracestate", "a=b".parse().unwrap());
            assert_eq!(of_publish(&h), None, "{bad}");
        }
    }
}
