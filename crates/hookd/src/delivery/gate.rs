//! Per-endpoint admission: a bound on concurrent requests and the endpoint's
//! `throttleRate`, so that one slow or busy endpoint waits alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub struct Gate {
    slots: Arc<Semaphore>,
    next_send: Mutex<Instant>,
}

impl Gate {
    /// Waits for this endpoint's next send slot at `rate` per second, then for a free request slot.
    pub async fn enter(&self, rate: Option<i64>) -> OwnedSemaphorePermit {
        if let Some(rate) = rate.filter(|r| *r > 0) {
            let interval = Duration::from_secs(1) / rate as u32;
            let at = {
                let mut next = self.next_send.lock().expect("gate lock");
                let at = (*next).max(Instant::now());
                *next = at + interval;
                at
            };
            tokio::time::sleep_until(at).await;
        }
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("gate semaphores are never closed")
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
            next_send: Mutex::new(Instant::now()),
        });
        gates.insert(endpoint_id.to_owned(), g.clone());
        g
    }
}
