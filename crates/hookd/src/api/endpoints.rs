//! Endpoints: where an application's messages go, and how.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::applications;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query, nullable};
use super::pagination::{ListParams, ListResponse, Ordering, Pager};
use super::validate::Checks;
use crate::delivery::is_reserved_header;
use crate::ids::{self, Kind};
use crate::operational;
use crate::routing;
use crate::security::{self, url_password};
use crate::store::{
    AppRecord, EndpointOptions, EndpointRecord, Metadata, OperationalKind, Scheme, Signature, StoreError,
};
use crate::time;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, upsert, patch, delete))
        .routes(routes!(
            super::endpoint_extras::get_headers,
            super::endpoint_extras::set_headers,
            super::endpoint_extras::patch_headers
        ))
        .routes(routes!(super::endpoint_extras::get_secret))
        .routes(routes!(super::endpoint_extras::rotate_secret))
        .routes(routes!(super::endpoint_extras::recover))
        .routes(routes!(super::replay::replay_missing))
        .routes(routes!(super::replay::bulk_replay))
        .routes(routes!(super::transformation::get, super::transformation::patch))
        .routes(routes!(super::transformation::simulate))
        .routes(routes!(super::endpoint_extras::cancel_msgs))
        .routes(routes!(super::endpoint_extras::send_example))
        .routes(routes!(super::endpoint_extras::stats))
        .routes(routes!(super::endpoint_extras::rate_limit_status))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// Messages per second at most; older clients call it `rateLimit`.
    #[serde(alias = "rateLimit")]
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub throttle_rate: Option<i64>,
    pub uid: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    /// Event types, `*`, or prefixes like `invoice.*`; older clients call it `filterTypes`.
    #[serde(alias = "filterTypes")]
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub secret: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub version: Option<i64>,
    /// hookd's own settings: `retrySchedule`, `attemptTimeout`, `signature`, `sslVerification`,
    /// `filter` and `envelope`.
    #[serde(flatten)]
    pub options: EndpointOptions,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    #[serde(default, alias = "rateLimit", deserialize_with = "super::whole::nullable")]
    #[schema(value_type = Option<i64>)]
    pub throttle_rate: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub uid: Option<Option<String>>,
    pub disabled: Option<bool>,
    #[serde(default, alias = "filterTypes", deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub channels: Option<Option<Vec<String>>>,
    pub metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "super::whole::opt")]
    pub version: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<f64>>)]
    pub retry_schedule: Option<Option<Vec<f64>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f64>)]
    pub attempt_timeout: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Signature>)]
    pub signature: Option<Option<Signature>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub ssl_verification: Option<Option<bool>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Option<crate::filter::Filter>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<crate::store::Envelope>)]
    pub envelope: Option<Option<crate::store::Envelope>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<crate::store::DeliveryOrder>)]
    pub ordering: Option<Option<crate::store::DeliveryOrder>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub ordering_key: Option<Option<String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    pub id: String,
    pub metadata: Metadata,
    pub url: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// For older clients: the same as `eventTypes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_types: Option<Vec<String>>,
    /// For older clients: the same as `throttleRate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<i64>,
    pub version: i64,
    /// When its deliveries began failing without a success since (hookd extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub failing_since: Option<String>,
    #[serde(flatten)]
    pub options: EndpointOptions,
}

impl From<EndpointRecord> for EndpointOut {
    fn from(e: EndpointRecord) -> Self {
        EndpointOut {
            id: e.id,
            metadata: e.metadata,
            url: url_password::masked(&e.url),
            description: e.description,
            throttle_rate: e.throttle_rate,
            uid: e.uid,
            disabled: e.disabled,
            filter_types: e.event_types.clone(),
            event_types: e.event_types,
            channels: e.channels,
            created_at: time::to_rfc3339(e.created_at),
            updated_at: time::to_rfc3339(e.updated_at),
            rate_limit: e.throttle_rate,
            version: e.version,
            failing_since: e.first_failure_at.map(time::to_rfc3339),
            options: e.options,
        }
    }
}

/// Normalises an empty list to "none given", as older clients send `[]` for "all".
fn non_empty(v: Option<Vec<String>>) -> Option<Vec<String>> {
    v.filter(|v| !v.is_empty())
}

