//! Which endpoints a message goes to: event-type patterns, channels and
//! payload filters (`crate::filter`), and the per-message endpoint URL. It
//! works on plain values; `crate::subscriptions` hands it stored records.

use std::sync::OnceLock;

use serde_json::Value;

use crate::filter::Filter;

/// A message being routed. Its payload is parsed once, and only if some
/// endpoint has a filter to run on it.
pub struct Candidate<'a> {
    pub event_type: &'a str,
    pub channels: Option<&'a [String]>,
    payload_text: Option<&'a str>,
    payload: OnceLock<Value>,
}

impl<'a> Candidate<'a> {
    pub fn new(event_type: &'a str, channels: Option<&'a [String]>, payload: Option<&'a str>) -> Self {
        Candidate {
            event_type,
            channels,
            payload_text: payload,
            payload: OnceLock::new(),
        }
    }

    fn payload(&self) -> &Value {
        self.payload.get_or_init(|| {
            self.payload_text
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or(Value::Null)
        })
    }
}

/// What an endpoint subscribes to; also what a match preview is asked about.
#[derive(Clone, Copy, Default)]
pub struct Subscription<'a> {
    pub event_types: Option<&'a [String]>,
    pub channels: Option<&'a [String]>,
    pub filter: Option<&'a Filter>,
}

impl Subscription<'_> {
    /// Event-type patterns accept the message's type (no patterns: everything),
    /// it is on one of the channels if any are listed, and the filter accepts its payload.
    pub fn accepts(&self, c: &Candidate) -> bool {
        let type_ok = match self.event_types {
            None | Some([]) => true,
            Some(patterns) => patterns.iter().any(|p| type_matches(p, c.event_type)),
        };
        let channel_ok = match self.channels {
            None | Some([]) => true,
            Some(want) => c.channels.is_some_and(|have| have.iter().any(|ch| want.contains(ch))),
        };
        type_ok && channel_ok && self.filter.is_none_or(|f| f.matches(c.payload()))
    }
}

/// A message's values that an endpoint URL may name.
pub struct UrlValues<'a> {
    pub event_type: &'a str,
    pub msg_id: &'a str,
    pub event_id: Option<&'a str>,
    pub app_id: &'a str,
}

/// The placeholders an endpoint URL may hold, each filled per message.
pub const URL_PLACEHOLDERS: [&str; 4] = ["{eventType}", "{msgId}", "{eventId}", "{appId}"];

/// The endpoint URL for one message: `{eventType}`, `{msgId}`, `{eventId}` and
/// `{appId}` replaced by the message's values, percent-encoded, so that each
/// event type can have its own route under one base URL.
pub fn fill_url(template: &str, v: &UrlValues) -> String {
    if !template.contains('{') {
        return template.to_owned();
    }
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    template
        .replace("{eventType}", &encode(v.event_type))
        .replace("{msgId}", &encode(v.msg_id))
        .replace("{eventId}", &encode(v.event_id.unwrap_or("")))
        .replace("{appId}", &encode(v.app_id))
}

/// `*` accepts every type; `invoice.*` accepts `invoice.paid` and `invoice.line.added`.
/// The order a message keeps on a FIFO endpoint: the value at the dotted
/// `path` of its payload (a string as it is, anything else as JSON), or ""
/// (one order for the endpoint) without a path or a value there.
pub fn ordering_key(payload: Option<&str>, path: Option<&str>) -> String {
    let (Some(payload), Some(path)) = (payload, path) else {
        return String::new();
    };
    let Ok(doc) = serde_json::from_str::<Value>(payload) else {
        return String::new();
    };
    let mut at = &doc;
    for seg in path.split('.') {
        let next = match at {
            Value::Object(m) => m.get(seg),
            Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return String::new(),
        }
    }
    match at {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => event_type.starts_with(prefix),
        _ => pattern == event_type,
    }
}

/// Whether a pattern names catalogue entries by prefix (and so needs no entry of its own).
pub fn is_wildcard(pattern: &str) -> bool {
    pattern == "*" || pattern.ends_with(".*")
}

#[cfg(test)]
mod tests {
    use super::type_matches;

    #[test]
    fn patterns() {
        assert!(type_matches("*", "anything.at.all"));
        assert!(type_matches("invoice.*", "invoice.paid"));
        assert!(type_matches("invoice.*", "invoice.line.added"));
        assert!(!type_matches("invoice.*", "invoices.paid"));
        assert!(!type_matches("invoice.*", "invoice"));
        assert!(type_matches("user.created", "user.created"));
        assert!(!type_matches("user.created", "user.deleted"));
        assert!(!type_matches("user*", "user.created"));
    }
}

#[cfg(test)]
mod ordering_tests {
    use super::ordering_key;

    #[test]
    fn a_key_is_the_value_at_its_path() {
        let p = Some(r#"{"customer": {"id": "c1", "n": 7}, "items": [{"sku": "a"}]}"#);
        assert_eq!(ordering_key(p, Some("customer.id")), "c1");
        assert_eq!(ordering_key(p, Some("customer.n")), "7");
        assert_eq!(ordering_key(p, Some("items.0.sku")), "a");
        assert_eq!(ordering_key(p, Some("customer.missing")), "");
        assert_eq!(ordering_key(p, None), "");
        assert_eq!(ordering_key(None, Some("customer.id")), "");
    }
}

#[cfg(test)]
mod url_tests {
    use super::{UrlValues, fill_url};

    #[test]
    fn placeholders_are_filled_and_encoded() {
        let v = UrlValues {
            event_type: "SettingValueChanged",
            msg_id: "msg_1",
            event_id: Some("a b/c"),
            app_id: "app_1",
        };
        assert_eq!(
            fill_url("https://h/hooks/{eventType}", &v),
            "https://h/hooks/SettingValueChanged"
        );
        assert_eq!(
            fill_url("https://h/{appId}/{msgId}?e={eventId}", &v),
            "https://h/app_1/msg_1?e=a+b%2Fc"
        );
        assert_eq!(fill_url("https://h/plain", &v), "https://h/plain");
    }
}
