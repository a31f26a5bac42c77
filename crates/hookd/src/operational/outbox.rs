//! Empties the store's outbox of operational events into messages of the
//! operational application, which the engine then delivers like any other.
//!
//! Each event's id is its message's `eventId`, and a message with a taken
//! `eventId` is refused: an event is removed from the outbox only after its
//! message is stored, so a crash in between (or two nodes emptying the same
//! outbox) publishes it again and that second publish is refused. Each event
//! becomes exactly one message.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::{OPERATIONAL_APP, body, data_of};
use crate::delivery::Engine;
use crate::ids::{self, Kind};
use crate::metrics::Metrics;
use crate::store::{AppRecord, MessageRecord, OperationalKind, Page, Store, StoreError, StoredOperationalEvent};
use crate::time;

/// How many events one pass takes.
const BATCH: i64 = 64;
/// How often the outbox is looked at when nobody says it was written to
/// (events written by another node, or by the store itself).
const POLL: Duration = Duration::from_millis(500);
/// How long operational messages are kept.
const RETENTION_DAYS: i64 = 30;

pub struct Outbox {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    pub metrics: Arc<Metrics>,
}

/// Makes the operational application if there is none yet (several nodes
/// may try at once: one wins, the others find it).
pub async fn ensure_app(store: &dyn Store) -> Result<(), StoreError> {
    if store.get_app(OPERATIONAL_APP).await?.is_some() {
        return Ok(());
    }
    let now = time::now();
    let app = AppRecord {
        id: OPERATIONAL_APP.into(),
        uid: None,
        name: "hookd operational webhooks".into(),
        throttle_rate: None,
        metadata: Default::default(),
        created_at: now,
        updated_at: now,
    };
    match store.create_app(&app).await {
        Err(StoreError::Conflict(_)) => Ok(()),
        r => r,
    }
}

impl Outbox {
    /// Empties the outbox whenever it is written to, or every [`POLL`], until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let wait = match self.pass().await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => POLL,
                Err(e) => {
                    static SAID: crate::log_limit::Every = crate::log_limit::Every::new(Duration::from_secs(10));
                    if SAID.ready() {
                        tracing::warn!(error = %e, "operational events wait in the store until it answers");
                    }
                    POLL * 4
                }
            };
            tokio::select! {
                _ = self.engine.outbox_written() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Publishes the oldest events and removes those now stored; returns how
    /// many it read. With no operational endpoint to send them to, events
    /// are dropped rather than kept as messages nobody receives.
    async fn pass(&self) -> Result<usize, StoreError> {
        let events = self.store.operational_events(BATCH).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let page = Page {
            limit: 1,
            after: None,
            descending: false,
        };
        if self.store.list_endpoints(OPERATIONAL_APP, &page).await?.is_empty() {
            for e in &events {
                self.count(e);
            }
            let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
            self.store.remove_operational_events(&ids).await?;
            return Ok(events.len());
        }
        let published = join_all(events.iter().map(|e| self.publish(e))).await;
        let mut done = Vec::new();
        let mut failed = None;
        for (e, r) in events.iter().zip(published) {
            match r {
                Ok(()) => done.push(e.id.clone()),
                Err(err) => failed = Some(err),
            }
        }
        self.store.remove_operational_events(&done).await?;
        match failed {
            Some(e) => Err(e),
            None => Ok(events.len()),
        }
    }

    fn count(&self, e: &StoredOperationalEvent) {
        if e.event_type == OperationalKind::EndpointDisabled.name() {
            self.metrics.endpoints_disabled.inc();
        }
    }

    async fn publish(&self, e: &StoredOperationalEvent) -> Result<(), StoreError> {
        let data = match (&e.data, &e.task_id) {
            (Some(data), _) => data.clone(),
            (None, Some(task)) => {
                let task = self.store.get_task(task).await?.ok_or(StoreError::NotFound)?;
                data_of(e, Some(&task))
            }
            (None, None) => data_of(e, None),
        };
        let now = time::now();
        let message = MessageRecord {
            id: ids::new(Kind::Message),
            app_id: OPERATIONAL_APP.into(),
            event_type: e.event_type.clone(),
            event_id: Some(e.id.clone()),
            channels: None,
            tags: None,
            payload: Some(body(&e.event_type, e.created_at, data)),
            deliver_at: None,
            created_at: now,
            expires_at: now + RETENTION_DAYS * time::DAY,
            traceparent: Some(crate::delivery::trace::start()),
            tracestate: None,
        };
        // A taken eventId: published before, by this node before a crash or by another.
        if self.engine.publish_own(message).await? {
            self.count(e);
        }
        Ok(())
    }
}
