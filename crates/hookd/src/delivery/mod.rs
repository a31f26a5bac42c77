//! The delivery engine. Tasks come in two ways: straight from the node that
//! stored a message (no poll on the hot path), and from the scheduler, which
//! claims due retries and expired leases from the store. Each task waits at its
//! endpoint's gate, makes one attempt, and hands the outcome to the writer,
//! which records outcomes in batches and schedules what comes next.

pub mod attempt;
pub mod body;
pub mod brokers;
pub mod client;
mod gate;
pub mod poller;
pub mod relay;
pub mod retry;
mod scheduler;
pub mod sign;
mod threads;
pub mod trace;
pub mod transform;
mod urls;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use client::ClientError;
pub use sign::is_reserved_header;

pub use crate::config::DeliveryConfig;
use crate::metrics::{AttemptOutcome, Metrics};
use crate::operational;
use crate::security::ssrf::AddressPolicy;
use crate::store::committer::Committer;
use crate::store::{DeliveryTask, Lease, MessageRecord, NewMessage, Outcome, Store, StoreError};
use crate::telemetry::{self, KeyValue, SpanKind, Telemetry};
use crate::time::{self, Micros};

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot start the delivery threads: {0}")]
    Threads(#[from] std::io::Error),
}

/// What a waiting publisher learns of one attempt.
#[derive(Clone, Debug)]
pub struct AttemptReport {
    pub attempt_id: String,
    pub success: bool,
    pub status_code: i64,
    pub duration_ms: i64,
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: DeliveryConfig,
    store: Arc<dyn Store>,
    /// This process's name as a lease owner.
    node_id: String,
    clients: client::Clients,
    urls: urls::Urls,
    policy: AddressPolicy,
    gates: gate::Gates,
    in_flight: Semaphore,
    /// Deliveries this node holds in memory, whose leases it keeps renewing.
    held: Mutex<HashSet<String>>,
    /// Publishers waiting for first attempts (transactional webhooks), by delivery id.
    watchers: Mutex<HashMap<String, oneshot::Sender<AttemptReport>>>,
    /// How many watchers there are, so that outcomes skip the lock when nobody waits.
    watching: AtomicUsize,
    committer: Committer,
    /// Wakes the scheduler early: work was left in the store, or a retry is due soon.
    wake: Notify,
    /// Wakes the operational outbox: this node wrote an operational event.
    outbox: Notify,
    /// Wakes the background tasks: this node started one that runs in steps.
    started_tasks: Notify,
    next_due: Mutex<Option<Micros>>,
    stop: CancellationToken,
    tasks: TaskTracker,
    /// Where attempts run; `None` runs them on the runtime that starts them.
    threads: Option<threads::DeliveryThreads>,
    /// `hookd listen` connections, for relay endpoints.
    relays: Arc<relay::Relays>,
    /// Connections to brokers, for broker destinations.
    brokers: brokers::Brokers,
    metrics: Arc<Metrics>,
    telemetry: Option<Arc<Telemetry>>,
    /// Event types' retry schedules, and when each was read.
    schedules: Mutex<HashMap<String, KnownSchedule>>,
}

/// An event type's retry schedule (none: the server's), as read at a time.
type KnownSchedule = (Option<Arc<[f64]>>, std::time::Instant);

/// How long an event type's retry schedule is trusted before it is read again
/// (a change through another node reaches this one within it).
const SCHEDULES_FOR: Duration = Duration::from_secs(5);

impl Engine {
    pub fn start(
        cfg: DeliveryConfig,
        store: Arc<dyn Store>,
        committer: Committer,
        policy: AddressPolicy,
        metrics: Arc<Metrics>,
        node_id: String,
        telemetry: Option<Arc<Telemetry>>,
    ) -> Result<Engine, StartError> {
        let clients = client::build(&policy, cfg.ca_bundle.as_deref(), cfg.concurrency)?;
        let threads = threads::DeliveryThreads::start(cfg.threads)?;
        let inner = Arc::new(Inner {
            node_id,
            in_flight: Semaphore::new(cfg.concurrency),
            gates: gate::Gates::new(cfg.endpoint_concurrency),
            cfg,
            store,
            clients,
            urls: urls::Urls::default(),
            policy,
            held: Mutex::new(HashSet::new()),
            watchers: Mutex::new(HashMap::new()),
            watching: AtomicUsize::new(0),
            committer,
            wake: Notify::new(),
            outbox: Notify::new(),
            started_tasks: Notify::new(),
            next_due: Mutex::new(None),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            threads,
            relays: Arc::default(),
            brokers: brokers::Brokers::default(),
            metrics,
            telemetry,
            schedules: Mutex::default(),
        });
        let engine = Engine { inner };
        engine.inner.tasks.spawn(scheduler::run(engine.clone()));
        engine.inner.tasks.spawn(scheduler::renew_leases(engine.clone()));
        Ok(engine)
    }

