//! The SQL store. One implementation for both backends through sqlx's `Any`
//! driver; the few statements that differ ask [`SqlStore::backend`].

mod app_cache;
mod apps;
mod auth;
mod builder;
mod deferred;
#[cfg(test)]
mod deferred_test;
mod deliveries;
mod endpoint_cache;
mod endpoints;
mod messages;
mod pg_write;
pub mod queries;
#[cfg(test)]
mod rollback_test;
mod rows;
mod sqlite_writer;
#[cfg(test)]
mod upgrade_test;
mod write;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, Executor};

use super::{Backend, Result, Store, StoreError};
use crate::security::keyring::Keyring;
use sqlx::Row;

pub use builder::Sql;

#[derive(Clone)]
pub struct SqlStore {
    /// Serialises writers on SQLite (one connection, no busy-waiting); on PostgreSQL
    /// it is the same pool as `read`.
    write: AnyPool,
    read: AnyPool,
    /// PostgreSQL's group commits (see `pg_write`); on SQLite the same pool as `write`.
    commit: AnyPool,
    backend: Backend,
    /// Seals endpoint secrets on the way in and opens them on the way out.
    keys: Arc<Keyring>,
    url: String,
    endpoints: Arc<endpoint_cache::EndpointCache>,
    apps: Arc<app_cache::AppCache>,
    /// The embedded store's group commits (set once migrated).
    writer: Option<Arc<sqlite_writer::SqliteWriter>>,
}

/// Each version's SQL, for SQLite and for PostgreSQL (the same text where the
/// two agree), and whether it manages its own transaction.
struct Step {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
    own_transaction: bool,
}

const fn shared(version: i64, name: &'static str, sql: &'static str) -> Step {
    Step {
        version,
        name,
        sqlite: sql,
        postgres: sql,
        own_transaction: false,
    }
}

/// A step written once per database. Its SQLite side rebuilds tables, which
/// needs foreign keys off and so its own transaction.
const fn per_database(version: i64, name: &'static str, sqlite: &'static str, postgres: &'static str) -> Step {
    Step {
        version,
        name,
        sqlite,
        postgres,
        own_transaction: true,
    }
}

const MIGRATIONS: &[Step] = &[
    shared(1, "init", include_str!("../../../migrations/0001_init.sql")),
    shared(
        2,
        "attempt tls",
        include_str!("../../../migrations/0002_attempt_tls.sql"),
    ),
    shared(
        3,
        "event type validation",
        include_str!("../../../migrations/0003_event_type_validation.sql"),
    ),
    per_database(
        4,
        "lean embedded store",
        include_str!("../../../migrations/0004_lean_embedded.sqlite.sql"),
        include_str!("../../../migrations/0004_lean_embedded.postgres.sql"),
    ),
    per_database(
        5,
        "clustered rows",
        include_str!("../../../migrations/0005_clustered_rows.sqlite.sql"),
        include_str!("../../../migrations/0005_clustered_rows.postgres.sql"),
    ),
    per_database(
        6,
        "deferred indexes",
        include_str!("../../../migrations/0006_deferred_indexes.sqlite.sql"),
        include_str!("../../../migrations/0006_deferred_indexes.postgres.sql"),
    ),
];

