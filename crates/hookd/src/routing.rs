//! Which endpoints a message goes to.

use crate::store::{EndpointRecord, MessageRecord};

/// An endpoint receives a message when its event-type patterns accept the
/// message's type (no patterns: everything) and, if it lists channels, the
/// message is on one of them.
pub fn matches(ep: &EndpointRecord, msg: &MessageRecord) -> bool {
    let type_ok = match &ep.event_types {
        None => true,
        Some(patterns) if patterns.is_empty() => true,
        Some(patterns) => patterns.iter().any(|p| type_matches(p, &msg.event_type)),
    };
    let channel_ok = match &ep.channels {
        None => true,
        Some(want) if want.is_empty() => true,
        Some(want) => msg
            .channels
            .as_ref()
            .is_some_and(|have| have.iter().any(|c| want.contains(c))),
    };
    type_ok && channel_ok
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
