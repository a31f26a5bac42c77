//! Keeps a repeated warning from flooding the log: while the database is away
//! every request and every waiting outcome would otherwise say so.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::time;

pub struct Every {
    last: AtomicI64,
    period: Duration,
}

impl Every {
    pub const fn new(period: Duration) -> Every {
        Every {
            last: AtomicI64::new(i64::MIN),
            period,
        }
    }

    /// True at most once per period.
    pub fn ready(&self) -> bool {
        let now = time::now();
        let last = self.last.load(Ordering::Relaxed);
        now.saturating_sub(last) >= self.period.as_micros() as i64
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn once_per_period() {
        let e = super::Every::new(std::time::Duration::from_secs(60));
        assert!(e.ready());
        assert!(!e.ready());
    }
}
