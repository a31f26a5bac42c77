//! Applications: one per customer, addressable by id or by `uid`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::pagination::{ListParams, ListResponse, Ordering, Pager};
use super::validate::Checks;
use crate::ids::{self, Kind};
use crate::store::{AppRecord, Metadata};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, upsert, patch, delete))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    pub name: String,
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub throttle_rate: Option<i64>,
    pub uid: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "super::whole::nullable")]
    #[schema(value_type = Option<i64>)]
    pub throttle_rate: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub uid: Option<Option<String>>,
    pub metadata: Option<Metadata>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<i64>,
    pub id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub metadata: Metadata,
}

impl From<AppRecord> for ApplicationOut {
    fn from(a: AppRecord) -> Self {
        ApplicationOut {
            uid: a.uid,
            name: a.name,
            throttle_rate: a.throttle_rate,
            id: a.id,
            created_at: time::to_rfc3339(a.created_at),
            updated_at: time::to_rfc3339(a.updated_at),
            metadata: a.metadata,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateParams {
    /// Answer the existing application (200) when one has this `uid`.
    #[serde(default)]
    get_if_exists: bool,
}

/// An application as given to be created: checked whether or not it is
/// created (another request may have made it first).
pub fn check_new(a: &ApplicationIn) -> ApiResult<()> {
    check(&a.name, a.uid.as_ref(), a.throttle_rate)
}

fn check(name: &str, uid: Option<&String>, throttle: Option<i64>) -> ApiResult<()> {
    let mut c = Checks::default();
    c.check(
        !name.is_empty() && name.len() <= 256,
        &["body", "name"],
        "must be 1 to 256 characters",
    );
    c.opt_name(&["body", "uid"], uid, 256);
    c.throttle(&["body", "throttleRate"], throttle);
    if uid.is_some_and(|u| u.starts_with("app_")) {
        c.fail(&["body", "uid"], "must not look like an application id");
    }
    c.done()
}

/// For operator-only actions inside an application: another application's
/// token must not learn that the application exists (404); its own gets 403.
pub async fn require_admin_in(state: &AppState, caller: &Caller, id_or_uid: &str) -> ApiResult<()> {
    only_own(state, caller, id_or_uid).await?;
    caller.require_admin()
}

/// For creating messages: the operator, or a message token of this application.
pub async fn require_publisher_in(state: &AppState, caller: &Caller, id_or_uid: &str) -> ApiResult<()> {
    only_own(state, caller, id_or_uid).await?;
    caller.publish()
}

/// An application token names its own application, or learns nothing (404).
async fn only_own(state: &AppState, caller: &Caller, id_or_uid: &str) -> ApiResult<()> {
    if let Some(app_id) = caller.app_id() {
        let found = lookup(state, id_or_uid).await?;
        if found.is_none_or(|a| a.id != app_id) {
            return Err(ApiError::NotFound("application"));
        }
    }
    Ok(())
}

/// A tenant's application by id or uid: never the operational one, which
/// the API reaches only through `/operational-webhook`.
pub async fn lookup(state: &AppState, id_or_uid: &str) -> ApiResult<Option<AppRecord>> {
    let app = state.store.get_app(id_or_uid).await?;
    Ok(app.filter(|a| a.id != crate::store::OPERATIONAL_APP))
}

/// Finds an application the caller may read, by id or uid.
pub async fn find(state: &AppState, caller: &Caller, id_or_uid: &str) -> ApiResult<AppRecord> {
    let app = lookup(state, id_or_uid)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    caller.read(&app.id)?;
    Ok(app)
}

pub async fn insert(state: &AppState, body: ApplicationIn, uid_fallback: Option<String>) -> ApiResult<AppRecord> {
    // The path's uid, when it names the application, is checked as a given one.
    let uid = body.uid.or(uid_fallback);
    check(&body.name, uid.as_ref(), body.throttle_rate)?;
    let now = time::now();
    let app = AppRecord {
        id: ids::new(Kind::App),
        uid,
        name: body.name,
        throttle_rate: body.throttle_rate,
        metadata: body.metadata,
        created_at: now,
        updated_at: now,
    };
    state.store.create_app(&app).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => {
            ApiError::Conflict("an application with this uid already exists".into())
        }
        e => e.into(),
    })?;
    Ok(app)
}

/// `ListParams` and `search`, spelt out: through serde's `flatten` a query
/// string's numbers arrive as text and `limit` would not parse.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppListParams {
    /// Items per page, 1 to 250 (default 50).
    pub limit: Option<u64>,
    /// The cursor from a previous page.
    pub iterator: Option<String>,
    pub order: Option<Ordering>,
    /// Only applications whose name holds this text (in any case), or whose
    /// uid or id starts with it (hookd extension; 1 to 256 characters).
    pub search: Option<String>,
}

