//! The embedded store's one writing connection, and its group commit.
//!
//! Every write of this process runs here, one at a time, behind one lock: the
//! group commit on the committer's own thread (`store::committer`), which may
//! block, and every other write on a blocking-pool thread. So SQLite's own
//! lock is never contended within the process, and what the group commit
//! reads on this connection before it writes is still true when it writes.
//! Each statement shape is prepared once and kept.

use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::Mutex;

use super::deferred::{self, CATCH_UP_EVERY};
use super::{execute, fetch};
use crate::ids::{self, Kind};
use crate::store::sql::builder::{Sql, chunk_ranges, chunks};
use crate::store::sql::db::{Reader, Router, Row};
use crate::store::sql::deliveries::{Streak, streaks};
use crate::store::sql::messages::{EventIds, delivery_rows, route_batch};
use crate::store::sql::operational;
use crate::store::sql::rows::opt_to_json;
use crate::store::{DeliveryStatus, NewMessage, OPERATIONAL_APP, OperationalKind, Outcome, Published, Result, Trigger};
use crate::time;

/// Distinct statement shapes kept prepared: chunked multi-row inserts and
/// padded `IN` lists come in powers of two, about forty shapes in a steady
/// stream of publishes; the large ones of a fan-out are fewer but bigger.
const PREPARED: usize = 54;

pub struct Writer {
    conn: Mutex<Writing>,
}

struct Writing {
    conn: Connection,
    /// When the deferred indexes were last brought up to date.
    caught_up: Instant,
}

impl Writer {
    /// Takes over `conn` (already migrated).
    pub fn new(conn: Connection) -> Writer {
        conn.set_prepared_statement_cache_capacity(PREPARED);
        Writer {
            conn: Mutex::new(Writing {
                conn,
                caught_up: Instant::now(),
            }),
        }
    }

    /// Runs `f` on the connection; blocks until it is free. Not for async tasks.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        f(&mut self.conn.blocking_lock().conn)
    }

    /// Routes the batch (reading on this connection) and writes the messages,
    /// their deliveries and the outcomes in one transaction. It runs on the
    /// caller's thread (the committer's own: `Store::writes_block`), so that
    /// no thread has to be woken for each commit while publishers wait.
    pub async fn group_commit(
        &self,
        batch: &[NewMessage],
        router: Router<'_>,
        outcomes: &[Outcome],
    ) -> Result<Vec<Result<Published>>> {
        let mut w = self.conn.lock().await;
        let published = route_batch(&mut OnWriter(&mut w.conn), &router, batch, EventIds::Read).await?;
        Self::commit(&mut w, batch, &published, outcomes)?;
        Ok(published)
    }

    fn commit(
        w: &mut Writing,
        batch: &[NewMessage],
        published: &[Result<Published>],
        outcomes: &[Outcome],
    ) -> Result<()> {
        let mut stmts = publish_statements(batch, published)
            .chain(outcome_statements(outcomes))
            .peekable();
        if stmts.peek().is_none() {
            return Ok(());
        }
        // The deferred indexes catch up inside a group commit: one fsync fewer
        // than a transaction of their own.
        let catch_up = w.caught_up.elapsed() >= CATCH_UP_EVERY;
        if catch_up {
            w.caught_up = Instant::now();
        }
        transaction(&mut w.conn, |c| {
            // Built one at a time as they run, so that a large fan-out is
            // never held as SQL all at once.
            stmts.try_for_each(|s| execute(c, &s).map(drop))?;
            match catch_up {
                true => catch_up_indexes(c),
                false => Ok(()),
            }
        })
    }
}

#[cfg(test)]
impl Writer {
    /// The connection, for tests of what the writer leaves behind.
    /// Tests run one thing at a time: the writer is idle when they look.
    pub fn connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.conn.try_lock().expect("the writer is idle").conn)
    }
}

/// The writer's connection as routing reads it (`&mut`: a connection may be
/// sent between threads, but not shared by them).
struct OnWriter<'a>(&'a mut Connection);

#[async_trait::async_trait]
impl Reader for OnWriter<'_> {
    async fn fetch(&mut self, sql: Sql) -> Result<Vec<Row>> {
        fetch(self.0, &sql)
    }
}

