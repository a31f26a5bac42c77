//! The embedded store's group-committed transactions, run on a SQLite
//! connection of their own.
//!
//! Through sqlx each transaction was one script whose text changed with the
//! mix of publishes and outcomes in it, so SQLite parsed it again nearly every
//! time, and each of its statements sent its result back across threads. Here
//! every statement shape is prepared once and kept.
//!
//! The transaction runs on the thread of the task that asks for it, not on a
//! thread of its own: waking a sleeping thread took a third of a millisecond
//! on a busy machine, every commit, while publishers waited. That task is the
//! committer, which has a thread to itself (`store::committer`), so blocking
//! it for the commit, fsync included, holds up nothing else.
//!
//! Callers hold the sqlx writing connection while a transaction runs here, so
//! the two never write at once and what was read there still holds.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};

use super::builder::Sql;
use super::deferred::{self, CATCH_UP_EVERY};
use crate::store::{Backend, Result};

/// Distinct statement shapes kept prepared: chunked multi-row inserts and
/// padded `IN` lists come in powers of two, about forty shapes in a steady
/// stream of publishes; the large ones of a fan-out are fewer but bigger.
const PREPARED: usize = 54;

pub struct SqliteWriter {
    conn: Mutex<Writing>,
}

struct Writing {
    conn: Connection,
    /// When the deferred indexes were last brought up to date.
    caught_up: Instant,
}

impl SqliteWriter {
    /// Opens a connection to the database file at `path` (already migrated).
    pub fn open(path: &Path) -> Result<SqliteWriter> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        // The same settings as the pool's connections (see `SqlStore::open`):
        // FULL fsyncs every commit before it returns, as the 202 promises.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; \
             PRAGMA busy_timeout=10000; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=10000;",
        )?;
        conn.set_prepared_statement_cache_capacity(PREPARED);
        Ok(SqliteWriter {
            conn: Mutex::new(Writing {
                conn,
                caught_up: Instant::now(),
            }),
        })
    }

    /// Runs `stmts` in one transaction: all of them are committed, or none.
    /// They are built one at a time as they run, so that a large fan-out is
    /// never held as SQL all at once.
    pub fn run(&self, stmts: impl Iterator<Item = Sql>) -> Result<()> {
        let mut stmts = stmts.peekable();
        if stmts.peek().is_none() {
            return Ok(());
        }
        // A panic part-way leaves the connection as it was; `transaction` starts clean.
        let mut w = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        // The deferred indexes catch up inside a group commit: one fsync fewer
        // than a transaction of their own.
        let catch_up = w.caught_up.elapsed() >= CATCH_UP_EVERY;
        if catch_up {
            w.caught_up = Instant::now();
        }
        transaction(&mut w.conn, stmts, catch_up)
    }
}

#[cfg(test)]
impl SqliteWriter {
    /// The writer's own connection, for tests of what it leaves behind.
    pub(super) fn connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.conn.lock().unwrap_or_else(|p| p.into_inner()).conn)
    }
}

fn transaction(conn: &mut Connection, mut stmts: impl Iterator<Item = Sql>, catch_up: bool) -> Result<()> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    conn.prepare_cached("BEGIN IMMEDIATE")?.raw_execute()?;
    let result = stmts
        .try_for_each(|s| statement(conn, s))
        .and_then(|()| match catch_up {
            true => catch_up_indexes(conn),
            false => Ok(()),
        })
        .and_then(|()| Ok(conn.prepare_cached("COMMIT")?.raw_execute().map(drop)?));
    if result.is_err() && !conn.is_autocommit() {
        // Whatever ran is undone, and the connection is left outside any transaction.
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

fn catch_up_indexes(conn: &Connection) -> Result<()> {
    for index in deferred::ALL {
        for text in index.catch_up() {
            conn.prepare_cached(&text)?.raw_execute()?;
        }
    }
    Ok(())
}

fn statement(conn: &Connection, s: Sql) -> Result<()> {
    let mut prepared = conn.prepare_cached(&s.render(Backend::Sqlite))?;
    for (i, arg) in s.args().iter().enumerate() {
        prepared.raw_bind_parameter(i + 1, arg)?;
    }
    prepared.raw_execute()?;
    Ok(())
}
