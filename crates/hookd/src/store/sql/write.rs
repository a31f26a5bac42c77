//! The one write transaction: publishes and attempt outcomes together (see
//! `store::committer`). Everything that must be read is read first; the writes
//! are then a list of statements. PostgreSQL runs them one by one in a
//! transaction. The embedded store runs them as one script, `BEGIN IMMEDIATE;
//! …; COMMIT`, in a single call: each call is a hand-off to SQLite's worker
//! thread, and those hand-offs, not SQLite, were most of the cost of a write.

use sqlx::{Acquire, AnyConnection};

use super::SqlStore;
use super::builder::Sql;
use super::deliveries::{live_deliveries, outcome_statements};
use super::messages::{publish_statements, route_batch};
use crate::store::{Backend, Matcher, NewMessage, Outcome, Published, Result};

/// Bound values per call at most (SQLite allows 32766): a large fan-out goes in
/// several calls of one transaction, so that its SQL is never held all at once.
const MAX_SCRIPT_ARGS: usize = 8_192;
/// Scripts with more values than this are prepared for one use only: sqlx keeps
/// up to 100 prepared statements a connection, and large ones would hold
/// megabytes each. The scripts of a steady stream of publishes are smaller.
const CACHED_SCRIPT_ARGS: usize = 1_024;

impl SqlStore {
    pub(super) async fn write_batch(
        &self,
        publishes: &[NewMessage],
        matches: Matcher,
        outcomes: &[Outcome],
    ) -> Result<Vec<Result<Published>>> {
        let mut conn = self.write.acquire().await?;
        let published = match self.backend {
            // One process owns the file and this is its only writing connection,
            // so what is read here is still true when the script runs; outcomes
            // of deliveries that are gone are passed over by the statements.
            Backend::Sqlite => {
                let published = route_batch(&mut conn, publishes, matches, &self.endpoints, &self.keys).await?;
                let stmts = publish_statements(publishes, &published).chain(outcome_statements(outcomes, None));
                run_script(&mut conn, stmts).await?;
                published
            }
            Backend::Postgres => {
                let mut tx = conn.begin().await?;
                let published = route_batch(&mut tx, publishes, matches, &self.endpoints, &self.keys).await?;
                let live = live_deliveries(&mut tx, outcomes).await?;
                let stmts = publish_statements(publishes, &published).chain(outcome_statements(outcomes, Some(&live)));
                for s in stmts {
                    s.into_query().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                published
            }
        };
        if outcomes.iter().any(|o| o.disable_if_failing_since.is_some()) {
            // A failure may have disabled its endpoint.
            self.endpoints.invalidate();
        }
        Ok(published)
    }
}

/// Runs `stmts` in one SQLite transaction: `BEGIN IMMEDIATE; …; COMMIT` in one
/// call, or in several when the statements carry more than [`MAX_SCRIPT_ARGS`] values.
async fn run_script(conn: &mut AnyConnection, stmts: impl Iterator<Item = Sql>) -> Result<()> {
    let mut stmts = stmts.peekable();
    if stmts.peek().is_none() {
        return Ok(());
    }
    let mut part = Sql::new("BEGIN IMMEDIATE");
    let mut result = Ok(());
    for s in stmts {
        if part.arg_count() > 0 && part.arg_count() + s.arg_count() > MAX_SCRIPT_ARGS {
            result = execute(conn, std::mem::take(&mut part)).await;
            if result.is_err() {
                break;
            }
        }
        part.then(s.rollback_on_conflict());
    }
    if result.is_ok() {
        part.then(Sql::new("COMMIT"));
        result = execute(conn, part).await;
    }
    if let Err(e) = result {
        // Whatever ran is undone, and the connection is left outside any transaction.
        let _ = Sql::new("ROLLBACK").query().execute(&mut *conn).await;
        return Err(e.into());
    }
    Ok(())
}

async fn execute(conn: &mut AnyConnection, script: Sql) -> Result<(), sqlx::Error> {
    let reuse = script.arg_count() <= CACHED_SCRIPT_ARGS;
    script
        .into_query_for(Backend::Sqlite)
        .persistent(reuse)
        .execute(conn)
        .await
        .map(drop)
}
