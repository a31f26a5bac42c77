use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;

use super::builder::{Sql, paginate};
use super::db::Step;
use super::db::{Database, Reader, Row};
use super::rows::{self, ATTEMPT_COLS, ENDPOINT_COLS, MESSAGE_COLS};
use super::{SqlStore, expect_one, fifo, queries};
use crate::ids::{self, Kind};
use crate::store::sqlite::deferred::DELIVERIES_BY_ENDPOINT;
use crate::store::{AppStatsRow, AttemptCountRow, Backend, StoreError};
use crate::store::{
    AttemptFilter, AttemptRecord, ConsumerOffsets, DeliveryState, DeliveryStatus, DeliveryStore, DeliveryTask,
    EndpointRecord, Lease, MessageFilter, MessageRecord, Outcome, Page, Pending, Result, Stats, Trigger,
};
use crate::time::{self, Micros};

#[async_trait]
impl<D: Database> DeliveryStore for SqlStore<D> {
    async fn claim_due(&self, owner: &str, now: Micros, lease_until: Micros, limit: i64) -> Result<Vec<DeliveryTask>> {
        let sql = queries::claim(D::BACKEND, owner, now, lease_until, limit);
        let mut claimed = self.db.execute_returning(sql).await?;
        let room = limit - claimed.len() as i64;
        if room > 0 {
            if !self.db.fetch(fifo::unplaced()).await?.is_empty() {
                let lock = (D::BACKEND == Backend::Postgres).then(|| Step::any(Sql::new(fifo::PLACE_LOCK)));
                let steps = lock.into_iter().chain([Step::any(fifo::place(D::BACKEND))]).collect();
                self.db.transaction(steps).await?;
            }
            let sql = fifo::claim(D::BACKEND, owner, now, lease_until, room);
            claimed.extend(self.db.execute_returning(sql).await?);
        }
        self.tasks_for(&claimed).await
    }

    async fn renew_leases(&self, owner: &str, ids: &[String], lease_until: Micros) -> Result<()> {
        for chunk in ids.chunks(512) {
            let mut sql = Sql::new("UPDATE deliveries SET lease_until = ");
            sql.bind(lease_until)
                .push(" WHERE lease_owner = ")
                .bind(owner)
                .push(" AND id IN ")
                .bind_list(chunk);
            self.db.execute(sql).await?;
        }
        Ok(())
    }

    async fn release_leases(&self, owner: &str, ids: &[String]) -> Result<()> {
        for chunk in ids.chunks(512) {
            let mut sql = Sql::new("UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = ");
            sql.bind(owner).push(" AND id IN ").bind_list(chunk);
            self.db.execute(sql).await?;
        }
        Ok(())
    }

    async fn postpone(&self, owner: &str, ids: &[String], until: Micros) -> Result<()> {
        for chunk in ids.chunks(512) {
            let mut sql = Sql::new("UPDATE deliveries SET lease_until = NULL, lease_owner = NULL, next_attempt_at = ");
            sql.bind(until)
                .push(" WHERE lease_owner = ")
                .bind(owner)
                .push(" AND next_attempt_at IS NOT NULL AND id IN ")
                .bind_list(chunk);
            self.db.execute(sql).await?;
        }
        Ok(())
    }

    async fn wake_endpoint(&self, endpoint_id: &str, now: Micros) -> Result<u64> {
        self.db
            .execute(queries::wake_endpoint(D::BACKEND, endpoint_id, now))
            .await
    }

    async fn announce_work(&self) -> Result<()> {
        self.db.announce_work().await
    }

    async fn release_orphaned_leases(&self, owner: &str) -> Result<u64> {
        self.db.release_orphaned_leases(owner).await
    }

