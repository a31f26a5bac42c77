//! Which endpoints a message goes to: event-type patterns, channels and
//! payload filters ([`filter`]), and the per-message endpoint URL.

pub mod filter;

use std::sync::OnceLock;

use serde_json::Value;

pub use filter::{Filter, FilterError};

use crate::store::{EndpointRecord, MessageRecord};

/// A message being routed. Its payload is parsed once, and only if some
/// endpoint has a filter to run on it.
pub struct Candidate<'a> {
    pub msg: &'a MessageRecord,
    payload: OnceLock<Value>,
}

impl<'a> Candidate<'a> {
    pub fn new(msg: &'a MessageRecord) -> Self {
        Candidate {
            msg,
            payload: OnceLock::new(),
        }
    }

    fn payload(&self) -> &Value {
        self.payload.get_or_init(|| {
            self.msg
                .payload
                .as_deref()
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

impl<'a> Subscription<'a> {
    pub fn of(ep: &'a EndpointRecord) -> Self {
        Subscription {
            event_types: ep.event_types.as_deref(),
            channels: ep.channels.as_deref(),
            filter: ep.options.filter.as_ref(),
        }
    }

    /// Event-type patterns accept the message's type (no patterns: everything),
    /// it is on one of the channels if any are listed, and the filter accepts its payload.
    pub fn accepts(&self, c: &Candidate) -> bool {
        let msg = c.msg;
        let type_ok = match self.event_types {
            None | Some([]) => true,
            Some(patterns) => patterns.iter().any(|p| type_matches(p, &msg.event_type)),
        };
        let channel_ok = match self.channels {
            None | Some([]) => true,
            Some(want) => msg
                .channels
                .as_ref()
                .is_some_and(|have| have.iter().any(|ch| want.contains(ch))),
        };
        type_ok && channel_ok && self.filter.is_none_or(|f| f.matches(c.payload()))
    }
}

/// Whether `ep` receives the message.
pub fn matches(ep: &EndpointRecord, c: &Candidate) -> bool {
    Subscription::of(ep).accepts(c)
}

/// The placeholders an endpoint URL may hold, each filled per message.
pub const URL_PLACEHOLDERS: [&str; 4] = ["{eventType}", "{msgId}", "{eventId}", "{appId}"];

/// The endpoint URL for one message: `{eventType}`, `{msgId}`, `{eventId}` and
/// `{appId}` replaced by the message's values, percent-encoded, so that each
/// event type can have its own route under one base URL.
pub fn fill_url(template: &str, msg: &MessageRecord) -> String {
    if !template.contains('{') {
        return template.to_owned();
    }
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    template
        .replace("{eventType}", &encode(&msg.event_type))
        .replace("{msgId}", &encode(&msg.id))
        .replace("{eventId}", &encode(msg.event_id.as_deref().unwrap_or("")))
        .replace("{appId}", &encode(&msg.app_id))
}

/// `*` accepts every type; `invoice.*` accepts `invoice.paid` and `invoice.line.added`.
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
mod url_tests {
    use super::fill_url;
    use crate::store::MessageRecord;

    #[test]
    fn placeholders_are_filled_and_encoded() {
        let msg = MessageRecord {
            id: "msg_1".into(),
            app_id: "app_1".into(),
            event_type: "SettingValueChanged".into(),
            event_id: Some("a b/c".into()),
            channels: None,
            tags: None,
            payload: None,
            deliver_at: None,
            created_at: 0,
            expires_at: 0,
        };
        assert_eq!(
            fill_url("https://h/hooks/{eventType}", &msg),
            "https://h/hooks/SettingValueChanged"
        );
        assert_eq!(
            fill_url("https://h/{appId}/{msgId}?e={eventId}", &msg),
            "https://h/app_1/msg_1?e=a+b%2Fc"
        );
        assert_eq!(fill_url("https://h/plain", &msg), "https://h/plain");
    }
}
