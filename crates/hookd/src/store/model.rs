//! Records as the store keeps them. API shapes are built from these in `api`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::time::Micros;

pub type Metadata = BTreeMap<String, String>;

/// The state of a delivery, or the result of an attempt. Stored and shown
/// with Svix's numbering (`MessageStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Success,
    /// Not attempted yet.
    Pending,
    Fail,
    /// Attempted, failed, and waiting for a retry.
    Sending,
    Canceled,
}

impl DeliveryStatus {
    pub const fn code(self) -> i64 {
        match self {
            DeliveryStatus::Success => 0,
            DeliveryStatus::Pending => 1,
            DeliveryStatus::Fail => 2,
            DeliveryStatus::Sending => 3,
            DeliveryStatus::Canceled => 4,
        }
    }

    pub const fn from_code(code: i64) -> Option<DeliveryStatus> {
        Some(match code {
            0 => DeliveryStatus::Success,
            1 => DeliveryStatus::Pending,
            2 => DeliveryStatus::Fail,
            3 => DeliveryStatus::Sending,
            4 => DeliveryStatus::Canceled,
            _ => return None,
        })
    }

    /// Svix's name for it (`statusText`).
    pub const fn name(self) -> &'static str {
        match self {
            DeliveryStatus::Success => "success",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Fail => "fail",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Canceled => "canceled",
        }
    }
}

/// As its code, the way the API takes it in query strings.
impl<'de> Deserialize<'de> for DeliveryStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = i64::deserialize(d)?;
        DeliveryStatus::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown status {code}: must be 0, 1, 2, 3 or 4")))
    }
}

/// What started an attempt. Stored and shown with Svix's numbering (`MessageAttemptTriggerType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trigger {
    Scheduled,
    /// A resend or recovery someone asked for.
    Manual,
}

impl Trigger {
    pub const fn code(self) -> i64 {
        match self {
            Trigger::Scheduled => 0,
            Trigger::Manual => 1,
        }
    }

    pub const fn from_code(code: i64) -> Option<Trigger> {
        match code {
            0 => Some(Trigger::Scheduled),
            1 => Some(Trigger::Manual),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AppRecord {
    pub id: String,
    pub uid: Option<String>,
    pub name: String,
    pub throttle_rate: Option<i64>,
    pub metadata: Metadata,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Clone, Debug)]
pub struct EventTypeRecord {
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    pub schemas: Option<serde_json::Value>,
    pub group_name: Option<String>,
    pub feature_flags: Option<Vec<String>>,
    /// Published payloads must validate against the newest schema.
    pub validate_payloads: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// A secret that still signs after a rotation, until `expires_at`.
#[derive(Clone, Serialize, Deserialize)]
pub struct OldSecret {
    pub key: String,
    pub expires_at: Micros,
}

/// hookd's own per-endpoint settings, beyond the Svix fields (all optional).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointOptions {
    /// Retry delays in seconds, replacing the server's schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<Vec<f64>>,
    /// Attempt timeout in seconds, replacing the server's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_timeout: Option<f64>,
    /// How deliveries are signed; default: Standard Webhooks `v1` (HMAC-SHA256).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// `false` skips TLS certificate verification for this endpoint (shown on every attempt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_verification: Option<bool>,
    /// Deliver only messages whose payload this expression accepts (see docs/filters.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<crate::filter::Filter>,
    /// Wrap the payload in an envelope (`{type, data, meta: {timestamp, idempotencyKey}}`, key names configurable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
    /// `fifo`: deliveries go out one at a time in the order messages were
    /// accepted; a failing one holds back the later ones until it succeeds or
    /// its retries run out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering: Option<DeliveryOrder>,
    /// With `fifo`: a dotted path into the payload whose value keeps an order
    /// of its own (`customer.id`), so one slow key does not hold up another
    /// (without `fifo` it orders nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
}

/// How an endpoint's deliveries are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryOrder {
    /// Strictly in the order messages were accepted, one at a time (per key).
    Fifo,
}

/// The names of the envelope's keys; each defaults to its own name.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Envelope {
    /// The key of the event type (default `type`).
    #[serde(rename = "type")]
    pub type_key: String,
    /// The key of the payload (default `data`; Syskit Point: `content`).
    #[serde(rename = "data")]
    pub data_key: String,
    /// The key of the meta object (default `meta`).
    #[serde(rename = "meta")]
    pub meta_key: String,
    /// The key, in meta, of the message's creation time, RFC 3339 (default `timestamp`; Syskit Point: `timeStamp`).
    #[serde(rename = "timestamp")]
    pub timestamp_key: String,
    /// The key, in meta, of the message id, the same on every retry (default `idempotencyKey`).
    #[serde(rename = "idempotencyKey")]
    pub idempotency_key: String,
}