    async fn resend(&self, app_id: &str, msg_id: &str, endpoint_id: &str, lease: &Lease) -> Result<DeliveryTask> {
        let now = time::now();
        let mut sql = Sql::new(
            "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, trigger_type, \
             next_attempt_at, lease_until, lease_owner, created_at, updated_at) VALUES (",
        );
        sql.bind(ids::new(Kind::Delivery))
            .push(", ")
            .bind(app_id)
            .push(", ")
            .bind(msg_id)
            .push(", ");
        sql.bind(endpoint_id)
            .push(", ")
            .bind(DeliveryStatus::Pending)
            .push(", 0, ")
            .bind(Trigger::Manual)
            .push(", ");
        sql.bind(now)
            .push(", ")
            .bind(lease.until)
            .push(", ")
            .bind(&lease.owner)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(")");
        // Sent again: pending if never attempted, else waiting for its next attempt.
        sql.push(" ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = CASE WHEN deliveries.attempts = 0 THEN ")
            .bind(DeliveryStatus::Pending)
            .push(" ELSE ")
            .bind(DeliveryStatus::Sending)
            .push(" END, trigger_type = ")
            .bind(Trigger::Manual);
        sql.push(", next_attempt_at = ")
            .bind(now)
            .push(", lease_until = ")
            .bind(lease.until)
            .push(", lease_owner = ")
            .bind(&lease.owner);
        sql.push(", updated_at = ").bind(now).push(" RETURNING ");
        sql.push(queries::TASK_COLS);
        let rows = self.db.execute_returning(sql).await?;
        self.tasks_for(&rows)
            .await?
            .pop()
            .ok_or(crate::store::StoreError::NotFound)
    }

