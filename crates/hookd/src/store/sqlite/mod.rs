//! The embedded store: one SQLite file, through rusqlite.
//!
//! One process owns the file (the data directory's lock), and every write it
//! makes goes through one connection, [`write::Writer`]: the group commit, the
//! API's writes and the scheduler's claims take turns on it, so no two of them
//! ever wait on SQLite's own lock, and what the group commit reads there is
//! still true when it writes. Reads go to a few connections that may only read, which
//! WAL lets run beside the writer. Another process (`hookd rotate-key`) may
//! write too, through SQLite's normal locking (`busy_timeout`).
//!
//! Every connection uses SQLite's own VFS and these settings:
//! - `synchronous=FULL`: every commit is fsynced before it returns, as the
//!   202 promises;
//! - `temp_store=MEMORY`: statement journals stay in memory, not in a file;
//! - `wal_autocheckpoint=10000`: SQLite's default of 1,000 log pages is about
//!   one commit of a large fan-out; ten times that lets a page that many
//!   commits rewrite be copied back to the database once.

pub mod deferred;
mod migrate;
mod write;

#[cfg(test)]
mod deferred_test;
#[cfg(test)]
mod outbox_test;
#[cfg(test)]
mod rollback_test;
#[cfg(test)]
mod upgrade_test;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::sql::builder::Arg;
use super::sql::db::{Database, Heard, Router, Step, Value};
use super::sql::{Row, Sql};
use super::{Backend, NewMessage, Outcome, Published, Result, StoreError};

/// Read connections: API reads beyond this many wait for one.
const READERS: usize = 4;

const SETTINGS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; \
     PRAGMA busy_timeout=10000; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=10000;";

pub struct Sqlite {
    writer: Arc<write::Writer>,
    readers: Arc<Readers>,
}

struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Sqlite {
    /// Opens (creating if need be) the file that `url` names, as
    /// `sqlite://path` or `sqlite:path`, and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Sqlite> {
        let path = path_of(url);
        tokio::task::spawn_blocking(move || Sqlite::open_blocking(&path))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    fn open_blocking(path: &Path) -> Result<Sqlite> {
        let mut conn = open_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
        migrate::migrate(&mut conn)?;
        let readers = (0..READERS)
            .map(|_| {
                let c = open_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
                c.execute_batch("PRAGMA query_only=ON;")?;
                c.set_prepared_statement_cache_capacity(64);
                Ok(c)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Sqlite {
            writer: Arc::new(write::Writer::new(conn)),
            readers: Arc::new(Readers {
                idle: Mutex::new(readers),
                permits: Semaphore::new(READERS),
            }),
        })
    }

    /// Runs `f` on the writing connection, on a thread that may block.
    async fn on_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let writer = self.writer.clone();
        blocking(move || writer.with(f)).await
    }

    /// The writer's connection, for tests of what it leaves behind.
    #[cfg(test)]
    fn writer(&self) -> &write::Writer {
        &self.writer
    }
}

fn path_of(url: &str) -> PathBuf {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection> {
    // NO_MUTEX: each connection is used by one thread at a time (behind a lock).
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.execute_batch(SETTINGS)?;
    Ok(conn)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
}

#[async_trait]
impl Database for Sqlite {
    const BACKEND: Backend = Backend::Sqlite;
    const SOLE_WRITER: bool = true;

    async fn fetch(&self, sql: Sql) -> Result<Vec<Row>> {
        let permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let readers = self.readers.clone();
        let rows = blocking(move || {
            let conn = readers.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = conn.ok_or_else(|| StoreError::Unavailable("the store is closed".into()))?;
            let rows = fetch(&conn, &sql);
            readers.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            rows
        })
        .await;
        drop(permit);
        rows
    }

    async fn execute(&self, sql: Sql) -> Result<u64> {
        self.on_writer(move |c| execute(c, &sql)).await
    }

    async fn execute_returning(&self, sql: Sql) -> Result<Vec<Row>> {
        self.on_writer(move |c| fetch(c, &sql)).await
    }

    async fn transaction(&self, steps: Vec<Step>) -> Result<()> {
        self.on_writer(move |c| {
            write::transaction(c, |c| {
                for step in &steps {
                    if execute(c, &step.sql)? == 0 && step.must_change {
                        return Err(StoreError::NotFound);
                    }
                }
                Ok(())
            })
        })
        .await
    }

    async fn write(
        &self,
        batch: &[NewMessage],
        route: Router<'_>,
        outcomes: &[Outcome],
    ) -> Result<Vec<Result<Published>>> {
        self.writer.group_commit(batch, route, outcomes).await
    }

    async fn announce_work(&self) -> Result<()> {
        // One node, which already knows.
        Ok(())
    }

    fn apps_changed(&self) -> Option<Sql> {
        None
    }

    /// One process owns the file, so no lease in it can be live at start-up.
    async fn release_orphaned_leases(&self, _: &str) -> Result<u64> {
        let sql =
            Sql::new("UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL");
        self.execute(sql).await
    }

    fn listen(&self, _: Box<dyn Fn(Heard) + Send + Sync>, _: tokio_util::sync::CancellationToken) {}

    async fn close(&self) {
        // Waits for reads under way, then closes the read connections; the
        // writer's connection closes with the last handle on the store.
        if let Ok(all) = self.readers.permits.acquire_many(READERS as u32).await {
            self.readers.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
            all.forget();
            self.readers.permits.close();
        }
    }
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Arg::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Arg::NullText | Arg::NullInt => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

fn prepare<'c>(conn: &'c Connection, sql: &Sql) -> Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(&sql.render(Backend::Sqlite))?;
    for (i, arg) in sql.args().iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, arg)?;
    }
    Ok(stmt)
}

/// Runs a statement; returns how many rows it changed.
fn execute(conn: &Connection, sql: &Sql) -> Result<u64> {
    Ok(prepare(conn, sql)?.raw_execute()? as u64)
}

/// Runs a statement and reads every row it returns.
fn fetch(conn: &Connection, sql: &Sql) -> Result<Vec<Row>> {
    let mut stmt = prepare(conn, sql)?;
    let columns: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(t) => Value::Text(
                        std::str::from_utf8(t)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?
                            .to_owned(),
                    ),
                    other => return Err(StoreError::Corrupt(format!("{}: {other:?}", columns[i]))),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(Row::new(columns.clone(), values));
    }
    Ok(out)
}

/// What the embedded store's tests share: a store on a fresh file, and a
/// second connection to that file to look at it (or write around the store).
#[cfg(test)]
mod testing {
    use std::sync::Arc;

    use rusqlite::Connection;

    use super::Sqlite;
    use crate::security::keyring::{Keyring, new_key_text};
    use crate::store::sql::SqlStore;

    pub fn url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}?mode=rwc", dir.path().join("hookd.db").display())
    }

    pub fn keys() -> Arc<Keyring> {
        Arc::new(Keyring::from_key_text(&new_key_text()).unwrap())
    }

    pub async fn open(url: &str, keys: Arc<Keyring>) -> SqlStore<Sqlite> {
        SqlStore::new(Sqlite::open(url).await.unwrap(), keys)
    }

    /// Another connection to the store's file.
    pub fn look(url: &str) -> Connection {
        let conn = Connection::open(super::path_of(url)).unwrap();
        conn.execute_batch("PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;")
            .unwrap();
        conn
    }

    pub fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}
