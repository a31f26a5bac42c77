//! The clustered store: PostgreSQL through sqlx. Several nodes share one
//! database: they claim deliveries with `FOR UPDATE SKIP LOCKED`, tell each
//! other about new work with `NOTIFY hookd_work`, and each commits its
//! batches in one statement (`write`).

mod write;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnection, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Column as _, Executor, PgPool, Row as _, SqlSafeStr as _, TypeInfo as _, ValueRef as _};
use tokio_util::sync::CancellationToken;

use super::sql::builder::Arg;
use super::sql::db::{Database, Heard, Reader, Router, Step, Value};
use super::sql::{Row, Sql};
use super::{Backend, NewMessage, Outcome, Published, Result, StoreError};

/// The schema's versions. Versions 4 to 6 changed only the embedded store's
/// layout; databases made while every version had a file for each store
/// still record them, which is why missing versions are ignored.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/postgres/0001_init.sql")),
    (
        2,
        "attempt tls",
        include_str!("../../../migrations/postgres/0002_attempt_tls.sql"),
    ),
    (
        3,
        "event type validation",
        include_str!("../../../migrations/postgres/0003_event_type_validation.sql"),
    ),
    (
        7,
        "trace context",
        include_str!("../../../migrations/postgres/0007_trace_context.sql"),
    ),
    (
        8,
        "operational events",
        include_str!("../../../migrations/postgres/0008_operational_events.sql"),
    ),
    (
        9,
        "token sessions",
        include_str!("../../../migrations/postgres/0009_token_sessions.sql"),
    ),
    (
        10,
        "event type retry schedules",
        include_str!("../../../migrations/postgres/0010_event_type_retry.sql"),
    ),
    (
        11,
        "message tokens",
        include_str!("../../../migrations/postgres/0011_message_tokens.sql"),
    ),
    (
        12,
        "poll consumers",
        include_str!("../../../migrations/postgres/0012_poll_consumers.sql"),
    ),
    (
        13,
        "poller tokens",
        include_str!("../../../migrations/postgres/0013_poller_tokens.sql"),
    ),
    (
        14,
        "endpoint tls",
        include_str!("../../../migrations/postgres/0014_endpoint_tls.sql"),
    ),
    (
        15,
        "attempt counts",
        include_str!("../../../migrations/postgres/0015_attempt_counts.sql"),
    ),
    (
        16,
        "messages by type",
        include_str!("../../../migrations/postgres/0016_messages_by_type.sql"),
    ),
    (
        17,
        "poll offsets",
        include_str!("../../../migrations/postgres/0017_poll_offsets.sql"),
    ),
    (
        18,
        "endpoint transformation",
        include_str!("../../../migrations/postgres/0018_endpoint_transformation.sql"),
    ),
    (
        19,
        "endpoint url password",
        include_str!("../../../migrations/postgres/0019_endpoint_url_password.sql"),
    ),
    (
        20,
        "fifo deliveries",
        include_str!("../../../migrations/postgres/0020_fifo_deliveries.sql"),
    ),
];

pub struct Postgres {
    pool: PgPool,
    /// The group commit's one connection (see `write`).
    commit: PgPool,
    url: String,
}

impl Postgres {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Postgres> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        // The group commit's statement is planned once per connection,
        // perhaps while the tables are still small, when reading one whole
        // looks cheaper than its primary key; that plan is then kept while the
        // table grows. Every table it touches has the index it needs, so its
        // connection is told never to prefer a sequential scan.
        let commit = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET enable_seqscan = off").await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        migrate(&pool).await?;
        Ok(Postgres {
            pool,
            commit,
            url: url.to_owned(),
        })
    }

    /// The plans of the hot statements against this database, with the
    /// sample arguments of `queries::explained`: for the plan check.
    pub async fn explain_hot_statements(
        &self,
        app: &str,
        endpoint: &str,
        msg: &str,
    ) -> Result<Vec<(&'static str, String)>> {
        let outcome = super::sql::queries::sample_outcome(app, endpoint, msg);
        let group_commit = vec![write::sample(&outcome)];
        let mut plans = Vec::new();
        for (name, sql) in super::sql::queries::explained(Backend::Postgres, app, endpoint, msg, group_commit) {
            let lines: Vec<String> = self
                .fetch(sql)
                .await?
                .iter()
                .map(|r| r.first())
                .collect::<Result<_>>()?;
            plans.push((name, lines.join("\n")));
        }
        Ok(plans)
    }
}

async fn migrate(pool: &PgPool) -> Result<()> {
    let steps = MIGRATIONS
        .iter()
        .map(|&(version, name, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(name),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(steps);
    migrator.set_ignore_missing(true);
    // sqlx takes an advisory lock, so nodes started together do not race.
    migrator.run(pool).await.map_err(|e| StoreError::Migrate(e.to_string()))
}

fn query(sql: Sql) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let (text, args) = sql.into_parts(Backend::Postgres);
    let mut q = sqlx::query(AssertSqlSafe(text));
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s),
            Arg::Int(v) => q.bind(v),
            Arg::NullText => q.bind(None::<String>),
            Arg::NullInt => q.bind(None::<i64>),
        };
    }
    q
}

