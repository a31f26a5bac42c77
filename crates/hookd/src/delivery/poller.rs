//! Polling endpoints (`poller://NAME`): nothing is sent; a consumer that
//! cannot take webhooks reads the endpoint's messages through the poller API
//! (`api/poller.rs`), as any endpoint's can be read. Each delivery ends at
//! once as kept, so the attempt log says where the message went.

use std::collections::BTreeMap;
use std::time::Duration;

use super::attempt::{Response, Start};

/// The URL scheme of polling endpoints.
pub const SCHEME: &str = "poller";

pub fn is_poller(url: &str) -> bool {
    url.strip_prefix(SCHEME).is_some_and(|rest| rest.starts_with("://"))
}

/// The outcome of a delivery to a polling endpoint: accepted for reading.
pub fn kept(start: Start) -> Response {
    Response {
        status_code: 202,
        headers: BTreeMap::new(),
        body: "kept for polling".into(),
        error: None,
        duration: Duration::ZERO,
        started_at: start.at,
        canceled: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_poller_scheme_is_a_polling_endpoint() {
        assert!(is_poller("poller://billing"));
        assert!(!is_poller("pollerx://a") && !is_poller("https://poller.example.com/"));
        assert!(kept(Start::now()).succeeded());
    }
}
