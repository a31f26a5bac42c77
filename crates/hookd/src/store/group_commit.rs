//! Group commit: requests that arrive while a transaction is being written wait
//! and go together in the next one, so one fsync serves many callers.

use std::future::Future;

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

impl<Req: Send + 'static, Resp: Send + 'static> GroupCommit<Req, Resp> {
    /// Starts the committing task. `commit` gets every waiting request (at most
    /// `max_batch`) and must answer each, in order.
    pub fn spawn<F, Fut>(max_batch: usize, mut commit: F) -> Self
    where
        F: FnMut(Vec<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Resp>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Job<Req, Resp>>(max_batch * 4);
        tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut jobs, max_batch).await > 0 {
                let (reqs, waiters): (Vec<Req>, Vec<oneshot::Sender<Resp>>) = jobs.drain(..).unzip();
                for (resp, waiter) in commit(reqs).await.into_iter().zip(waiters) {
                    let _ = waiter.send(resp);
                }
            }
        });
        GroupCommit { tx }
    }

    /// Queues a request and waits for its answer; `None` once the committer has stopped.
    pub async fn submit(&self, req: Req) -> Option<Resp> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((req, tx)).await.ok()?;
        rx.await.ok()
    }
}
