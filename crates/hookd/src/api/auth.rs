//! Bearer tokens. The operator's token reaches everything; a token from
//! app-portal-access reaches one application: another application's ids answer
//! 404 (it cannot learn they exist) and operator-only actions answer 403. A
//! message token (create-message-token) may only create messages in its
//! application: everything else there answers 403.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::console::session;
use crate::security::tokens;
use crate::time;

#[derive(Clone, Debug)]
pub enum Scope {
    Admin,
    App {
        app_id: String,
        read_only: bool,
    },
    /// May only create messages in this application.
    Publisher {
        app_id: String,
    },
    /// May only read this endpoint's messages through the poller API.
    Poller {
        app_id: String,
        endpoint_id: String,
    },
}

/// Who is calling; put in the request's extensions by [`authenticate`].
#[derive(Clone, Debug)]
pub struct Caller {
    /// `None` for the operator token given in configuration.
    pub token_id: Option<String>,
    pub scope: Scope,
}

impl Caller {
    /// A key that separates callers' idempotency keys.
    pub fn principal(&self) -> String {
        match &self.scope {
            Scope::Admin => "admin".into(),
            Scope::App { app_id, .. } | Scope::Publisher { app_id } | Scope::Poller { app_id, .. } => app_id.clone(),
        }
    }

    /// The one application a token reaches (`None`: the operator's).
    pub fn app_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Admin => None,
            Scope::App { app_id, .. } | Scope::Publisher { app_id } | Scope::Poller { app_id, .. } => Some(app_id),
        }
    }

    pub fn require_admin(&self) -> ApiResult<()> {
        match self.scope {
            Scope::Admin => Ok(()),
            Scope::App { .. } | Scope::Publisher { .. } | Scope::Poller { .. } => {
                Err(ApiError::Forbidden("this token is limited to one application"))
            }
        }
    }

    /// Reading inside application `app_id`.
    pub fn read(&self, app_id: &str) -> ApiResult<()> {
        match &self.scope {
            Scope::Admin => Ok(()),
            Scope::App { app_id: own, .. } if own == app_id => Ok(()),
            Scope::Publisher { app_id: own } if own == app_id => Err(PUBLISH_ONLY),
            Scope::Poller { app_id: own, .. } if own == app_id => Err(POLL_ONLY),
            Scope::App { .. } | Scope::Publisher { .. } | Scope::Poller { .. } => {
                Err(ApiError::NotFound("application"))
            }
        }
    }

    /// Creating messages in application `app_id` (already found to be the
    /// caller's, for application tokens).
    pub fn publish(&self) -> ApiResult<()> {
        match self.scope {
            Scope::Admin | Scope::Publisher { .. } => Ok(()),
            Scope::App { .. } => Err(ApiError::Forbidden("this token is limited to one application")),
            Scope::Poller { .. } => Err(POLL_ONLY),
        }
    }

    /// Managing endpoints and attempts inside application `app_id`.
    pub fn manage(&self, app_id: &str) -> ApiResult<()> {
        self.read(app_id)?;
        match self.scope {
            Scope::App { read_only: true, .. } => Err(ApiError::Forbidden("this token is read-only")),
            _ => Ok(()),
        }
    }
}

const POLL_ONLY: ApiError = ApiError::Forbidden("this token may only read its endpoint's messages");
const PUBLISH_ONLY: ApiError = ApiError::Forbidden("this token may only create messages");

/// Recently seen tokens, so that a busy producer does not cost a read per request.
/// Revocation through this node takes effect at once; through another, within [`CACHE_TTL`].
pub struct TokenCache {
    admin_hash: Option<String>,
    seen: Mutex<HashMap<String, Seen>>,
    /// Hashes recently found to be no token at all, so that a flood of bad
    /// tokens is answered from memory instead of the database.
    unknown: Mutex<HashMap<String, Instant>>,
}

/// A caller, its token's expiry, and when it was looked up.
type Seen = (Caller, Option<i64>, Instant);

const CACHE_TTL: Duration = Duration::from_secs(5);

impl TokenCache {
    pub fn new(configured_admin_token: Option<&str>) -> Self {
        TokenCache {
            admin_hash: configured_admin_token.map(tokens::hash),
            seen: Mutex::new(HashMap::new()),
            unknown: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets what it knows of application `app_id`'s tokens.
    pub fn forget_app(&self, app_id: &str) {
        self.seen
            .lock()
            .expect("token cache")
            .retain(|_, (c, _, _)| c.app_id() != Some(app_id));
    }

    /// Forgets what it knows of an endpoint's poller tokens.
    pub fn forget_endpoint(&self, endpoint_id: &str) {
        self.seen
            .lock()
            .expect("token cache")
            .retain(|_, (c, _, _)| !matches!(&c.scope, Scope::Poller { endpoint_id: e, .. } if e == endpoint_id));
    }

    pub fn forget(&self, token_id: &str) {
        self.seen
            .lock()
            .expect("token cache")
            .retain(|_, (c, _, _)| c.token_id.as_deref() != Some(token_id));
    }

    pub async fn resolve(&self, state: &AppState, token: &str) -> ApiResult<Caller> {
        let hash = tokens::hash(token);
        if self.admin_hash.as_deref() == Some(hash.as_str()) {
            return Ok(Caller {
                token_id: None,
                scope: Scope::Admin,
            });
        }
        let now = time::now();
        if let Some((caller, expires, at)) = self.seen.lock().expect("token cache").get(&hash).cloned()
            && at.elapsed() < CACHE_TTL
            && expires.is_none_or(|e| e > now)
        {
            return Ok(caller);
        }
        if self
            .unknown
            .lock()
            .expect("token cache")
            .get(&hash)
            .is_some_and(|at| at.elapsed() < CACHE_TTL)
        {
            return Err(ApiError::Unauthorized);
        }
        let Some(rec) = state.store.find_token(&hash).await? else {
            let mut unknown = self.unknown.lock().expect("token cache");
            if unknown.len() > 100_000 {
                unknown.clear();
            }
            unknown.insert(hash, Instant::now());
            return Err(ApiError::Unauthorized);
        };
        if rec.revoked || rec.expires_at.is_some_and(|e| e <= now) {
            return Err(ApiError::Unauthorized);
        }
        let scope = match rec.app_id {
            None => Scope::Admin,
            Some(app_id) if rec.publish_only => Scope::Publisher { app_id },
            Some(app_id) if let Some(endpoint_id) = rec.endpoint_id => Scope::Poller { app_id, endpoint_id },
            Some(app_id) => Scope::App {
                app_id,
                read_only: rec.read_only,
            },
        };
        let caller = Caller {
            token_id: Some(rec.id),
            scope,
        };
        let mut seen = self.seen.lock().expect("token cache");
        if seen.len() > 10_000 {
            seen.clear();
        }
        seen.insert(hash, (caller.clone(), rec.expires_at, Instant::now()));
        Ok(caller)
    }
}

/// Finds the caller: a bearer token, or else the console's session cookie
/// (whose requests that change anything must carry its CSRF token).
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let bearer = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 512);
    let token = match bearer {
        Some(token) => token,
        None => match session::from_cookie(req.headers()) {
            Some(s) if session::csrf_ok(req.method(), req.headers(), s) => s,
            Some(_) => return ApiError::Forbidden("missing or wrong x-csrf-token").into_response(),
            None => return ApiError::Unauthorized.into_response(),
        },
    };
    match state.tokens.resolve(&state, token).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> ApiResult<Caller> {
        parts.extensions.get::<Caller>().cloned().ok_or(ApiError::Unauthorized)
    }
}
