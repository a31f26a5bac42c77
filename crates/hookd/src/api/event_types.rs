//! The event-type catalogue, shared by every application. Deleting archives;
//! `expunge=true` deletes for good.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query, nullable};
use super::pagination::{ListParams, ListResponse, Ordering, Pager};
use super::validate::Checks;
use crate::store::EventTypeRecord;
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, upsert, patch, delete))
}

#[derive(Deserialize, ToSchema)]
pub struct EventTypeIn {
    pub name: String,
    #[serde(flatten)]
    pub body: EventTypeUpsertIn,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeUpsertIn {
    pub description: String,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub deprecated: bool,
    /// JSON Schema per version, e.g. `{"1": {…}}`; examples go in each schema's `examples`.
    pub schemas: Option<serde_json::Value>,
    pub group_name: Option<String>,
    pub feature_flags: Option<Vec<String>>,
    /// Refuse published payloads that do not match the newest schema (422; hookd extension).
    #[serde(default)]
    pub validate_payloads: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypePatch {
    pub description: Option<String>,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Option<serde_json::Value>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub group_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub feature_flags: Option<Option<Vec<String>>>,
    pub validate_payloads: Option<bool>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schemas: Option<serde_json::Value>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_flags: Option<Vec<String>>,
    pub validate_payloads: bool,
}

impl From<EventTypeRecord> for EventTypeOut {
    fn from(e: EventTypeRecord) -> Self {
        EventTypeOut {
            name: e.name,
            description: e.description,
            archived: e.archived,
            deprecated: e.deprecated,
            schemas: e.schemas,
            created_at: time::to_rfc3339(e.created_at),
            updated_at: time::to_rfc3339(e.updated_at),
            group_name: e.group_name,
            feature_flags: e.feature_flags,
            validate_payloads: e.validate_payloads,
        }
    }
}

fn record(name: String, b: EventTypeUpsertIn, created_at: i64) -> EventTypeRecord {
    EventTypeRecord {
        name,
        description: b.description,
        archived: b.archived,
        deprecated: b.deprecated,
        schemas: b.schemas,
        group_name: b.group_name,
        feature_flags: b.feature_flags,
        validate_payloads: b.validate_payloads,
        created_at,
        updated_at: time::now(),
    }
}

pub(super) fn check(e: &EventTypeRecord) -> ApiResult<()> {
    let mut c = Checks::default();
    c.name(&["body", "name"], &e.name, 256);
    c.opt_name(&["body", "groupName"], e.group_name.as_ref(), 256);
    for f in e.feature_flags.iter().flatten() {
        c.name(&["body", "featureFlags"], f, 256);
    }
    if let Some(schemas) = &e.schemas {
        let ok = schemas
            .as_object()
            .is_some_and(|m| m.values().all(|v| v.is_object() || v.is_boolean()));
        c.check(
            ok,
            &["body", "schemas"],
            "must map each version to a JSON Schema object",
        );
    }
    if e.validate_payloads
        && let Err((version, msg)) = crate::contracts::compile(e)
    {
        c.fail(
            &["body", "schemas", &version],
            format!("not a usable JSON Schema: {msg}"),
        );
    }
    c.done()
}

async fn find(state: &AppState, name: &str) -> ApiResult<EventTypeRecord> {
    state
        .store
        .get_event_type(name)
        .await?
        .ok_or(ApiError::NotFound("event type"))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEventTypes {
    limit: Option<u64>,
    iterator: Option<String>,
    order: Option<Ordering>,
    #[serde(default)]
    include_archived: bool,
    /// Include each type's schemas.
    #[serde(default)]
    with_content: bool,
}

/// List event types.
#[utoipa::path(get, path = "/api/v1/event-type", tag = "Event Type", operation_id = "v1.event-type.list",
    params(ListEventTypes), responses((status = 200, body = ListResponse<EventTypeOut>)))]
async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<ListEventTypes>,
) -> ApiResult<Json<ListResponse<EventTypeOut>>> {
    let page = ListParams {
        limit: q.limit,
        iterator: q.iterator.clone(),
        order: q.order,
    };
    let pager = Pager::new(&page, Ordering::Ascending)?;
    let rows = state.store.list_event_types(&pager.page, q.include_archived).await?;
    Ok(Json(pager.finish(
        rows,
        |e| e.name.clone(),
        |mut e| {
            if !q.with_content {
                e.schemas = None;
            }
            EventTypeOut::from(e)
        },
    )))
}

