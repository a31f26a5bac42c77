//! Token issuing and revocation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications::{self, ApplicationIn};
use super::auth::{Caller, Scope};
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use crate::ids::{self, Kind};
use crate::security::tokens;
use crate::store::TokenRecord;
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(app_portal_access))
        .routes(routes!(logout))
        .routes(routes!(whoami))
        .routes(routes!(expire_all))
        .routes(routes!(create_message_token))
}

/// A session id as Svix takes them: 1 to 64 of letters, digits, `@`, `_` and `-`.
fn check_session(loc: &[&str], id: &str) -> ApiResult<()> {
    let ok = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"@_-".contains(&b));
    match ok {
        true => Ok(()),
        false => Err(ApiError::invalid(loc, "1 to 64 letters, digits, @, _ or -")),
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationTokenExpireIn {
    /// Seconds until the tokens expire (0 to 259200; default 0, at once).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub expiry: Option<i64>,
    /// Only the tokens issued for these sessions (`sessionId` of app-portal-access).
    pub session_ids: Option<Vec<String>>,
}

/// Expire an application's tokens (all, or those of some sessions), at once or after `expiry` seconds.
#[utoipa::path(post, path = "/api/v1/auth/app/{app_id}/expire-all", tag = "Authentication",
    operation_id = "v1.authentication.expire-all", params(("app_id" = String, Path)),
    request_body = ApplicationTokenExpireIn, responses((status = 204, description = "Expired")))]
async fn expire_all(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Json(body): Json<ApplicationTokenExpireIn>,
) -> ApiResult<StatusCode> {
    applications::require_admin_in(&state, &caller, &app_id).await?;
    let app = applications::lookup(&state, &app_id)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    let expiry = body.expiry.unwrap_or(0);
    if !(0..=259_200).contains(&expiry) {
        return Err(ApiError::invalid(&["body", "expiry"], "must be 0 to 259200 seconds"));
    }
    let sessions = body.session_ids.filter(|s| !s.is_empty());
    for s in sessions.iter().flatten() {
        check_session(&["body", "sessionIds"], s)?;
    }
    let at = time::now() + expiry * time::SECOND;
    state.store.expire_app_tokens(&app.id, sessions.as_deref(), at).await?;
    state.tokens.forget_app(&app.id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoamiOut {
    /// The application the token is limited to; absent for the operator's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// How the request was authenticated: `GlobalAuthToken` (the operator's
    /// token) or `Unknown` (an application's token).
    pub permission_source: &'static str,
    /// The token cannot change anything (hookd extension).
    pub read_only: bool,
}

/// Who the token is: the operator, or one application.
#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "Authentication", operation_id = "v1.authentication.whoami",
    responses((status = 200, body = WhoamiOut)))]
async fn whoami(caller: Caller) -> Json<WhoamiOut> {
    Json(match caller.scope {
        Scope::Admin => WhoamiOut {
            app_id: None,
            permission_source: "GlobalAuthToken",
            read_only: false,
        },
        Scope::App { app_id, read_only } => WhoamiOut {
            app_id: Some(app_id),
            permission_source: "Unknown",
            read_only,
        },
        Scope::Publisher { app_id } | Scope::Poller { app_id, .. } => WhoamiOut {
            app_id: Some(app_id),
            permission_source: "Unknown",
            read_only: false,
        },
    })
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppPortalAccessIn {
    /// Creates the application (with the path's uid) when it does not exist.
    pub application: Option<ApplicationIn>,
    /// A read-only token cannot change endpoints or send attempts.
    pub read_only: Option<bool>,
    /// `ViewBase`, `ViewEndpointSecret`, `ManageEndpointSecret`, `CreateAttempts`, `ManageEndpoint`…;
    /// without `ManageEndpoint` the token is read-only.
    pub capabilities: Option<Vec<String>>,
    pub feature_flags: Option<Vec<String>>,
    /// Seconds until the token expires (3600 to 604800, default 604800).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub expiry: Option<i64>,
    pub session_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AppPortalAccessOut {
    /// The console, signed in as this application.
    pub url: String,
    /// A bearer token that reaches this application only.
    pub token: String,
}

/// Issue a token that reaches one application only, and a link to the console with it.
#[utoipa::path(post, path = "/api/v1/auth/app-portal-access/{app_id}", tag = "Authentication",
    operation_id = "v1.authentication.app-portal-access",
    params(("app_id" = String, Path)), request_body = Option<AppPortalAccessIn>, responses((status = 200, body = AppPortalAccessOut)))]
