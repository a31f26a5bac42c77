//! The write path: publishes and attempt outcomes share one group commit, so
//! that each durable transaction carries everything that arrived meanwhile.
//! (Two or four group commits at once on PostgreSQL delivered less: smaller
//! batches, more work per message.)
//!
//! On the embedded store the group commit has a thread of its own, with a
//! single-threaded runtime: each transaction holds its thread for the whole
//! commit, fsync included, and nothing else waits for that thread. Under load
//! it never sleeps: the next batch is waiting when a commit ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::group_commit::{GroupCommit, Patience};
use super::{Matcher, NewMessage, Outcome, Published, Result, Store, StoreError};
use crate::metrics::Metrics;

enum Write {
    Publish(NewMessage),
    Outcome(Box<Outcome>),
}

enum Written {
    Published(Result<Published>),
    /// An outcome that could not be written comes back, for the caller to try again.
    Recorded(std::result::Result<(), (StoreError, Box<Outcome>)>),
}

/// The group commit that every write goes through, with a typed call for
/// each kind of write.
#[derive(Clone)]
pub struct Committer(GroupCommit<Write, Written>);

/// On the embedded store, outcomes wait for company while publishers are
/// being answered: nobody waits on an outcome but the engine, and a batch of
/// them writes few more pages than one does. The bound keeps leases, memory
/// and what the API shows of attempts close to current.
///
/// On PostgreSQL a commit is one statement whatever it holds, so outcomes go
/// in the next one: an answer a receiver gave is durable within one commit,
/// and a node killed then sends again only what was still under way (with
/// patience, the outcomes it held were lost too and their deliveries repeated).
const fn outcomes(embedded: bool) -> Patience<Write> {
    Patience {
        may_wait: |w| matches!(w, Write::Outcome(_)),
        gather: 128,
        at_most: match embedded {
            true => Duration::from_millis(20),
            false => Duration::ZERO,
        },
    }
}

impl Committer {
    /// Stores a message and its deliveries; `None` once the committer has stopped.
    pub async fn publish(&self, message: NewMessage) -> Option<Result<Published>> {
        match self.0.submit(Write::Publish(message)).await? {
            Written::Published(r) => Some(r),
            Written::Recorded(_) => None,
        }
    }

    /// Records an attempt's outcome. One that could not be written comes back
    /// with the error, for the caller to try again; `None` once the committer
    /// has stopped.
    pub async fn record(&self, outcome: Box<Outcome>) -> Option<std::result::Result<(), (StoreError, Box<Outcome>)>> {
        match self.0.submit(Write::Outcome(outcome)).await? {
            Written::Recorded(r) => Some(r),
            Written::Published(_) => None,
        }
    }
}

pub fn spawn(store: Arc<dyn Store>, matches: Matcher, metrics: Arc<Metrics>) -> std::io::Result<Committer> {
    let blocking = store.writes_block();
    let (gc, run) = GroupCommit::start(512, outcomes(blocking), move |jobs: Vec<Write>| {
        let (store, metrics) = (store.clone(), metrics.clone());
        async move {
            let (n, started) = (jobs.len(), Instant::now());
            let written = commit(&*store, matches, jobs).await;
            metrics.commit(n, started.elapsed());
            for w in &written {
                if let Written::Published(Ok(p)) = w
                    && p.message.app_id != super::OPERATIONAL_APP
                {
                    metrics.messages_published.inc();
                    metrics.deliveries_created.inc_by(p.tasks.len() as u64);
                }
            }
            written
        }
    });
    if !blocking {
        // These commits wait on the network, not on a thread.
        tokio::spawn(run);
        return Ok(Committer(gc));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The thread ends when the last handle is dropped and every answer is sent.
    std::thread::Builder::new()
        .name("hookd-commit".into())
        .spawn(move || runtime.block_on(run))?;
    Ok(Committer(gc))
}

async fn commit(store: &dyn Store, matches: Matcher, jobs: Vec<Write>) -> Vec<Written> {
    let is_publish: Vec<bool> = jobs.iter().map(|j| matches!(j, Write::Publish(_))).collect();
    let mut publishes = Vec::new();
    let mut outcomes = Vec::new();
    for job in jobs {
        match job {
            Write::Publish(p) => publishes.push(p),
            Write::Outcome(o) => outcomes.push(*o),
        }
    }
    match store.write(&publishes, matches, &outcomes).await {
        Ok(published) => {
            let mut published = published.into_iter();
            is_publish
                .iter()
                .map(|&p| match p {
                    true => Written::Published(published.next().expect("one result per message")),
                    false => Written::Recorded(Ok(())),
                })
                .collect()
        }
        Err(e) if is_publish.len() > 1 => {
            // One bad item must not fail the others: write each alone, in the order they came.
            tracing::warn!(error = %e, "a batched write failed; writing its items one by one");
            let (mut publishes, mut outcomes) = (publishes.into_iter(), outcomes.into_iter());
            let mut out = Vec::with_capacity(is_publish.len());
            for p in is_publish {
                let job = match p {
                    true => Write::Publish(publishes.next().expect("as many as counted")),
                    false => Write::Outcome(Box::new(outcomes.next().expect("as many as counted"))),
                };
                out.extend(Box::pin(commit(store, matches, vec![job])).await);
            }
            out
        }
        Err(e) => {
            let mut outcomes = outcomes.into_iter();
            is_publish
                .iter()
                .map(|&p| match p {
                    true => Written::Published(Err(e.clone_kind())),
                    false => {
                        let back = outcomes.next().expect("as many as counted");
                        Written::Recorded(Err((e.clone_kind(), Box::new(back))))
                    }
                })
                .collect()
        }
    }
}
