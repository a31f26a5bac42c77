//! An endpoint's own TLS (Svix's `ca` and `mtls`): a CA its receiver's
//! certificate may chain to, and a client identity hookd presents for mutual
//! TLS. Both are kept sealed with the endpoint; the private key is never
//! answered back.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::endpoints::{find, save};
use super::error::{ApiError, ApiResult};
use super::extract::Json;
use crate::delivery::client;
use crate::store::{EndpointRecord, EndpointTls};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_server_ca, set_server_ca))
        .routes(routes!(get_mtls, set_mtls, delete_mtls))
        .routes(routes!(mtls_config))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct EndpointServerCa {
    /// PEM certificates the receiver's certificate may chain to, besides the
    /// usual roots; `null`: the usual roots only.
    pub cert: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct EndpointMtlsConfigIn {
    /// A PEM private key and the PEM certificate (chain) hookd presents.
    pub identity: String,
}

/// The identity in use, without its key.
#[derive(Serialize, ToSchema)]
pub struct EndpointMtlsConfigOut {
    /// The PEM certificates presented (hookd's addition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointMtlsOut {
    pub enabled: bool,
    pub config: Option<EndpointMtlsConfigOut>,
}

type EpPath = Path<(String, String)>;

/// Saves `ep` with its TLS settings changed by `change`.
async fn change_tls(
    state: &AppState,
    caller: &Caller,
    (app_id, ep_id): (String, String),
    change: impl FnOnce(&mut EndpointTls),
) -> ApiResult<StatusCode> {
    let (app, before) = find(state, caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    let mut ep = before.clone();
    let mut tls = ep.tls.take().unwrap_or_default();
    change(&mut tls);
    ep.tls = (!tls.is_empty()).then_some(tls);
    save(state, &app, &before, ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn tls(ep: &EndpointRecord) -> Option<&EndpointTls> {
    ep.tls.as_ref()
}

/// The CA the endpoint's receiver certificate is checked against.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/ca", tag = "Endpoint",
    operation_id = "v1.endpoint.get-server-ca", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointServerCa)))]
async fn get_server_ca(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): EpPath,
) -> ApiResult<Json<EndpointServerCa>> {
    let (_, ep) = find(&state, &caller, &p.0, &p.1).await?;
    Ok(Json(EndpointServerCa {
        cert: tls(&ep).and_then(|t| t.server_ca.clone()),
    }))
}

/// Set (or with `null` clear) the CA the endpoint's receiver certificate is checked against.
#[utoipa::path(put, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/ca", tag = "Endpoint",
    operation_id = "v1.endpoint.set-server-ca", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = EndpointServerCa, responses((status = 204, description = "Set")))]
async fn set_server_ca(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): EpPath,
    Json(body): Json<EndpointServerCa>,
) -> ApiResult<StatusCode> {
    if let Some(pem) = &body.cert {
        client::certificates(pem.as_bytes()).map_err(|e| ApiError::invalid(&["body", "cert"], e))?;
    }
    change_tls(&state, &caller, p, |t| t.server_ca = body.cert).await
}

/// Whether the endpoint presents a client certificate, and which.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls", tag = "Endpoint",
    operation_id = "v1.endpoint.get-mtls", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointMtlsConfigOut)))]
async fn get_mtls(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): EpPath,
) -> ApiResult<Json<EndpointMtlsConfigOut>> {
    let (_, ep) = find(&state, &caller, &p.0, &p.1).await?;
    config(&ep).map(Json).ok_or(ApiError::NotFound("mTLS configuration"))
}

/// The certificates of the endpoint's identity, never its key.
fn config(ep: &EndpointRecord) -> Option<EndpointMtlsConfigOut> {
    let identity = tls(ep)?.identity.as_deref()?;
    let chain = client::certificates(identity.as_bytes()).ok()?;
    let pem = chain
        .iter()
        .map(|c| pem_block("CERTIFICATE", c.as_ref()))
        .collect::<String>();
    Some(EndpointMtlsConfigOut { certificate: Some(pem) })
}

fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// Set the identity (PEM key and certificate) the endpoint presents for mutual TLS.
#[utoipa::path(put, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls", tag = "Endpoint",
    operation_id = "v1.endpoint.set-mtls-config", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    request_body = EndpointMtlsConfigIn, responses((status = 204, description = "Set")))]
async fn set_mtls(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): EpPath,
    Json(body): Json<EndpointMtlsConfigIn>,
) -> ApiResult<StatusCode> {
    client::identity(&body.identity).map_err(|e| ApiError::invalid(&["body", "identity"], e))?;
    change_tls(&state, &caller, p, |t| t.identity = Some(body.identity)).await
}

/// Stop presenting a client certificate.
#[utoipa::path(delete, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls", tag = "Endpoint",
    operation_id = "v1.endpoint.delete-mtls-config", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 204, description = "Removed")))]
async fn delete_mtls(State(state): State<AppState>, caller: Caller, Path(p): EpPath) -> ApiResult<StatusCode> {
    change_tls(&state, &caller, p, |t| t.identity = None).await
}

/// Whether mutual TLS is on for the endpoint, and with which certificate.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/mtls-config", tag = "Endpoint",
    operation_id = "v1.endpoint.get-mtls-2", params(("app_id" = String, Path), ("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointMtlsOut)))]
async fn mtls_config(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): EpPath,
) -> ApiResult<Json<EndpointMtlsOut>> {
    let (_, ep) = find(&state, &caller, &p.0, &p.1).await?;
    let config = config(&ep);
    Ok(Json(EndpointMtlsOut {
        enabled: config.is_some(),
        config,
    }))
}
