//! Extractors whose rejections speak the API's error shapes: malformed JSON is
//! a 400, a missing field or a wrong type is a 422 that names the field.

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ValidationError};

pub struct Json<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    /// A body that cannot be read or parsed is refused only once the
    /// resources the path names are known to be the caller's: otherwise how
    /// a body is judged would tell a caller whether another application's
    /// ids exist. A body that parses costs no lookup here.
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map(|l| l.0).unwrap_or(usize::MAX);
        let (mut parts, body) = req.into_parts();
        let parsed = match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => parse_json(&bytes),
            Err(e) if too_large(&e) => Err(ApiError::TooLarge(limit)),
            Err(e) => Err(ApiError::BadRequest(format!("could not read the request body: {e}"))),
        };
        if parsed.is_err()
            && let Some(caller) = parts.extensions.get::<Caller>().cloned()
        {
            let params: Vec<(String, String)> = match RawPathParams::from_request_parts(&mut parts, state).await {
                Ok(p) => p.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
                Err(_) => Vec::new(),
            };
            let named: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            super::visibility::path_is_visible(state, &caller, &named).await?;
        }
        parsed.map(Json)
    }
}

/// Whether reading a body stopped at the size limit.
fn too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The request body limit in force, for error messages.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// An optional body: none (or `null`) is the default.
pub fn parse_optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.trim_ascii() {
        b"" | b"null" => Ok(T::default()),
        given => parse_json(given),
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde reads a struct from an array too; every body here is an object.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::invalid(&["body"], "must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest(format!("malformed JSON: {inner}"));
        }
        let mut loc = vec!["body".to_string()];
        let path = e.path().to_string();
        if path != "." {
            loc.extend(path.split('.').map(str::to_owned));
        }
        let msg = strip_position(&inner.to_string());
        if let Some(field) = msg.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            loc.push(field.to_string());
        }
        ApiError::Validation(vec![ValidationError {
            loc,
            msg,
            kind: "type_error".into(),
        }])
    })
}

fn strip_position(msg: &str) -> String {
    msg.split(" at line ").next().unwrap_or(msg).to_string()
}

/// Query strings, with repeated keys (`a=1&a=2`) allowed for lists.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or_default();
        // `key=` is neither absent nor a value: refused rather than read as
        // absent. A NUL is no value either (and PostgreSQL's text takes none).
        let pairs: Vec<(String, String)> = serde_html_form::from_str(q).unwrap_or_default();
        let empty: Vec<ValidationError> = (pairs.iter())
            .filter(|(_, v)| v.is_empty() || v.contains('\0'))
            .map(|(k, _)| ValidationError::new(&["query", k], "must not be empty or hold a NUL"))
            .collect();
        if !empty.is_empty() {
            return Err(ApiError::Validation(empty));
        }
        serde_html_form::from_str(q).map(Query).map_err(|e| {
            let msg = e.to_string();
            let field = msg.split('`').nth(1).unwrap_or("query").to_string();
            ApiError::Validation(vec![ValidationError {
                loc: vec!["query".into(), field],
                msg,
                kind: "type_error".into(),
            }])
        })
    }
}

/// For PATCH bodies: absent is `None`, `null` is `Some(None)`, a value is `Some(Some(v))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}
