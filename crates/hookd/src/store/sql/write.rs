//! The one write transaction: publishes and attempt outcomes together (see
//! `store::committer`). Everything that must be read is read first; the writes
//! are then a list of statements, which the embedded store runs on a SQLite
//! connection of their own (`sqlite_writer`) while it holds the pool's writing
//! connection. PostgreSQL writes a batch in one statement (`pg_write`).

use super::SqlStore;
use super::deliveries::outcome_statements;
use super::messages::{EventIds, publish_statements};
use crate::store::{Backend, Matcher, NewMessage, Outcome, Published, Result};

impl SqlStore {
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
        let mut conn = self.write.acquire().await?;
        let published = self.route_batch(&mut conn, publishes, matches, EventIds::Read).await?;
        let stmts = publish_statements(publishes, &published).chain(outcome_statements(outcomes));
        let writer = self.writer.as_ref().expect("the embedded store has its writer");
        writer.run(stmts)?;
        Ok(published)
    }
}