    /// One statement per call, so a step done twice (a node died after it)
    /// queues nothing new: the rows it made are there and conflict.
    async fn replay(
        &self,
        app_id: &str,
        endpoint_id: &str,
        msgs: &[(String, Option<String>)],
        again: bool,
    ) -> Result<u64> {
        let mut queued = 0;
        for chunk in msgs.chunks(100) {
            let now = time::now();
            let mut sql = Sql::new(
                "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, trigger_type, \
                 next_attempt_at, lease_until, lease_owner, created_at, updated_at, fifo_key) VALUES ",
            );
            for (i, (msg_id, fifo_key)) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                sql.bind(ids::new(Kind::Delivery)).push(", ").bind(app_id).push(", ");
                sql.bind(msg_id.as_str()).push(", ").bind(endpoint_id).push(", ");
                sql.bind(DeliveryStatus::Pending).push(", 0, ").bind(Trigger::Manual);
                sql.push(", ")
                    .bind(now)
                    .push(", NULL, NULL, ")
                    .bind(now)
                    .push(", ")
                    .bind(now)
                    .push(", ")
                    .bind(fifo_key.clone())
                    .push(")");
            }
            sql.push(" ON CONFLICT (msg_id, endpoint_id) DO ");
            if again {
                sql.push("UPDATE SET status = CASE WHEN deliveries.attempts = 0 THEN ")
                    .bind(DeliveryStatus::Pending)
                    .push(" ELSE ")
                    .bind(DeliveryStatus::Sending)
                    .push(" END, trigger_type = ")
                    .bind(Trigger::Manual)
                    .push(", next_attempt_at = ")
                    .bind(now)
                    .push(", updated_at = ")
                    .bind(now)
                    .push(", lease_until = NULL, lease_owner = NULL")
                    .push(" WHERE deliveries.lease_until IS NULL OR deliveries.lease_until < ")
                    .bind(now);
            } else {
                sql.push("NOTHING");
            }
            queued += self.db.execute(sql).await?;
        }
        Ok(queued)
    }

    async fn cancel_pending(&self, app_id: &str, msg_id: &str) -> Result<u64> {
        let mut sql = Sql::new("UPDATE deliveries SET status = ");
        sql.bind(DeliveryStatus::Canceled)
            .push(", next_attempt_at = NULL, lease_until = NULL, lease_owner = NULL, updated_at = ")
            .bind(time::now());
        sql.push(" WHERE app_id = ")
            .bind(app_id)
            .push(" AND msg_id = ")
            .bind(msg_id);
        sql.push(" AND status IN ")
            .bind_list(&[DeliveryStatus::Pending, DeliveryStatus::Sending]);
        self.db.execute(sql).await
    }

    async fn cancel_endpoint(&self, endpoint_id: &str, before: Micros) -> Result<u64> {
        let mut sql = Sql::new("UPDATE deliveries SET status = ");
        sql.bind(DeliveryStatus::Canceled)
            .push(", next_attempt_at = NULL, lease_until = NULL, lease_owner = NULL, updated_at = ")
            .bind(time::now())
            .push(" WHERE ");
        DELIVERIES_BY_ENDPOINT.push_owned_by(&mut sql, D::BACKEND, endpoint_id);
        sql.push(" AND status IN ")
            .bind_list(&[DeliveryStatus::Pending, DeliveryStatus::Sending]);
        sql.push(" AND created_at < ").bind(before);
        self.db.execute(sql).await
    }

    async fn pending(&self, now: Micros) -> Result<Pending> {
        let rows = self.db.fetch(queries::pending(now)).await?;
        let row = rows
            .first()
            .ok_or_else(|| crate::store::StoreError::Corrupt("no row".into()))?;
        let n = |col: &str| -> Result<i64> { Ok(row.try_get::<Option<i64>>(col)?.unwrap_or(0)) };
        Ok(Pending {
            due: n("due")?,
            scheduled: n("scheduled")?,
            in_flight: n("in_flight")?,
            oldest_due: row.try_get("oldest_due")?,
        })
    }

    async fn endpoint_stats(&self, endpoint_id: &str, since: Option<Micros>, until: Option<Micros>) -> Result<Stats> {
        let sql = queries::endpoint_stats(D::BACKEND, endpoint_id, since, until);
        let mut stats = Stats::default();
        for row in self.db.fetch(sql).await? {
            let n: i64 = row.try_get("n")?;
            match DeliveryStatus::from_code(row.try_get("status")?) {
                Some(DeliveryStatus::Success) => stats.success = n,
                Some(DeliveryStatus::Pending) => stats.pending = n,
                Some(DeliveryStatus::Fail) => stats.fail = n,
                Some(DeliveryStatus::Sending) => stats.sending = n,
                Some(DeliveryStatus::Canceled) | None => stats.canceled += n,
            }
        }
        Ok(stats)
    }

    async fn app_stats(
        &self,
        app_id: &str,
        since: Micros,
        until: Micros,
        event_types: Option<&[String]>,
        period: Micros,
    ) -> Result<Vec<AppStatsRow>> {
        let sql = queries::app_stats(D::BACKEND, app_id, since, until, event_types, period);
        let mut out = Vec::new();
        for row in self.db.fetch(sql).await? {
            let code: i64 = row.try_get("status")?;
            out.push(AppStatsRow {
                event_type: row.try_get("event_type")?,
                period: row.try_get("period")?,
                status: DeliveryStatus::from_code(code)
                    .ok_or_else(|| StoreError::Corrupt(format!("delivery status {code}")))?,
                n: row.try_get("n")?,
            });
        }
        Ok(out)
    }

    async fn attempt_counts(&self, app_id: &str, since: Micros) -> Result<Vec<AttemptCountRow>> {
        let mut out = Vec::new();
        for row in self
            .db
            .fetch(queries::attempt_counts(D::BACKEND, app_id, since))
            .await?
        {
            let code: i64 = row.try_get("status")?;
            out.push(AttemptCountRow {
                period: row.try_get("period")?,
                endpoint_id: row.try_get("endpoint_id")?,
                status: DeliveryStatus::from_code(code)
                    .ok_or_else(|| StoreError::Corrupt(format!("attempt status {code}")))?,
                n: row.try_get("n")?,
            });
        }
        Ok(out)
    }

    async fn purge_attempt_counts(&self, before: Micros) -> Result<u64> {
        let mut sql = Sql::new("DELETE FROM attempt_counts WHERE period < ");
        sql.bind(before);
        self.db.execute(sql).await
    }

    async fn consumer_offsets(&self, endpoint_id: &str, consumer_id: &str) -> Result<Option<ConsumerOffsets>> {
        let mut sql = Sql::new(
            "SELECT committed, next_offset, leased, lease_next, lease_until FROM poll_offsets WHERE endpoint_id = ",
        );
        sql.bind(endpoint_id).push(" AND consumer_id = ").bind(consumer_id);
        let Some(r) = self.db.fetch_optional(sql).await? else {
            return Ok(None);
        };
        Ok(Some(ConsumerOffsets {
            committed: r.try_get("committed")?,
            next_offset: r.try_get("next_offset")?,
            leased: r.try_get("leased")?,
            lease_next: r.try_get("lease_next")?,
            lease_until: r.try_get("lease_until")?,
        }))
    }

    async fn set_consumer_offsets(&self, endpoint_id: &str, consumer_id: &str, at: &ConsumerOffsets) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO poll_offsets (endpoint_id, consumer_id, committed, next_offset, leased, lease_next, lease_until) VALUES (",
        );
        sql.bind(endpoint_id).push(", ").bind(consumer_id).push(", ");
        sql.bind(at.committed.clone())
            .push(", ")
            .bind(at.next_offset)
            .push(", ");
        sql.bind(at.leased.clone()).push(", ").bind(at.lease_next).push(", ");
        sql.bind(at.lease_until).push(
            ") ON CONFLICT (endpoint_id, consumer_id) DO UPDATE SET committed = excluded.committed, \
             next_offset = excluded.next_offset, leased = excluded.leased, \
             lease_next = excluded.lease_next, lease_until = excluded.lease_until",
        );
        self.db.execute(sql).await?;
        Ok(())
    }

    async fn list_endpoint_messages(
        &self,
        endpoint_id: &str,
        filter: &MessageFilter,
        page: &Page,
    ) -> Result<Vec<(MessageRecord, DeliveryState)>> {
        let sql = queries::endpoint_messages(D::BACKEND, endpoint_id, filter, page);
        let rows = self.db.fetch(sql).await?;
        rows.iter()
            .map(|r| Ok((rows::message(r)?, rows::delivery_state(r)?)))
            .collect()
    }

    async fn consumer_position(&self, endpoint_id: &str, consumer_id: &str) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT iterator FROM poll_consumers WHERE endpoint_id = ");
        sql.bind(endpoint_id).push(" AND consumer_id = ").bind(consumer_id);
        self.db
            .fetch_optional(sql)
            .await?
            .map(|r| r.try_get("iterator"))
            .transpose()
    }

    async fn set_consumer_position(&self, endpoint_id: &str, consumer_id: &str, iterator: &str) -> Result<()> {
        let mut sql = Sql::new("INSERT INTO poll_consumers (endpoint_id, consumer_id, iterator, updated_at) VALUES (");
        sql.bind(endpoint_id)
            .push(", ")
            .bind(consumer_id)
            .push(", ")
            .bind(iterator)
            .push(", ")
            .bind(time::now())
            .push(
                ") ON CONFLICT (endpoint_id, consumer_id) \
                 DO UPDATE SET iterator = excluded.iterator, updated_at = excluded.updated_at",
            );
        self.db.execute(sql).await?;
        Ok(())
    }

    async fn list_message_endpoints(&self, msg_id: &str, page: &Page) -> Result<Vec<(EndpointRecord, DeliveryState)>> {
        let mut sql = Sql::new(&format!(
            "SELECT {ENDPOINT_COLS}, d.status AS d_status, d.next_attempt_at AS d_next_attempt_at \
             FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id WHERE d.msg_id = "
        ));
        sql.bind(msg_id);
        paginate(&mut sql, "d.endpoint_id", page);
        let rows = self.db.fetch(sql).await?;
        rows.iter()
            .map(|r| Ok((rows::endpoint(r, &self.keys)?, rows::delivery_state(r)?)))
            .collect()
    }

    async fn count_attempts(&self, f: &AttemptFilter, at_most: i64) -> Result<i64> {
        let row = self
            .db
            .fetch_optional(queries::count_attempts(D::BACKEND, f, at_most))
            .await?;
        row.map_or(Ok(0), |r| r.try_get("n"))
    }

    async fn list_attempts(&self, f: &AttemptFilter, page: &Page) -> Result<Vec<AttemptRecord>> {
        let sql = queries::attempts(D::BACKEND, f, page);
        let rows = self.db.fetch(sql).await?;
        rows.iter()
            .map(|r| {
                let mut a = rows::attempt(r)?;
                if !f.with_content {
                    a.response = None;
                }
                Ok(a)
            })
            .collect()
    }

    async fn get_attempt(&self, msg_id: &str, attempt_id: &str) -> Result<Option<AttemptRecord>> {
        let mut sql = Sql::new(&format!("SELECT {ATTEMPT_COLS} FROM attempts a WHERE a.msg_id = "));
        sql.bind(msg_id).push(" AND a.id = ").bind(attempt_id);
        self.db
            .fetch_optional(sql)
            .await?
            .map(|r| rows::attempt(&r))
            .transpose()
    }

    async fn expunge_attempt(&self, msg_id: &str, attempt_id: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE attempts SET response = NULL, response_headers = NULL WHERE msg_id = ");
        sql.bind(msg_id).push(" AND id = ").bind(attempt_id);
        expect_one(self.db.execute(sql).await?)
    }
}