/// Create an event type.
#[utoipa::path(post, path = "/api/v1/event-type", tag = "Event Type", operation_id = "v1.event-type.create",
    request_body = EventTypeIn, responses((status = 201, body = EventTypeOut), (status = 409, body = super::error::HttpErrorOut)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    caller.require_admin()?;
    let e = record(body.name, body.body, time::now());
    check(&e)?;
    state.store.create_event_type(&e).await.map_err(|err| match err {
        crate::store::StoreError::Conflict(_) => ApiError::Conflict(format!("event type {} already exists", e.name)),
        err => err.into(),
    })?;
    state.contracts.forget(&e.name);
    Ok((StatusCode::CREATED, Json(e.into())))
}

/// Get an event type.
#[utoipa::path(get, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type", operation_id = "v1.event-type.get",
    params(("event_type_name" = String, Path)), responses((status = 200, body = EventTypeOut), (status = 404, body = super::error::HttpErrorOut)))]
async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<EventTypeOut>> {
    Ok(Json(find(&state, &name).await?.into()))
}

/// Update an event type, or create it.
#[utoipa::path(put, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type", operation_id = "v1.event-type.upsert",
    params(("event_type_name" = String, Path)), request_body = EventTypeUpsertIn,
    responses((status = 200, body = EventTypeOut), (status = 201, body = EventTypeOut)))]
async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<EventTypeUpsertIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    caller.require_admin()?;
    let existing = state.store.get_event_type(&name).await?;
    let e = record(name, body, existing.as_ref().map_or_else(time::now, |e| e.created_at));
    check(&e)?;
    let status = if existing.is_some() {
        state.store.update_event_type(&e).await?;
        StatusCode::OK
    } else {
        state.store.create_event_type(&e).await?;
        StatusCode::CREATED
    };
    state.contracts.forget(&e.name);
    Ok((status, Json(e.into())))
}

/// Partially update an event type.
#[utoipa::path(patch, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type", operation_id = "v1.event-type.patch",
    params(("event_type_name" = String, Path)), request_body = EventTypePatch, responses((status = 200, body = EventTypeOut)))]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<EventTypePatch>,
) -> ApiResult<Json<EventTypeOut>> {
    caller.require_admin()?;
    let mut e = find(&state, &name).await?;
    if let Some(d) = body.description {
        e.description = d;
    }
    if let Some(a) = body.archived {
        e.archived = a;
    }
    if let Some(d) = body.deprecated {
        e.deprecated = d;
    }
    if let Some(s) = body.schemas {
        e.schemas = s;
    }
    if let Some(g) = body.group_name {
        e.group_name = g;
    }
    if let Some(f) = body.feature_flags {
        e.feature_flags = f;
    }
    if let Some(v) = body.validate_payloads {
        e.validate_payloads = v;
    }
    e.updated_at = time::now();
    check(&e)?;
    state.store.update_event_type(&e).await?;
    state.contracts.forget(&e.name);
    Ok(Json(e.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Delete for good instead of archiving.
    #[serde(default)]
    expunge: bool,
}

/// Archive an event type (or delete it with `expunge=true`).
#[utoipa::path(delete, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type", operation_id = "v1.event-type.delete",
    params(("event_type_name" = String, Path), DeleteParams), responses((status = 204, description = "Archived or deleted")))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<DeleteParams>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let mut e = find(&state, &name).await?;
    if q.expunge {
        state.store.delete_event_type(&name).await?;
    } else {
        e.archived = true;
        e.updated_at = time::now();
        state.store.update_event_type(&e).await?;
    }
    state.contracts.forget(&name);
    Ok(StatusCode::NO_CONTENT)
}
