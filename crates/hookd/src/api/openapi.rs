//! The served OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, OpenApiBuilder};

use super::AppState;

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
    components.add_security_scheme(
        "HTTPBearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    api
}

pub fn serve(api: OpenApi) -> Router<AppState> {
    let doc = serde_json::to_value(&api).expect("the OpenAPI document serialises");
    Router::new().route("/api/v1/openapi.json", get(move || async move { Json(doc.clone()) }))
}
