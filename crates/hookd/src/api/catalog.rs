//! The event catalogue as one document integrators can generate receiver
//! types from: an OpenAPI 3.1 document whose `webhooks` section has one
//! operation per event type, or one JSON Schema with a definition per type.

use axum::extract::State;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::Json;
use super::pagination::every;
use crate::contracts::newest_schema;
use crate::store::{EventTypeRecord, Page};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi_document))
        .routes(routes!(json_schema_document))
}

/// Every event type (archived ones too, if asked), in name order.
pub async fn catalogue(state: &AppState, include_archived: bool) -> ApiResult<Vec<EventTypeRecord>> {
    let list = |p: Page| async move { state.store.list_event_types(&p, include_archived).await };
    every(list, |e: &EventTypeRecord| e.name.clone()).await
}

/// The newest schema of an event type; one without a schema is any object.
fn schema_of(e: &EventTypeRecord) -> Value {
    let mut schema = newest_schema(e).map_or_else(|| json!({"type": "object"}), |(_, s)| s.clone());
    if let Value::Object(m) = &mut schema {
        m.entry("description")
            .or_insert_with(|| Value::String(e.description.clone()));
        if e.deprecated {
            m.insert("deprecated".into(), Value::Bool(true));
        }
    }
    schema
}

fn signature_headers() -> Value {
    let header = |name: &str, description: &str| json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}});
    json!([
        header(
            "webhook-id",
            "The message id: the same on every retry, so receivers can drop duplicates."
        ),
        header(
            "webhook-timestamp",
            "Seconds since the epoch when this attempt was signed."
        ),
        header(
            "webhook-signature",
            "Space-separated `v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">` (Standard Webhooks)."
        ),
    ])
}

/// The event catalogue as an OpenAPI 3.1 document with a `webhooks` section (hookd extension).
#[utoipa::path(get, path = "/api/v1/catalog/openapi.json", tag = "Event Type", operation_id = "hookd.catalog.openapi",
    responses((status = 200, description = "OpenAPI 3.1: one webhook per event type, its schema in components", body = Object)))]
async fn openapi_document(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(openapi(&catalogue(&state, false).await?)))
}

/// The OpenAPI 3.1 document of these event types.
pub fn openapi(types: &[EventTypeRecord]) -> Value {
    let mut webhooks = Map::new();
    let mut schemas = Map::new();
    for e in types {
        let mut op = json!({
            "operationId": e.name,
            "summary": e.description,
            "parameters": signature_headers(),
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": {"$ref": format!("#/components/schemas/{}", e.name)}}}},
            "responses": {"2XX": {"description": "Received. Anything else is retried."}},
        });
        if e.deprecated {
            op["deprecated"] = Value::Bool(true);
        }
        if let Some(group) = &e.group_name {
            op["tags"] = json!([group]);
        }
        if let Some((version, _)) = newest_schema(e) {
            op["x-schema-version"] = Value::String(version.to_owned());
        }
        webhooks.insert(e.name.clone(), json!({"post": op}));
        schemas.insert(e.name.clone(), schema_of(e));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Webhook events",
            "version": "1",
            "description": "The events delivered by this hookd, one webhook each, signed as Standard Webhooks.",
        },
        "webhooks": webhooks,
        "components": {"schemas": schemas},
    })
}

/// The event catalogue as one JSON Schema, one definition per event type (hookd extension).
#[utoipa::path(get, path = "/api/v1/catalog/schema.json", tag = "Event Type", operation_id = "hookd.catalog.json-schema",
    responses((status = 200, description = "JSON Schema 2020-12 with `$defs` keyed by event type", body = Object)))]
async fn json_schema_document(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Value>> {
    let types = catalogue(&state, false).await?;
    let defs: Map<String, Value> = types.iter().map(|e| (e.name.clone(), schema_of(e))).collect();
    let any_of: Vec<Value> = types
        .iter()
        .map(|e| json!({"$ref": format!("#/$defs/{}", e.name)}))
        .collect();
    Ok(Json(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Webhook event payloads",
        "$defs": defs,
        "anyOf": any_of,
    })))
}
