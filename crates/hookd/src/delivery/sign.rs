//! Standard Webhooks signatures: `v1,` and base64 of HMAC-SHA256 over
//! `"{id}.{timestamp}.{body}"`, one per active secret, space-separated.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use axum::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::security::hmac_key;
use crate::store::{Encoding, EndpointRecord, MessageRecord, Scheme};
use crate::time::{self, Micros};

/// Headers hookd sets itself; an endpoint's custom headers cannot replace them.
pub const RESERVED: [&str; 10] = [
    "content-type",
    "traceparent",
    "tracestate",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
];

pub fn is_reserved_header(name: &str) -> bool {
    RESERVED.contains(&name.to_ascii_lowercase().as_str())
}

/// Every header of a delivery: the endpoint's own, then hookd's (which win:
/// the trace context among them: the attempt's `traceparent`), then the
/// signature in the endpoint's scheme.
pub fn headers(
    ep: &EndpointRecord,
    msg: &MessageRecord,
    body: &[u8],
    now: Micros,
    traceparent: Option<&str>,
) -> HeaderMap {
    let msg_id = msg.id.as_str();
    let mut h = HeaderMap::new();
    for (name, value) in &ep.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) && !is_reserved_header(name)
        {
            h.insert(n, v);
        }
    }
    let ts = now / time::SECOND;
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "user-agent",
        HeaderValue::from_static(concat!("hookd/", env!("CARGO_PKG_VERSION"))),
    );
    if let Some(tp) = traceparent.and_then(|tp| HeaderValue::try_from(tp).ok()) {
        h.insert("traceparent", tp);
        if let Some(state) = msg.tracestate.as_deref().and_then(|s| HeaderValue::try_from(s).ok()) {
            h.insert("tracestate", state);
        }
    }
    let id = HeaderValue::try_from(msg_id).expect("ids are ASCII");
    for (id_name, ts_name) in [("webhook-id", "webhook-timestamp"), ("svix-id", "svix-timestamp")] {
        h.insert(HeaderName::from_static(id_name), id.clone());
        h.insert(HeaderName::from_static(ts_name), HeaderValue::from(ts));
    }
    let sig = ep.options.signature.clone().unwrap_or_default();
    match sig.scheme {
        Scheme::StandardWebhooks => {
            let secrets = std::iter::once(ep.secret.as_str()).chain(
                ep.old_secrets
                    .iter()
                    .filter(|o| o.expires_at > now)
                    .map(|o| o.key.as_str()),
            );
            let value = HeaderValue::try_from(header(secrets, msg_id, ts, body)).expect("signatures are ASCII");
            h.insert("webhook-signature", value.clone());
            h.insert("svix-signature", value);
        }
        Scheme::HmacSha256 => {
            let name = sig.header.as_deref().unwrap_or("X-Hub-Signature-256");
            let digest = body_hmac(&ep.secret, body, sig.encoding.unwrap_or(Encoding::Hex));
            let value = format!("{}{digest}", sig.prefix.as_deref().unwrap_or("sha256="));
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                h.insert(n, v);
            }
        }
        Scheme::Bearer => {
            if let Ok(v) = HeaderValue::try_from(format!("Bearer {}", ep.secret)) {
                h.insert("authorization", v);
            }
        }
        Scheme::None => {}
    }
    h
}

pub fn v1(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&hmac_key(secret)).expect("HMAC takes keys of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// `v1a,` and base64 of the ed25519 signature of the same content, for a `whsk_` secret.
pub fn v1a(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let pair = crate::security::signing_key(secret)?;
    let mut content = format!("{msg_id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    Some(format!("v1a,{}", STANDARD.encode(pair.sign(&content).as_ref())))
}

/// The `webhook-signature` value for every secret that still signs: `v1a` for
/// `whsk_` signing keys, `v1` for the rest, space-separated.
pub fn header<'a>(secrets: impl IntoIterator<Item = &'a str>, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let sigs: Vec<String> = secrets
        .into_iter()
        .filter_map(|s| match s.starts_with("whsk_") {
            true => v1a(s, msg_id, timestamp, body),
            false => Some(v1(s, msg_id, timestamp, body)),
        })
        .collect();
    sigs.join(" ")
}

/// HMAC-SHA256 of the body alone under the secret's UTF-8 bytes, as GitHub,
/// Syskit Point and PlexTrac sign.
pub fn body_hmac(secret: &str, body: &[u8], encoding: Encoding) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    match encoding {
        Encoding::Hex => hex::encode(digest),
        Encoding::Base64 => STANDARD.encode(digest),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn github_test_vector() {
        let sig = super::body_hmac("It's a Secret to Everybody", b"Hello, World!", super::Encoding::Hex);
        assert_eq!(sig, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    }

    #[test]
    fn standard_webhooks_test_vector() {
        let sig = super::v1(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }
}
