//! Finds work in the store: retries that fell due, deliveries stored without a
//! lease, and deliveries whose holder died. Idle, it costs one indexed query
//! per poll interval.

use std::time::Duration;

use super::Engine;
use crate::store::StoreError;
use crate::time::{self, Micros};

const CLAIM_BATCH: usize = 500;

/// One turn of the scheduler: claims what is due at `now` (as much as this
/// node has room for) and dispatches it. Says how many it claimed, and
/// whether they filled a batch (so more may be waiting).
pub async fn step(engine: &Engine, now: Micros) -> Result<Claimed, StoreError> {
    let inner = &engine.inner;
    let free = inner
        .cfg
        .max_queued()
        .saturating_sub(inner.held.lock().expect("held lock").len());
    let limit = free.min(CLAIM_BATCH);
    if limit == 0 {
        return Ok(Claimed { count: 0, full: false });
    }
    let until = time::now() + inner.cfg.lease.as_micros() as i64;
    let tasks = inner.store.claim_due(&inner.node_id, now, until, limit as i64).await?;
    // The retry we were woken for is served; a later one set meanwhile stays.
    let mut next = inner.next_due.lock().expect("next_due lock");
    if next.is_some_and(|d| d <= now) {
        *next = None;
    }
    drop(next);
    let claimed = Claimed {
        count: tasks.len(),
        full: tasks.len() == limit,
    };
    engine.dispatch(tasks);
    Ok(claimed)
}

pub struct Claimed {
    pub count: usize,
    pub full: bool,
}

pub async fn run(engine: Engine) {
    let inner = &engine.inner;
    let mut backoff = inner.cfg.poll_interval;
    loop {
        let mut full_batch = false;
        match step(&engine, time::now()).await {
            Ok(claimed) => {
                full_batch = claimed.full;
                backoff = inner.cfg.poll_interval;
            }
            Err(e) => {
                // Log once per back-off step, not once per poll, while the database is away.
                tracing::warn!(error = %e, retry_in = ?backoff, "claiming due deliveries failed");
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        if full_batch {
            continue;
        }
        let mut sleep = backoff;
        if let Some(due) = *inner.next_due.lock().expect("next_due lock") {
            sleep = sleep.min(Duration::from_micros((due - time::now()).max(0) as u64));
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = inner.wake.notified() => {}
            _ = inner.stop.cancelled() => return,
        }
    }
}

/// Keeps the leases of held deliveries alive, so that a task waiting behind a
/// slow endpoint is not taken over by another node.
pub async fn renew_leases(engine: Engine) {
    let inner = &engine.inner;
    let period = inner.cfg.lease / 3;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = inner.stop.cancelled() => return,
        }
        let ids: Vec<String> = inner.held.lock().expect("held lock").iter().cloned().collect();
        if ids.is_empty() {
            continue;
        }
        let until = time::now() + inner.cfg.lease.as_micros() as i64;
        if let Err(e) = inner.store.renew_leases(&inner.node_id, &ids, until).await {
            tracing::warn!(error = %e, "renewing leases failed");
        }
    }
}
