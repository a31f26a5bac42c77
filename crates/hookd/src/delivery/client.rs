//! The HTTP clients deliveries go out on: pooled, kept alive per host, never
//! following redirects, and resolving names through the SSRF guard.
//!
//! hyper-util's client, not reqwest's: reqwest wraps every request in a
//! redirect and a retry layer (hookd wants neither) and parses the URL again
//! from every response, together about a twentieth of hookd's CPU per delivery.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::security::ssrf::{AddressPolicy, GuardedResolver};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the CA bundle {0}: {1}")]
    Bundle(String, String),
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

pub type HttpClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// The clients deliveries use: one that verifies certificates (against the
/// system's roots and the operator's bundle) and one for endpoints that turned
/// verification off.
pub struct Clients {
    pub verifying: HttpClient,
    pub unverified: HttpClient,
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
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut roots = Vec::new();
    if let Some(path) = ca_bundle {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| ClientError::Bundle(shown.clone(), e.to_string()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots.push(cert.map_err(|e| ClientError::Bundle(shown.clone(), e.to_string()))?);
        }
    }
    let build_err = |e: rustls::Error| ClientError::Build(e.to_string());
    let verifier: Arc<dyn ServerCertVerifier> = match roots.is_empty() {
        true => Arc::new(rustls_platform_verifier::Verifier::new(provider.clone()).map_err(build_err)?),
        false => Arc::new(
            rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone()).map_err(build_err)?,
        ),
    };
    let unchecked: Arc<dyn ServerCertVerifier> = Arc::new(AcceptAnyCertificate(provider.clone()));
    let make = |verifier: Arc<dyn ServerCertVerifier>| -> Result<HttpClient, ClientError> {
        // ALPN (http/1.1) is set by the connector builder below.
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(build_err)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { policy: policy.clone() });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // A smaller idle pool than the attempts under way closes connections
        // after every burst and opens them again for the next: when many
        // endpoints share a host (a fan-out to one customer's gateway), each
        // attempt then paid for a new TCP (and TLS) connection and a socket
        // left in TIME_WAIT.
        Ok(Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(concurrency)
            .build(https))
    };
    Ok(Clients {
        verifying: make(verifier)?,
        unverified: make(unchecked)?,
    })
}

/// For endpoints whose owner turned certificate checks off (`sslVerification:
/// false`, as Svix offers): any certificate and signature is accepted.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_tls12_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