/// Reads `row` into the shared row type: the schema's columns are TEXT,
/// BIGINT or JSON; counts are BIGINT and constants INT4.
fn row(pg: &PgRow, columns: &Arc<[String]>) -> Result<Row> {
    let mut values = Vec::with_capacity(columns.len());
    for (i, col) in pg.columns().iter().enumerate() {
        let raw = pg.try_get_raw(i)?;
        if raw.is_null() {
            values.push(Value::Null);
            continue;
        }
        values.push(match col.type_info().name() {
            "INT8" => Value::Int(pg.try_get(i)?),
            "INT4" => Value::Int(pg.try_get::<i32, _>(i)?.into()),
            "INT2" => Value::Int(pg.try_get::<i16, _>(i)?.into()),
            "BOOL" => Value::Int(pg.try_get::<bool, _>(i)?.into()),
            _ => Value::Text(pg.try_get(i)?),
        });
    }
    Ok(Row::new(columns.clone(), values))
}

fn rows(pg: Vec<PgRow>) -> Result<Vec<Row>> {
    let Some(first) = pg.first() else {
        return Ok(Vec::new());
    };
    let columns: Arc<[String]> = first.columns().iter().map(|c| c.name().to_owned()).collect();
    pg.iter().map(|r| row(r, &columns)).collect()
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
            // character_not_in_repertoire: a NUL in text, which PostgreSQL cannot store.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => {
                StoreError::Unstorable(db.message().to_string())
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

/// One connection, as routing reads it.
struct OnConnection<'a>(&'a mut PgConnection);

#[async_trait]
impl Reader for OnConnection<'_> {
    async fn fetch(&mut self, sql: Sql) -> Result<Vec<Row>> {
        rows(query(sql).fetch_all(&mut *self.0).await?)
    }
}

#[async_trait]
impl Database for Postgres {
    const BACKEND: Backend = Backend::Postgres;
    const SOLE_WRITER: bool = false;

    async fn fetch(&self, sql: Sql) -> Result<Vec<Row>> {
        rows(query(sql).fetch_all(&self.pool).await?)
    }

    async fn execute(&self, sql: Sql) -> Result<u64> {
        Ok(query(sql).execute(&self.pool).await?.rows_affected())
    }

    async fn execute_returning(&self, sql: Sql) -> Result<Vec<Row>> {
        self.fetch(sql).await
    }

    async fn transaction(&self, steps: Vec<Step>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for step in steps {
            let must_change = step.must_change;
            if query(step.sql).execute(&mut *tx).await?.rows_affected() == 0 && must_change {
                // Dropping `tx` rolls it back.
                return Err(StoreError::NotFound);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn write(
        &self,
        batch: &[NewMessage],
        route: Router<'_>,
        outcomes: &[Outcome],
    ) -> Result<Vec<Result<Published>>> {
        let mut conn = self.commit.acquire().await?;
        write::group_commit(&mut conn, batch, route, outcomes).await
    }

    async fn announce_work(&self) -> Result<()> {
        self.execute(Sql::new("SELECT pg_notify('hookd_work', '')")).await?;
        Ok(())
    }

    fn apps_changed(&self) -> Option<Sql> {
        // Delivered when the transaction commits, and only if it does.
        Some(Sql::new("SELECT pg_notify('hookd_apps', '')"))
    }

    /// Other nodes' leases run out by themselves; none is released here.
    /// This node's identity is its data directory's, which it holds locked:
    /// a lease in its name is left by its last run, which died. Read through
    /// `deliveries_due` (a leased delivery always has a next attempt).
    async fn release_orphaned_leases(&self, owner: &str) -> Result<u64> {
        let mut sql = Sql::new(
            "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL \
             WHERE next_attempt_at IS NOT NULL AND lease_owner = ",
        );
        sql.bind(owner);
        self.execute(sql).await
    }

    /// From a listening connection that reconnects by itself (with back-off)
    /// after an outage.
    fn listen(&self, on: Box<dyn Fn(Heard) + Send + Sync>, stop: CancellationToken) {
        let url = self.url.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let listened = async {
                    let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
                    listener.listen_all(["hookd_work", "hookd_apps"]).await?;
                    on(Heard::Listening);
                    loop {
                        // `None`: the connection was lost, and notices with it. sqlx
                        // would reconnect on the next call; this node starts over
                        // instead, so that it knows what it may have missed.
                        match listener.try_recv().await?.as_ref().map(|n| n.channel()) {
                            Some("hookd_apps") => on(Heard::AppsChanged),
                            Some(_) => on(Heard::Work),
                            None => return Err(sqlx::Error::PoolClosed),
                        }
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), sqlx::Error>(())
                };
                let err = tokio::select! {
                    r = listened => match r {
                        Err(e) => e,
                        Ok(()) => continue,
                    },
                    _ = stop.cancelled() => return,
                };
                on(Heard::Lost);
                tracing::warn!(error = %err, retry_in = ?backoff, "listening for work failed");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        });
    }

    async fn close(&self) {
        self.pool.close().await;
        self.commit.close().await;
    }
}
