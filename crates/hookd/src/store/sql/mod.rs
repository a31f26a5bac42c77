//! The SQL store. One implementation for both backends through sqlx's `Any`
//! driver; the few statements that differ ask [`SqlStore::backend`].

mod apps;
mod auth;
mod builder;
mod deliveries;
mod endpoints;
mod messages;
mod rows;

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, Executor};

use super::{Backend, Result, Store, StoreError};

pub use builder::Sql;

#[derive(Clone)]
pub struct SqlStore {
    /// Serialises writers on SQLite (one connection, no busy-waiting); on PostgreSQL
    /// it is the same pool as `read`.
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
}

const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "init", include_str!("../../../migrations/0001_init.sql"))];

impl SqlStore {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let opts: AnyConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| StoreError::Unavailable(e.to_string()))?;
        let store = match backend {
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
                                conn.execute(
                                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                                     PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
                                )
                                .await?;
                                Ok(())
                            })
                        })
                        .connect_with(opts.clone())
                };
                let write = pool(1).await?;
                let read = pool(4).await?;
                SqlStore { write, read, backend }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(opts)
                    .await?;
                SqlStore {
                    write: pool.clone(),
                    read: pool,
                    backend,
                }
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let migrations = MIGRATIONS
            .iter()
            .map(|(v, name, sql)| {
                Migration::new(
                    *v,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    AssertSqlSafe(*sql).into_sql_str(),
                    false,
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

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }
}

use sqlx::SqlSafeStr as _;
