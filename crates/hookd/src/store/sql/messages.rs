use std::collections::HashSet;

use async_trait::async_trait;

use super::builder::Sql;
use super::db::{Database, Reader, Router};
use super::rows::{self, MESSAGE_COLS};
use super::{SqlStore, expect_one, queries};
use crate::ids::{self, Kind};
use crate::store::{
    DeliveryTask, Lease, Matcher, MessageFilter, MessageRecord, MessageStore, NewMessage, Outcome, Page, Published,
    Result, StoreError, Trigger,
};
use crate::time::Micros;

#[async_trait]
impl<D: Database> MessageStore for SqlStore<D> {
    async fn write(
        &self,
        publishes: &[NewMessage],
        matches: Matcher,
        outcomes: &[Outcome],
    ) -> Result<Vec<Result<Published>>> {
        let router = Router {
            matches,
            endpoints: &self.endpoints,
            keys: &self.keys,
        };
        let published = self.db.write(publishes, router, outcomes).await;
        if outcomes.iter().any(|o| o.disable_if_failing_since.is_some()) {
            // A failure may have disabled its endpoint.
            self.endpoints.invalidate();
        }
        published
    }

    async fn get_message(&self, app_id: &str, id_or_event_id: &str) -> Result<Option<MessageRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {MESSAGE_COLS}, m.payload FROM messages m WHERE m.app_id = "
        ));
        sql.bind(app_id)
            .push(" AND (m.id = ")
            .bind(id_or_event_id)
            .push(" OR m.event_id = ")
            .bind(id_or_event_id)
            .push(") ORDER BY (m.id = ")
            .bind(id_or_event_id)
            .push(") DESC LIMIT 1");
        self.db
            .fetch_optional(sql)
            .await?
            .map(|r| rows::message(&r))
            .transpose()
    }

    async fn list_messages(
        &self,
        app_id: Option<&str>,
        filter: &MessageFilter,
        page: &Page,
    ) -> Result<Vec<MessageRecord>> {
        let sql = queries::messages(D::BACKEND, app_id, filter, page);
        self.db.fetch(sql).await?.iter().map(rows::message).collect()
    }

    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE messages SET payload = NULL WHERE app_id = ");
        sql.bind(app_id).push(" AND id = ").bind(msg_id);
        expect_one(self.db.execute(sql).await?)
    }

    async fn purge_expired_payloads(&self, now: Micros, limit: i64) -> Result<u64> {
        let mut sql = Sql::new(
            "UPDATE messages SET payload = NULL WHERE id IN \
             (SELECT id FROM messages WHERE payload IS NOT NULL AND expires_at < ",
        );
        sql.bind(now).push(" LIMIT ").bind(limit).push(")");
        self.db.execute(sql).await
    }
}

/// How a batch's reused `eventId`s are found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum EventIds {
    /// Asked for here, message by message, before anything is written.
    Read,
    /// Left to the insert, which skips them (`ON CONFLICT DO NOTHING`); only
    /// repeats within the batch are found here.
    AtInsert,
}

/// Routes each message, reading what it needs on `conn`: the endpoints each
/// goes to, or why it cannot be stored.
pub async fn route_batch(
    conn: &mut dyn Reader,
    router: &Router<'_>,
    batch: &[NewMessage],
    event_ids: EventIds,
) -> Result<Vec<Result<Published>>> {
    let mut apps: Vec<&str> = batch.iter().map(|n| n.message.app_id.as_str()).collect();
    apps.sort_unstable();
    apps.dedup();
    let endpoints = router.endpoints.active(conn, &apps, router.keys).await?;
    let mut seen_event_ids: HashSet<(&str, &str)> = HashSet::new();
    let mut out = Vec::with_capacity(batch.len());
    for item in batch {
        let m = &item.message;
        if let Some(event_id) = &m.event_id {
            let fresh = seen_event_ids.insert((&m.app_id, event_id));
            if !fresh || (event_ids == EventIds::Read && event_id_taken(conn, &m.app_id, event_id).await?) {
                out.push(Err(event_id_conflict(event_id)));
                continue;
            }
        }
        let message = item.message.clone();
        let eps = endpoints.get(&m.app_id).map_or(&[][..], Vec::as_slice);
        let chosen = match &item.only_endpoint {
            Some(only) => eps.iter().position(|ep| &ep.id == only).into_iter().collect(),
            None => (router.matches.route)(m, eps),
        };
        // FIFO endpoints' deliveries go last, and are never leased here: only
        // the scheduler sends them, each when the one before it has ended.
        let (mut chosen, fifo): (Vec<usize>, Vec<usize>) =
            chosen.into_iter().partition(|&i| eps[i].options.ordering.is_none());
        let unordered = chosen.len();
        chosen.extend(fifo);
        let tasks: Vec<DeliveryTask> = chosen
            .into_iter()
            .map(|i| &eps[i])
            .map(|ep| DeliveryTask {
                delivery_id: ids::new(Kind::Delivery),
                attempts: 0,
                trigger_type: Trigger::Scheduled,
                fifo_key: (router.matches.order)(ep, m),
                message: message.clone(),
                endpoint: ep.clone(),
            })
            .collect();
        // A message to deliver later is never leased: the scheduler picks it up when due.
        let leased = match (&item.lease, m.deliver_at) {
            (Some(_), None) => item.lease_room.min(unordered),
            _ => 0,
        };
        out.push(Ok(Published { message, tasks, leased }));
    }
    Ok(out)
}

async fn event_id_taken(conn: &mut dyn Reader, app_id: &str, event_id: &str) -> Result<bool> {
    let mut sql = Sql::new("SELECT 1 AS one FROM messages WHERE app_id = ");
    sql.bind(app_id).push(" AND event_id = ").bind(event_id);
    Ok(!conn.fetch(sql).await?.is_empty())
}

pub fn event_id_conflict(event_id: &str) -> StoreError {
    StoreError::Conflict(format!("a message with eventId {event_id} already exists"))
}

/// The deliveries to insert for the stored messages of a batch, each with the
/// lease it is created under.
pub fn delivery_rows<'a>(
    batch: &'a [NewMessage],
    published: &'a [Result<Published>],
) -> Vec<(&'a DeliveryTask, Option<&'a Lease>)> {
    batch
        .iter()
        .zip(published)
        .filter_map(|(item, r)| r.as_ref().ok().map(|p| (item, p)))
        .flat_map(|(item, p)| {
            let lease = item.lease.as_ref();
            p.tasks
                .iter()
                .enumerate()
                .map(move |(i, t)| (t, lease.filter(|_| i < p.leased)))
        })
        .collect()
}
