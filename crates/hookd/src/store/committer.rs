//! The write path: publishes and attempt outcomes share one group commit, so
//! that each fsynced transaction carries everything that arrived meanwhile.

use std::sync::Arc;

use super::group_commit::GroupCommit;
use super::{Matcher, NewMessage, Outcome, Published, Result, Store};

pub enum Write {
    Publish(NewMessage),
    Outcome(Outcome),
}

pub enum Written {
    Published(Result<Published>),
    Recorded(Result<()>),
}

pub type Committer = GroupCommit<Write, Written>;

pub fn spawn(store: Arc<dyn Store>, matches: Matcher) -> Committer {
    GroupCommit::spawn(512, move |jobs: Vec<Write>| {
        let store = store.clone();
        async move { commit(&*store, matches, jobs).await }
    })
}

async fn commit(store: &dyn Store, matches: Matcher, jobs: Vec<Write>) -> Vec<Written> {
    let mut publishes = Vec::new();
    let mut outcomes = Vec::new();
    for job in &jobs {
        match job {
            Write::Publish(p) => publishes.push(p.clone()),
            Write::Outcome(o) => outcomes.push(o.clone()),
        }
    }
    match store.write(publishes, matches, &outcomes).await {
        Ok(published) => {
            let mut published = published.into_iter();
            jobs.iter()
                .map(|job| match job {
                    Write::Publish(_) => Written::Published(published.next().expect("one result per message")),
                    Write::Outcome(_) => Written::Recorded(Ok(())),
                })
                .collect()
        }
        Err(e) if jobs.len() > 1 => {
            // One bad item must not fail the others: write each alone.
            tracing::warn!(error = %e, "a batched write failed; writing its items one by one");
            let mut out = Vec::with_capacity(jobs.len());
            for job in jobs {
                out.extend(Box::pin(commit(store, matches, vec![job])).await);
            }
            out
        }
        Err(e) => jobs
            .into_iter()
            .map(|job| match job {
                Write::Publish(_) => Written::Published(Err(e.clone_kind())),
                Write::Outcome(_) => Written::Recorded(Err(e.clone_kind())),
            })
            .collect(),
    }
}
