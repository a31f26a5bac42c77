//! The HTTP clients deliveries go out on: pooled, kept alive per host, never
//! following redirects, and resolving names through the SSRF guard.

use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::Policy;

use crate::security::ssrf::{AddressPolicy, GuardedResolver};

pub fn build(policy: &AddressPolicy) -> reqwest::Client {
    // Idempotent: a second install (tests start many servers per process) is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(Policy::none())
        .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .no_proxy()
        .build()
        .expect("the HTTP client's settings are valid")
}