/// Checks an endpoint as it would be stored, including that its event types exist.
pub async fn check(state: &AppState, e: &EndpointRecord) -> ApiResult<()> {
    let mut c = Checks::default();
    c.url(&["body", "url"], &e.url);
    c.opt_name(&["body", "uid"], e.uid.as_ref(), 256);
    if e.uid.as_deref().is_some_and(|u| u.starts_with("ep_")) {
        c.fail(&["body", "uid"], "must not look like an endpoint id");
    }
    c.throttle(&["body", "throttleRate"], e.throttle_rate);
    c.channels(&["body", "channels"], e.channels.as_ref());
    c.check(
        e.description.len() <= 4096,
        &["body", "description"],
        "at most 4096 characters",
    );
    c.check(e.version >= 1, &["body", "version"], "must be at least 1");
    check_secret(&mut c, &["body", "secret"], e);
    if let Some(sig) = &e.options.signature {
        if let Some(h) = &sig.header {
            let ok = axum::http::header::HeaderName::try_from(h.as_str()).is_ok() && !is_reserved_header(h);
            c.check(
                ok,
                &["body", "signature", "header"],
                "must be a header name hookd does not set itself",
            );
        }
        if let Some(p) = &sig.prefix {
            c.check(
                p.len() <= 64 && p.bytes().all(|b| b.is_ascii_graphic()),
                &["body", "signature", "prefix"],
                "at most 64 visible characters",
            );
        }
    }
    if let Some(s) = &e.options.retry_schedule {
        let ok = s.len() <= 30 && s.iter().all(|d| (0.0..=7.0 * 86400.0).contains(d));
        c.check(
            ok,
            &["body", "retrySchedule"],
            "at most 30 delays, each 0 to 604800 seconds",
        );
    }
    if let Some(t) = e.options.attempt_timeout {
        c.check(
            (0.1..=300.0).contains(&t),
            &["body", "attemptTimeout"],
            "must be 0.1 to 300 seconds",
        );
    }
    super::endpoint_extras::check_headers(&mut c, &["body", "headers"], &e.headers);
    check_routing(&mut c, &e.options);
    let mut named = Vec::new();
    for t in e.event_types.iter().flatten() {
        let bare = t.strip_suffix(".*").unwrap_or(t);
        if t != "*" {
            c.name(&["body", "eventTypes"], bare, 256);
        }
        if !routing::is_wildcard(t) {
            named.push(t.clone());
        }
    }
    c.done()?;
    if e.app_id == operational::OPERATIONAL_APP {
        // The operator's own endpoints subscribe to operational events, not to the catalogue.
        let unknown: Vec<&String> = named
            .iter()
            .filter(|n| OperationalKind::from_name(n).is_none())
            .collect();
        if !unknown.is_empty() {
            let known: Vec<&str> = OperationalKind::ALL.iter().map(|k| k.name()).collect();
            return Err(ApiError::invalid(
                &["body", "eventTypes"],
                format!("not operational events: {unknown:?} (they are {known:?})"),
            ));
        }
        return Ok(());
    }
    let found = state.store.existing_event_types(&named).await?;
    let missing: Vec<&String> = named.iter().filter(|n| !found.contains(n)).collect();
    if !missing.is_empty() {
        return Err(ApiError::invalid(
            &["body", "eventTypes"],
            format!("unknown or archived event types: {missing:?}"),
        ));
    }
    Ok(())
}

/// The filter compiles, and the envelope's key names are usable and distinct.
pub fn check_routing(c: &mut Checks, o: &EndpointOptions) {
    check_filter(c, o.filter.as_ref());
    // Without `"ordering": "fifo"` a key orders nothing, and is kept for when it is set.
    if let Some(key) = &o.ordering_key {
        let ok = (1..=256).contains(&key.chars().count())
            && key.split('.').all(|seg| !seg.is_empty())
            && !key.bytes().any(|b| b.is_ascii_control());
        c.check(
            ok,
            &["body", "orderingKey"],
            "a dotted path of 1 to 256 characters, such as customer.id",
        );
    }
    if let Some(env) = &o.envelope {
        let keys = [
            ("type", &env.type_key),
            ("data", &env.data_key),
            ("meta", &env.meta_key),
            ("timestamp", &env.timestamp_key),
            ("idempotencyKey", &env.idempotency_key),
        ];
        for (slot, key) in keys {
            c.check(
                !key.is_empty() && key.len() <= 64,
                &["body", "envelope", slot],
                "a key name of 1 to 64 characters",
            );
        }
        c.check(
            env.type_key != env.data_key && env.type_key != env.meta_key && env.data_key != env.meta_key,
            &["body", "envelope"],
            "type, data and meta need different key names",
        );
        c.check(
            env.timestamp_key != env.idempotency_key,
            &["body", "envelope"],
            "timestamp and idempotencyKey need different key names",
        );
    }
}