    /// Claims and sends what will be due at `now`, as one turn of the
    /// scheduler does with the time of day: lets a test move time forward to
    /// a retry instead of waiting for it. Returns how many it claimed.
    pub async fn run_due(&self, now: Micros) -> Result<usize, StoreError> {
        Ok(scheduler::step(self, now).await?.count)
    }

    /// How many more deliveries this node can hold in memory now; new ones past
    /// that are stored unleased and the scheduler finds them.
    pub fn room(&self) -> usize {
        if self.inner.stop.is_cancelled() {
            return 0;
        }
        let held = self.inner.held.lock().expect("held lock").len();
        self.inner.cfg.max_queued().saturating_sub(held)
    }

    /// A lease held by this node from now on.
    pub fn lease(&self) -> Lease {
        Lease {
            owner: self.inner.node_id.clone(),
            until: time::now() + self.inner.cfg.lease.as_micros() as i64,
        }
    }

    /// Starts tasks this node holds the lease of. Past the memory bound, the
    /// rest are handed back to the store, where the scheduler finds them later.
    pub fn dispatch(&self, tasks: impl IntoIterator<Item = DeliveryTask>) {
        let mut surplus = Vec::new();
        for task in tasks {
            {
                let mut held = self.inner.held.lock().expect("held lock");
                if held.len() >= self.inner.cfg.max_queued() {
                    surplus.push(task.delivery_id);
                    continue;
                }
                if !held.insert(task.delivery_id.clone()) {
                    continue;
                }
            }
            let engine = self.clone();
            let attempt = async move { engine.run(task).await };
            match &self.inner.threads {
                Some(threads) => self.inner.tasks.spawn_on(attempt, threads.handle()),
                None => self.inner.tasks.spawn(attempt),
            };
        }
        if !surplus.is_empty() {
            self.unwatch(&surplus);
            let engine = self.clone();
            self.inner.tasks.spawn(async move {
                let inner = &engine.inner;
                match inner.store.release_leases(&inner.node_id, &surplus).await {
                    Ok(()) => engine.announce(),
                    // The leases then run out on their own; the work is delayed, not lost.
                    Err(e) => tracing::warn!(error = %e, "could not hand surplus deliveries back"),
                }
            });
        }
    }

    /// Starts the deliveries of a message just stored: those leased to this
    /// node here, the rest left to whichever node is free.
    pub fn start_published(&self, published: crate::store::Published) {
        let mut tasks = published.tasks;
        let left = tasks.split_off(published.leased);
        self.dispatch(tasks);
        if !left.is_empty() {
            self.announce();
        }
    }

    /// This node wrote operational events: the outbox sends them now, not at its next look.
    pub fn wrote_operational_events(&self) {
        self.inner.outbox.notify_one();
    }

    /// Returns when this node writes operational events.
    pub async fn outbox_written(&self) {
        self.inner.outbox.notified().await;
    }

    /// Stores a message hookd made itself (an operational event, a
    /// broadcast's) and starts the deliveries this node leased; `false` when
    /// its `eventId` was taken, i.e. it was stored before.
    pub async fn publish_own(&self, message: MessageRecord) -> Result<bool, StoreError> {
        let room = self.room();
        let req = NewMessage {
            message: Arc::new(message),
            lease: (room > 0).then(|| self.lease()),
            lease_room: room,
            only_endpoint: None,
        };
        match self.inner.committer.publish(req).await {
            Some(Ok(published)) => {
                self.start_published(published);
                Ok(true)
            }
            Some(Err(StoreError::Conflict(_))) => Ok(false),
            Some(Err(e)) => Err(e),
            None => Err(StoreError::Unavailable("shutting down".into())),
        }
    }