/// List applications.
#[utoipa::path(get, path = "/api/v1/app", tag = "Application", operation_id = "v1.application.list",
    params(AppListParams), responses((status = 200, body = ListResponse<ApplicationOut>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AppListParams>,
) -> ApiResult<Json<ListResponse<ApplicationOut>>> {
    caller.require_admin()?;
    let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > 256) {
        return Err(ApiError::invalid(
            &["query", "search"],
            "must be at most 256 characters",
        ));
    }
    let params = ListParams {
        limit: q.limit,
        iterator: q.iterator.clone(),
        order: q.order,
    };
    let pager = Pager::new(&params, Ordering::Ascending)?;
    let rows = state.store.list_apps(&pager.page, search).await?;
    Ok(Json(pager.finish(rows, |a| a.id.clone(), ApplicationOut::from)))
}

/// Create an application.
#[utoipa::path(post, path = "/api/v1/app", tag = "Application", operation_id = "v1.application.create",
    params(CreateParams), request_body = ApplicationIn,
    responses((status = 201, body = ApplicationOut), (status = 200, body = ApplicationOut), (status = 409, body = super::error::HttpErrorOut), (status = 422, body = super::error::HttpValidationError)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<CreateParams>,
    Json(body): Json<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    caller.require_admin()?;
    check_new(&body)?;
    if let (true, Some(uid)) = (params.get_if_exists, &body.uid)
        && let Some(existing) = lookup(&state, uid).await?
    {
        return Ok((StatusCode::OK, Json(existing.into())));
    }
    let app = insert(&state, body, None).await?;
    Ok((StatusCode::CREATED, Json(app.into())))
}

/// Get an application.
#[utoipa::path(get, path = "/api/v1/app/{app_id}", tag = "Application", operation_id = "v1.application.get",
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 200, body = ApplicationOut), (status = 404, body = super::error::HttpErrorOut)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(find(&state, &caller, &app_id).await?.into()))
}

/// Update an application, or create it with this uid.
#[utoipa::path(put, path = "/api/v1/app/{app_id}", tag = "Application", operation_id = "v1.application.upsert",
    params(("app_id" = String, Path, description = "The application's id or uid")), request_body = ApplicationIn,
    responses((status = 200, body = ApplicationOut), (status = 201, body = ApplicationOut)))]
async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Json(body): Json<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    require_admin_in(&state, &caller, &app_id).await?;
    let Some(mut app) = lookup(&state, &app_id).await? else {
        if ids::is_valid(Kind::App, &app_id) {
            return Err(ApiError::NotFound("application"));
        }
        let mut c = Checks::default();
        c.name(&["path", "app_id"], &app_id, 256);
        c.done()?;
        let app = insert(&state, body, Some(app_id)).await?;
        return Ok((StatusCode::CREATED, Json(app.into())));
    };
    check(&body.name, body.uid.as_ref(), body.throttle_rate)?;
    app.name = body.name;
    app.uid = body.uid.or(app.uid);
    app.throttle_rate = body.throttle_rate;
    app.metadata = body.metadata;
    save(&state, app).await.map(|a| (StatusCode::OK, a))
}

async fn save(state: &AppState, mut app: AppRecord) -> ApiResult<Json<ApplicationOut>> {
    app.updated_at = time::now();
    state.store.update_app(&app).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => {
            ApiError::Conflict("an application with this uid already exists".into())
        }
        e => e.into(),
    })?;
    Ok(Json(app.into()))
}

/// Partially update an application.
#[utoipa::path(patch, path = "/api/v1/app/{app_id}", tag = "Application", operation_id = "v1.application.patch",
    params(("app_id" = String, Path, description = "The application's id or uid")), request_body = ApplicationPatch,
    responses((status = 200, body = ApplicationOut)))]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Json(body): Json<ApplicationPatch>,
) -> ApiResult<Json<ApplicationOut>> {
    require_admin_in(&state, &caller, &app_id).await?;
    let mut app = find(&state, &caller, &app_id).await?;
    if let Some(name) = body.name {
        app.name = name;
    }
    if let Some(uid) = body.uid {
        app.uid = uid;
    }
    if let Some(rate) = body.throttle_rate {
        app.throttle_rate = rate;
    }
    if let Some(m) = body.metadata {
        app.metadata = m;
    }
    check(&app.name, app.uid.as_ref(), app.throttle_rate)?;
    save(&state, app).await
}

/// Delete an application with its endpoints, messages and attempts.
#[utoipa::path(delete, path = "/api/v1/app/{app_id}", tag = "Application", operation_id = "v1.application.delete",
    params(("app_id" = String, Path, description = "The application's id or uid")),
    responses((status = 204, description = "Deleted"), (status = 404, body = super::error::HttpErrorOut)))]
async fn delete(State(state): State<AppState>, caller: Caller, Path(app_id): Path<String>) -> ApiResult<StatusCode> {
    require_admin_in(&state, &caller, &app_id).await?;
    let app = find(&state, &caller, &app_id).await?;
    state.store.delete_app(&app.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
