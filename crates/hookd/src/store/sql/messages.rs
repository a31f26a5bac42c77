use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::AnyConnection;

use super::SqlStore;
use super::builder::{Sql, chunk_ranges};
use super::queries;
use super::rows::{self, MESSAGE_COLS, opt_to_json};
use crate::ids::{self, Kind};
use crate::store::{
    DeliveryStatus, DeliveryTask, Lease, Matcher, MessageFilter, MessageRecord, MessageStore, NewMessage, Outcome,
    Page, Published, Result, StoreError, Trigger,
};
use crate::time::Micros;

#[async_trait]
impl MessageStore for SqlStore {
    async fn write(
        &self,
        publishes: &[NewMessage],
        matches: Matcher,
        outcomes: &[Outcome],
    ) -> Result<Vec<Result<Published>>> {
        self.write_batch(publishes, matches, outcomes).await
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
        sql.query(self.backend)
            .fetch_optional(&self.read)
            .await?
            .map(|r| rows::message(&r))
            .transpose()
    }

    async fn list_messages(&self, app_id: &str, filter: &MessageFilter, page: &Page) -> Result<Vec<MessageRecord>> {
        let sql = queries::messages(self.backend, app_id, filter, page);
        sql.query(self.backend)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(rows::message)
            .collect()
    }

    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE messages SET payload = NULL WHERE app_id = ");
        sql.bind(app_id).push(" AND id = ").bind(msg_id);
        super::apps::expect_one(sql.query(self.backend).execute(&self.write).await?)
    }

    async fn purge_expired_payloads(&self, now: Micros, limit: i64) -> Result<u64> {
        let mut sql = Sql::new(
            "UPDATE messages SET payload = NULL WHERE id IN \
             (SELECT id FROM messages WHERE payload IS NOT NULL AND expires_at < ",
        );
        sql.bind(now).push(" LIMIT ").bind(limit).push(")");
        Ok(sql.query(self.backend).execute(&self.write).await?.rows_affected())
    }
}

/// How a batch's reused `eventId`s are found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum EventIds {
    /// Asked for here, message by message, before anything is written.
    Read,
    /// Left to the insert, which skips them (`ON CONFLICT DO NOTHING`); only
    /// repeats within the batch are found here.
    AtInsert,
}

impl SqlStore {
    /// Routes each message, reading what it needs on `conn`: the endpoints each
    /// goes to, or why it cannot be stored.
    pub(super) async fn route_batch(
        &self,
        conn: &mut AnyConnection,
        batch: &[NewMessage],
        matches: Matcher,
        event_ids: EventIds,
    ) -> Result<Vec<Result<Published>>> {
        let mut apps: Vec<&str> = batch.iter().map(|n| n.message.app_id.as_str()).collect();
        apps.sort_unstable();
        apps.dedup();
        let endpoints = self.endpoints.active(conn, &apps, &self.keys).await?;
        let mut seen_event_ids: HashSet<(&str, &str)> = HashSet::new();
        let mut out = Vec::with_capacity(batch.len());
        for item in batch {
            let m = &item.message;
            if let Some(event_id) = &m.event_id {
                let fresh = seen_event_ids.insert((&m.app_id, event_id));
                if !fresh || (event_ids == EventIds::Read && self.event_id_taken(conn, &m.app_id, event_id).await?) {
                    out.push(Err(event_id_conflict(event_id)));
                    continue;
                }
            }
            let message = item.message.clone();
            let eps = endpoints.get(&m.app_id).map_or(&[][..], Vec::as_slice);
            let chosen = match &item.only_endpoint {
                Some(only) => eps.iter().position(|ep| &ep.id == only).into_iter().collect(),
                None => matches(m, eps),
            };
            let tasks: Vec<DeliveryTask> = chosen
                .into_iter()
                .map(|i| &eps[i])
                .map(|ep| DeliveryTask {
                    delivery_id: ids::new(Kind::Delivery),
                    attempts: 0,
                    trigger_type: Trigger::Scheduled,
                    message: message.clone(),
                    endpoint: ep.clone(),
                })
                .collect();
            // A message to deliver later is never leased: the scheduler picks it up when due.
            let leased = match (&item.lease, m.deliver_at) {
                (Some(_), None) => item.lease_room.min(tasks.len()),
                _ => 0,
            };
            out.push(Ok(Published { message, tasks, leased }));
        }
        Ok(out)
    }

