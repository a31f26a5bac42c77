//! FIFO endpoints' deliveries (`"ordering": "fifo"`): each gets its place in
//! its endpoint's order once committed, and only the first unfinished
//! delivery of each order (endpoint and key) can be claimed.
//!
//! Why this is strict, across nodes too:
//! - Places are given by one statement at a time (on PostgreSQL under a
//!   transaction-level advisory lock), each numbering the deliveries that have
//!   none after the largest place its endpoint has. A delivery committed
//!   before such a statement starts is numbered by it or an earlier one; one
//!   committed later, by a later one, so after it. Within one statement,
//!   deliveries go in message id order (their acceptance time).
//! - Publishing never leases a FIFO delivery (`messages::route_batch`): only
//!   [`claim`] hands them out, and it takes a delivery only when no delivery
//!   of its order with an earlier place is unfinished (pending, or waiting for
//!   a retry). So the next one goes only once the one before it succeeded, ran
//!   out of retries or was canceled; while one is out, it is unfinished, and
//!   its lease keeps every other node from taking it again until it runs out.
//! - On PostgreSQL two nodes claiming at once see the same first delivery;
//!   the update checks its lease again on the row it locks, so one of them
//!   takes it.

use super::builder::Sql;
use crate::store::{Backend, DeliveryStatus};
use crate::time::Micros;

use super::queries::TASK_COLS;

/// Whether some FIFO delivery has no place yet (read through the index of such rows).
pub fn unplaced() -> Sql {
    Sql::new("SELECT endpoint_id FROM deliveries WHERE fifo_key IS NOT NULL AND fifo_seq IS NULL LIMIT 1")
}

/// Places the FIFO deliveries that have none, after their endpoint's last place.
pub fn place(backend: Backend) -> Sql {
    let by_id = match backend {
        Backend::Postgres => r#"n.msg_id COLLATE "C", n.id COLLATE "C""#,
        Backend::Sqlite => "n.msg_id, n.id",
    };
    Sql::new(&format!(
        "UPDATE deliveries SET fifo_seq = s.seq FROM (\
           SELECT n.id AS id, COALESCE((SELECT MAX(p.fifo_seq) FROM deliveries p \
             WHERE p.endpoint_id = n.endpoint_id AND p.fifo_key IS NOT NULL), 0) \
             + ROW_NUMBER() OVER (PARTITION BY n.endpoint_id ORDER BY {by_id}) AS seq \
           FROM deliveries n WHERE n.fifo_key IS NOT NULL AND n.fifo_seq IS NULL) AS s \
         WHERE deliveries.id = s.id"
    ))
}

/// The lock that makes [`place`] one statement at a time across nodes.
pub const PLACE_LOCK: &str = "SELECT pg_advisory_xact_lock(7046251)";

/// Leases to `owner` the first unfinished delivery of each order, where it
/// is due, unleased and its endpoint enabled.
pub fn claim(backend: Backend, owner: &str, now: Micros, lease_until: Micros, limit: i64) -> Sql {
    // Written out, not bound: the planner must see that `deliveries_fifo_open` holds these rows.
    let open = format!(
        "({}, {})",
        DeliveryStatus::Pending.code(),
        DeliveryStatus::Sending.code()
    );
    let mut sql = Sql::new("UPDATE deliveries SET lease_until = ");
    sql.bind(lease_until).push(", lease_owner = ").bind(owner);
    sql.push(
        " WHERE id IN (SELECT d.id FROM (SELECT endpoint_id, fifo_key, MIN(fifo_seq) AS seq FROM deliveries \
         WHERE fifo_key IS NOT NULL AND fifo_seq IS NOT NULL AND status IN ",
    );
    sql.push(&open).push(" GROUP BY endpoint_id, fifo_key) h");
    sql.push(
        " JOIN deliveries d ON d.endpoint_id = h.endpoint_id AND d.fifo_key = h.fifo_key AND d.fifo_seq = h.seq \
         JOIN endpoints e ON e.id = d.endpoint_id WHERE d.next_attempt_at <= ",
    );
    sql.bind(now)
        .push(" AND (d.lease_until IS NULL OR d.lease_until < ")
        .bind(now)
        .push(") AND e.disabled = 0 LIMIT ")
        .bind(limit);
    if backend == Backend::Postgres {
        sql.push(" FOR UPDATE OF d SKIP LOCKED");
    }
    // Checked again on the row as it is when locked: another node may have taken it.
    sql.push(") AND (lease_until IS NULL OR lease_until < ")
        .bind(now)
        .push(") RETURNING ")
        .push(TASK_COLS);
    sql
}