impl Default for Envelope {
    fn default() -> Self {
        Envelope {
            type_key: "type".into(),
            data_key: "data".into(),
            meta_key: "meta".into(),
            timestamp_key: "timestamp".into(),
            idempotency_key: "idempotencyKey".into(),
        }
    }
}

impl EndpointOptions {
    pub fn scheme(&self) -> Scheme {
        self.signature.as_ref().map_or(Scheme::StandardWebhooks, |s| s.scheme)
    }

    pub fn asymmetric(&self) -> bool {
        self.signature
            .as_ref()
            .is_some_and(|s| s.scheme == Scheme::StandardWebhooks && s.asymmetric)
    }
}

/// How a receiver checks that a delivery comes from hookd.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Signature {
    pub scheme: Scheme,
    /// `standard-webhooks` only: sign with ed25519 (`v1a`); the endpoint's secret is then a `whpk_` public key.
    pub asymmetric: bool,
    /// `hmac-sha256` only: the header (default `X-Hub-Signature-256`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// `hmac-sha256` only: `hex` (default) or `base64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// `hmac-sha256` only: text before the digest (default `sha256=`; `""` for none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (and `svix-signature`).
    #[default]
    StandardWebhooks,
    /// One header with the HMAC-SHA256 of the raw body under the secret's UTF-8 bytes (GitHub, Syskit Point, PlexTrac).
    HmacSha256,
    /// `Authorization: Bearer <secret>`, for receivers that compare it with a stored hash (Fig).
    Bearer,
    /// No signature.
    None,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
}

#[derive(Clone)]
pub struct EndpointRecord {
    pub id: String,
    pub app_id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub version: i64,
    pub throttle_rate: Option<i64>,
    pub disabled: bool,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub metadata: Metadata,
    pub headers: BTreeMap<String, String>,
    pub secret: String,
    pub old_secrets: Vec<OldSecret>,
    pub options: EndpointOptions,
    /// Its own CA and mutual-TLS identity (sealed at rest).
    pub tls: Option<EndpointTls>,
    /// JavaScript run on each delivery before it is sent (sealed at rest).
    pub transformation: Option<Transformation>,
    pub first_failure_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// An endpoint's transformation (Svix's): `function handler(webhook)` may
/// change the request's method, URL, payload and headers, or cancel it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transformation {
    pub code: Option<String>,
    pub enabled: bool,
    /// Values the script reads as `webhook.variables`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<BTreeMap<String, String>>,
    pub updated_at: Micros,
}

impl Transformation {
    /// The code to run on deliveries, if it is on.
    pub fn active(&self) -> Option<&str> {
        self.code.as_deref().filter(|_| self.enabled)
    }
}

/// An endpoint's own TLS settings.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTls {
    /// PEM certificates its receiver's certificate may chain to, besides the usual roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_ca: Option<String>,
    /// PEM private key and certificate chain hookd presents to the receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

impl EndpointTls {
    pub fn is_empty(&self) -> bool {
        self.server_ca.is_none() && self.identity.is_none()
    }
}

