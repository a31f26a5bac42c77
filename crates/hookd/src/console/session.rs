//! The operator's console session: signing in with an operator token gives a
//! session token of its own, kept in an HttpOnly, SameSite=Strict cookie that
//! the API accepts in place of a bearer token. A request that changes
//! anything must also carry the session's CSRF token in `x-csrf-token`; the
//! page learns it from `GET /console/session`, which a page of another origin
//! cannot read. Portal (application) tokens never use the cookie: they travel
//! in the link's fragment and are sent as bearer tokens by the page.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::api::AppState;
use crate::api::auth::{Caller, Scope};
use crate::api::error::{ApiError, ApiResult};
use crate::ids::{self, Kind};
use crate::security::tokens;
use crate::store::TokenRecord;
use crate::time;

pub const COOKIE: &str = "hookd_console";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A console session lasts a working day.
const LIFETIME_SECS: i64 = 12 * 3600;

/// The CSRF token of a session: derived from the session token, so that
/// nothing more is stored and every node agrees on it.
pub fn csrf(session: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(session.as_bytes()).expect("any key length");
    mac.update(b"hookd console csrf");
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// The session token in the request's cookie, if any.
pub fn from_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 512)
}

/// Whether a request made with session `session` may go ahead: reading always,
/// changing only with the session's CSRF token.
pub fn csrf_ok(method: &Method, headers: &HeaderMap, session: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    headers
        .get(CSRF_HEADER)
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(csrf(session).as_bytes())))
}

#[derive(Deserialize)]
pub struct SignIn {
    token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionOut {
    /// Absent when not signed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<String>,
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let https = state
        .cfg
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::try_from(format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("token characters are header-safe")
}

/// Sign in with an operator token; the answer sets the session cookie.
pub async fn sign_in(State(state): State<AppState>, body: axum::body::Bytes) -> ApiResult<Response> {
    let body: SignIn = crate::api::extract::parse_json(&body)?;
    let token = body.token.trim();
    let caller = match token.is_empty() || token.len() > 512 {
        true => Err(ApiError::Unauthorized),
        false => state.tokens.resolve(&state, token).await,
    };
    match caller {
        Ok(Caller {
            scope: Scope::Admin, ..
        }) => {}
        Ok(_) => {
            return Err(ApiError::Forbidden(
                "the console signs in with an operator token; an application's link opens its portal",
            ));
        }
        Err(_) => return Err(ApiError::invalid(&["body", "token"], "this token is not valid")),
    }
    let session = tokens::generate("console");
    let now = time::now();
    state
        .store
        .insert_token(&TokenRecord {
            id: ids::new(Kind::Token),
            hash: tokens::hash(&session),
            app_id: None,
            read_only: false,
            expires_at: Some(now + LIFETIME_SECS * time::SECOND),
            revoked: false,
            created_at: now,
            session_id: None,
            name: Some("console session".into()),
            publish_only: false,
            endpoint_id: None,
            text: None,
        })
        .await?;
    let mut resp = Json(SessionOut {
        csrf: Some(csrf(&session)),
    })
    .into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, &session, LIFETIME_SECS));
    Ok(resp)
}

/// The signed-in session's CSRF token, or nothing when not signed in (an
/// answer, not an error: the page asks this on every load).
pub async fn current(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<SessionOut>> {
    let Some(session) = from_cookie(&headers) else {
        return Ok(Json(SessionOut { csrf: None }));
    };
    match state.tokens.resolve(&state, session).await {
        Ok(_) => Ok(Json(SessionOut {
            csrf: Some(csrf(session)),
        })),
        Err(ApiError::Unauthorized) => Ok(Json(SessionOut { csrf: None })),
        Err(e) => Err(e),
    }
}

/// Sign out: the session is revoked on the server, not only forgotten by the browser.
pub async fn sign_out(State(state): State<AppState>, method: Method, headers: HeaderMap) -> ApiResult<Response> {
    let session = from_cookie(&headers).ok_or(ApiError::Unauthorized)?;
    if !csrf_ok(&method, &headers, session) {
        return Err(ApiError::Forbidden("missing or wrong x-csrf-token"));
    }
    let caller = state.tokens.resolve(&state, session).await?;
    if let Some(id) = caller.token_id {
        state.store.revoke_token(&id).await?;
        state.tokens.forget(&id);
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie(&state, "", 0));
    Ok(resp)
}