/// A filter that does not compile is refused where it is wrong: `body.filter.<path>`.
pub fn check_filter(c: &mut Checks, filter: Option<&crate::filter::Filter>) {
    if let Some(e) = filter.and_then(|f| f.error()) {
        let mut loc = vec!["body", "filter"];
        loc.extend(e.path.iter().map(String::as_str));
        c.fail(&loc, &e.msg);
    }
}

pub(super) fn uid_conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::Conflict("an endpoint with this uid already exists".into()),
        e => e.into(),
    }
}

/// Finds an endpoint of an application the caller may read.
pub async fn find(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    ep_id: &str,
) -> ApiResult<(AppRecord, EndpointRecord)> {
    let app = applications::find(state, caller, app_id).await?;
    let ep = state
        .store
        .get_endpoint(&app.id, ep_id)
        .await?
        .ok_or(ApiError::NotFound("endpoint"))?;
    Ok((app, ep))
}

pub(super) async fn insert(
    state: &AppState,
    app: &AppRecord,
    body: EndpointIn,
    uid: Option<String>,
) -> ApiResult<EndpointRecord> {
    // The path names the endpoint to create: it must be a uid, whatever the body says.
    if let Some(uid) = &uid {
        let mut c = Checks::default();
        c.name(&["path", "endpoint_id"], uid, 256);
        c.done()?;
    }
    let now = time::now();
    let mut ep = EndpointRecord {
        id: ids::new(Kind::Endpoint),
        app_id: app.id.clone(),
        uid: body.uid.or(uid),
        url: body.url,
        description: body.description,
        version: body.version.unwrap_or(1),
        throttle_rate: body.throttle_rate,
        disabled: body.disabled,
        event_types: non_empty(body.event_types),
        channels: non_empty(body.channels),
        metadata: body.metadata,
        headers: body.headers.unwrap_or_default(),
        secret: body.secret.unwrap_or_default(),
        old_secrets: Vec::new(),
        options: body.options,
        tls: None,
        transformation: None,
        first_failure_at: None,
        created_at: now,
        updated_at: now,
    };
    fit_secret(&mut ep);
    check(state, &ep).await?;
    store_new(state, app, &ep).await?;
    Ok(ep)
}

/// Stores a new endpoint, announcing it.
pub async fn store_new(state: &AppState, app: &AppRecord, ep: &EndpointRecord) -> ApiResult<()> {
    let announce = operational::endpoint(OperationalKind::EndpointCreated, app, ep);
    state.store.create_endpoint(ep, &announce).await.map_err(uid_conflict)?;
    state.engine.wrote_operational_events();
    Ok(())
}

/// Gives the endpoint a secret of the kind its scheme needs, when it has none
/// or has one of the other kind (after a change of scheme).
pub fn fit_secret(ep: &mut EndpointRecord) {
    let asymmetric = ep.options.asymmetric();
    if ep.secret.is_empty() || asymmetric != ep.secret.starts_with("whsk_") {
        ep.secret = if asymmetric {
            security::new_signing_key()
        } else {
            security::new_endpoint_secret()
        };
    }
}

/// Secrets as each scheme takes them.
pub fn check_secret(c: &mut Checks, loc: &[&str], e: &EndpointRecord) {
    match e.options.scheme() {
        Scheme::StandardWebhooks if e.options.asymmetric() => {
            c.check(
                security::signing_key(&e.secret).is_some(),
                loc,
                "an ed25519 key: whsk_ and base64 of 64 bytes",
            );
        }
        Scheme::StandardWebhooks => c.secret(loc, &e.secret),
        _ => {
            let printable = e.secret.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
            let ok = (8..=256).contains(&e.secret.len()) && printable && e.secret.trim() == e.secret;
            c.check(ok, loc, "8 to 256 printable characters, no leading or trailing space");
        }
    }
}

/// Checks and stores `ep`, endpoint `before` of `app` changed, announcing the change.
pub async fn save(
    state: &AppState,
    app: &AppRecord,
    before: &EndpointRecord,
    mut ep: EndpointRecord,
) -> ApiResult<EndpointRecord> {
    ep.url = url_password::keep_unchanged(&before.url, ep.url);
    fit_secret(&mut ep);
    check(state, &ep).await?;
    ep.updated_at = time::now();
    let announce = operational::endpoint_changed(app, before, &ep);
    state
        .store
        .update_endpoint(&ep, &announce)
        .await
        .map_err(uid_conflict)?;
    state.engine.wrote_operational_events();
    Ok(ep)
}

