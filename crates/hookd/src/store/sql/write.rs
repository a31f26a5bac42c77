//! The one write transaction: publishes and attempt outcomes together (see
//! `store::committer`). Everything that must be read is read first; the writes
//! are then a list of statements. PostgreSQL runs them one by one in a
//! transaction. The embedded store runs them as one script, `BEGIN IMMEDIATE;
//! …; COMMIT`, in a single call: each call is a hand-off to SQLite's worker
//! thread, and those hand-offs, not SQLite, were most of the cost of a write.

use sqlx::{Acquire, AnyConnection};

use super::SqlStore;
use super::builder::{Sql, scripts};
use super::deliveries::{live_deliveries, outcome_statements};
use super::messages::plan_publish;
use crate::store::{Backend, Matcher, NewMessage, Outcome, Published, Result};

/// Bound values per SQLite script; SQLite allows 32766 per statement.
const MAX_SCRIPT_ARGS: usize = 30_000;

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
            // so what is read here is still true when the script runs.
            Backend::Sqlite => {
                let (published, mut stmts) =
                    plan_publish(&mut conn, publishes, matches, &self.endpoints, &self.keys).await?;
                let live = live_deliveries(&mut conn, self.backend, outcomes).await?;
                stmts.extend(outcome_statements(outcomes, &live));
                run_script(&mut conn, &stmts).await?;
                published
            }
            Backend::Postgres => {
                let mut tx = conn.begin().await?;
                let (published, mut stmts) =
                    plan_publish(&mut tx, publishes, matches, &self.endpoints, &self.keys).await?;
                let live = live_deliveries(&mut tx, self.backend, outcomes).await?;
                stmts.extend(outcome_statements(outcomes, &live));
                for s in &stmts {
                    s.query().execute(&mut *tx).await?;
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

/// Runs `stmts` in one SQLite transaction, in as few calls as the bound-value limit allows.
async fn run_script(conn: &mut AnyConnection, stmts: &[Sql]) -> Result<()> {
    if stmts.is_empty() {
        return Ok(());
    }
    let mut parts = scripts(stmts, MAX_SCRIPT_ARGS);
    let begin = Sql::new("BEGIN IMMEDIATE");
    let commit = Sql::new("COMMIT");
    let result = if parts.len() == 1 {
        let mut all = begin;
        all.then(&parts[0]).then(&commit);
        all.query().execute(&mut *conn).await.map(drop)
    } else {
        parts.insert(0, begin);
        parts.push(commit);
        let mut r = Ok(());
        for p in &parts {
            r = p.query().execute(&mut *conn).await.map(drop);
            if r.is_err() {
                break;
            }
        }
        r
    };
    if let Err(e) = result {
        // Whatever ran is undone, and the connection is left outside any transaction.
        let _ = Sql::new("ROLLBACK").query().execute(&mut *conn).await;
        return Err(e.into());
    }
    Ok(())
}