/// What a batch of outcomes does to one endpoint's failure streak.
pub enum Streak<'a> {
    /// Its last outcome in the batch succeeded: the streak ends.
    Healthy(&'a str),
    /// Its last outcome failed: the streak began at `failed_at`, or earlier
    /// if it was already failing, unless the batch also had a success for it
    /// (`restart`). It is disabled if the streak began before `disable_if_failing_since`.
    Failing {
        endpoint_id: &'a str,
        failed_at: Micros,
        restart: bool,
        disable_if_failing_since: Option<Micros>,
    },
}

/// Per endpoint, only the last outcome of the batch decides its failure
/// streak; in order of endpoint id, so that concurrent writers lock endpoint
/// rows in the same order.
pub fn streaks(batch: &[Outcome]) -> Vec<Streak<'_>> {
    let mut last: std::collections::BTreeMap<&str, &Outcome> = Default::default();
    let mut had_success: HashSet<&str> = HashSet::new();
    // A delivery its transformation canceled says nothing of the endpoint's health.
    for o in batch.iter().filter(|o| o.attempt.status != DeliveryStatus::Canceled) {
        if o.attempt.status == DeliveryStatus::Success {
            had_success.insert(&o.attempt.endpoint_id);
        }
        last.insert(&o.attempt.endpoint_id, o);
    }
    last.into_iter()
        .map(|(ep, o)| match o.attempt.status == DeliveryStatus::Success {
            true => Streak::Healthy(ep),
            false => Streak::Failing {
                endpoint_id: ep,
                failed_at: o.attempt.created_at,
                restart: had_success.contains(ep),
                disable_if_failing_since: o.disable_if_failing_since,
            },
        })
        .collect()
}