    async fn event_id_taken(&self, conn: &mut AnyConnection, app_id: &str, event_id: &str) -> Result<bool> {
        let mut sql = Sql::new("SELECT 1 AS one FROM messages WHERE app_id = ");
        sql.bind(app_id).push(" AND event_id = ").bind(event_id);
        Ok(sql.query(self.backend).fetch_optional(conn).await?.is_some())
    }
}

pub(super) fn event_id_conflict(event_id: &str) -> StoreError {
    StoreError::Conflict(format!("a message with eventId {event_id} already exists"))
}

/// The deliveries to insert for the stored messages of a batch, each with the
/// lease it is created under.
pub(super) fn delivery_rows<'a>(
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

/// The statements that insert the stored messages and their deliveries, built
/// one chunk at a time as they are taken, so that a large fan-out is never
/// held as SQL all at once.
pub(super) fn publish_statements<'a>(
    batch: &'a [NewMessage],
    published: &'a [Result<Published>],
) -> impl Iterator<Item = Sql> + Send + 'a {
    let stored: Vec<&Published> = published.iter().filter_map(|r| r.as_ref().ok()).collect();
    let rows = delivery_rows(batch, published);
    let messages = chunk_ranges(stored.len(), 64).into_iter().map(move |r| {
        let chunk = &stored[r];
        let mut sql = Sql::new(
            "INSERT OR ROLLBACK INTO messages (id, app_id, event_type, event_id, channels, tags, payload, deliver_at, \
             created_at, expires_at) VALUES ",
        );
        for (i, p) in chunk.iter().enumerate() {
            let m = &p.message;
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind(&m.id)
                .push(", ")
                .bind(&m.app_id)
                .push(", ")
                .bind(&m.event_type)
                .push(", ");
            sql.bind(m.event_id.as_ref())
                .push(", ")
                .bind(opt_to_json(&m.channels))
                .push(", ");
            sql.bind(opt_to_json(&m.tags))
                .push(", ")
                .bind(m.payload.as_ref())
                .push(", ")
                .bind(m.deliver_at);
            sql.push(", ")
                .bind(m.created_at)
                .push(", ")
                .bind(m.expires_at)
                .push(")");
        }
        sql
    });
    let deliveries = chunk_ranges(rows.len(), 64).into_iter().map(move |r| {
        let chunk = &rows[r];
        let mut sql = Sql::new(
            "INSERT OR ROLLBACK INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, trigger_type, \
             next_attempt_at, lease_until, lease_owner, created_at, updated_at) VALUES ",
        );
        for (i, (t, lease)) in chunk.iter().enumerate() {
            let m = &t.message;
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind(&t.delivery_id)
                .push(", ")
                .bind(&m.app_id)
                .push(", ")
                .bind(&m.id)
                .push(", ");
            sql.bind(&t.endpoint.id)
                .push(", ")
                .bind(DeliveryStatus::Pending)
                .push(", 0, ")
                .bind(Trigger::Scheduled);
            sql.push(", ")
                .bind(m.deliver_at.unwrap_or(m.created_at))
                .push(", ")
                .bind(lease.map(|l| l.until));
            sql.push(", ")
                .bind(lease.map(|l| l.owner.clone()))
                .push(", ")
                .bind(m.created_at);
            sql.push(", ").bind(m.created_at).push(")");
        }
        sql
    });
    messages.chain(deliveries)
}
