//! Group commit: requests that arrive while a transaction is being written wait
//! and go together in the next one, so one fsync serves many callers.
//!
//! Some requests may wait longer (`Patience`): they are gathered over several
//! transactions and written together. On SQLite every b-tree a transaction
//! touches costs at least a page written, so a hundred attempt outcomes cost
//! about what ten do, and the transactions that answer waiting publishers stay small.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

type Job<Req, Resp> = (Req, oneshot::Sender<Resp>);

pub struct GroupCommit<Req, Resp> {
    tx: mpsc::Sender<Job<Req, Resp>>,
}

impl<Req, Resp> Clone for GroupCommit<Req, Resp> {
    fn clone(&self) -> Self {
        GroupCommit { tx: self.tx.clone() }
    }
}

/// Which requests may be held back, and for how long: they go once `gather`
/// of them wait, once the oldest has waited `at_most`, or as soon as nothing
/// else is waiting, whichever comes first.
pub struct Patience<Req> {
    pub may_wait: fn(&Req) -> bool,
    pub gather: usize,
    pub at_most: Duration,
}

impl<Req: Send + 'static, Resp: Send + 'static> GroupCommit<Req, Resp> {
    /// Starts the committing task. `commit` gets the requests of one
    /// transaction (at most `max_batch` at once, plus held-back ones) and must
    /// answer each, in order.
    pub fn spawn<F, Fut>(max_batch: usize, patience: Patience<Req>, commit: F) -> Self
    where
        F: FnMut(Vec<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Resp>> + Send,
    {
        let (gc, run) = Self::start(max_batch, patience, commit);
        tokio::spawn(run);
        gc
    }

    /// As [`GroupCommit::spawn`], but returns the committing loop for the caller to run.
    pub fn start<F, Fut>(
        max_batch: usize,
        patience: Patience<Req>,
        mut commit: F,
    ) -> (Self, impl Future<Output = ()> + Send + 'static)
    where
        F: FnMut(Vec<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Resp>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Job<Req, Resp>>(max_batch * 4);
        let run = async move {
            let mut incoming = Vec::with_capacity(max_batch);
            let mut now: Vec<Job<Req, Resp>> = Vec::new();
            let mut held: Vec<Job<Req, Resp>> = Vec::new();
            let mut oldest = Instant::now();
            loop {
                if now.is_empty() && held.is_empty() {
                    if rx.recv_many(&mut incoming, max_batch).await == 0 {
                        return;
                    }
                } else {
                    while incoming.len() < max_batch
                        && let Ok(job) = rx.try_recv()
                    {
                        incoming.push(job);
                    }
                }
                for job in incoming.drain(..) {
                    if !(patience.may_wait)(&job.0) {
                        now.push(job);
                        continue;
                    }
                    if held.is_empty() {
                        oldest = Instant::now();
                    }
                    held.push(job);
                }
                let release = now.is_empty() || held.len() >= patience.gather || oldest.elapsed() >= patience.at_most;
                if release {
                    now.append(&mut held);
                }
                let (reqs, waiters): (Vec<Req>, Vec<oneshot::Sender<Resp>>) = now.drain(..).unzip();
                for (resp, waiter) in commit(reqs).await.into_iter().zip(waiters) {
                    let _ = waiter.send(resp);
                }
            }
        };
        (GroupCommit { tx }, run)
    }

    /// Queues a request and waits for its answer; `None` once the committer has stopped.
    pub async fn submit(&self, req: Req) -> Option<Resp> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((req, tx)).await.ok()?;
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::sync::Semaphore;

    use super::*;

    /// Odd requests may wait. The first transaction is held open until the
    /// test has queued `then` behind it; returns every transaction's requests.
    async fn batches(gather: usize, then: &[u32]) -> Vec<Vec<u32>> {
        let seen: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
        let gate = Arc::new(Semaphore::new(0));
        let patience = Patience {
            may_wait: |r: &u32| r % 2 == 1,
            gather,
            at_most: Duration::from_secs(3600),
        };
        let (log, open) = (seen.clone(), gate.clone());
        let gc = GroupCommit::spawn(16, patience, move |reqs: Vec<u32>| {
            let (log, open) = (log.clone(), open.clone());
            async move {
                if reqs == [0] {
                    open.acquire().await.unwrap().forget();
                }
                log.lock().unwrap().push(reqs.clone());
                reqs
            }
        });
        let mut answers = vec![tokio::spawn({
            let gc = gc.clone();
            async move { gc.submit(0).await }
        })];
        tokio::task::yield_now().await;
        for &r in then {
            let gc = gc.clone();
            answers.push(tokio::spawn(async move { gc.submit(r).await }));
        }
        // On this single-threaded runtime every submit has queued its request
        // once the spawned tasks have had their turn.
        tokio::task::yield_now().await;
        gate.add_permits(1);
        for (a, want) in answers.into_iter().zip([0].iter().chain(then)) {
            assert_eq!(a.await.unwrap(), Some(*want), "each request gets its own answer");
        }
        seen.lock().unwrap().clone()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn waiting_requests_go_after_the_urgent_ones_and_together() {
        assert_eq!(batches(10, &[1, 2, 3]).await, vec![vec![0], vec![2], vec![1, 3]]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn enough_waiting_requests_go_with_the_next_transaction() {
        assert_eq!(batches(2, &[1, 2, 3]).await, vec![vec![0], vec![2, 1, 3]]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiting_request_alone_goes_at_once() {
        let patience = Patience {
            may_wait: |_: &u32| true,
            gather: 100,
            at_most: Duration::from_secs(3600),
        };
        let gc = GroupCommit::spawn(16, patience, |reqs: Vec<u32>| async move { reqs });
        assert_eq!(gc.submit(7).await, Some(7));
    }
}
