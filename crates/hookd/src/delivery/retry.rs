//! The retry policy: one pure function, so that every rule is tested here.

use std::time::Duration;

/// `Retry-After` is honoured up to this long; a receiver cannot park a delivery for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What happens after a failed attempt.
#[derive(Debug, PartialEq)]
pub enum Next {
    RetryIn(Duration),
    GiveUp,
}

/// `attempts` counts the attempts made so far, the failed one included; the first
/// attempt is immediate, so attempt `n` is followed by `schedule[n - 1]`.
/// `jitter` is a number in [-1, 1] that spreads the delay by ±20%.
/// A `Retry-After` (from a 429 or 503) can only push the retry later, up to
/// [`MAX_RETRY_AFTER`].
pub fn next(schedule: &[Duration], attempts: u32, retry_after: Option<Duration>, jitter: f64) -> Next {
    let Some(base) = (attempts as usize).checked_sub(1).and_then(|i| schedule.get(i)) else {
        return Next::GiveUp;
    };
    let jittered = base.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0));
    let asked = retry_after.map(|d| d.min(MAX_RETRY_AFTER)).unwrap_or_default();
    Next::RetryIn(jittered.max(asked))
}

/// Parses `Retry-After` in its delay-seconds form or as an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn follows_schedule_then_gives_up() {
        let sched = [s(5), s(300), s(1800)];
        assert_eq!(next(&sched, 1, None, 0.0), Next::RetryIn(s(5)));
        assert_eq!(next(&sched, 2, None, 0.0), Next::RetryIn(s(300)));
        assert_eq!(next(&sched, 3, None, 0.0), Next::RetryIn(s(1800)));
        assert_eq!(next(&sched, 4, None, 0.0), Next::GiveUp);
        assert_eq!(next(&[], 1, None, 0.0), Next::GiveUp);
        assert_eq!(next(&sched, 0, None, 0.0), Next::GiveUp);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        assert_eq!(next(&[s(100)], 1, None, 1.0), Next::RetryIn(s(120)));
        assert_eq!(next(&[s(100)], 1, None, -1.0), Next::RetryIn(s(80)));
        assert_eq!(next(&[s(100)], 1, None, 7.0), Next::RetryIn(s(120)));
    }

    #[test]
    fn retry_after_only_delays_and_is_capped() {
        assert_eq!(next(&[s(1)], 1, Some(s(3)), 0.0), Next::RetryIn(s(3)));
        assert_eq!(next(&[s(10)], 1, Some(s(3)), 0.0), Next::RetryIn(s(10)));
        assert_eq!(next(&[s(1)], 1, Some(s(86400)), 0.0), Next::RetryIn(MAX_RETRY_AFTER));
        assert_eq!(next(&[s(1)], 2, Some(s(3)), 0.0), Next::GiveUp);
    }

    #[test]
    fn parses_both_retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(parse_retry_after("7", now), Some(s(7)));
        assert_eq!(parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now), Some(s(30)));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
