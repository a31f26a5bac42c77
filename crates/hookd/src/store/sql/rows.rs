//! Decoding of rows into records. Column lists and decoders sit together so
//! that a change to one is seen beside the other.

use serde::de::DeserializeOwned;

use super::db::Row;

use crate::security::keyring::Keyring;
use crate::security::url_password;
use crate::store::{
    AppRecord, AttemptRecord, DeliveryState, DeliveryStatus, EndpointRecord, EventTypeRecord, MessageRecord, Result,
    StoreError, TokenRecord, Trigger,
};

pub fn json<T: DeserializeOwned>(row: &Row, col: &str) -> Result<T> {
    let text: String = row.try_get(col)?;
    Ok(serde_json::from_str(&text)?)
}

pub fn opt_json<T: DeserializeOwned>(row: &Row, col: &str) -> Result<Option<T>> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| serde_json::from_str(&t)).transpose().map_err(Into::into)
}

pub fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("records serialise")
}

pub fn opt_to_json<T: serde::Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(to_json)
}

fn status(row: &Row, col: &str) -> Result<DeliveryStatus> {
    let code: i64 = row.try_get(col)?;
    DeliveryStatus::from_code(code).ok_or_else(|| StoreError::Corrupt(format!("{col} {code}")))
}

pub fn trigger(row: &Row, col: &str) -> Result<Trigger> {
    let code: i64 = row.try_get(col)?;
    Trigger::from_code(code).ok_or_else(|| StoreError::Corrupt(format!("{col} {code}")))
}

fn flag(row: &Row, col: &str) -> Result<bool> {
    Ok(row.try_get::<i64>(col)? != 0)
}

pub const APP_COLS: &str = "id, uid, name, throttle_rate, metadata, created_at, updated_at";
pub fn app(row: &Row) -> Result<AppRecord> {
    Ok(AppRecord {
        id: row.try_get("id")?,
        uid: row.try_get("uid")?,
        name: row.try_get("name")?,
        throttle_rate: row.try_get("throttle_rate")?,
        metadata: json(row, "metadata")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub const EVENT_TYPE_COLS: &str = "name, description, archived, deprecated, schemas, group_name, feature_flags, created_at, updated_at, \
     validate_payloads";
pub fn event_type(row: &Row) -> Result<EventTypeRecord> {
    Ok(EventTypeRecord {
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        archived: flag(row, "archived")?,
        deprecated: flag(row, "deprecated")?,
        schemas: opt_json(row, "schemas")?,
        group_name: row.try_get("group_name")?,
        feature_flags: opt_json(row, "feature_flags")?,
        validate_payloads: flag(row, "validate_payloads")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub const ENDPOINT_COLS: &str = "e.id, e.app_id, e.uid, e.url, e.url_password, e.description, e.version, e.throttle_rate, e.disabled, \
     e.event_types, e.channels, e.metadata, e.headers, e.secret, e.old_secrets, e.options, e.tls, e.transformation, e.first_failure_at, \
     e.created_at, e.updated_at";
/// A nullable column of sealed JSON.
fn sealed_json<T: serde::de::DeserializeOwned>(row: &Row, col: &str, keys: &Keyring, id: &str) -> Result<Option<T>> {
    row.try_get::<Option<String>>(col)?
        .map(|sealed| keys.open(&sealed, id).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()?
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(Into::into)
}

pub fn endpoint(row: &Row, keys: &Keyring) -> Result<EndpointRecord> {
    let id: String = row.try_get("id")?;
    let open = |col: &str| -> Result<String> {
        let stored: String = row.try_get(col)?;
        keys.open(&stored, &id).map_err(|e| StoreError::Corrupt(e.to_string()))
    };
    let secret = open("secret")?;
    let old_secrets = serde_json::from_str(&open("old_secrets")?)?;
    Ok(EndpointRecord {
        id: id.clone(),
        app_id: row.try_get("app_id")?,
        uid: row.try_get("uid")?,
        url: match row.try_get::<Option<String>>("url_password")? {
            Some(sealed) => url_password::restore(
                &row.try_get::<String>("url")?,
                &keys
                    .open(&sealed, &id)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ),
            None => row.try_get("url")?,
        },
        description: row.try_get("description")?,
        version: row.try_get("version")?,
        throttle_rate: row.try_get("throttle_rate")?,
        disabled: flag(row, "disabled")?,
        event_types: opt_json(row, "event_types")?,
        channels: opt_json(row, "channels")?,
        metadata: json(row, "metadata")?,
        headers: serde_json::from_str(&open("headers")?)?,
        secret,
        old_secrets,
        options: json(row, "options")?,
        tls: sealed_json(row, "tls", keys, &id)?,
        transformation: sealed_json(row, "transformation", keys, &id)?,
        first_failure_at: row.try_get("first_failure_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Message columns; the payload column is chosen by the caller (`m.payload` or `NULL AS payload`).
pub const MESSAGE_COLS: &str = "m.id, m.app_id, m.event_type, m.event_id, m.channels, m.tags, m.deliver_at, m.created_at, m.expires_at, \
     m.traceparent, m.tracestate";
pub fn message(row: &Row) -> Result<MessageRecord> {
    Ok(MessageRecord {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        event_type: row.try_get("event_type")?,
        event_id: row.try_get("event_id")?,
        channels: opt_json(row, "channels")?,
        tags: opt_json(row, "tags")?,
        payload: row.try_get("payload")?,
        deliver_at: row.try_get("deliver_at")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        traceparent: row.try_get("traceparent")?,
        tracestate: row.try_get("tracestate")?,
    })
}

pub const ATTEMPT_COLS: &str = "a.id, a.app_id, a.msg_id, a.endpoint_id, a.url, a.status, a.status_code, a.response, \
     a.response_headers, a.duration_ms, a.trigger_type, a.error, a.ssl_verification, a.created_at";
pub fn attempt(row: &Row) -> Result<AttemptRecord> {
    Ok(AttemptRecord {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        msg_id: row.try_get("msg_id")?,
        endpoint_id: row.try_get("endpoint_id")?,
        url: row.try_get("url")?,
        status: status(row, "status")?,
        status_code: row.try_get("status_code")?,
        response: row.try_get("response")?,
        response_headers: opt_json(row, "response_headers")?,
        duration_ms: row.try_get("duration_ms")?,
        trigger_type: trigger(row, "trigger_type")?,
        error: row.try_get("error")?,
        ssl_verification: flag(row, "ssl_verification")?,
        created_at: row.try_get("created_at")?,
    })
}

pub fn delivery_state(row: &Row) -> Result<DeliveryState> {
    Ok(DeliveryState {
        status: status(row, "d_status")?,
        next_attempt_at: row.try_get("d_next_attempt_at")?,
    })
}

pub const TOKEN_COLS: &str =
    "id, hash, app_id, read_only, expires_at, revoked, created_at, session_id, name, publish_only, endpoint_id, sealed";
pub fn token(row: &Row) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        hash: row.try_get("hash")?,
        app_id: row.try_get("app_id")?,
        read_only: flag(row, "read_only")?,
        expires_at: row.try_get("expires_at")?,
        revoked: flag(row, "revoked")?,
        created_at: row.try_get("created_at")?,
        session_id: row.try_get("session_id")?,
        name: row.try_get("name")?,
        publish_only: flag(row, "publish_only")?,
        endpoint_id: row.try_get("endpoint_id")?,
        text: None,
    })
}
