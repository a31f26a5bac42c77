//! The web console and the embeddable consumer portal, served at `/console/`.
//!
//! One page and its script serve both audiences. The operator signs in with
//! an operator token and is then known by a session cookie ([`session`]); a
//! consumer opens a portal link, whose application token travels in the URL
//! fragment (never sent to a server or written to a log) and is kept by the
//! page in `sessionStorage`, so the portal works inside an iframe where
//! third-party cookies are blocked. Either way the page only calls the public
//! API, so it sees exactly what its token may see, through the same indexed
//! queries.
//!
//! Everything a stranger wrote is put into the page as text nodes, never as
//! markup, and the Content-Security-Policy allows scripts from this origin
//! only, so a payload that holds HTML stays text.

pub mod session;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::api::AppState;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");
const ICON: &str = include_str!("assets/icon.svg");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(index))
        .route(
            "/console/console.js",
            get(|| asset(SCRIPT, "text/javascript; charset=utf-8")),
        )
        .route("/console/console.css", get(|| asset(STYLE, "text/css; charset=utf-8")))
        .route("/console/icon.svg", get(|| asset(ICON, "image/svg+xml")))
        .route(
            "/console/session",
            get(session::current).post(session::sign_in).delete(session::sign_out),
        )
}

/// The page, with the policy that keeps it to its own scripts and to the
/// framing the operator allows.
async fn index(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors {}",
        state.cfg.portal_frame_ancestors
    );
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX,
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::try_from(csp).expect("checked when the configuration was read"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure_headers(h);
    resp
}

async fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, kind)], body).into_response();
    // The assets change with the binary; a restart must not leave a stale script.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure_headers(resp.headers_mut());
    resp
}

fn secure_headers(h: &mut axum::http::HeaderMap) {
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}
