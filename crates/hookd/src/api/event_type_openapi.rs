//! The event catalogue to and from OpenAPI documents: import creates or
//! updates an event type for each of a document's webhooks; export keeps the
//! catalogue's document (`catalog.rs`) in a finished `sdk.generate` task.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::background_tasks::TaskStartedOut;
use super::catalog::catalogue;
use super::error::{ApiError, ApiResult};
use super::event_types::check;
use super::extract::Json;
use crate::openapi_webhooks::{self, Found};
use crate::store::{EventTypeRecord, TaskKind};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import)).routes(routes!(export))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeImportOpenApiIn {
    /// The document, as JSON.
    #[schema(value_type = Option<Object>)]
    pub spec: Option<Value>,
    /// The document as text, YAML or JSON.
    pub spec_raw: Option<String>,
    /// Say what would change without changing it.
    #[serde(default)]
    pub dry_run: bool,
    /// Archive the event types the document does not name.
    #[serde(default)]
    pub replace_all: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeFromOpenApi {
    pub name: String,
    pub description: String,
    pub deprecated: bool,
    #[schema(value_type = Object)]
    pub schemas: Value,
    pub group_name: Option<String>,
    pub feature_flags: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct EventTypeImportOpenApiOutData {
    /// The event types changed (created, updated or archived); none on a dry run.
    pub modified: Vec<String>,
    /// The event types the document creates or changes.
    pub to_modify: Vec<EventTypeFromOpenApi>,
}

#[derive(Serialize, ToSchema)]
pub struct EventTypeImportOpenApiOut {
    pub data: EventTypeImportOpenApiOutData,
}

fn parse(body: &EventTypeImportOpenApiIn) -> ApiResult<Value> {
    match (&body.spec, &body.spec_raw) {
        (Some(spec), None) => Ok(spec.clone()),
        (None, Some(raw)) => yaml_serde::from_str::<Value>(raw)
            .map_err(|e| ApiError::invalid(&["body", "specRaw"], format!("neither YAML nor JSON: {e}"))),
        _ => Err(ApiError::invalid(
            &["body"],
            "give the document as either spec or specRaw",
        )),
    }
}

/// The record an imported event type becomes: the document's description,
/// schema (as version 1) and deprecation over what it was, not archived.
fn imported(found: Found, existing: Option<&EventTypeRecord>) -> EventTypeRecord {
    let now = time::now();
    let mut et = existing.cloned().unwrap_or_else(|| EventTypeRecord {
        name: found.name.clone(),
        description: String::new(),
        archived: false,
        deprecated: false,
        schemas: None,
        group_name: None,
        feature_flags: None,
        validate_payloads: false,
        created_at: now,
        updated_at: now,
    });
    et.description = found.description;
    et.deprecated = found.deprecated;
    et.archived = false;
    if !found.schema.is_null() {
        et.schemas = Some(json!({ "1": found.schema }));
    }
    et.updated_at = now;
    et
}

fn unchanged(a: &EventTypeRecord, b: &EventTypeRecord) -> bool {
    (&a.description, a.deprecated, a.archived, &a.schemas) == (&b.description, b.deprecated, b.archived, &b.schemas)
}

/// Create or update an event type for each webhook of an OpenAPI document
/// (or, lacking webhooks, each of its `components.schemas`).
#[utoipa::path(post, path = "/api/v1/event-type/import/openapi", tag = "Event Type",
    operation_id = "v1.event-type.import-openapi", request_body = EventTypeImportOpenApiIn,
    responses((status = 200, body = EventTypeImportOpenApiOut)))]
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<EventTypeImportOpenApiIn>,
) -> ApiResult<Json<EventTypeImportOpenApiOut>> {
    caller.require_admin()?;
    let doc = parse(&body)?;
    let found = openapi_webhooks::event_types_in(&doc).map_err(|e| ApiError::invalid(&["body", "spec"], e))?;
    let existing = catalogue(&state, true).await?;
    let named: HashSet<String> = found.iter().map(|f| f.name.clone()).collect();
    let mut changes = Vec::new();
    for f in found {
        let before = existing.iter().find(|e| e.name == f.name);
        let after = imported(f, before);
        check(&after)?;
        if before.is_none_or(|b| !unchanged(b, &after)) {
            changes.push((after, before.is_some()));
        }
    }
    let archive: Vec<EventTypeRecord> = existing
        .iter()
        .filter(|e| body.replace_all && !e.archived && !named.contains(&e.name))
        .map(|e| EventTypeRecord {
            archived: true,
            updated_at: time::now(),
            ..e.clone()
        })
        .collect();
    let mut modified = Vec::new();
    if !body.dry_run {
        for (et, exists) in &changes {
            match exists {
                true => state.store.update_event_type(et).await?,
                false => state.store.create_event_type(et).await?,
            }
            state.contracts.forget(&et.name);
            modified.push(et.name.clone());
        }
        for et in &archive {
            state.store.update_event_type(et).await?;
            modified.push(et.name.clone());
        }
    }
    let to_modify = changes
        .into_iter()
        .map(|(et, _)| EventTypeFromOpenApi {
            schemas: et.schemas.unwrap_or(Value::Null),
            name: et.name,
            description: et.description,
            deprecated: et.deprecated,
            group_name: et.group_name,
            feature_flags: et.feature_flags,
        })
        .collect();
    Ok(Json(EventTypeImportOpenApiOut {
        data: EventTypeImportOpenApiOutData { modified, to_modify },
    }))
}

/// Write the event catalogue (not archived) as an OpenAPI document: a
/// finished `sdk.generate` task whose `data.spec` is the document.
#[utoipa::path(post, path = "/api/v1/event-type/export/openapi", tag = "Event Type",
    operation_id = "v1.event-type.export-openapi", responses((status = 202, body = TaskStartedOut)))]
async fn export(State(state): State<AppState>, caller: Caller) -> ApiResult<(StatusCode, Json<TaskStartedOut>)> {
    caller.require_admin()?;
    let current = catalogue(&state, false).await?;
    let spec = super::catalog::openapi(&current);
    let task = state
        .store
        .finish_task(TaskKind::SdkGenerate, json!({ "spec": spec }), current.len() as i64)
        .await?;
    state.engine.wrote_operational_events();
    Ok((StatusCode::ACCEPTED, Json(task.into())))
}
