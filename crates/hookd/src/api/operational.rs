//! Svix's `/operational-webhook/endpoint`: the operator's own endpoints,
//! which receive operational events (see `crate::operational`). They are
//! endpoints of the operational application, kept and checked like any other;
//! only the operator reaches them.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::endpoint_extras::{self, EndpointHeadersIn, EndpointHeadersOut, EndpointSecretOut};
use super::endpoints::{self, EndpointIn};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::pagination::{ListParams, ListResponse, Ordering, Pager};
use crate::ids::{self, Kind};
use crate::operational::OPERATIONAL_APP;
use crate::store::{AppRecord, EndpointRecord, Metadata};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, upsert, delete))
        .routes(routes!(get_secret))
        .routes(routes!(rotate_secret))
        .routes(routes!(get_headers, set_headers))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointIn {
    pub url: String,
    #[serde(default)]
    pub description: String,
    #[serde(alias = "rateLimit")]
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub throttle_rate: Option<i64>,
    pub uid: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    /// Operational events to receive (all when absent); older clients call it `filterTypes`.
    #[serde(alias = "filterTypes")]
    pub event_types: Option<Vec<String>>,
    pub secret: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    pub headers: Option<BTreeMap<String, String>>,
}

impl From<OperationalWebhookEndpointIn> for EndpointIn {
    fn from(b: OperationalWebhookEndpointIn) -> Self {
        EndpointIn {
            url: b.url,
            description: b.description,
            throttle_rate: b.throttle_rate,
            uid: b.uid,
            disabled: b.disabled,
            event_types: b.event_types,
            channels: None,
            secret: b.secret,
            metadata: b.metadata,
            headers: b.headers,
            version: None,
            options: Default::default(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointOut {
    pub id: String,
    pub url: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<i64>,
    /// For older clients: the same as `throttleRate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// For older clients: the same as `eventTypes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_types: Option<Vec<String>>,
    pub metadata: Metadata,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<EndpointRecord> for OperationalWebhookEndpointOut {
    fn from(e: EndpointRecord) -> Self {
        OperationalWebhookEndpointOut {
            id: e.id,
            url: crate::security::url_password::masked(&e.url),
            description: e.description,
            throttle_rate: e.throttle_rate,
            rate_limit: e.throttle_rate,
            uid: e.uid,
            disabled: e.disabled,
            filter_types: e.event_types.clone(),
            event_types: e.event_types,
            metadata: e.metadata,
            created_at: time::to_rfc3339(e.created_at),
            updated_at: time::to_rfc3339(e.updated_at),
        }
    }
}

/// The operational application, for the operator only.
async fn app(state: &AppState, caller: &Caller) -> ApiResult<AppRecord> {
    caller.require_admin()?;
    state
        .store
        .get_app(OPERATIONAL_APP)
        .await?
        .ok_or(ApiError::NotFound("operational application"))
}

async fn find(state: &AppState, caller: &Caller, ep_id: &str) -> ApiResult<(AppRecord, EndpointRecord)> {
    let app = app(state, caller).await?;
    let ep = state
        .store
        .get_endpoint(&app.id, ep_id)
        .await?
        .ok_or(ApiError::NotFound("endpoint"))?;
    Ok((app, ep))
}

/// List the operational webhook endpoints.
#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint", tag = "Webhook Endpoint",
    operation_id = "v1.operational-webhook.endpoint.list", params(ListParams),
    responses((status = 200, body = ListResponse<OperationalWebhookEndpointOut>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<ListResponse<OperationalWebhookEndpointOut>>> {
    let app = app(&state, &caller).await?;
    let pager = Pager::new(&params, Ordering::Ascending)?;
    let rows = state.store.list_endpoints(&app.id, &pager.page).await?;
    Ok(Json(pager.finish(rows, |e| e.id.clone(), Into::into)))
}

/// Create an operational webhook endpoint; a secret is generated unless one is given.
#[utoipa::path(post, path = "/api/v1/operational-webhook/endpoint", tag = "Webhook Endpoint",
    operation_id = "v1.operational-webhook.endpoint.create", request_body = OperationalWebhookEndpointIn,
    responses((status = 201, body = OperationalWebhookEndpointOut), (status = 422, body = super::error::HttpValidationError)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<OperationalWebhookEndpointIn>,
) -> ApiResult<(StatusCode, Json<OperationalWebhookEndpointOut>)> {
    let app = app(&state, &caller).await?;
    let ep = endpoints::insert(&state, &app, body.into(), None).await?;
    Ok((StatusCode::CREATED, Json(ep.into())))
}

/// Get an operational webhook endpoint, by id or uid.
#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Webhook Endpoint",
    operation_id = "v1.operational-webhook.endpoint.get", params(("endpoint_id" = String, Path)),
    responses((status = 200, body = OperationalWebhookEndpointOut)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep_id): Path<String>,
) -> ApiResult<Json<OperationalWebhookEndpointOut>> {
    Ok(Json(find(&state, &caller, &ep_id).await?.1.into()))
}

/// Update an operational webhook endpoint, or create it with this uid.
#[utoipa::path(put, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Webhook Endpoint",
    operation_id = "v1.operational-webhook.endpoint.upsert", params(("endpoint_id" = String, Path)),
    request_body = OperationalWebhookEndpointIn,
    responses((status = 200, body = OperationalWebhookEndpointOut), (status = 201, body = OperationalWebhookEndpointOut)))]
async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep_id): Path<String>,
    Json(body): Json<OperationalWebhookEndpointIn>,
) -> ApiResult<(StatusCode, Json<OperationalWebhookEndpointOut>)> {
    let app = app(&state, &caller).await?;
    let Some(before) = state.store.get_endpoint(&app.id, &ep_id).await? else {
        if ids::is_valid(Kind::Endpoint, &ep_id) {
            return Err(ApiError::NotFound("endpoint"));
        }
        let ep = endpoints::insert(&state, &app, body.into(), Some(ep_id)).await?;
        return Ok((StatusCode::CREATED, Json(ep.into())));
    };
    let mut ep = before.clone();
    ep.url = body.url;
    ep.description = body.description;
    ep.throttle_rate = body.throttle_rate;
    ep.uid = body.uid.or(ep.uid);
    if ep.disabled && !body.disabled {
        ep.first_failure_at = None;
    }
    ep.disabled = body.disabled;
    ep.event_types = body.event_types.filter(|t| !t.is_empty());
    ep.metadata = body.metadata;
    if let Some(headers) = body.headers {
        ep.headers = headers;
    }
    if let Some(secret) = body.secret {
        ep.secret = secret;
    }
    let ep = endpoints::save(&state, &app, &before, ep).await?;
    Ok((StatusCode::OK, Json(ep.into())))
}

/// Delete an operational webhook endpoint.
#[utoipa::path(delete, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}", tag = "Webhook Endpoint",
    operation_id = "v1.operational-webhook.endpoint.delete", params(("endpoint_id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
async fn delete(State(state): State<AppState>, caller: Caller, Path(ep_id): Path<String>) -> ApiResult<StatusCode> {
    let (app, ep) = find(&state, &caller, &ep_id).await?;
    endpoints::remove(&state, &app, &ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Get an operational webhook endpoint's signing secret.
#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret", tag = "Webhook Endpoint",
    operation_id = "v1.operational-webhook.endpoint.get-secret", params(("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointSecretOut)))]
async fn get_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep_id): Path<String>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let (_, ep) = find(&state, &caller, &ep_id).await?;
    EndpointSecretOut::of(&ep).await.map(Json)
}

/// Rotate an operational webhook endpoint's secret; the old one keeps signing for the grace period.
#[utoipa::path(post, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate", tag = "Webhook Endpoint",
    operation_id = "v1.operational-webhook.endpoint.rotate-secret", params(("endpoint_id" = String, Path)),
    request_body = endpoint_extras::EndpointSecretRotateIn, responses((status = 200, body = EndpointSecretOut)))]
async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep_id): Path<String>,
    body: bytes::Bytes,
) -> ApiResult<Json<EndpointSecretOut>> {
    let (app, ep) = find(&state, &caller, &ep_id).await?;
    endpoint_extras::rotate(&state, &app, ep, &body).await.map(Json)
}

/// Get the headers sent with every operational webhook to this endpoint.
#[utoipa::path(get, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", tag = "Webhook Endpoint",
    operation_id = "v1.operational-webhook.endpoint.get-headers", params(("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointHeadersOut)))]
async fn get_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep_id): Path<String>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let (_, ep) = find(&state, &caller, &ep_id).await?;
    Ok(Json(endpoint_extras::headers_out(ep)))
}

/// Replace the headers sent with every operational webhook to this endpoint.
#[utoipa::path(put, path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers", tag = "Webhook Endpoint",
    operation_id = "v1.operational-webhook.endpoint.set-headers", params(("endpoint_id" = String, Path)),
    request_body = EndpointHeadersIn, responses((status = 204, description = "Set")))]
async fn set_headers(
    State(state): State<AppState>,
    caller: Caller,
    Path(ep_id): Path<String>,
    Json(body): Json<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    let (app, before) = find(&state, &caller, &ep_id).await?;
    let mut ep = before.clone();
    ep.headers = body.headers;
    endpoints::save(&state, &app, &before, ep).await?;
    Ok(StatusCode::NO_CONTENT)
}
