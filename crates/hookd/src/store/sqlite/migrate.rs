//! The embedded store's schema versions (`migrations/sqlite/`), recorded in
//! the file's `user_version`.
//!
//! Each version runs in one transaction with the new `user_version`, so a
//! crash leaves the file at the version before or the one after. The
//! transaction is `IMMEDIATE` and the version is read again inside it, so two
//! processes opening the file at once (a server and `hookd rotate-key`) do not
//! both run a step.
//!
//! Files written before this runner existed recorded their versions in sqlx's
//! `_sqlx_migrations`; their `user_version` is 0, and the highest version
//! recorded there is taken instead (the table is left as it was).

use rusqlite::{Connection, TransactionBehavior};

use crate::store::{Result, StoreError};

pub struct Migration {
    pub version: i64,
    sql: &'static str,
    /// Swaps tables, which needs foreign keys off (otherwise dropping the old
    /// table would cascade to the rows that point at it). They cannot be
    /// turned off inside a transaction, so they are turned off around it and
    /// checked before it commits.
    rebuilds_tables: bool,
}

const fn step(version: i64, sql: &'static str) -> Migration {
    Migration {
        version,
        sql,
        rebuilds_tables: false,
    }
}

const fn rebuild(version: i64, sql: &'static str) -> Migration {
    Migration {
        version,
        sql,
        rebuilds_tables: true,
    }
}

pub const MIGRATIONS: &[Migration] = &[
    step(1, include_str!("../../../migrations/sqlite/0001_init.sql")),
    step(2, include_str!("../../../migrations/sqlite/0002_attempt_tls.sql")),
    step(
        3,
        include_str!("../../../migrations/sqlite/0003_event_type_validation.sql"),
    ),
    rebuild(4, include_str!("../../../migrations/sqlite/0004_lean_embedded.sql")),
    rebuild(5, include_str!("../../../migrations/sqlite/0005_clustered_rows.sql")),
    step(6, include_str!("../../../migrations/sqlite/0006_deferred_indexes.sql")),
    step(7, include_str!("../../../migrations/sqlite/0007_trace_context.sql")),
    step(
        8,
        include_str!("../../../migrations/sqlite/0008_operational_events.sql"),
    ),
    step(9, include_str!("../../../migrations/sqlite/0009_token_sessions.sql")),
    step(10, include_str!("../../../migrations/sqlite/0010_event_type_retry.sql")),
    step(11, include_str!("../../../migrations/sqlite/0011_message_tokens.sql")),
    step(12, include_str!("../../../migrations/sqlite/0012_poll_consumers.sql")),
    step(13, include_str!("../../../migrations/sqlite/0013_poller_tokens.sql")),
    step(14, include_str!("../../../migrations/sqlite/0014_endpoint_tls.sql")),
    step(15, include_str!("../../../migrations/sqlite/0015_attempt_counts.sql")),
    step(16, include_str!("../../../migrations/sqlite/0016_messages_by_type.sql")),
    step(17, include_str!("../../../migrations/sqlite/0017_poll_offsets.sql")),
    step(
        18,
        include_str!("../../../migrations/sqlite/0018_endpoint_transformation.sql"),
    ),
    step(
        19,
        include_str!("../../../migrations/sqlite/0019_endpoint_url_password.sql"),
    ),
    step(20, include_str!("../../../migrations/sqlite/0020_fifo_deliveries.sql")),
];

pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, i64::MAX)
}

/// Brings the schema up to `target` (tests stop short of the latest).
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<()> {
    for m in MIGRATIONS.iter().filter(|m| m.version <= target) {
        if version(conn)? >= m.version {
            continue;
        }
        if m.rebuilds_tables {
            conn.execute_batch("PRAGMA foreign_keys = OFF")?;
        }
        let ran = run(conn, m);
        if m.rebuilds_tables {
            conn.execute_batch("PRAGMA foreign_keys = ON")?;
        }
        ran.map_err(|e| StoreError::Migrate(format!("version {}: {e}", m.version)))?;
    }
    Ok(())
}

fn run(conn: &mut Connection, m: &Migration) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if version(&tx)? >= m.version {
        // Another process ran it while this one waited for the lock.
        return Ok(());
    }
    tx.execute_batch(m.sql)?;
    if m.rebuilds_tables {
        let broken: i64 = tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if broken > 0 {
            return Err(StoreError::Migrate(format!("{broken} rows lost their parent")));
        }
    }
    tx.pragma_update(None, "user_version", m.version)?;
    tx.commit()?;
    Ok(())
}

/// The schema's version: `user_version`, or sqlx's record for older files.
fn version(conn: &Connection) -> Result<i64> {
    let own: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if own > 0 {
        return Ok(own);
    }
    let sqlx_era: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !sqlx_era {
        return Ok(0);
    }
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        [],
        |r| r.get(0),
    )?)
}