/// List an application's endpoints.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint", tag = "Endpoint", operation_id = "v1.endpoint.list",
    params(("app_id" = String, Path), ListParams), responses((status = 200, body = ListResponse<EndpointOut>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let app = applications::find(&state, &caller, &app_id).await?;
    let pager = Pager::new(&params, Ordering::Ascending)?;
    let rows = state.store.list_endpoints(&app.id, &pager.page).await?;
    Ok(Json(pager.finish(rows, |e| e.id.clone(), EndpointOut::from)))
}

/// Create an endpoint. A secret is generated unless one is given.
#[utoipa::path(post, path = "/api/v1/app/{app_id}/endpoint", tag = "Endpoint", operation_id = "v1.endpoint.create",
    params(("app_id" = String, Path)), request_body = EndpointIn,
    responses((status = 201, body = EndpointOut), (status = 422, body = super::error::HttpValidationError)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Json(body): Json<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = applications::find(&state, &caller, &app_id).await?;
    caller.manage(&app.id)?;
    let ep = insert(&state, &app, body, None).await?;
    Ok((StatusCode::CREATED, Json(ep.into())))
}

/// Get an endpoint.
#[utoipa::path(get, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint", operation_id = "v1.endpoint.get",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), responses((status = 200, body = EndpointOut)))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    Ok(Json(find(&state, &caller, &app_id, &ep_id).await?.1.into()))
}

/// Update an endpoint, or create it with this uid.
#[utoipa::path(put, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint", operation_id = "v1.endpoint.upsert",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), request_body = EndpointIn,
    responses((status = 200, body = EndpointOut), (status = 201, body = EndpointOut)))]
async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = applications::find(&state, &caller, &app_id).await?;
    caller.manage(&app.id)?;
    let Some(before) = state.store.get_endpoint(&app.id, &ep_id).await? else {
        if ids::is_valid(Kind::Endpoint, &ep_id) {
            return Err(ApiError::NotFound("endpoint"));
        }
        let ep = insert(&state, &app, body, Some(ep_id)).await?;
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
    ep.event_types = non_empty(body.event_types);
    ep.channels = non_empty(body.channels);
    ep.metadata = body.metadata;
    ep.version = body.version.unwrap_or(ep.version);
    ep.options = body.options;
    Ok((StatusCode::OK, Json(save(&state, &app, &before, ep).await?.into())))
}

/// Partially update an endpoint.
#[utoipa::path(patch, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint", operation_id = "v1.endpoint.patch",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), request_body = EndpointPatch,
    responses((status = 200, body = EndpointOut)))]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
    Json(body): Json<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let (app, before) = find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    let mut ep = before.clone();
    if let Some(v) = body.url {
        ep.url = v;
    }
    if let Some(v) = body.description {
        ep.description = v;
    }
    if let Some(v) = body.throttle_rate {
        ep.throttle_rate = v;
    }
    if let Some(v) = body.uid {
        ep.uid = v;
    }
    if let Some(v) = body.disabled {
        if ep.disabled && !v {
            ep.first_failure_at = None;
        }
        ep.disabled = v;
    }
    if let Some(v) = body.event_types {
        ep.event_types = non_empty(v);
    }
    if let Some(v) = body.channels {
        ep.channels = non_empty(v);
    }
    if let Some(v) = body.metadata {
        ep.metadata = v;
    }
    if let Some(v) = body.version {
        ep.version = v;
    }
    if let Some(v) = body.retry_schedule {
        ep.options.retry_schedule = v;
    }
    if let Some(v) = body.attempt_timeout {
        ep.options.attempt_timeout = v;
    }
    if let Some(v) = body.signature {
        ep.options.signature = v;
    }
    if let Some(v) = body.ssl_verification {
        ep.options.ssl_verification = v;
    }
    if let Some(v) = body.filter {
        ep.options.filter = v;
    }
    if let Some(v) = body.envelope {
        ep.options.envelope = v;
    }
    if let Some(v) = body.ordering {
        ep.options.ordering = v;
    }
    if let Some(v) = body.ordering_key {
        ep.options.ordering_key = v;
    }
    Ok(Json(save(&state, &app, &before, ep).await?.into()))
}

/// Delete an endpoint.
#[utoipa::path(delete, path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}", tag = "Endpoint", operation_id = "v1.endpoint.delete",
    params(("app_id" = String, Path), ("endpoint_id" = String, Path)), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (app, ep) = find(&state, &caller, &app_id, &ep_id).await?;
    caller.manage(&app.id)?;
    remove(&state, &app, &ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes an endpoint with its deliveries and attempts, announcing it.
pub async fn remove(state: &AppState, app: &AppRecord, ep: &EndpointRecord) -> ApiResult<()> {
    let announce = operational::endpoint(OperationalKind::EndpointDeleted, app, ep);
    state.store.delete_endpoint(&app.id, &ep.id, &announce).await?;
    state.engine.wrote_operational_events();
    Ok(())
}
