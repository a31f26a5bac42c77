//! Prefixed, time-sortable identifiers (`app_…`, `ep_…`, `msg_…`, `atmpt_…`).
//!
//! The body is a millisecond KSUID, the format Svix uses, so ids sort by creation
//! time and cursor pagination can page by id alone.

use svix_ksuid::{KsuidLike, KsuidMs};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    App,
    Endpoint,
    Message,
    Attempt,
    Delivery,
    Token,
    Task,
}

impl Kind {
    pub const fn prefix(self) -> &'static str {
        match self {
            Kind::App => "app_",
            Kind::Endpoint => "ep_",
            Kind::Message => "msg_",
            Kind::Attempt => "atmpt_",
            Kind::Delivery => "dlv_",
            Kind::Token => "tok_",
            Kind::Task => "qtask_",
        }
    }
}

/// A new id of the given kind, ordered after every id made earlier (to 4 ms).
pub fn new(kind: Kind) -> String {
    let ksuid = KsuidMs::new(None::<std::time::SystemTime>, None);
    format!("{}{}", kind.prefix(), ksuid)
}

/// Whether `s` has the shape of an id of `kind`: its prefix and 27 base62 characters.
pub fn is_valid(kind: Kind, s: &str) -> bool {
    s.strip_prefix(kind.prefix())
        .is_some_and(|body| body.len() == 27 && body.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_sort_by_time() {
        let a = new(Kind::Message);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = new(Kind::Message);
        assert!(is_valid(Kind::Message, &a));
        assert_eq!(a.len(), 31);
        assert!(a < b);
        assert!(!is_valid(Kind::App, &a));
        assert!(!is_valid(Kind::Message, "msg_short"));
    }
}
