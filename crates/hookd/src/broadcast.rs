//! Broadcasts: one message to every application, as a `message.broadcast`
//! background task that outlives the node that started it.
//!
//! The task's `data` holds the message and how far it got (`cursor`, the last
//! application done; applications are taken in id order). A node works on a
//! task in steps of [`STEP`] applications; each step is recorded with a
//! condition on the task's `updated_at` as that node last wrote it, so two
//! nodes never both advance it: the second one's write changes nothing and it
//! lets the task go. A task whose `updated_at` is older than [`STALE`] was
//! left by a node that died, and any node takes it over.
//!
//! Each application's message has the broadcast's `eventId` (or, without
//! one, the task id), so a step done again after a crash is refused as a
//! reused `eventId` for the applications it had reached: each application
//! gets the message once.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::delivery::Engine;
use crate::ids::{self, Kind};
use crate::store::{BackgroundTask, MessageRecord, Page, Store, StoreError, TaskKind, TaskStatus};
use crate::time::{self, Micros};

/// Applications per step.
const STEP: i64 = 100;
/// A running task not stepped for this long lost its node.
const STALE: Micros = 30 * time::SECOND;
/// How often running tasks are looked for when this node started none.
const POLL: Duration = Duration::from_secs(5);

/// What a broadcast task keeps in its `data`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Broadcast {
    pub event_type: String,
    pub payload: Box<serde_json::value::RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// How long each message's payload is kept, in microseconds.
    pub retention: Micros,
    /// The last application sent to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

pub struct Broadcaster {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
}

impl Broadcaster {
    /// Works on running broadcasts whenever this node starts one, or every
    /// [`POLL`] for those other nodes left, until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if let Err(e) = self.pass(&stop).await {
                static SAID: crate::log_limit::Every = crate::log_limit::Every::new(Duration::from_secs(10));
                if SAID.ready() {
                    tracing::warn!(error = %e, "broadcasts wait until the store answers");
                }
            }
            tokio::select! {
                _ = self.engine.task_started() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    async fn pass(&self, stop: &CancellationToken) -> Result<(), StoreError> {
        let page = Page {
            limit: 50,
            after: None,
            descending: false,
        };
        let running = self
            .store
            .list_tasks(Some(TaskStatus::Running), Some(TaskKind::MessageBroadcast), &page)
            .await?;
        let now = time::now();
        for task in running {
            // Never stepped (just started) or left by a dead node.
            let free = task.updated_at == task.created_at || task.updated_at < now - STALE;
            if free && !stop.is_cancelled() {
                self.work(task, stop).await?;
            }
        }
        Ok(())
    }

    /// Steps `task` to its end, unless another node takes it or this one stops.
    async fn work(&self, task: BackgroundTask, stop: &CancellationToken) -> Result<(), StoreError> {
        let mut b: Broadcast = serde_json::from_value(task.data.clone())
            .map_err(|e| StoreError::Corrupt(format!("broadcast {}: {e}", task.id)))?;
        let mut count = task.count.unwrap_or(0);
        // Claim it: a step that changes nothing but the time.
        let Some(mut seen) = self.step(&task.id, task.updated_at, &b, count, false).await? else {
            return Ok(());
        };
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let page = Page {
                limit: STEP,
                after: b.cursor.clone(),
                descending: false,
            };
            let apps = self.store.list_apps(&page, None).await?;
            for app in &apps {
                count += self.publish(&task.id, &b, &app.id).await? as i64;
            }
            b.cursor = apps.last().map(|a| a.id.clone()).or(b.cursor);
            let finished = (apps.len() as i64) < STEP;
            match self.step(&task.id, seen, &b, count, finished).await? {
                Some(at) => seen = at,
                None => return Ok(()),
            }
            if finished {
                self.engine.wrote_operational_events();
                tracing::info!(task = %task.id, messages = count, "broadcast finished");
                return Ok(());
            }
        }
    }

    async fn step(
        &self,
        id: &str,
        seen: Micros,
        b: &Broadcast,
        count: i64,
        finished: bool,
    ) -> Result<Option<Micros>, StoreError> {
        let data = serde_json::to_value(b).expect("a broadcast serialises");
        self.store.step_task(id, seen, &data, count, finished).await
    }

    /// Publishes the broadcast to one application; whether it was new there.
    async fn publish(&self, task_id: &str, b: &Broadcast, app_id: &str) -> Result<bool, StoreError> {
        let now = time::now();
        let message = MessageRecord {
            id: ids::new(Kind::Message),
            app_id: app_id.to_owned(),
            event_type: b.event_type.clone(),
            event_id: Some(b.event_id.clone().unwrap_or_else(|| task_id.to_owned())),
            channels: b.channels.clone(),
            tags: None,
            payload: Some(b.payload.get().to_owned()),
            deliver_at: None,
            created_at: now,
            expires_at: now + b.retention,
            traceparent: Some(crate::delivery::trace::start()),
            tracestate: None,
        };
        // A taken eventId: sent there before (by this task before a crash).
        self.engine.publish_own(message).await
    }
}