/// Runs `body` in one transaction: all it wrote is committed, or none of it,
/// and the connection is left outside any transaction either way.
pub fn transaction(conn: &mut Connection, body: impl FnOnce(&Connection) -> Result<()>) -> Result<()> {
    if !conn.is_autocommit() {
        // A panic part-way through an earlier transaction left it open.
        conn.execute_batch("ROLLBACK")?;
    }
    conn.prepare_cached("BEGIN IMMEDIATE")?.raw_execute()?;
    let result = body(conn).and_then(|()| Ok(conn.prepare_cached("COMMIT")?.raw_execute().map(drop)?));
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

fn catch_up_indexes(conn: &Connection) -> Result<()> {
    for text in deferred::catch_up_statements() {
        conn.prepare_cached(&text)?.raw_execute()?;
    }
    Ok(())
}

/// The statements that insert the stored messages and their deliveries, built
/// one chunk at a time as they are taken, so that a large fan-out is never
/// held as SQL all at once.
fn publish_statements<'a>(
    batch: &'a [NewMessage],
    published: &'a [Result<Published>],
) -> impl Iterator<Item = Sql> + Send + 'a {
    let stored: Vec<&Published> = published.iter().filter_map(|r| r.as_ref().ok()).collect();
    let rows = delivery_rows(batch, published);
    let messages = chunk_ranges(stored.len(), 64).into_iter().map(move |r| {
        let chunk = &stored[r];
        let mut sql = Sql::new(
            "INSERT OR ROLLBACK INTO messages (id, app_id, event_type, event_id, channels, tags, payload, deliver_at, \
             created_at, expires_at, traceparent, tracestate) VALUES ",
        );
        for (i, p) in chunk.iter().enumerate() {
            let m = &p.message;
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind(&m.id)
                .push(", ")
                .bind(&m.app_id)
                .push(", ")
                .bind(&m.event_type)
                .push(", ");
            sql.bind(m.event_id.as_ref())
                .push(", ")
                .bind(opt_to_json(&m.channels))
                .push(", ");
            sql.bind(opt_to_json(&m.tags))
                .push(", ")
                .bind(m.payload.as_ref())
                .push(", ")
                .bind(m.deliver_at);
            sql.push(", ")
                .bind(m.created_at)
                .push(", ")
                .bind(m.expires_at)
                .push(", ")
                .bind(m.traceparent.as_ref())
                .push(", ")
                .bind(m.tracestate.as_ref())
                .push(")");
        }
        sql
    });
    let deliveries = chunk_ranges(rows.len(), 64).into_iter().map(move |r| {
        let chunk = &rows[r];
        let mut sql = Sql::new(
            "INSERT OR ROLLBACK INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, trigger_type, \
             next_attempt_at, lease_until, lease_owner, created_at, updated_at, fifo_key) VALUES ",
        );
        for (i, (t, lease)) in chunk.iter().enumerate() {
            let m = &t.message;
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind(&t.delivery_id)
                .push(", ")
                .bind(&m.app_id)
                .push(", ")
                .bind(&m.id)
                .push(", ");
            sql.bind(&t.endpoint.id)
                .push(", ")
                .bind(DeliveryStatus::Pending)
                .push(", 0, ")
                .bind(Trigger::Scheduled);
            sql.push(", ")
                .bind(m.deliver_at.unwrap_or(m.created_at))
                .push(", ")
                .bind(lease.map(|l| l.until));
            sql.push(", ")
                .bind(lease.map(|l| l.owner.clone()))
                .push(", ")
                .bind(m.created_at);
            sql.push(", ")
                .bind(m.created_at)
                .push(", ")
                .bind(t.fifo_key.clone())
                .push(")");
        }
        sql
    });
    messages.chain(deliveries)
}

