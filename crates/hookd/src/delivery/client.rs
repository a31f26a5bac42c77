//! The HTTP clients deliveries go out on: pooled, kept alive per host, never
//! following redirects, and resolving names through the SSRF guard.

use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::Policy;

use crate::security::ssrf::{AddressPolicy, GuardedResolver};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the CA bundle {0}: {1}")]
    Bundle(String, String),
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// The clients deliveries use: one that verifies certificates (against the
/// system's roots and the operator's bundle) and one for endpoints that turned
/// verification off.
pub struct Clients {
    pub verifying: reqwest::Client,
    pub unverified: reqwest::Client,
}

/// `concurrency` is how many attempts may be under way at once: as many
/// connections to one host may be kept open between attempts.
pub fn build(
    policy: &AddressPolicy,
    ca_bundle: Option<&std::path::Path>,
    concurrency: usize,
) -> Result<Clients, ClientError> {
    // Idempotent: a second install (tests start many servers per process) is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = Vec::new();
    if let Some(path) = ca_bundle {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| ClientError::Bundle(shown.clone(), e.to_string()))?;
        roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::Bundle(shown, e.to_string()))?;
    }
    let make = |verify: bool| {
        let mut b = builder(policy, concurrency).tls_danger_accept_invalid_certs(!verify);
        for cert in &roots {
            b = b.add_root_certificate(cert.clone());
        }
        b.build().map_err(|e| ClientError::Build(e.to_string()))
    };
    Ok(Clients {
        verifying: make(true)?,
        unverified: make(false)?,
    })
}

fn builder(policy: &AddressPolicy, concurrency: usize) -> reqwest::ClientBuilder {
    // A smaller idle pool than the attempts under way closes connections after
    // every burst and opens them again for the next: when many endpoints share
    // a host (a fan-out to one customer's gateway), each attempt then paid for
    // a new TCP (and TLS) connection and a socket left in TIME_WAIT.
    reqwest::Client::builder()
        .redirect(Policy::none())
        .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .no_proxy()
}
