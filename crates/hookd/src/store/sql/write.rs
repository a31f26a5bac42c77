//! The one write transaction: publishes and attempt outcomes together (see
//! `store::committer`). Everything that must be read is read first; the writes
//! are then a list of statements. PostgreSQL runs them one by one in a
//! transaction. The embedded store hands them to its writer thread
//! (`sqlite_writer`) in one go, while it holds the pool's writing connection.

use sqlx::Acquire;

use super::SqlStore;
use super::deliveries::{live_deliveries, outcome_statements};
use super::messages::{publish_statements, route_batch};
use crate::store::{Backend, Matcher, NewMessage, Outcome, Published, Result};

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
                let writer = self.writer.as_ref().expect("the embedded store has its writer");
                writer.run(stmts).await?;
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