/// Secrets never appear in `Debug` output, and so never in a log line.
impl std::fmt::Debug for EndpointRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRecord")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .field("url", &self.url)
            .field("disabled", &self.disabled)
            .field("secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Without the hash or a poller token's text.
impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .field("endpoint_id", &self.endpoint_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OldSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OldSecret")
            .field("key", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct MessageRecord {
    pub id: String,
    pub app_id: String,
    pub event_type: String,
    pub event_id: Option<String>,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// The payload exactly as published (JSON text); `None` once expunged.
    pub payload: Option<String>,
    pub deliver_at: Option<Micros>,
    pub created_at: Micros,
    pub expires_at: Micros,
    /// The W3C `traceparent` it was published in (or hookd started), and the
    /// `tracestate` that came with it.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AttemptRecord {
    pub id: String,
    pub app_id: String,
    pub msg_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub status: DeliveryStatus,
    pub status_code: i64,
    pub response: Option<String>,
    pub response_headers: Option<BTreeMap<String, String>>,
    pub duration_ms: i64,
    pub trigger_type: Trigger,
    pub error: Option<String>,
    /// Whether the TLS certificate was verified (false only when the endpoint turned it off).
    pub ssl_verification: bool,
    pub created_at: Micros,
}

#[derive(Clone)]
pub struct TokenRecord {
    pub id: String,
    pub hash: String,
    /// `None` for operator tokens; otherwise the one application it reaches.
    pub app_id: Option<String>,
    pub read_only: bool,
    pub expires_at: Option<Micros>,
    pub revoked: bool,
    pub created_at: Micros,
    /// The session it was issued for (application tokens).
    pub session_id: Option<String>,
    /// A name given at creation (message tokens).
    pub name: Option<String>,
    /// It may only create messages in its application.
    pub publish_only: bool,
    /// A poller token: it may only read this endpoint's messages.
    pub endpoint_id: Option<String>,
    /// A poller token's own text, which is handed out again: sealed at rest
    /// (for the token's id), read back only by `endpoint_tokens`.
    pub text: Option<String>,
}

/// Where a consumer of the offset-based poller stands. Offsets number the
/// endpoint's messages from where the consumer started, 0 first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsumerOffsets {
    /// The last message committed (none: nothing yet, read from the start).
    pub committed: Option<String>,
    /// The offset of the message after `committed`.
    pub next_offset: i64,
    /// The last message handed out under the lease, and the offset after it.
    pub leased: Option<String>,
    pub lease_next: i64,
    /// When the lease ends; then reading starts again after `committed`.
    pub lease_until: Micros,
}

/// One page of a list, in store terms: rows strictly after `after` in the given order.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub limit: i64,
    pub after: Option<String>,
    pub descending: bool,
}

#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub event_types: Option<Vec<String>>,
    /// Sent to any of these channels (none: any message).
    pub channels: Vec<String>,
    pub tag: Option<String>,
    pub before: Option<Micros>,
    pub after: Option<Micros>,
    /// Delivery status (per-endpoint lists only).
    pub status: Option<DeliveryStatus>,
    pub with_content: bool,
}

#[derive(Clone, Debug)]
pub enum AttemptScope {
    Endpoint(String),
    Message(String),
}

#[derive(Clone, Debug)]
pub struct AttemptFilter {
    pub scope: AttemptScope,
    pub endpoint_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    /// 0 (no response), 100, 200, 300, 400 or 500.
    pub status_code_class: Option<i64>,
    pub event_types: Option<Vec<String>>,
    pub channel: Option<String>,
    pub tag: Option<String>,
    pub before: Option<Micros>,
    pub after: Option<Micros>,
    pub with_content: bool,
}

