//! Timestamps are kept as microseconds since the Unix epoch everywhere below the
//! API, so that both stores compare and index them as plain integers.

use chrono::{DateTime, SecondsFormat, Utc};

pub type Micros = i64;

pub fn now() -> Micros {
    Utc::now().timestamp_micros()
}

pub fn to_rfc3339(us: Micros) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn from_datetime(dt: DateTime<Utc>) -> Micros {
    dt.timestamp_micros()
}

pub fn from_system(t: std::time::SystemTime) -> Micros {
    from_datetime(t.into())
}

pub const SECOND: Micros = 1_000_000;
pub const HOUR: Micros = 3600 * SECOND;
pub const DAY: Micros = 24 * HOUR;
