use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::SqlStore;
use super::apps::expect_one;
use super::builder::{Sql, chunks, paginate};
use super::queries;
use super::rows::{self, ATTEMPT_COLS, ENDPOINT_COLS, MESSAGE_COLS, opt_to_json};
use crate::ids::{self, Kind};
use crate::store::{
    AttemptFilter, AttemptRecord, Backend, DeliveryState, DeliveryStatus, DeliveryStore, DeliveryTask, EndpointRecord,
    Lease, MessageFilter, MessageRecord, Outcome, Page, Result, Stats, Trigger,
};
use crate::time::{self, Micros};

#[async_trait]
impl DeliveryStore for SqlStore {
    async fn claim_due(&self, owner: &str, now: Micros, lease_until: Micros, limit: i64) -> Result<Vec<DeliveryTask>> {
        let sql = queries::claim(self.backend, owner, now, lease_until, limit);
        let mut conn = self.write.acquire().await?;
        let claimed = sql.into_query(self.backend).fetch_all(&mut *conn).await?;
        self.tasks_for(&mut conn, &claimed).await
    }

    async fn renew_leases(&self, owner: &str, ids: &[String], lease_until: Micros) -> Result<()> {
        for chunk in ids.chunks(512) {
            let mut sql = Sql::new("UPDATE deliveries SET lease_until = ");
            sql.bind(lease_until)
                .push(" WHERE lease_owner = ")
                .bind(owner)
                .push(" AND id IN ")
                .bind_list(chunk);
            sql.into_query(self.backend).execute(&self.write).await?;
        }
        Ok(())
    }

    async fn release_leases(&self, owner: &str, ids: &[String]) -> Result<()> {
        for chunk in ids.chunks(512) {
            let mut sql = Sql::new("UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = ");
            sql.bind(owner).push(" AND id IN ").bind_list(chunk);
            sql.into_query(self.backend).execute(&self.write).await?;
        }
        Ok(())
    }