impl SqlStore {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, keys: Arc<Keyring>) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let opts: AnyConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| StoreError::Unavailable(e.to_string()))?;
        let mut store = match backend {
            Backend::Sqlite => {
                let pool = |max| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .min_connections(1)
                        .acquire_timeout(Duration::from_secs(10))
                        // A local file needs no liveness ping before each use.
                        .test_before_acquire(false)
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                // FULL: every commit is fsynced before it returns, as the 202 promises.
                                // temp_store: statement journals (kept while a statement of a larger
                                // transaction runs, to undo it alone) stay in memory, not in a file.
                                // wal_autocheckpoint: SQLite's default of 1,000 log pages is about
                                // one commit of a large fan-out; ten times that lets a page that
                                // many commits rewrite be copied back to the database once.
                                conn.execute(
                                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                                     PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; \
                                     PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=10000;",
                                )
                                .await?;
                                Ok(())
                            })
                        })
                        .connect_with(opts.clone())
                };
                let write = pool(1).await?;
                let read = pool(4).await?;
                SqlStore {
                    commit: write.clone(),
                    write,
                    read,
                    backend,
                    keys,
                    url: url.to_owned(),
                    endpoints: Arc::new(endpoint_cache::EndpointCache::new(Backend::Sqlite)),
                    apps: Arc::new(app_cache::AppCache::new(true)),
                    writer: None,
                }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(opts.clone())
                    .await?;
                // The group commit's statement is planned once per connection,
                // perhaps while the tables are still small, when reading one
                // whole looks cheaper than its primary key; that plan is then
                // kept while the table grows. Every table it touches has the
                // index it needs, so its connection is told never to prefer a
                // sequential scan.
                let commit = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("SET enable_seqscan = off").await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?;
                SqlStore {
                    commit,
                    write: pool.clone(),
                    read: pool,
                    backend,
                    keys,
                    url: url.to_owned(),
                    endpoints: Arc::new(endpoint_cache::EndpointCache::new(Backend::Postgres)),
                    apps: Arc::new(app_cache::AppCache::new(false)),
                    writer: None,
                }
            }
        };
        store.migrate().await?;
        if backend == Backend::Sqlite {
            let file = url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let writer = sqlite_writer::SqliteWriter::open(file.get_filename())?;
            store.writer = Some(Arc::new(writer));
        }
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let migrations = MIGRATIONS
            .iter()
            .map(|step| {
                let sql = match self.backend {
                    Backend::Sqlite => step.sqlite,
                    Backend::Postgres => step.postgres,
                };
                Migration::new(
                    step.version,
                    Cow::Borrowed(step.name),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    step.own_transaction,
                )
            })
            .collect::<Vec<_>>();
        // sqlx takes an advisory lock on PostgreSQL, so nodes started together do not race.
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        };
        migrator
            .run(&self.write)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
    }

    /// Seals every endpoint secret not yet sealed with the current key. Each row
    /// is rewritten only if unchanged since it was read, so a concurrent update
    /// is never lost (it is picked up by the next pass). Returns (resealed, left).
    pub async fn reseal_secrets(&self) -> Result<(u64, u64)> {
        const SEALED: [&str; 3] = ["secret", "old_secrets", "headers"];
        let rows = Sql::new("SELECT id, secret, old_secrets, headers FROM endpoints")
            .query(self.backend)
            .fetch_all(&self.read)
            .await?;
        let (mut resealed, mut left) = (0, 0);
        for row in rows {
            let id: String = row.try_get("id")?;
            let stored: Vec<String> = SEALED.iter().map(|c| row.try_get(*c)).collect::<Result<_, _>>()?;
            if stored.iter().all(|v| self.keys.is_current(v)) {
                continue;
            }
            let mut sql = Sql::new("UPDATE endpoints SET ");
            for (i, (col, v)) in SEALED.iter().zip(&stored).enumerate() {
                let plain = self.keys.open(v, &id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sql.push(if i == 0 { "" } else { ", " })
                    .push(col)
                    .push(" = ")
                    .bind(self.keys.seal(&plain, &id));
            }
            sql.push(" WHERE id = ").bind(&id);
            for (col, v) in SEALED.iter().zip(&stored) {
                sql.push(" AND ").push(col).push(" = ").bind(v);
            }
            if sql.query(self.backend).execute(&self.write).await?.rows_affected() == 1 {
                resealed += 1;
            } else {
                left += 1;
            }
        }
        Ok((resealed, left))
    }

    /// On PostgreSQL, calls `on_work` whenever any node announces work, from a
    /// listening connection that reconnects by itself (with back-off) after an outage.
    pub fn listen_for_work(
        &self,
        on_work: impl Fn() + Send + Sync + 'static,
        stop: tokio_util::sync::CancellationToken,
    ) {
        if self.backend != Backend::Postgres {
            return;
        }
        let url = self.url.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let listened = async {
                    let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
                    listener.listen("hookd_work").await?;
                    // Work announced while we were away is found by the scheduler's next look.
                    on_work();
                    loop {
                        listener.recv().await?;
                        on_work();
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), sqlx::Error>(())
                };
                let err = tokio::select! {
                    r = listened => r.err(),
                    _ = stop.cancelled() => return,
                };
                let Some(err) = err else { continue };
                tracing::warn!(error = %err, retry_in = ?backoff, "listening for work failed");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        });
    }

    /// Fails when the stored secrets were sealed with a key this node lacks
    /// (a node started with another main key than its cluster).
    pub async fn check_keys(&self) -> Result<()> {
        let row = Sql::new("SELECT id, secret FROM endpoints LIMIT 1")
            .query(self.backend)
            .fetch_optional(&self.read)
            .await?;
        if let Some(row) = row {
            let (id, secret): (String, String) = (row.try_get("id")?, row.try_get("secret")?);
            self.keys
                .open(&secret, &id)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        Ok(())
    }

    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
        self.commit.close().await;
    }
}

impl Store for SqlStore {
    fn writes_block(&self) -> bool {
        self.backend == Backend::Sqlite
    }
}

use sqlx::SqlSafeStr as _;
