//! Persistence. Everything above this module sees the store only through the
//! traits below, and gets one from [`open`]. The statements live in [`sql`],
//! shared by the two backends: [`sqlite`] (the embedded store, rusqlite) and
//! [`postgres`] (sqlx), each with its own connections, migrations and group
//! commit.

pub mod committer;
pub mod group_commit;
pub mod model;
pub mod postgres;
pub mod sql;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::security::keyring::Keyring;
use crate::time::Micros;
pub use model::*;

/// Opens the store at `url` (`sqlite://…` or `postgres://…`) and brings its
/// schema up to date.
pub async fn open(url: &str, keys: Arc<Keyring>) -> Result<Arc<dyn Store>> {
    Ok(match url.starts_with("sqlite:") {
        true => Arc::new(sql::SqlStore::new(sqlite::Sqlite::open(url).await?, keys)),
        false => Arc::new(sql::SqlStore::new(postgres::Postgres::open(url).await?, keys)),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or refused the work; nothing was changed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A value the database cannot hold (PostgreSQL's text takes no NUL).
    #[error("unstorable value: {0}")]
    Unstorable(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migrate(String),
}

impl StoreError {
    /// The same error, for a second caller (the drivers' errors are not `Clone`).
    pub fn clone_kind(&self) -> StoreError {
        match self {
            StoreError::NotFound => StoreError::NotFound,
            StoreError::Conflict(d) => StoreError::Conflict(d.clone()),
            StoreError::Unavailable(d) => StoreError::Unavailable(d.clone()),
            StoreError::Unstorable(d) => StoreError::Unstorable(d.clone()),
            StoreError::Corrupt(d) => StoreError::Corrupt(d.clone()),
            StoreError::Migrate(d) => StoreError::Migrate(d.clone()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait]
pub trait AppStore: Send + Sync {
    async fn create_app(&self, app: &AppRecord) -> Result<()>;
    /// By id or by uid.
    async fn get_app(&self, id_or_uid: &str) -> Result<Option<AppRecord>>;
    /// A page of the applications, those matching `search` only if given (a
    /// name holding it in any case, or a uid or id starting with it).
    async fn list_apps(&self, page: &Page, search: Option<&str>) -> Result<Vec<AppRecord>>;
    async fn update_app(&self, app: &AppRecord) -> Result<()>;
    async fn delete_app(&self, id: &str) -> Result<()>;

    async fn create_event_type(&self, et: &EventTypeRecord) -> Result<()>;
    async fn get_event_type(&self, name: &str) -> Result<Option<EventTypeRecord>>;
    async fn list_event_types(&self, page: &Page, include_archived: bool) -> Result<Vec<EventTypeRecord>>;
    async fn update_event_type(&self, et: &EventTypeRecord) -> Result<()>;
    async fn delete_event_type(&self, name: &str) -> Result<()>;
    /// Which of `names` are in the catalogue and not archived.
    async fn existing_event_types(&self, names: &[String]) -> Result<Vec<String>>;
    /// The retry schedule (seconds) deliveries of this event type follow, if it has one.
    async fn get_retry_schedule(&self, event_type: &str) -> Result<Option<Vec<f64>>>;
    /// Sets or (with `None`) removes an event type's retry schedule.
    async fn set_retry_schedule(&self, event_type: &str, schedule: Option<&[f64]>) -> Result<()>;
}

#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Each write also stores `announce` (operational events), in its transaction.
    async fn create_endpoint(&self, ep: &EndpointRecord, announce: &[OperationalEvent]) -> Result<()>;
    /// By id or by uid, within one application.
    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> Result<Option<EndpointRecord>>;
    async fn list_endpoints(&self, app_id: &str, page: &Page) -> Result<Vec<EndpointRecord>>;
    async fn update_endpoint(&self, ep: &EndpointRecord, announce: &[OperationalEvent]) -> Result<()>;
    async fn delete_endpoint(&self, app_id: &str, id: &str, announce: &[OperationalEvent]) -> Result<()>;
    /// Every tenant's endpoints: (enabled, disabled); with `exclude_play`,
    /// not those pointing at play.svix.com.
    async fn count_endpoints(&self, exclude_play: bool) -> Result<(i64, i64)>;
    /// Tenants' applications with at least one endpoint (an enabled one, with `enabled_only`).
    async fn count_active_apps(&self, enabled_only: bool, exclude_play: bool) -> Result<i64>;
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// In one durable transaction: stores each message with one delivery per
    /// endpoint `matches` accepts, and records attempt outcomes with the
    /// deliveries' new states. A reused `eventId` fails only its message.
    async fn write(
        &self,
        publishes: &[NewMessage],
        matches: Matcher,
        outcomes: &[Outcome],
    ) -> Result<Vec<Result<Published>>>;
    /// By id, or by `eventId`.
    async fn get_message(&self, app_id: &str, id_or_event_id: &str) -> Result<Option<MessageRecord>>;
    /// An application's messages, or (`None`) every application's.
    async fn list_messages(
        &self,
        app_id: Option<&str>,
        filter: &MessageFilter,
        page: &Page,
    ) -> Result<Vec<MessageRecord>>;
    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> Result<()>;
    /// Drops payloads past their retention, at most `limit` of them; returns how many.
    async fn purge_expired_payloads(&self, now: Micros, limit: i64) -> Result<u64>;
}

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Leases up to `limit` due deliveries to `owner` and returns them ready to send.
    async fn claim_due(&self, owner: &str, now: Micros, lease_until: Micros, limit: i64) -> Result<Vec<DeliveryTask>>;
    /// Extends the leases `owner` holds on these deliveries.
    async fn renew_leases(&self, owner: &str, ids: &[String], lease_until: Micros) -> Result<()>;
    /// Gives up leases without attempting (used at shutdown).
    async fn release_leases(&self, owner: &str, ids: &[String]) -> Result<()>;
    /// Gives up leases without attempting, the deliveries due again at `until`
    /// (a relay endpoint with no listener here).
    async fn postpone(&self, owner: &str, ids: &[String], until: Micros) -> Result<()>;
    /// Makes an endpoint's unleased deliveries that wait for a later time due
    /// at `now` (a listener attached to a relay endpoint); returns how many.
    async fn wake_endpoint(&self, endpoint_id: &str, now: Micros) -> Result<u64>;
    /// Tells every node that work is waiting in the store (PostgreSQL: NOTIFY;
    /// the embedded store has one node, which already knows).
    async fn announce_work(&self) -> Result<()>;
    /// At start-up of node `owner`: releases the leases no live node can
    /// hold, returning how many. On the embedded store that is every lease
    /// (one process owns the file); on PostgreSQL those of `owner` itself,
    /// left by its last run (other nodes' run out by themselves).
    async fn release_orphaned_leases(&self, owner: &str) -> Result<u64>;
    async fn resend(&self, app_id: &str, msg_id: &str, endpoint_id: &str, lease: &Lease) -> Result<DeliveryTask>;
    /// Queues the endpoint's deliveries of these messages of `app_id` (each
    /// with its FIFO key, if the endpoint orders them), due now and leased to
    /// nobody; returns how many it queued. A message the endpoint has a
    /// delivery of already is left as it is (`replay-missing`) or, with
    /// `again`, that delivery is queued again unless a node holds it now
    /// (`bulk-replay`, and resending to a FIFO endpoint).
    async fn replay(
        &self,
        app_id: &str,
        endpoint_id: &str,
        msgs: &[(String, Option<String>)],
        again: bool,
    ) -> Result<u64>;
    /// Cancels a message's deliveries that are pending or waiting for a retry; returns how many.
    async fn cancel_pending(&self, app_id: &str, msg_id: &str) -> Result<u64>;
    /// Cancels an endpoint's deliveries of messages created before `before`
    /// that are pending or waiting for a retry; returns how many.
    async fn cancel_endpoint(&self, endpoint_id: &str, before: Micros) -> Result<u64>;

    /// The unfinished deliveries by state (read through the index of
    /// unfinished ones: its cost follows the backlog, not the table).
    async fn pending(&self, now: Micros) -> Result<Pending>;
    async fn endpoint_stats(&self, endpoint_id: &str, since: Option<Micros>, until: Option<Micros>) -> Result<Stats>;
    /// An application's deliveries of messages made in `[since, until)`, by
    /// event type (of `event_types`, if given), period of `period` µs and status.
    async fn app_stats(
        &self,
        app_id: &str,
        since: Micros,
        until: Micros,
        event_types: Option<&[String]>,
        period: Micros,
    ) -> Result<Vec<AppStatsRow>>;
    /// An application's attempts per hour, endpoint and outcome, for the hours from `since`.
    async fn attempt_counts(&self, app_id: &str, since: Micros) -> Result<Vec<AttemptCountRow>>;
    /// Forgets the attempt counts of hours before `before`.
    async fn purge_attempt_counts(&self, before: Micros) -> Result<u64>;
    async fn list_endpoint_messages(
        &self,
        endpoint_id: &str,
        filter: &MessageFilter,
        page: &Page,
    ) -> Result<Vec<(MessageRecord, DeliveryState)>>;
    /// Where a consumer of an endpoint's messages has read up to (the poller API).
    async fn consumer_position(&self, endpoint_id: &str, consumer_id: &str) -> Result<Option<String>>;
    async fn set_consumer_position(&self, endpoint_id: &str, consumer_id: &str, iterator: &str) -> Result<()>;
    /// Where a consumer of the offset-based poller stands.
    async fn consumer_offsets(&self, endpoint_id: &str, consumer_id: &str) -> Result<Option<ConsumerOffsets>>;
    async fn set_consumer_offsets(&self, endpoint_id: &str, consumer_id: &str, at: &ConsumerOffsets) -> Result<()>;
    async fn list_message_endpoints(&self, msg_id: &str, page: &Page) -> Result<Vec<(EndpointRecord, DeliveryState)>>;
    async fn list_attempts(&self, filter: &AttemptFilter, page: &Page) -> Result<Vec<AttemptRecord>>;
    /// How many attempts `filter` matches, counting at most `at_most`.
    async fn count_attempts(&self, filter: &AttemptFilter, at_most: i64) -> Result<i64>;
    async fn get_attempt(&self, msg_id: &str, attempt_id: &str) -> Result<Option<AttemptRecord>>;
    async fn expunge_attempt(&self, msg_id: &str, attempt_id: &str) -> Result<()>;
}

/// What operators are told and the work they started: the outbox of
/// operational events (written by the other traits' writes, in the same
/// transaction as what they report) and background tasks.
#[async_trait]
pub trait OperationsStore: Send + Sync {
    /// The oldest operational events not sent yet, at most `limit`.
    async fn operational_events(&self, limit: i64) -> Result<Vec<StoredOperationalEvent>>;
    /// Forgets operational events once they are stored as messages.
    async fn remove_operational_events(&self, ids: &[String]) -> Result<()>;
    async fn get_task(&self, id: &str) -> Result<Option<BackgroundTask>>;
    async fn list_tasks(
        &self,
        status: Option<TaskStatus>,
        kind: Option<TaskKind>,
        page: &Page,
    ) -> Result<Vec<BackgroundTask>>;
    /// Queues an endpoint's failed deliveries again, as a finished
    /// `endpoint.recover` task with parameters `data` and a count, announced
    /// by `background_task.finished`, all in one transaction.
    async fn recover(
        &self,
        endpoint_id: &str,
        since: Micros,
        until: Option<Micros>,
        data: serde_json::Value,
    ) -> Result<BackgroundTask>;
    /// Drops every payload of an application, as a finished
    /// `application.purge_content` task announced by `background_task.finished`,
    /// in one transaction.
    async fn purge_app_contents(&self, app_id: &str, data: serde_json::Value) -> Result<BackgroundTask>;
    /// Records work done outside the store as a finished task of `kind` with
    /// its result `data` and count, announced by `background_task.finished`.
    async fn finish_task(&self, kind: TaskKind, data: serde_json::Value, count: i64) -> Result<BackgroundTask>;
    /// Records a task that runs in steps, as running with its parameters.
    async fn start_task(&self, kind: TaskKind, data: serde_json::Value) -> Result<BackgroundTask>;
    /// A step of a running task: its new `data` and count, and whether it is
    /// now finished (then announced by `background_task.finished` in the same
    /// transaction). Only if nobody stepped it since `seen` (its `updated_at`);
    /// returns its new `updated_at`, or `None` when another step came first.
    async fn step_task(
        &self,
        id: &str,
        seen: Micros,
        data: &serde_json::Value,
        count: i64,
        finished: bool,
    ) -> Result<Option<Micros>>;
}

#[async_trait]
pub trait AuthStore: Send + Sync {
    async fn get_setting(&self, key: &str) -> Result<Option<String>>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;
    async fn insert_token(&self, token: &TokenRecord) -> Result<()>;
    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>>;
    async fn revoke_token(&self, id: &str) -> Result<()>;
    /// Makes an application's tokens (those of `sessions` only, if given)
    /// expire at `at` at the latest; returns how many it shortened.
    async fn expire_app_tokens(&self, app_id: &str, sessions: Option<&[String]>, at: Micros) -> Result<u64>;
    /// An endpoint's poller tokens in force at `now`, newest first.
    async fn endpoint_tokens(&self, endpoint_id: &str, now: Micros) -> Result<Vec<TokenRecord>>;
    /// Makes an endpoint's poller tokens but `except` expire at `at` at the latest.
    async fn expire_endpoint_tokens(&self, endpoint_id: &str, except: &str, at: Micros) -> Result<u64>;
    /// Revokes every operator token (before issuing a new one).
    async fn revoke_admin_tokens(&self) -> Result<u64>;

    /// The stored response for an idempotency key, or `None` after claiming it.
    async fn idempotency_begin(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: Micros,
    ) -> Result<Option<Idempotent>>;
    async fn idempotency_finish(&self, scope: &str, key: &str, status: u16, body: &str) -> Result<()>;
    /// Forgets a claimed key whose request failed, so that it can be retried.
    async fn idempotency_abort(&self, scope: &str, key: &str) -> Result<()>;
    async fn purge_idempotency(&self, older_than: Micros) -> Result<u64>;
}

/// The whole store, as the server holds it.
#[async_trait]
pub trait Store: AppStore + EndpointStore + MessageStore + DeliveryStore + OperationsStore + AuthStore {
    /// Whether a write holds its thread until it is durable (the embedded
    /// store, which fsyncs on the caller's thread) rather than waiting on the
    /// network; the group commit then gets a thread of its own.
    fn writes_block(&self) -> bool;
    /// The keys that seal endpoint secrets.
    fn keys(&self) -> &Keyring;
    /// Seals every endpoint secret not yet sealed with the current key.
    /// Returns (resealed, left for another pass).
    async fn reseal_secrets(&self) -> Result<(u64, u64)>;
    /// Fails when the stored secrets were sealed with a key this node lacks
    /// (a node started with another main key than its cluster).
    async fn check_keys(&self) -> Result<()>;
    /// Calls `on_work` whenever another node announces work, from a listening
    /// connection that reconnects by itself after an outage (PostgreSQL only:
    /// the embedded store has one node).
    fn listen_for_work(&self, on_work: Box<dyn Fn() + Send + Sync>, stop: CancellationToken);
    async fn close(&self);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}
