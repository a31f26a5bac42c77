//! Records outcomes in batches: one transaction (one fsync) for every outcome
//! that arrived while the previous one was being written.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::Engine;
use crate::store::group_commit::GroupCommit;
use crate::store::{Outcome, Store};

pub struct Writer {
    commits: GroupCommit<Outcome, ()>,
    engine: Arc<OnceLock<Engine>>,
}

impl Writer {
    pub fn spawn(store: Arc<dyn Store>) -> Writer {
        let engine: Arc<OnceLock<Engine>> = Arc::new(OnceLock::new());
        let seen = engine.clone();
        let commits = GroupCommit::spawn(512, move |batch: Vec<Outcome>| {
            let store = store.clone();
            let engine = seen.clone();
            async move {
                write_until_stored(&*store, &batch).await;
                if let Some(engine) = engine.get() {
                    engine.settled(&batch);
                }
                vec![(); batch.len()]
            }
        });
        Writer { commits, engine }
    }

    pub async fn record(&self, outcome: Outcome) {
        self.commits.submit(outcome).await;
    }

    pub fn attach(&self, engine: Engine) {
        let _ = self.engine.set(engine);
    }
}

/// Retries while the database is away: the outcome is only in memory until it is stored.
async fn write_until_stored(store: &dyn Store, batch: &[Outcome]) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match store.record_outcomes(batch).await {
            Ok(()) => return,
            Err(e) if batch.len() > 1 => {
                // One bad row should not hold up the others: write them one by one.
                tracing::warn!(error = %e, "writing a batch of outcomes failed; writing them singly");
                for o in batch {
                    Box::pin(write_until_stored(store, std::slice::from_ref(o))).await;
                }
                return;
            }
            Err(crate::store::StoreError::Unavailable(e)) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "database unavailable; outcome kept in memory");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(error = %e, delivery = %batch[0].delivery_id, "outcome cannot be stored; dropped");
                return;
            }
        }
    }
}
