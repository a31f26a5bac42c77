//! The write path: publishes and attempt outcomes share one group commit, so
//! that each fsynced transaction carries everything that arrived meanwhile.
//!
//! On the embedded store the committer has a thread of its own, with a
//! single-threaded runtime: each transaction holds its thread for the whole
//! commit, fsync included. On the API's runtime that took `block_in_place`,
//! which hands the thread's runtime core to another thread at every commit,
//! a thread wake-up during which the API's other work waited; the API then ran
//! on one core's worth of threads, so that happened about a thousand times a
//! second. Under load the committer's thread never sleeps: the next batch is
//! waiting when a commit ends.

use std::sync::Arc;
use std::time::Duration;

use super::group_commit::{GroupCommit, Patience};
use super::{Backend, Matcher, NewMessage, Outcome, Published, Result, Store};

pub enum Write {
    Publish(NewMessage),
    Outcome(Box<Outcome>),
}

pub enum Written {
    Published(Result<Published>),
    /// An outcome that could not be written comes back, for the caller to try again.
    Recorded(std::result::Result<(), (super::StoreError, Box<Outcome>)>),
}

pub type Committer = GroupCommit<Write, Written>;

/// Outcomes wait for company while publishers are being answered: nobody
/// waits on an outcome but the engine, and a batch of them writes few more
/// pages than one does. The bound keeps leases, memory and what the API shows
/// of attempts close to current.
const OUTCOMES: Patience<Write> = Patience {
    may_wait: |w| matches!(w, Write::Outcome(_)),
    gather: 128,
    at_most: Duration::from_millis(20),
};

pub fn spawn(store: Arc<dyn Store>, matches: Matcher) -> std::io::Result<Committer> {
    let own_thread = store.backend() == Backend::Sqlite;
    let idle = store.clone();
    let (gc, run) = GroupCommit::start(
        512,
        OUTCOMES,
        move |jobs: Vec<Write>| {
            let store = store.clone();
            async move { commit(&*store, matches, jobs).await }
        },
        move || {
            let store = idle.clone();
            async move { store.write_idle().await }
        },
    );
    if !own_thread {
        // PostgreSQL's commits wait on the network, not on a thread.
        tokio::spawn(run);
        return Ok(gc);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The thread ends when the last handle is dropped and every answer is sent.
    std::thread::Builder::new()
        .name("hookd-commit".into())
        .spawn(move || runtime.block_on(run))?;
    Ok(gc)
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
