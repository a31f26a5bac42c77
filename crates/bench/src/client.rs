//! The benchmark's one HTTP client, for the direct phase and the publishers
//! alike: hyper-util's pooled HTTP/1 client over plain TCP, the same client
//! hookd delivers with, without TLS or a resolver of its own. The ratio is
//! against what the machine can do, so the baseline must be driven by a
//! client no heavier than hookd's own; a heavier one would lower the direct
//! figure and flatter hookd.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Clone)]
pub struct Http {
    inner: Client<HttpConnector, Full<Bytes>>,
    auth: Option<HeaderValue>,
}

/// An answer: its status and its whole body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Http {
    /// A client that sends `Authorization: Bearer token` when one is given.
    pub fn new(token: Option<&str>) -> Http {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        let auth = token.map(|t| HeaderValue::from_str(&format!("Bearer {t}")).expect("a token is header-safe"));
        Http { inner, auth }
    }

    /// POSTs a JSON body and reads the whole answer.
    pub async fn post_json(&self, url: &str, body: impl Into<Bytes>) -> Result<Answer, String> {
        let req = hyper::Request::post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body.into()))
            .map_err(|e| e.to_string())?;
        self.send(req).await
    }

    /// PATCHes a JSON body and reads the whole answer.
    pub async fn patch_json(&self, url: &str, body: impl Into<Bytes>) -> Result<Answer, String> {
        let req = hyper::Request::patch(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body.into()))
            .map_err(|e| e.to_string())?;
        self.send(req).await
    }

    /// GETs a URL and reads the whole answer.
    pub async fn get(&self, url: &str) -> Result<Answer, String> {
        let req = hyper::Request::get(url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        self.send(req).await
    }

    async fn send(&self, mut req: hyper::Request<Full<Bytes>>) -> Result<Answer, String> {
        if let Some(auth) = &self.auth {
            req.headers_mut().insert(AUTHORIZATION, auth.clone());
        }
        let res = self.inner.request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Answer { status, body })
    }
}