impl AttemptFilter {
    /// All attempts in `scope`, without their response bodies.
    pub fn all(scope: AttemptScope) -> Self {
        AttemptFilter {
            scope,
            endpoint_id: None,
            status: None,
            status_code_class: None,
            event_types: None,
            channel: None,
            tag: None,
            before: None,
            after: None,
            with_content: false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct DeliveryState {
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<Micros>,
}

#[derive(Clone, Debug)]
pub struct Lease {
    pub owner: String,
    pub until: Micros,
}

/// Everything a worker needs to attempt one delivery, without another read.
#[derive(Clone, Debug)]
pub struct DeliveryTask {
    pub delivery_id: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub trigger_type: Trigger,
    pub message: Arc<MessageRecord>,
    pub endpoint: Arc<EndpointRecord>,
    /// Its order on a FIFO endpoint (`None`: unordered).
    pub fifo_key: Option<String>,
}

#[derive(Clone)]
pub struct NewMessage {
    pub message: Arc<MessageRecord>,
    /// Deliveries are created leased to this node when it will send them at
    /// once: the first `lease_room` of them (the rest wait in the store for
    /// whichever node has room, so that a large fan-out is not leased only to
    /// be handed back).
    pub lease: Option<Lease>,
    pub lease_room: usize,
    /// Send to this endpoint only, whatever its subscriptions (examples and tests).
    pub only_endpoint: Option<String>,
}

pub struct Published {
    pub message: Arc<MessageRecord>,
    /// One per matching endpoint; due at once unless the message has `deliver_at`.
    pub tasks: Vec<DeliveryTask>,
    /// The first `leased` tasks were stored leased to the publishing node, for
    /// it to send now; the rest wait in the store for whichever node is free.
    pub leased: usize,
}

/// How the store routes a message without knowing how routing decides
/// (`crate::subscriptions`): the positions of the endpoints that take it, and
/// the FIFO order its delivery to an endpoint keeps.
#[derive(Clone, Copy)]
pub struct Matcher {
    pub route: fn(&MessageRecord, &[Arc<EndpointRecord>]) -> Vec<usize>,
    pub order: fn(&EndpointRecord, &MessageRecord) -> Option<String>,
}

/// The result of one attempt, to be written with the delivery's new state.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub attempt: AttemptRecord,
    pub delivery_id: String,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<Micros>,
    /// Disable the endpoint if it has been failing since before this time.
    pub disable_if_failing_since: Option<Micros>,
    /// What the operator's operational endpoints are told of this attempt.
    pub announce: Option<OperationalEvent>,
}

/// The application whose endpoints are the operator's operational webhook
/// endpoints and whose messages are operational events. It is not one of the
/// tenants': the API neither lists nor shows it, and no token is scoped to it.
pub const OPERATIONAL_APP: &str = "app_hookd_operational";

/// What an operator's operational webhook endpoints are told, by Svix's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperationalKind {
    EndpointCreated,
    EndpointUpdated,
    EndpointDeleted,
    EndpointDisabled,
    EndpointEnabled,
    /// A delivery failed several times in a row and will be retried.
    AttemptFailing,
    /// A delivery failed its last retry.
    AttemptExhausted,
    /// A delivery that had been failing succeeded.
    AttemptRecovered,
    BackgroundTaskFinished,
}

impl OperationalKind {
    pub const ALL: [OperationalKind; 9] = [
        OperationalKind::EndpointCreated,
        OperationalKind::EndpointUpdated,
        OperationalKind::EndpointDeleted,
        OperationalKind::EndpointDisabled,
        OperationalKind::EndpointEnabled,
        OperationalKind::AttemptFailing,
        OperationalKind::AttemptExhausted,
        OperationalKind::AttemptRecovered,
        OperationalKind::BackgroundTaskFinished,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            OperationalKind::EndpointCreated => "endpoint.created",
            OperationalKind::EndpointUpdated => "endpoint.updated",
            OperationalKind::EndpointDeleted => "endpoint.deleted",
            OperationalKind::EndpointDisabled => "endpoint.disabled",
            OperationalKind::EndpointEnabled => "endpoint.enabled",
            OperationalKind::AttemptFailing => "message.attempt.failing",
            OperationalKind::AttemptExhausted => "message.attempt.exhausted",
            OperationalKind::AttemptRecovered => "message.attempt.recovered",
            OperationalKind::BackgroundTaskFinished => "background_task.finished",
        }
    }

    pub fn from_name(name: &str) -> Option<OperationalKind> {
        OperationalKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// An operational event, written in the same transaction as what it reports.
#[derive(Clone, Debug)]
pub struct OperationalEvent {
    /// Also the `eventId` of the message it becomes, so that it becomes one only once.
    pub id: String,
    pub kind: OperationalKind,
    /// The body's `data`.
    pub data: serde_json::Value,
    pub created_at: Micros,
}

/// An operational event as the store keeps it until it is sent. Those written
/// by the store itself (an automatic disable, a finished task) have no `data`:
/// it is built from the other fields when they are sent.
#[derive(Clone, Debug)]
pub struct StoredOperationalEvent {
    pub id: String,
    pub event_type: String,
    pub data: Option<serde_json::Value>,
    pub app_id: Option<String>,
    pub app_uid: Option<String>,
    pub endpoint_id: Option<String>,
    pub endpoint_uid: Option<String>,
    pub fail_since: Option<Micros>,
    pub task_id: Option<String>,
    pub created_at: Micros,
}

/// Work started through the API that Svix runs in the background, by Svix's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    EndpointRecover,
    /// Every payload of an application dropped.
    AppPurgeContent,
    /// The event catalogue written as an OpenAPI document.
    SdkGenerate,
    /// One message to every application.
    MessageBroadcast,
    /// Deliveries per application over a range.
    AppStats,
    /// The event types each application's endpoints subscribe to.
    EventTypeAggregate,
    /// The messages an endpoint never got sent to it (`replay-missing`).
    EndpointReplay,
    /// An endpoint's messages chosen by filters sent again (`bulk-replay`).
    EndpointBulkReplay,
}

impl TaskKind {
    pub const fn name(self) -> &'static str {
        match self {
            TaskKind::EndpointRecover => "endpoint.recover",
            TaskKind::AppPurgeContent => "application.purge_content",
            TaskKind::SdkGenerate => "sdk.generate",
            TaskKind::MessageBroadcast => "message.broadcast",
            TaskKind::AppStats => "application.stats",
            TaskKind::EventTypeAggregate => "event-type.aggregate",
            TaskKind::EndpointReplay => "endpoint.replay",
            TaskKind::EndpointBulkReplay => "endpoint.bulk-replay",
        }
    }

