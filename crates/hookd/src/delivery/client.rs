//! The HTTP clients deliveries go out on: pooled, kept alive per host, never
//! following redirects, and resolving names through the SSRF guard.
//!
//! hyper-util's client, not reqwest's: reqwest wraps every request in a
//! redirect and a retry layer (hookd wants neither) and parses the URL again
//! from every response, together about a twentieth of hookd's CPU per delivery.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;

use crate::security::ssrf::{AddressPolicy, GuardedResolver};
use crate::store::EndpointRecord;
use crate::time::Micros;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the CA bundle {0}: {1}")]
    Bundle(String, String),
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

pub type HttpClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// The clients deliveries use: one that verifies certificates (against the
/// system's roots and the operator's bundle), one for endpoints that turned
/// verification off, and one per endpoint with TLS settings of its own (a CA,
/// a client identity), made when first needed and again when it changes.
pub struct Clients {
    pub verifying: HttpClient,
    pub unverified: HttpClient,
    builder: Builder,
    /// Per endpoint: the `updated_at` its client was made for, and the client.
    own: Mutex<HashMap<String, (Micros, HttpClient)>>,
}

/// What every client is made from.
struct Builder {
    policy: AddressPolicy,
    provider: Arc<CryptoProvider>,
    /// The operator's bundle (`--ca-bundle`).
    roots: Vec<CertificateDer<'static>>,
    concurrency: usize,
}

/// Past this many endpoints with their own TLS, the cache starts again.
const MAX_OWN: usize = 1_000;

/// `concurrency` is how many attempts may be under way at once: as many
/// connections to one host may be kept open between attempts.
pub fn build(
    policy: &AddressPolicy,
    ca_bundle: Option<&std::path::Path>,
    concurrency: usize,
) -> Result<Clients, ClientError> {
    // Idempotent: a second install (tests start many servers per process) is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut roots = Vec::new();
    if let Some(path) = ca_bundle {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| ClientError::Bundle(shown.clone(), e.to_string()))?;
        roots = certificates(&pem).map_err(|e| ClientError::Bundle(shown, e))?;
    }
    let builder = Builder {
        policy: policy.clone(),
        provider,
        roots,
        concurrency,
    };
    Ok(Clients {
        verifying: builder.client(Some(&[]), None)?,
        unverified: builder.client(None, None)?,
        builder,
        own: Mutex::default(),
    })
}

impl Clients {
    /// The client for `ep`'s attempts.
    pub fn for_endpoint(&self, ep: &EndpointRecord) -> Result<Cow<'_, HttpClient>, ClientError> {
        let verify = ep.options.ssl_verification != Some(false);
        let Some(tls) = ep.tls.as_ref().filter(|t| !t.is_empty()) else {
            return Ok(Cow::Borrowed(match verify {
                true => &self.verifying,
                false => &self.unverified,
            }));
        };
        if let Some((at, client)) = self.own.lock().expect("clients lock").get(&ep.id)
            && *at == ep.updated_at
        {
            return Ok(Cow::Owned(client.clone()));
        }
        let ca = match &tls.server_ca {
            Some(pem) => certificates(pem.as_bytes()).map_err(ClientError::Build)?,
            None => Vec::new(),
        };
        let identity = tls
            .identity
            .as_deref()
            .map(identity)
            .transpose()
            .map_err(ClientError::Build)?;
        let client = self.builder.client(verify.then_some(&ca), identity)?;
        let mut own = self.own.lock().expect("clients lock");
        if own.len() >= MAX_OWN {
            own.clear();
        }
        own.insert(ep.id.clone(), (ep.updated_at, client.clone()));
        Ok(Cow::Owned(client))
    }
}

impl Builder {
    /// A client that checks certificates against the usual roots plus
    /// `extra_roots` (`None`: checks none), presenting `identity` if given.
    fn client(
        &self,
        extra_roots: Option<&[CertificateDer<'static>]>,
        identity: Option<Identity>,
    ) -> Result<HttpClient, ClientError> {
        let build_err = |e: rustls::Error| ClientError::Build(e.to_string());
        let provider = self.provider.clone();
        let verifier: Arc<dyn ServerCertVerifier> = match extra_roots {
            None => Arc::new(AcceptAnyCertificate(provider.clone())),
            Some(extra) => {
                let roots: Vec<CertificateDer<'static>> = self.roots.iter().chain(extra).cloned().collect();
                match roots.is_empty() {
                    true => Arc::new(Verifier::new(provider.clone()).map_err(build_err)?),
                    false => Arc::new(Verifier::new_with_extra_roots(roots, provider.clone()).map_err(build_err)?),
                }
            }
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(build_err)?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        // ALPN (http/1.1) is set by the connector builder below.
        let tls = match identity {
            Some((chain, key)) => tls.with_client_auth_cert(chain, key).map_err(build_err)?,
            None => tls.with_no_client_auth(),
        };
        let mut http = HttpConnector::new_with_resolver(GuardedResolver {
            policy: self.policy.clone(),
        });
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
            .pool_max_idle_per_host(self.concurrency)
            .build(https))
    }
}

/// A client's certificate chain and private key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The certificates in a PEM text (at least one).
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    match certs.is_empty() {
        true => Err("no PEM certificate found".into()),
        false => Ok(certs),
    }
}

/// A PEM private key and certificate chain, checked to belong together.
pub fn identity(pem: &str) -> Result<Identity, String> {
    let chain = certificates(pem.as_bytes())?;
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("no usable PEM private key: {e}"))?;
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| format!("unsupported private key: {e}"))?;
    rustls::sign::CertifiedKey::new(chain.clone(), signing)
        .keys_match()
        .map_err(|e| format!("the key does not match the certificate: {e}"))?;
    Ok((chain, key))
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
