//! Operational webhooks: what hookd tells an operator about the deliveries it
//! makes (an endpoint created or disabled, a delivery failing or exhausted, a
//! background task finished), sent to the operator's own endpoints.
//!
//! An event is written to the store's outbox in the transaction of what it
//! reports, so a crash neither loses one nor sends one for something that did
//! not happen. [`outbox`] then publishes each as a message of the operational
//! application ([`OPERATIONAL_APP`]), whose endpoints are the operator's: from
//! there it is routed, signed, retried and logged like any other message.

pub mod outbox;

use serde_json::{Value, json};

use crate::ids::{self, Kind};
pub use crate::store::OPERATIONAL_APP;
use crate::store::{
    AppRecord, AttemptRecord, BackgroundTask, DeliveryStatus, DeliveryTask, EndpointRecord, OperationalEvent,
    OperationalKind, Outcome, StoredOperationalEvent,
};
use crate::time::{self, Micros};

/// The attempt that makes a delivery "failing": the fourth failure in a row
/// with retries left, as Svix counts. A later success is then "recovered".
pub const FAILING_AT: i64 = 4;

fn event(kind: OperationalKind, data: Value) -> OperationalEvent {
    OperationalEvent {
        id: ids::new(Kind::OperationalEvent),
        kind,
        data,
        created_at: time::now(),
    }
}

fn endpoint_data(app: &AppRecord, ep: &EndpointRecord) -> Value {
    json!({"appId": app.id, "appUid": app.uid, "endpointId": ep.id, "endpointUid": ep.uid})
}

/// `endpoint.created` or `endpoint.deleted`; none for operational endpoints.
pub fn endpoint(kind: OperationalKind, app: &AppRecord, ep: &EndpointRecord) -> Vec<OperationalEvent> {
    if app.id == OPERATIONAL_APP {
        return Vec::new();
    }
    vec![event(kind, endpoint_data(app, ep))]
}

/// What an update of `before` into `after` announces: `endpoint.updated`,
/// and `endpoint.disabled` (by hand) or `endpoint.enabled` when that changed.
pub fn endpoint_changed(app: &AppRecord, before: &EndpointRecord, after: &EndpointRecord) -> Vec<OperationalEvent> {
    let mut out = endpoint(OperationalKind::EndpointUpdated, app, after);
    if out.is_empty() || before.disabled == after.disabled {
        return out;
    }
    let mut data = endpoint_data(app, after);
    if after.disabled {
        data["failSince"] = before.first_failure_at.map(time::to_rfc3339).into();
        data["trigger"] = "manual".into();
        out.push(event(OperationalKind::EndpointDisabled, data));
    } else {
        out.push(event(OperationalKind::EndpointEnabled, data));
    }
    out
}

/// Which event, if any, an attempt's outcome announces.
pub fn attempt_kind(task: &DeliveryTask, outcome: &Outcome) -> Option<OperationalKind> {
    if task.message.app_id == OPERATIONAL_APP {
        return None;
    }
    let made = task.attempts + 1;
    match outcome.status {
        DeliveryStatus::Success if task.attempts >= FAILING_AT => Some(OperationalKind::AttemptRecovered),
        DeliveryStatus::Sending if made == FAILING_AT => Some(OperationalKind::AttemptFailing),
        DeliveryStatus::Fail => Some(OperationalKind::AttemptExhausted),
        _ => None,
    }
}

/// `message.attempt.*` for `attempt`, made for `task`.
pub fn attempt(
    kind: OperationalKind,
    app_uid: Option<String>,
    task: &DeliveryTask,
    a: &AttemptRecord,
) -> OperationalEvent {
    event(
        kind,
        json!({
            "appId": task.message.app_id,
            "appUid": app_uid,
            "msgId": task.message.id,
            "msgEventId": task.message.event_id,
            "endpointId": task.endpoint.id,
            "lastAttempt": {
                "id": a.id,
                "responseStatusCode": a.status_code,
                "timestamp": time::to_rfc3339(a.created_at),
            },
        }),
    )
}

/// The `data` of a stored event that has none of its own.
pub fn data_of(e: &StoredOperationalEvent, task: Option<&BackgroundTask>) -> Value {
    if let Some(task) = task {
        return json!({
            "taskId": task.id,
            "task": task.kind.name(),
            "status": task.status.name(),
            "data": task_data(task),
        });
    }
    json!({
        "appId": e.app_id,
        "appUid": e.app_uid,
        "endpointId": e.endpoint_id,
        "endpointUid": e.endpoint_uid,
        "failSince": e.fail_since.map(time::to_rfc3339),
        "trigger": "automatic",
    })
}

/// A task's parameters and, once finished, what it did.
pub fn task_data(task: &BackgroundTask) -> Value {
    let mut data = task.data.clone();
    if let (Some(n), Some(obj)) = (task.count, data.as_object_mut()) {
        obj.insert(task.kind.count_key().into(), n.into());
    }
    data
}

/// The body every operational webhook carries.
pub fn body(event_type: &str, created_at: Micros, data: Value) -> String {
    json!({"type": event_type, "timestamp": time::to_rfc3339(created_at), "data": data}).to_string()
}
