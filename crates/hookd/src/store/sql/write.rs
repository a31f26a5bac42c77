//! The one write transaction: publishes and attempt outcomes together (see
//! `store::committer`). Everything that must be read is read first; the writes
//! are then a list of statements, which the embedded store runs on a SQLite
//! connection of their own (`sqlite_writer`) while it holds the pool's writing
//! connection, which it keeps from one commit to the next while they come
//! back to back. PostgreSQL writes a batch in one statement (`pg_write`).

use std::time::{Duration, Instant};

use sqlx::Any;
use sqlx::pool::PoolConnection;
use tokio::sync::Mutex;

use super::SqlStore;
use super::deliveries::outcome_statements;
use super::messages::{EventIds, publish_statements};
use crate::store::{Backend, Matcher, NewMessage, Outcome, Published, Result};

/// How long the committer keeps the embedded store's writing connection
/// while group commits come back to back. sqlx tests a connection on its way
/// back to the pool with a round trip to its worker thread, and waiting for
/// that was a sixth of each commit; other writers wait at most this long
/// (plus a commit) for their turn.
const KEEP_AT_MOST: Duration = Duration::from_millis(10);

/// The pool's writing connection while the committer keeps it, and since when.
#[derive(Default)]
pub(super) struct KeptWrite(Mutex<Option<(PoolConnection<Any>, Instant)>>);

impl SqlStore {
    /// Returns a kept writing connection to the pool.
    pub(super) async fn let_go_of_write(&self) {
        self.kept_write.0.lock().await.take();
    }

    pub(super) async fn write_batch(
        &self,
        publishes: &[NewMessage],
        matches: Matcher,
        outcomes: &[Outcome],
    ) -> Result<Vec<Result<Published>>> {
        let published = match self.backend {
            Backend::Sqlite => self.write_sqlite(publishes, matches, outcomes).await?,
            Backend::Postgres => self.write_postgres(publishes, matches, outcomes).await?,
        };
        if outcomes.iter().any(|o| o.disable_if_failing_since.is_some()) {
            // A failure may have disabled its endpoint.
            self.endpoints.invalidate();
        }
        Ok(published)
    }

    /// One process owns the file and this is its only writing connection, so
    /// what is read here is still true when the statements run; outcomes of
    /// deliveries that are gone are passed over by the statements.
    async fn write_sqlite(
        &self,
        publishes: &[NewMessage],
        matches: Matcher,
        outcomes: &[Outcome],
    ) -> Result<Vec<Result<Published>>> {
        let mut kept = self.kept_write.0.lock().await;
        let (mut conn, since) = match kept.take() {
            Some(k) => k,
            None => (self.write.acquire().await?, Instant::now()),
        };
        let published = self.route_batch(&mut conn, publishes, matches, EventIds::Read).await?;
        let stmts = publish_statements(publishes, &published).chain(outcome_statements(outcomes));
        let writer = self.writer.as_ref().expect("the embedded store has its writer");
        writer.run(stmts)?;
        if since.elapsed() < KEEP_AT_MOST {
            *kept = Some((conn, since));
        }
        Ok(published)
    }
}
