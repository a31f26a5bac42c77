//! The embedded store's group-committed transactions, run on a thread that
//! owns its own SQLite connection.
//!
//! Through sqlx each transaction was one script whose text changed with the
//! mix of publishes and outcomes in it, so SQLite parsed it again nearly every
//! time, and each of its statements sent its result back across threads. Here
//! every statement shape is prepared once and kept, and a transaction is one
//! hand-off each way.
//!
//! Callers hold the sqlx writing connection while a transaction runs here, so
//! the two never write at once and what was read there still holds.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc as mpsc_async, oneshot};

use super::builder::Sql;
use crate::store::{Result, StoreError};

/// Distinct statement shapes kept prepared: chunked multi-row inserts and
/// padded `IN` lists come in powers of two, about forty shapes in a steady
/// stream of publishes; the large ones of a fan-out are fewer but bigger.
const PREPARED: usize = 48;

/// Bound values handed over at once, at most: a large fan-out's statements
/// follow one group at a time, so that they are never all held as SQL.
const GROUP_ARGS: usize = 8_192;

/// What follows a transaction's first group of statements.
enum Part {
    Statements(Vec<Sql>),
    /// Everything was sent: commit. Without it the transaction is rolled back.
    Commit,
}

struct Job {
    first: Vec<Sql>,
    /// The rest, when the first group was not all of it.
    rest: Option<mpsc_async::Receiver<Part>>,
    done: oneshot::Sender<Result<()>>,
}

pub struct SqliteWriter {
    jobs: mpsc::Sender<Job>,
}

impl SqliteWriter {
    /// Opens a connection to the database file at `path` (already migrated)
    /// and starts the thread that runs transactions on it.
    pub fn open(path: &Path) -> Result<SqliteWriter> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // The same settings as the pool's connections (see `SqlStore::open`):
        // FULL fsyncs every commit before it returns, as the 202 promises.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; \
             PRAGMA busy_timeout=10000; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=10000;",
        )?;
        conn.set_prepared_statement_cache_capacity(PREPARED);
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("hookd-sqlite-writer".into())
            .spawn(move || {
                let mut conn = conn;
                // Ends when the store, and with it the sender, is dropped.
                for job in rx {
                    let _ = job.done.send(transaction(&mut conn, job.first, job.rest));
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}")))?;
        Ok(SqliteWriter { jobs })
    }

    /// Runs `stmts` in one transaction: all of them are committed, or none.
    pub async fn run(&self, stmts: impl Iterator<Item = Sql>) -> Result<()> {
        let mut stmts = stmts.peekable();
        let first = next_group(&mut stmts);
        if first.is_empty() {
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the SQLite writer has stopped".into());
        if stmts.peek().is_none() {
            self.jobs
                .send(Job {
                    first,
                    rest: None,
                    done,
                })
                .map_err(|_| gone())?;
            return answer.await.map_err(|_| gone())?;
        }
        let (parts, rest) = mpsc_async::channel(2);
        self.jobs
            .send(Job {
                first,
                rest: Some(rest),
                done,
            })
            .map_err(|_| gone())?;
        loop {
            let group = next_group(&mut stmts);
            let part = if group.is_empty() {
                Part::Commit
            } else {
                Part::Statements(group)
            };
            let last = matches!(part, Part::Commit);
            // A failed send means the writer gave up on an error, which `answer` holds.
            if parts.send(part).await.is_err() || last {
                break;
            }
        }
        answer.await.map_err(|_| gone())?
    }
}

fn next_group(stmts: &mut impl Iterator<Item = Sql>) -> Vec<Sql> {
    let mut group = Vec::new();
    let mut args = 0;
    for s in stmts.by_ref() {
        args += s.arg_count();
        group.push(s);
        if args >= GROUP_ARGS {
            break;
        }
    }
    group
}

fn transaction(conn: &mut Connection, first: Vec<Sql>, rest: Option<mpsc_async::Receiver<Part>>) -> Result<()> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.raw_execute()?;
    let result = statements(conn, first).and_then(|()| {
        if let Some(mut rest) = rest {
            loop {
                match rest.blocking_recv() {
                    Some(Part::Statements(group)) => statements(conn, group)?,
                    Some(Part::Commit) => break,
                    None => return Err(StoreError::Unavailable("a write was abandoned part-way".into())),
                }
            }
        }
        conn.prepare_cached("COMMIT")?.raw_execute()?;
        Ok(())
    });
    if result.is_err() && !conn.is_autocommit() {
        // Whatever ran is undone, and the connection is left outside any transaction.
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

fn statements(conn: &Connection, stmts: Vec<Sql>) -> Result<()> {
    for s in stmts {
        // `INSERT OR ROLLBACK`: see `Sql::rollback_on_conflict`.
        let s = s.rollback_on_conflict();
        let mut prepared = conn.prepare_cached(&s.numbered_text())?;
        for (i, arg) in s.args().iter().enumerate() {
            prepared.raw_bind_parameter(i + 1, arg)?;
        }
        prepared.raw_execute()?;
    }
    Ok(())
}