async fn app_portal_access(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
) -> ApiResult<Json<AppPortalAccessOut>> {
    applications::require_admin_in(&state, &caller, &app_id).await?;
    let body: AppPortalAccessIn = super::extract::parse_optional_json(&body)?;
    let expiry = body.expiry.unwrap_or(604_800);
    if !(3600..=604_800).contains(&expiry) {
        return Err(ApiError::invalid(&["body", "expiry"], "must be 3600 to 604800 seconds"));
    }
    if let Some(session) = &body.session_id {
        check_session(&["body", "sessionId"], session)?;
    }
    if let Some(a) = &body.application {
        applications::check_new(a)?;
    }
    let app = match (applications::lookup(&state, &app_id).await?, body.application) {
        (Some(app), _) => app,
        (None, Some(new_app)) if !ids::is_valid(Kind::App, &app_id) => {
            applications::insert(&state, new_app, Some(app_id)).await?
        }
        (None, _) => return Err(ApiError::NotFound("application")),
    };
    let read_only = body.read_only.unwrap_or(false)
        || body
            .capabilities
            .as_ref()
            .is_some_and(|c| !c.iter().any(|c| c == "ManageEndpoint"));
    let token = tokens::generate("app");
    let now = time::now();
    state
        .store
        .insert_token(&TokenRecord {
            id: ids::new(Kind::Token),
            hash: tokens::hash(&token),
            app_id: Some(app.id.clone()),
            read_only,
            expires_at: Some(now + expiry * time::SECOND),
            revoked: false,
            created_at: now,
            session_id: body.session_id.clone(),
            name: None,
            publish_only: false,
            endpoint_id: None,
            text: None,
        })
        .await?;
    let base = match &state.cfg.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        // Without a configured public URL, the link points where this request was sent.
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| h.parse::<axum::http::uri::Authority>().is_ok());
            format!("http://{}", host.unwrap_or("localhost"))
        }
    };
    let url = format!("{base}/console/?app={}#token={token}", app.id);
    Ok(Json(AppPortalAccessOut { url, token }))
}

/// Revoke the token this request is made with.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "Authentication", operation_id = "v1.authentication.logout",
    responses((status = 204, description = "Revoked")))]
async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    let Some(id) = caller.token_id else {
        return Err(ApiError::Forbidden(
            "this token comes from configuration (--admin-token / HOOKD_ADMIN_TOKEN); change it there",
        ));
    };
    state.store.revoke_token(&id).await?;
    state.tokens.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Ten years: a message token may outlive a deploy, not the calendar.
const MAX_EXPIRY: i64 = 10 * 365 * 24 * 3600;

#[derive(Deserialize, ToSchema)]
pub struct CreateTokenIn {
    pub name: String,
    /// Seconds the token is valid for (none: it does not expire).
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub expiry: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenOut {
    pub id: String,
    pub token: String,
    pub name: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    pub scopes: Vec<String>,
}

/// Issue a token that may only create messages in this application (for a
/// producer that should not read or manage anything).
#[utoipa::path(post, path = "/api/v1/auth/app/{app_id}/create-message-token", tag = "Authentication",
    operation_id = "v1.authentication.create-message-token",
    params(("app_id" = String, Path)), request_body = CreateTokenIn, responses((status = 200, body = ApiTokenOut)))]
async fn create_message_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Json(body): Json<CreateTokenIn>,
) -> ApiResult<Json<ApiTokenOut>> {
    applications::require_admin_in(&state, &caller, &app_id).await?;
    let app = applications::lookup(&state, &app_id)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    let mut c = crate::api::validate::Checks::default();
    if !(1..=256).contains(&body.name.chars().count()) {
        c.fail(&["body", "name"], "must be 1 to 256 characters");
    }
    if body.expiry.is_some_and(|e| !(1..=MAX_EXPIRY).contains(&e)) {
        c.fail(&["body", "expiry"], format!("must be 1 to {MAX_EXPIRY} seconds"));
    }
    c.done()?;
    let token = tokens::generate("msg");
    let now = time::now();
    let expires_at = body.expiry.map(|e| now + e * time::SECOND);
    let id = ids::new(Kind::Token);
    state
        .store
        .insert_token(&TokenRecord {
            id: id.clone(),
            hash: tokens::hash(&token),
            app_id: Some(app.id),
            read_only: false,
            expires_at,
            revoked: false,
            created_at: now,
            session_id: None,
            name: Some(body.name.clone()),
            publish_only: true,
            endpoint_id: None,
            text: None,
        })
        .await?;
    Ok(Json(ApiTokenOut {
        id,
        token,
        name: Some(body.name),
        created_at: time::to_rfc3339(now),
        expires_at: expires_at.map(time::to_rfc3339),
        scopes: vec!["message:create".into()],
    }))
}