impl<D: Database> SqlStore<D> {
    /// Builds tasks from delivery rows of [`queries::TASK_COLS`], reading each
    /// message once and taking endpoints from the endpoint cache.
    async fn tasks_for(&self, rows: &[Row]) -> Result<Vec<DeliveryTask>> {
        let conn = &mut Reading(&self.db);
        let mut tasks = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(512) {
            let mut msg_ids = HashSet::new();
            let mut ep_ids = HashSet::new();
            for r in chunk {
                msg_ids.insert(r.try_get::<String>("msg_id")?);
                ep_ids.insert(r.try_get::<String>("endpoint_id")?);
            }
            let msg_ids: Vec<String> = msg_ids.into_iter().collect();
            let ep_ids: Vec<String> = ep_ids.into_iter().collect();
            let mut sql = Sql::new(&format!(
                "SELECT {MESSAGE_COLS}, m.payload FROM messages m WHERE m.id IN "
            ));
            sql.bind_list(&msg_ids);
            let messages: HashMap<String, Arc<MessageRecord>> = self
                .db
                .fetch(sql)
                .await?
                .iter()
                .map(|r| rows::message(r).map(|m| (m.id.clone(), Arc::new(m))))
                .collect::<Result<_>>()?;
            let endpoints = self.endpoints.by_ids(conn, &ep_ids, &self.keys).await?;
            for r in chunk {
                let (Some(message), Some(endpoint)) = (
                    messages.get(&r.try_get::<String>("msg_id")?),
                    endpoints.get(&r.try_get::<String>("endpoint_id")?),
                ) else {
                    continue;
                };
                tasks.push(DeliveryTask {
                    delivery_id: r.try_get("id")?,
                    attempts: r.try_get("attempts")?,
                    trigger_type: rows::trigger(r, "trigger_type")?,
                    fifo_key: r.try_get("fifo_key")?,
                    message: message.clone(),
                    endpoint: endpoint.clone(),
                });
            }
        }
        Ok(tasks)
    }
}

/// A database's reading connections, as a [`Reader`].
pub struct Reading<'a, D>(pub &'a D);

#[async_trait]
impl<D: Database> Reader for Reading<'_, D> {
    async fn fetch(&mut self, sql: Sql) -> Result<Vec<Row>> {
        self.0.fetch(sql).await
    }
}
