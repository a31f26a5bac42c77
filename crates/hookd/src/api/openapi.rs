//! The served OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, OpenApiBuilder};

use super::AppState;
use super::pagination::Ordering;
use utoipa::{PartialSchema, ToSchema};

pub fn base() -> OpenApi {
    let mut api = OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("hookd API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Webhook delivery server. Compatible with the Svix v1 API; hookd's own \
                     features are optional fields and extra paths.",
                ))
                .build(),
        )
        .build();
    let components = api.components.get_or_insert_with(Default::default);
    // Query parameters refer to it; utoipa registers only body schemas.
    components
        .schemas
        .insert(Ordering::name().into_owned(), Ordering::schema());
    components.add_security_scheme(
        "HTTPBearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    api
}

pub fn serve(api: OpenApi) -> Router<AppState> {
    let mut doc = serde_json::to_value(&api).expect("the OpenAPI document serialises");
    document_errors(&mut doc);
    super::openapi_rules::apply(&mut doc);
    Router::new().route("/api/v1/openapi.json", get(move || async move { Json(doc.clone()) }))
}

/// Every authenticated operation's error answers, as `ApiError` gives them
/// (`error.rs`, the one place errors become responses): which of them an
/// operation can answer follows from its shape, so they are added here once
/// rather than listed on each handler, where they would drift.
fn document_errors(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        if !path.starts_with("/api/") || path.starts_with("/api/v1/health") {
            continue;
        }
        let names_ids = path.contains('{');
        let Some(ops) = item.as_object_mut() else { continue };
        for (method, op) in ops.iter_mut() {
            let has_body = op.get("requestBody").is_some();
            let mut errors = vec![
                (
                    "400",
                    "The request is malformed (its JSON, or a request this operation cannot take).",
                    ERROR,
                ),
                ("401", "No token, or one that is unknown, expired or revoked.", ERROR),
                ("403", "The token may not do this.", ERROR),
                (
                    "422",
                    "A parameter or a field of the body is invalid; `detail` says which.",
                    VALIDATION,
                ),
                (
                    "503",
                    "The database is unavailable, or this node is shutting down: try again.",
                    ERROR,
                ),
            ];
            if names_ids {
                errors.push((
                    "404",
                    "Something the path names does not exist or is not the caller's.",
                    ERROR,
                ));
            }
            if method != "get" {
                errors.push((
                    "409",
                    "It conflicts with what is there (a taken uid, or an idempotency key in use).",
                    ERROR,
                ));
            }
            if has_body {
                errors.push(("413", "The body is larger than the server takes.", ERROR));
            }
            op["security"] = json!([{ "HTTPBearer": [] }]);
            let responses = &mut op["responses"];
            for (status, description, schema) in errors {
                if responses.get(status).is_none() {
                    responses[status] = json!({
                        "description": description,
                        "content": { "application/json": { "schema": { "$ref": schema } } },
                    });
                }
            }
        }
    }
}

const ERROR: &str = "#/components/schemas/HttpErrorOut";
const VALIDATION: &str = "#/components/schemas/HttpValidationError";