/// The statements that record outcomes: each delivery's new state, its
/// attempt, and its endpoint's failure streak (and maybe its auto-disable).
/// The statements pass over deliveries that are gone, so that the embedded
/// store need not ask first.
pub(super) fn outcome_statements(batch: &[Outcome]) -> Vec<Sql> {
    let mut out = Vec::new();
    if batch.is_empty() {
        return out;
    }
    let now = time::now();
    // Successes, the common case, in one statement per chunk; the rest row by row.
    let (done, rest): (Vec<&Outcome>, Vec<&Outcome>) = batch
        .iter()
        .partition(|o| o.status == DeliveryStatus::Success && o.next_attempt_at.is_none());
    let done_ids: Vec<String> = done.iter().map(|o| o.delivery_id.clone()).collect();
    for chunk in done_ids.chunks(512) {
        let mut sql = Sql::new("UPDATE deliveries SET status = ");
        sql.bind(DeliveryStatus::Success)
            .push(", attempts = attempts + 1, next_attempt_at = NULL, lease_until = NULL, ");
        sql.push("lease_owner = NULL, trigger_type = ")
            .bind(Trigger::Scheduled)
            .push(", updated_at = ")
            .bind(now);
        sql.push(" WHERE id IN ").bind_list(chunk);
        out.push(sql);
    }
    for o in rest {
        // A delivery canceled while its attempt was under way stays canceled: no retry.
        let mut sql = Sql::new("UPDATE deliveries SET status = CASE WHEN status = ");
        sql.bind(DeliveryStatus::Canceled)
            .push(" THEN status ELSE ")
            .bind(o.status)
            .push(" END, attempts = attempts + 1, next_attempt_at = CASE WHEN status = ")
            .bind(DeliveryStatus::Canceled)
            .push(" THEN NULL ELSE ")
            .bind(o.next_attempt_at)
            .push(" END");
        sql.push(", lease_until = NULL, lease_owner = NULL, trigger_type = ")
            .bind(Trigger::Scheduled);
        sql.push(", updated_at = ")
            .bind(now)
            .push(" WHERE id = ")
            .bind(&o.delivery_id);
        out.push(sql);
    }
    for chunk in chunks(batch, 64) {
        // Only for deliveries still there (the first value of each row names it).
        let mut sql = Sql::new(
            "INSERT OR ROLLBACK INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code, response, \
             response_headers, duration_ms, trigger_type, error, ssl_verification, created_at) \
             SELECT column2, column3, column4, column5, column6, column7, column8, column9, column10, \
             column11, column12, column13, column14, column15 FROM (VALUES ",
        );
        for (i, o) in chunk.iter().enumerate() {
            let a = &o.attempt;
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind(&o.delivery_id).push(", ");
            sql.bind(&a.id)
                .push(", ")
                .bind(&a.app_id)
                .push(", ")
                .bind(&a.msg_id)
                .push(", ");
            sql.bind(&a.endpoint_id)
                .push(", ")
                .bind(&a.url)
                .push(", ")
                .bind(a.status)
                .push(", ");
            sql.bind(a.status_code).push(", ").bind(a.response.as_ref()).push(", ");
            sql.bind(opt_to_json(&a.response_headers))
                .push(", ")
                .bind(a.duration_ms)
                .push(", ");
            sql.bind(a.trigger_type)
                .push(", ")
                .bind(a.error.as_ref())
                .push(", ")
                .bind(a.ssl_verification)
                .push(", ")
                .bind(a.created_at)
                .push(")");
        }
        sql.push(") AS v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.column1)");
        out.push(sql);
    }
    for o in batch {
        let Some(e) = &o.announce else { continue };
        // Only for a delivery still there, as its attempt.
        let mut sql = operational::insert(e);
        sql.push(" WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ")
            .bind(&o.delivery_id)
            .push(")");
        out.push(sql);
    }
    let mut healthy = Vec::new();
    for streak in streaks(batch) {
        let (endpoint_id, failed_at, restart, disable_if_failing_since) = match streak {
            Streak::Healthy(ep) => {
                healthy.push(ep.to_owned());
                continue;
            }
            Streak::Failing {
                endpoint_id,
                failed_at,
                restart,
                disable_if_failing_since,
            } => (endpoint_id, failed_at, restart, disable_if_failing_since),
        };
        let mut sql = if restart {
            Sql::new("UPDATE endpoints SET first_failure_at = ")
        } else {
            Sql::new("UPDATE endpoints SET first_failure_at = COALESCE(first_failure_at, ")
        };
        sql.bind(failed_at)
            .push(if restart { " WHERE id = " } else { ") WHERE id = " });
        sql.bind(endpoint_id);
        out.push(sql);
        if let Some(since) = disable_if_failing_since {
            // Announced under the same condition as the update below, read
            // just before it in the same transaction: exactly when it disables.
            let mut sql = Sql::new(
                "INSERT INTO operational_events (id, event_type, app_id, app_uid, endpoint_id, endpoint_uid, \
                 fail_since, created_at) SELECT ",
            );
            sql.bind(ids::new(Kind::OperationalEvent))
                .push(", ")
                .bind(OperationalKind::EndpointDisabled.name())
                .push(", e.app_id, a.uid, e.id, e.uid, e.first_failure_at, ")
                .bind(now);
            sql.push(" FROM endpoints e JOIN applications a ON a.id = e.app_id WHERE e.disabled = 0")
                .push(" AND e.first_failure_at < ")
                .bind(since)
                .push(" AND e.id = ")
                .bind(endpoint_id);
            sql.push(" AND e.app_id <> ").bind(OPERATIONAL_APP);
            out.push(sql);
            let mut sql = Sql::new("UPDATE endpoints SET disabled = 1, updated_at = ");
            sql.bind(now)
                .push(" WHERE disabled = 0 AND first_failure_at < ")
                .bind(since);
            sql.push(" AND id = ").bind(endpoint_id);
            out.push(sql);
        }
    }
    for chunk in healthy.chunks(512) {
        let mut sql =
            Sql::new("UPDATE endpoints SET first_failure_at = NULL WHERE first_failure_at IS NOT NULL AND id IN ");
        sql.bind_list(chunk);
        out.push(sql);
    }
    out
}
