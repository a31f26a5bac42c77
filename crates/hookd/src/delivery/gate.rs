//! Per-endpoint admission: a bound on concurrent requests and the endpoint's
//! `throttleRate`, so that one slow or busy endpoint waits alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub struct Gate {
    slots: Arc<Semaphore>,
    pace: Mutex<Pace>,
}

/// The endpoint's `throttleRate` schedule on this node.
struct Pace {
    next_send: Instant,
    /// Sends waiting for their turn, and since when some have been waiting.
    waiting: usize,
    since: SystemTime,
}

/// One send counted as waiting until it is dropped, whether it got its turn
/// or was given up (its future dropped mid-wait).
struct Waiting<'a>(&'a Mutex<Pace>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.lock().expect("gate lock").waiting -= 1;
    }
}

impl Gate {
    /// Waits for this endpoint's next send slot at `rate` per second, then for a free request slot.
    pub async fn enter(&self, rate: Option<i64>) -> OwnedSemaphorePermit {
        if let Some(rate) = rate.filter(|r| *r > 0) {
            let interval = Duration::from_secs(1) / rate as u32;
            let at = {
                let mut pace = self.pace.lock().expect("gate lock");
                let now = Instant::now();
                let at = pace.next_send.max(now);
                pace.next_send = at + interval;
                (at > now).then(|| {
                    if pace.waiting == 0 {
                        pace.since = SystemTime::now();
                    }
                    pace.waiting += 1;
                    at
                })
            };
            if let Some(at) = at {
                let _waiting = Waiting(&self.pace);
                tokio::time::sleep_until(at).await;
            }
        }
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("gate semaphores are never closed")
    }

    /// Since when sends to this endpoint have been held back by its
    /// `throttleRate` on this node, if they are now.
    pub fn throttled_since(&self) -> Option<SystemTime> {
        let pace = self.pace.lock().expect("gate lock");
        (pace.waiting > 0).then_some(pace.since)
    }
}

pub struct Gates {
    per_endpoint: usize,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

impl Gates {
    pub fn new(per_endpoint: usize) -> Self {
        Gates {
            per_endpoint,
            gates: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, endpoint_id: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().expect("gates lock");
        if let Some(g) = gates.get(endpoint_id) {
            return g.clone();
        }
        // Forget idle gates now and then, so that deleted endpoints do not pile up.
        if gates.len() > 10_000 {
            gates.retain(|_, g| Arc::strong_count(g) > 1);
        }
        let g = Arc::new(Gate {
            slots: Arc::new(Semaphore::new(self.per_endpoint)),
            pace: Mutex::new(Pace {
                next_send: Instant::now(),
                waiting: 0,
                since: SystemTime::UNIX_EPOCH,
            }),
        });
        gates.insert(endpoint_id.to_owned(), g.clone());
        g
    }

    /// See [`Gate::throttled_since`]; `None` for an endpoint this node has not sent to.
    pub fn throttled_since(&self, endpoint_id: &str) -> Option<SystemTime> {
        let gates = self.gates.lock().expect("gates lock");
        gates.get(endpoint_id)?.throttled_since()
    }
}