    /// This node started a background task that runs in steps (a broadcast).
    pub fn started_task(&self) {
        self.inner.started_tasks.notify_one();
    }

    /// Returns when this node starts such a task.
    pub async fn task_started(&self) {
        self.inner.started_tasks.notified().await;
    }

    /// One attempt outside the delivery machinery (test deliveries): the same
    /// client, address policy and signing, nothing recorded.
    pub async fn attempt_once(&self, task: &DeliveryTask) -> attempt::Response {
        let inner = &self.inner;
        let parent = task.message.traceparent.as_deref();
        let span = (inner.telemetry.as_ref())
            .map(|t| t.span("attempt", SpanKind::Client, parent, std::time::SystemTime::now()));
        // The attempt's own span id: the exported span's, or one made up.
        let traceparent = match &span {
            Some(span) => Some(telemetry::traceparent(span)),
            None => parent.and_then(trace::child),
        };
        let start = attempt::Start::now();
        let resp = if poller::is_poller(&task.endpoint.url) {
            poller::kept(start)
        } else if relay::is_relay(&task.endpoint.url) {
            inner.relays.send(&inner.cfg, task, traceparent.as_deref(), start).await
        } else if brokers::is_broker(&task.endpoint.url) {
            let tp = traceparent.as_deref();
            inner.brokers.send(&inner.policy, &inner.cfg, task, tp, start).await
        } else {
            match inner.clients.for_endpoint(&task.endpoint) {
                Ok(client) => match transform::apply(task, attempt::Request::of(task)) {
                    Ok(Some(req)) => {
                        let tp = traceparent.as_deref();
                        attempt::send(&client, &inner.urls, &inner.policy, &inner.cfg, task, req, tp, start).await
                    }
                    Ok(None) => attempt::Response::canceled(start),
                    Err(e) => attempt::Response::failed(e.to_string(), start),
                },
                Err(e) => {
                    let error = format!("the endpoint's TLS settings: {e}");
                    attempt::Response::failed(error, start)
                }
            }
        };
        if let Some(span) = span {
            let mut attributes = vec![
                KeyValue::new("http.response.status_code", resp.status_code as i64),
                KeyValue::new("hookd.msg_id", task.message.id.clone()),
                KeyValue::new("hookd.endpoint_id", task.endpoint.id.clone()),
            ];
            if let Some(e) = &resp.error {
                attributes.push(KeyValue::new("error.message", e.clone()));
            }
            telemetry::end(span, resp.succeeded(), attributes);
        }
        resp
    }

    /// Spans are exported (`--otlp-endpoint`).
    pub fn telemetry(&self) -> Option<&Arc<Telemetry>> {
        self.inner.telemetry.as_ref()
    }

    /// Cancelled when the engine starts shutting down.
    /// Since when this node has been holding back sends to an endpoint for its
    /// `throttleRate`, if it is now (each node paces its own sends).
    pub fn throttled_since(&self, endpoint_id: &str) -> Option<std::time::SystemTime> {
        self.inner.gates.throttled_since(endpoint_id)
    }

    pub fn stopping(&self) -> CancellationToken {
        self.inner.stop.clone()
    }

    /// The listeners of relay endpoints connected to this node.
    pub fn relays(&self) -> &Arc<relay::Relays> {
        &self.inner.relays
    }

    /// A listener attached to relay endpoint `endpoint_id`: its parked
    /// deliveries are due now, for whichever node holds the listener.
    pub async fn relay_attached(&self, endpoint_id: &str) -> Result<(), StoreError> {
        if self.inner.store.wake_endpoint(endpoint_id, time::now()).await? > 0 {
            self.announce();
        }
        Ok(())
    }

