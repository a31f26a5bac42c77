//! Background tasks that run in steps and outlive the node that started them:
//! broadcasts (`message.broadcast`) and replays (`endpoint.replay`,
//! `endpoint.bulk-replay`).
//!
//! A task's `data` holds its parameters and how far it got. A node works on
//! a task one step at a time; each step is recorded with a condition on the
//! task's `updated_at` as that node last wrote it, so two nodes never both
//! advance it: the second one's write changes nothing and it lets the task
//! go. A task whose `updated_at` is older than [`STALE`] was left by a node
//! that died, and any node takes it over. So a step may be done twice (done,
//! then the node died before recording it); every kind's step is written so
//! that doing it again adds nothing.

pub mod broadcast;
pub mod replay;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::delivery::Engine;
use crate::store::{BackgroundTask, Page, Store, StoreError, TaskKind, TaskStatus};
use crate::time::{self, Micros};

/// A running task not stepped for this long lost its node.
const STALE: Micros = 30 * time::SECOND;
/// How often running tasks are looked for when this node started none.
const POLL: Duration = Duration::from_secs(5);

/// The kinds of task that run in steps.
const STEPPED: [TaskKind; 3] = [
    TaskKind::MessageBroadcast,
    TaskKind::EndpointReplay,
    TaskKind::EndpointBulkReplay,
];

/// What one step did.
pub struct Stepped {
    /// The task's `data` after it.
    pub data: serde_json::Value,
    /// How much it added to the task's count.
    pub added: i64,
    pub finished: bool,
}

pub struct Runner {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
}

impl Runner {
    /// Works on running tasks whenever this node starts one, or every
    /// [`POLL`] for those other nodes left, until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if let Err(e) = self.pass(&stop).await {
                static SAID: crate::log_limit::Every = crate::log_limit::Every::new(Duration::from_secs(10));
                if SAID.ready() {
                    tracing::warn!(error = %e, "background tasks wait until the store answers");
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
        for kind in STEPPED {
            let running = self
                .store
                .list_tasks(Some(TaskStatus::Running), Some(kind), &page)
                .await?;
            let now = time::now();
            for task in running {
                // Never stepped (just started) or left by a dead node.
                let free = task.updated_at == task.created_at || task.updated_at < now - STALE;
                if !free || stop.is_cancelled() {
                    continue;
                }
                let id = task.id.clone();
                match self.work(task, stop).await {
                    // A task this build cannot read must not hold up the others.
                    Err(StoreError::Corrupt(e)) => {
                        tracing::error!(task = %id, error = %e, "background task unreadable")
                    }
                    other => other?,
                }
            }
        }
        Ok(())
    }

    /// Steps `task` to its end, unless another node takes it or this one stops.
    async fn work(&self, task: BackgroundTask, stop: &CancellationToken) -> Result<(), StoreError> {
        let mut data = task.data.clone();
        let mut count = task.count.unwrap_or(0);
        // Claim it: a step that changes nothing but the time.
        let Some(mut seen) = self
            .store
            .step_task(&task.id, task.updated_at, &data, count, false)
            .await?
        else {
            return Ok(());
        };
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let step = self.step(&task, data).await?;
            count += step.added;
            data = step.data;
            match self
                .store
                .step_task(&task.id, seen, &data, count, step.finished)
                .await?
            {
                Some(at) => seen = at,
                None => return Ok(()),
            }
            if step.finished {
                self.engine.wrote_operational_events();
                tracing::info!(task = %task.id, kind = task.kind.name(), count, "background task finished");
                return Ok(());
            }
        }
    }

    async fn step(&self, task: &BackgroundTask, data: serde_json::Value) -> Result<Stepped, StoreError> {
        match task.kind {
            TaskKind::MessageBroadcast => broadcast::step(&*self.store, &self.engine, &task.id, data).await,
            TaskKind::EndpointReplay => replay::step(&*self.store, &self.engine, data, false).await,
            TaskKind::EndpointBulkReplay => replay::step(&*self.store, &self.engine, data, true).await,
            kind => Err(StoreError::Corrupt(format!("{} does not run in steps", kind.name()))),
        }
    }
}

/// A task's `data` read as what its kind keeps there.
fn read<T: serde::de::DeserializeOwned>(data: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(data).map_err(|e| StoreError::Corrupt(format!("a task's data: {e}")))
}

fn write<T: serde::Serialize>(data: &T) -> serde_json::Value {
    serde_json::to_value(data).expect("task data serialises")
}