    pub const ALL: [TaskKind; 8] = [
        TaskKind::EndpointRecover,
        TaskKind::AppPurgeContent,
        TaskKind::SdkGenerate,
        TaskKind::MessageBroadcast,
        TaskKind::AppStats,
        TaskKind::EventTypeAggregate,
        TaskKind::EndpointReplay,
        TaskKind::EndpointBulkReplay,
    ];

    pub fn from_name(name: &str) -> Option<TaskKind> {
        TaskKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The key under which a finished task's `data` says how many rows it changed.
    pub const fn count_key(self) -> &'static str {
        match self {
            TaskKind::EndpointRecover => "recovered",
            TaskKind::AppPurgeContent => "messagesPurged",
            TaskKind::SdkGenerate => "eventTypes",
            TaskKind::MessageBroadcast => "messages",
            TaskKind::AppStats | TaskKind::EventTypeAggregate => "apps",
            TaskKind::EndpointReplay | TaskKind::EndpointBulkReplay => "replayed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    Running,
    Finished,
    Failed,
}

impl TaskStatus {
    pub const fn name(self) -> &'static str {
        match self {
            TaskStatus::Running => "running",
            TaskStatus::Finished => "finished",
            TaskStatus::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<TaskStatus> {
        [TaskStatus::Running, TaskStatus::Finished, TaskStatus::Failed]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

#[derive(Clone, Debug)]
pub struct BackgroundTask {
    pub id: String,
    pub kind: TaskKind,
    pub status: TaskStatus,
    /// Its parameters (a JSON object).
    pub data: serde_json::Value,
    /// How many rows it changed, once finished.
    pub count: Option<i64>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub success: i64,
    pub pending: i64,
    pub sending: i64,
    pub fail: i64,
    pub canceled: i64,
}

/// How many of an application's deliveries, for messages of one event type
/// made in one period (starting at `period`), ended in `status`.
#[derive(Clone, Debug)]
pub struct AppStatsRow {
    pub event_type: String,
    pub period: Micros,
    pub status: DeliveryStatus,
    pub n: i64,
}

/// Attempts at an application's endpoint that ended `status` in the hour from `period`.
#[derive(Clone, Debug)]
pub struct AttemptCountRow {
    pub period: Micros,
    pub endpoint_id: String,
    pub status: DeliveryStatus,
    pub n: i64,
}

/// Deliveries not finished, for the metrics: due and unleased, waiting for a
/// later time, or leased to a node; and when the oldest due one fell due.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pending {
    pub due: i64,
    pub scheduled: i64,
    pub in_flight: i64,
    pub oldest_due: Option<Micros>,
}

#[derive(Clone, Debug)]
pub struct Idempotent {
    pub request_hash: String,
    /// `None` while the first request is still being answered.
    pub response: Option<(u16, String)>,
}

/// An endpoint for unit tests to adjust.
#[cfg(test)]
pub fn test_endpoint() -> EndpointRecord {
    EndpointRecord {
        id: "ep_1".into(),
        app_id: "app_1".into(),
        uid: None,
        url: "https://example.com".into(),
        description: String::new(),
        version: 1,
        throttle_rate: None,
        disabled: false,
        event_types: None,
        channels: None,
        metadata: Metadata::new(),
        headers: BTreeMap::new(),
        secret: String::new(),
        old_secrets: Vec::new(),
        options: EndpointOptions::default(),
        tls: None,
        transformation: None,
        first_failure_at: None,
        created_at: 0,
        updated_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secrets() {
        let ep = EndpointRecord {
            headers: [("Authorization".to_string(), "Bearer hunter2-token".to_string())].into(),
            secret: "whsec_supersecretvalue".into(),
            old_secrets: vec![OldSecret {
                key: "whsec_oldsecretvalue".into(),
                expires_at: 0,
            }],
            ..test_endpoint()
        };
        let shown = format!("{ep:?} {:?}", ep.old_secrets);
        for secret in ["supersecretvalue", "oldsecretvalue", "hunter2-token"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("ep_1"));
    }
}