    /// Tells this node's scheduler that work is waiting in the store.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Tells every node's scheduler: this node left work in the store for whoever is free.
    pub fn announce(&self) {
        self.wake();
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.announce_work().await {
                tracing::debug!(error = %e, "announcing work failed; other nodes find it on their next look");
            }
        });
    }

    async fn run(&self, task: DeliveryTask) {
        let inner = &self.inner;
        if relay::is_relay(&task.endpoint.url) && !inner.relays.is_attached(&task.endpoint.id) {
            return self.park(task.delivery_id).await;
        }
        let admitted = async {
            let gate = inner.gates.get(&task.endpoint.id);
            let ep_permit = gate.enter(task.endpoint.throttle_rate).await;
            let permit = inner.in_flight.acquire().await.expect("never closed");
            (ep_permit, permit)
        };
        let permits = tokio::select! {
            p = admitted => p,
            _ = inner.stop.cancelled() => {
                // Not started: give the lease back so that the next start sends it at once.
                let id = task.delivery_id.clone();
                let _ = inner.store.release_leases(&inner.node_id, std::slice::from_ref(&id)).await;
                self.unwatch(std::slice::from_ref(&id));
                self.forget(&[id]);
                return;
            }
        };
        let resp = self.attempt_once(&task).await;
        drop(permits);
        let kind = resp.metric_outcome();
        inner.metrics.attempt(kind, resp.duration);
        if kind == AttemptOutcome::success {
            let since = (time::now() - task.message.created_at).max(0) as u64;
            inner.metrics.delivered(Duration::from_micros(since));
        }
        let schedule = match resp.succeeded() || task.endpoint.options.retry_schedule.is_some() {
            true => None,
            false => self.event_type_schedule(&task.message.event_type).await,
        };
        let mut outcome = attempt::outcome(&inner.cfg, &task, resp, schedule.as_deref());
        tracing::debug!(delivery = %task.delivery_id, status = outcome.attempt.status_code, "attempt made");
        if task.message.app_id == operational::OPERATIONAL_APP && kind == AttemptOutcome::success {
            inner.metrics.operational_sent.inc();
        }
        if let Some(kind) = operational::attempt_kind(&task, &outcome) {
            // Rare (a delivery failing, exhausted or recovered): the read is cached.
            let app_uid = match inner.store.get_app(&task.message.app_id).await {
                Ok(app) => app.and_then(|a| a.uid),
                Err(_) => None,
            };
            outcome.announce = Some(operational::attempt(kind, app_uid, &task, &outcome.attempt));
        }
        let announced = outcome.announce.is_some();
        let report = self.report_of(&outcome);
        let next_due = outcome.next_attempt_at;
        self.record(outcome).await;
        if announced {
            self.wrote_operational_events();
        }
        self.settled(&task.delivery_id, next_due, report);
        if task.fifo_key.is_some() {
            // The next delivery of its order may go now.
            self.wake();
        }
    }

    /// The retry schedule of an event type, read from the store at most once
    /// per [`SCHEDULES_FOR`] and type on this node (only failures ask).
    async fn event_type_schedule(&self, name: &str) -> Option<Arc<[f64]>> {
        let known = self.inner.schedules.lock().expect("schedules lock").get(name).cloned();
        if let Some((schedule, at)) = known
            && at.elapsed() < SCHEDULES_FOR
        {
            return schedule;
        }
        // Unreadable: the server's schedule this time.
        let schedule: Option<Arc<[f64]>> = self.inner.store.get_retry_schedule(name).await.ok()?.map(Into::into);
        let mut all = self.inner.schedules.lock().expect("schedules lock");
        if all.len() > 10_000 {
            all.clear();
        }
        all.insert(name.to_owned(), (schedule.clone(), std::time::Instant::now()));
        schedule
    }

    /// An event type's retry schedule changed: this node reads it again.
    pub fn forget_schedule(&self, event_type: &str) {
        self.inner.schedules.lock().expect("schedules lock").remove(event_type);
    }

    /// Puts a delivery to a relay endpoint with no listener here back in the
    /// store, unattempted, to be looked at again after [`relay::PARK`] or as
    /// soon as a listener attaches.
    async fn park(&self, delivery_id: String) {
        let inner = &self.inner;
        let until = time::now() + relay::PARK.as_micros() as i64;
        let ids = [delivery_id];
        if let Err(e) = inner.store.postpone(&inner.node_id, &ids, until).await {
            // The lease then runs out and the delivery is claimed again: delayed, not lost.
            tracing::warn!(error = %e, "could not park a relay delivery");
        }
        self.unwatch(&ids);
        self.forget(&ids);
    }

    /// Writes an outcome, waiting out a database outage: until it is stored it
    /// exists only here. If it cannot be stored at all, the lease runs out and
    /// the delivery is attempted again.
    async fn record(&self, outcome: Outcome) {
        let mut outcome = Box::new(outcome);
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.inner.committer.record(outcome).await {
                Some(Ok(())) | None => return,
                Some(Err((StoreError::Unavailable(e), back))) => {
                    static SAID: crate::log_limit::Every = crate::log_limit::Every::new(Duration::from_secs(10));
                    if SAID.ready() {
                        tracing::warn!(error = %e, "database unavailable; outcomes kept in memory until it is back");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    outcome = back;
                }
                Some(Err((e, back))) => {
                    tracing::error!(error = %e, delivery = %back.delivery_id, "outcome cannot be stored");
                    return;
                }
            }
        }
    }

    /// Reports the next durable outcome of each of these deliveries (this node
    /// must hold them: call before `dispatch`). Costs no store access; a
    /// receiver that is dropped unanswered means the attempt did not happen here.
    pub fn watch(&self, delivery_ids: &[String]) -> Vec<oneshot::Receiver<AttemptReport>> {
        let mut w = self.inner.watchers.lock().expect("watchers lock");
        let rxs = delivery_ids
            .iter()
            .map(|id| {
                let (tx, rx) = oneshot::channel();
                w.insert(id.clone(), tx);
                rx
            })
            .collect();
        self.inner.watching.store(w.len(), Ordering::Release);
        rxs
    }

    /// Stops reporting on these deliveries (the publisher stopped waiting).
    pub fn unwatch(&self, delivery_ids: &[String]) {
        if self.inner.watching.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut w = self.inner.watchers.lock().expect("watchers lock");
        for id in delivery_ids {
            w.remove(id);
        }
        self.inner.watching.store(w.len(), Ordering::Release);
    }

    /// What a publisher waiting on this delivery will be told, taken before
    /// the outcome goes to the writer; `None` when nobody waits on anything.
    fn report_of(&self, outcome: &Outcome) -> Option<AttemptReport> {
        if self.inner.watching.load(Ordering::Acquire) == 0 {
            return None;
        }
        let a = &outcome.attempt;
        Some(AttemptReport {
            attempt_id: a.id.clone(),
            success: a.status == crate::store::DeliveryStatus::Success,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            error: a.error.clone(),
        })
    }

    /// Called once an outcome is durable.
    fn settled(&self, delivery_id: &str, next_due: Option<Micros>, report: Option<AttemptReport>) {
        if let Some(report) = report {
            let tx = {
                let mut w = self.inner.watchers.lock().expect("watchers lock");
                let tx = w.remove(delivery_id);
                self.inner.watching.store(w.len(), Ordering::Release);
                tx
            };
            if let Some(tx) = tx {
                let _ = tx.send(report);
            }
        }
        self.forget(&[delivery_id]);
        if let Some(due) = next_due {
            let mut next = self.inner.next_due.lock().expect("next_due lock");
            if next.is_none_or(|n| due < n) {
                *next = Some(due);
                self.inner.wake.notify_one();
            }
        }
    }

    fn forget(&self, ids: &[impl std::borrow::Borrow<str>]) {
        let low_water = self.inner.cfg.max_queued() / 2;
        let mut held = self.inner.held.lock().expect("held lock");
        let before = held.len();
        for id in ids {
            held.remove(id.borrow());
        }
        // Work left in the store for lack of room (a large fan-out) is claimed
        // while half the queue is still busy, not at the next poll or publish.
        if before > low_water && held.len() <= low_water {
            self.inner.wake.notify_one();
        }
    }

    /// Stops taking work, lets attempts under way finish (bounded by their
    /// timeout) and record their outcomes, and gives back the leases of tasks not started.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        self.inner.tasks.close();
        let grace = self.inner.cfg.attempt_timeout + Duration::from_secs(5);
        if tokio::time::timeout(grace, self.inner.tasks.wait()).await.is_err() {
            tracing::warn!("attempts still running at shutdown; their leases will expire and they will be retried");
        }
        // What this node handed back is due now: other nodes take it at once.
        if let Err(e) = self.inner.store.announce_work().await {
            tracing::debug!(error = %e, "announcing work failed; other nodes find it on their next look");
        }
    }
}