    async fn announce_work(&self) -> Result<()> {
        if self.backend == Backend::Postgres {
            Sql::new("SELECT pg_notify('hookd_work', '')")
                .query(self.backend)
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    async fn release_orphaned_leases(&self) -> Result<u64> {
        if self.backend == Backend::Postgres {
            return Ok(0);
        }
        let sql =
            Sql::new("UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL");
        Ok(sql.query(self.backend).execute(&self.write).await?.rows_affected())
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
        let mut conn = self.write.acquire().await?;
        let row = sql.query(self.backend).fetch_one(&mut *conn).await?;
        self.tasks_for(&mut conn, &[row])
            .await?
            .pop()
            .ok_or(crate::store::StoreError::NotFound)
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
        Ok(sql.query(self.backend).execute(&self.write).await?.rows_affected())
    }

    async fn recover(&self, endpoint_id: &str, since: Micros, until: Option<Micros>) -> Result<u64> {
        let sql = queries::recover(self.backend, endpoint_id, time::now(), since, until);
        Ok(sql.query(self.backend).execute(&self.write).await?.rows_affected())
    }

    async fn endpoint_stats(&self, endpoint_id: &str, since: Option<Micros>, until: Option<Micros>) -> Result<Stats> {
        let sql = queries::endpoint_stats(self.backend, endpoint_id, since, until);
        let mut stats = Stats::default();
        for row in sql.query(self.backend).fetch_all(&self.read).await? {
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

    async fn list_endpoint_messages(
        &self,
        endpoint_id: &str,
        filter: &MessageFilter,
        page: &Page,
    ) -> Result<Vec<(MessageRecord, DeliveryState)>> {
        let sql = queries::endpoint_messages(self.backend, endpoint_id, filter, page);
        let rows = sql.query(self.backend).fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| Ok((rows::message(r)?, rows::delivery_state(r)?)))
            .collect()
    }

    async fn list_message_endpoints(&self, msg_id: &str, page: &Page) -> Result<Vec<(EndpointRecord, DeliveryState)>> {
        let mut sql = Sql::new(&format!(
            "SELECT {ENDPOINT_COLS}, d.status AS d_status, d.next_attempt_at AS d_next_attempt_at \
             FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id WHERE d.msg_id = "
        ));
        sql.bind(msg_id);
        paginate(&mut sql, "d.endpoint_id", page);
        let rows = sql.query(self.backend).fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| Ok((rows::endpoint(r, &self.keys)?, rows::delivery_state(r)?)))
            .collect()
    }

    async fn list_attempts(&self, f: &AttemptFilter, page: &Page) -> Result<Vec<AttemptRecord>> {
        let sql = queries::attempts(self.backend, f, page);
        let rows = sql.query(self.backend).fetch_all(&self.read).await?;
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
        sql.query(self.backend)
            .fetch_optional(&self.read)
            .await?
            .map(|r| rows::attempt(&r))
            .transpose()
    }

    async fn expunge_attempt(&self, msg_id: &str, attempt_id: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE attempts SET response = NULL, response_headers = NULL WHERE msg_id = ");
        sql.bind(msg_id).push(" AND id = ").bind(attempt_id);
        expect_one(sql.query(self.backend).execute(&self.write).await?)
    }
}

/// The statements that record outcomes: each delivery's new state, its
/// attempt, and its endpoint's failure streak (and maybe its auto-disable).
/// The statements pass over deliveries that are gone, so that the embedded
/// store need not ask first.
pub(super) fn outcome_statements(batch: &[Outcome]) -> Vec<Sql> {
    let mut out = Vec::new();
    if batch.is_empty() {
        return out;
    }
    let now = time::now();
    // Successes, the common case, in one statement per chunk; the rest row by row.
    let (done, rest): (Vec<&Outcome>, Vec<&Outcome>) = batch
        .iter()
        .partition(|o| o.status == DeliveryStatus::Success && o.next_attempt_at.is_none());
    let done_ids: Vec<String> = done.iter().map(|o| o.delivery_id.clone()).collect();
    for chunk in done_ids.chunks(512) {
        let mut sql = Sql::new("UPDATE deliveries SET status = ");
        sql.bind(DeliveryStatus::Success)
            .push(", attempts = attempts + 1, next_attempt_at = NULL, lease_until = NULL, ");
        sql.push("lease_owner = NULL, trigger_type = ")
            .bind(Trigger::Scheduled)
            .push(", updated_at = ")
            .bind(now);
        sql.push(" WHERE id IN ").bind_list(chunk);
        out.push(sql);
    }
    for o in rest {
        // A delivery canceled while its attempt was under way stays canceled: no retry.
        let mut sql = Sql::new("UPDATE deliveries SET status = CASE WHEN status = ");
        sql.bind(DeliveryStatus::Canceled)
            .push(" THEN status ELSE ")
            .bind(o.status)
            .push(" END, attempts = attempts + 1, next_attempt_at = CASE WHEN status = ")
            .bind(DeliveryStatus::Canceled)
            .push(" THEN NULL ELSE ")
            .bind(o.next_attempt_at)
            .push(" END");
        sql.push(", lease_until = NULL, lease_owner = NULL, trigger_type = ")
            .bind(Trigger::Scheduled);
        sql.push(", updated_at = ")
            .bind(now)
            .push(" WHERE id = ")
            .bind(&o.delivery_id);
        out.push(sql);
    }
    for chunk in chunks(batch, 64) {
        // Only for deliveries still there (the first value of each row names it).
        let mut sql = Sql::new(
            "INSERT OR ROLLBACK INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code, response, \
             response_headers, duration_ms, trigger_type, error, ssl_verification, created_at) \
             SELECT column2, column3, column4, column5, column6, column7, column8, column9, column10, \
             column11, column12, column13, column14, column15 FROM (VALUES ",
        );
        for (i, o) in chunk.iter().enumerate() {
            let a = &o.attempt;
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.bind(&o.delivery_id).push(", ");
            sql.bind(&a.id)
                .push(", ")
                .bind(&a.app_id)
                .push(", ")
                .bind(&a.msg_id)
                .push(", ");
            sql.bind(&a.endpoint_id)
                .push(", ")
                .bind(&a.url)
                .push(", ")
                .bind(a.status)
                .push(", ");
            sql.bind(a.status_code).push(", ").bind(a.response.as_ref()).push(", ");
            sql.bind(opt_to_json(&a.response_headers))
                .push(", ")
                .bind(a.duration_ms)
                .push(", ");
            sql.bind(a.trigger_type)
                .push(", ")
                .bind(a.error.as_ref())
                .push(", ")
                .bind(a.ssl_verification)
                .push(", ")
                .bind(a.created_at)
                .push(")");
        }
        sql.push(") AS v WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = v.column1)");
        out.push(sql);
    }
    let mut healthy = Vec::new();
    for streak in streaks(batch) {
        let (endpoint_id, failed_at, restart, disable_if_failing_since) = match streak {
            Streak::Healthy(ep) => {
                healthy.push(ep.to_owned());
                continue;
            }
            Streak::Failing {
                endpoint_id,
                failed_at,
                restart,
                disable_if_failing_since,
            } => (endpoint_id, failed_at, restart, disable_if_failing_since),
        };
        let mut sql = if restart {
            Sql::new("UPDATE endpoints SET first_failure_at = ")
        } else {
            Sql::new("UPDATE endpoints SET first_failure_at = COALESCE(first_failure_at, ")
        };
        sql.bind(failed_at)
            .push(if restart { " WHERE id = " } else { ") WHERE id = " });
        sql.bind(endpoint_id);
        out.push(sql);
        if let Some(since) = disable_if_failing_since {
            let mut sql = Sql::new("UPDATE endpoints SET disabled = 1, updated_at = ");
            sql.bind(now)
                .push(" WHERE disabled = 0 AND first_failure_at < ")
                .bind(since);
            sql.push(" AND id = ").bind(endpoint_id);
            out.push(sql);
        }
    }
    for chunk in healthy.chunks(512) {
        let mut sql =
            Sql::new("UPDATE endpoints SET first_failure_at = NULL WHERE first_failure_at IS NOT NULL AND id IN ");
        sql.bind_list(chunk);
        out.push(sql);
    }
    out
}

/// What a batch of outcomes does to one endpoint's failure streak.
pub(super) enum Streak<'a> {
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
pub(super) fn streaks(batch: &[Outcome]) -> Vec<Streak<'_>> {
    let mut last: std::collections::BTreeMap<&str, &Outcome> = Default::default();
    let mut had_success: HashSet<&str> = HashSet::new();
    for o in batch {
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

impl SqlStore {
    /// Builds tasks from delivery rows of [`queries::TASK_COLS`], reading each
    /// message once and taking endpoints from the endpoint cache.
    async fn tasks_for(&self, conn: &mut AnyConnection, rows: &[AnyRow]) -> Result<Vec<DeliveryTask>> {
        let mut tasks = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(512) {
            let mut msg_ids = HashSet::new();
            let mut ep_ids = HashSet::new();
            for r in chunk {
                msg_ids.insert(r.try_get::<String, _>("msg_id")?);
                ep_ids.insert(r.try_get::<String, _>("endpoint_id")?);
            }
            let msg_ids: Vec<String> = msg_ids.into_iter().collect();
            let ep_ids: Vec<String> = ep_ids.into_iter().collect();
            let mut sql = Sql::new(&format!(
                "SELECT {MESSAGE_COLS}, m.payload FROM messages m WHERE m.id IN "
            ));
            sql.bind_list(&msg_ids);
            let messages: HashMap<String, Arc<MessageRecord>> = sql
                .into_query(self.backend)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| rows::message(r).map(|m| (m.id.clone(), Arc::new(m))))
                .collect::<Result<_>>()?;
            let endpoints = self.endpoints.by_ids(conn, &ep_ids, &self.keys).await?;
            for r in chunk {
                let (Some(message), Some(endpoint)) = (
                    messages.get(&r.try_get::<String, _>("msg_id")?),
                    endpoints.get(&r.try_get::<String, _>("endpoint_id")?),
                ) else {
                    continue;
                };
                tasks.push(DeliveryTask {
                    delivery_id: r.try_get("id")?,
                    attempts: r.try_get("attempts")?,
                    trigger_type: rows::trigger(r, "trigger_type")?,
                    message: message.clone(),
                    endpoint: endpoint.clone(),
                });
            }
        }
        Ok(tasks)
    }
}
