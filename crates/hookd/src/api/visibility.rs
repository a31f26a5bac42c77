//! Whether the resources a request's path names exist for its caller, asked
//! before telling the caller its body is wrong (see `extract::Json`). A token
//! scoped to one application gets 404 for another's ids whatever it sends.

use super::AppState;
use super::applications;
use super::auth::{Caller, Scope};
use super::error::{ApiError, ApiResult};

/// Ok when the application, endpoint and message the path names (by the
/// route's parameter names) are there and the caller's to reach.
pub async fn path_is_visible(state: &AppState, caller: &Caller, params: &[(&str, &str)]) -> ApiResult<()> {
    let param = |name: &str| params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let Some(app_id) = param("app_id") else {
        return Ok(());
    };
    let app = applications::lookup(state, app_id)
        .await?
        .filter(|app| reaches(caller, &app.id))
        .ok_or(ApiError::NotFound("application"))?;
    if let Some(ep) = param("endpoint_id").or(param("sink_id")) {
        state
            .store
            .get_endpoint(&app.id, ep)
            .await?
            .ok_or(ApiError::NotFound("endpoint"))?;
    }
    if let Some(msg) = param("msg_id") {
        state
            .store
            .get_message(&app.id, msg)
            .await?
            .ok_or(ApiError::NotFound("message"))?;
    }
    Ok(())
}

/// Whether the caller's token reaches application `app_id` at all (what it
/// may do there is the handler's to say).
fn reaches(caller: &Caller, app_id: &str) -> bool {
    match &caller.scope {
        Scope::Admin => true,
        Scope::App { app_id: own, .. } | Scope::Publisher { app_id: own } | Scope::Poller { app_id: own, .. } => {
            own == app_id
        }
    }
}
