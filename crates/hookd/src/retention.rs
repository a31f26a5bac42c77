//! Keeps the store from growing without bound: drops payloads past their
//! retention and old idempotency keys, in small batches so that no statement
//! holds the database for long.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::idempotency;
use crate::store::Store;
use crate::time::{self, Micros};

const BATCH: i64 = 500;

pub async fn run(store: Arc<dyn Store>, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = sweep(&*store, &stop).await {
            tracing::warn!(error = %e, "retention sweep failed; will try again");
        }
    }
}

/// How long hourly attempt counts are kept: the console charts the last day,
/// the API answers up to a week back.
pub const ATTEMPT_COUNTS_KEPT: Micros = 8 * time::DAY;

/// One pass; returns how many payloads were dropped.
pub async fn sweep(store: &dyn Store, stop: &CancellationToken) -> crate::store::Result<u64> {
    let mut dropped = 0;
    loop {
        let n = store.purge_expired_payloads(time::now(), BATCH).await?;
        dropped += n;
        if n < BATCH as u64 || stop.is_cancelled() {
            break;
        }
        // Let other writers in between batches.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.purge_idempotency(time::now() - idempotency::KEEP).await?;
    store.purge_attempt_counts(time::now() - ATTEMPT_COUNTS_KEPT).await?;
    if dropped > 0 {
        tracing::info!(dropped, "expired payloads removed");
    }
    Ok(dropped)
}
