//! The outbox of operational events, and background tasks.

use async_trait::async_trait;

use super::builder::{Sql, paginate};
use super::db::{Database, Row, Step};
use super::rows::{opt_json, to_json};
use super::{SqlStore, queries};
use crate::ids::{self, Kind};
use crate::store::sqlite::deferred::{DELIVERIES_BY_ENDPOINT, MESSAGES_BY_APP};
use crate::store::{
    Backend, BackgroundTask, DeliveryStatus, OperationalEvent, OperationalKind, OperationsStore, Page, Result,
    StoreError, StoredOperationalEvent, TaskKind, TaskStatus, Trigger,
};
use crate::time::{self, Micros};

/// Writes `e` to the outbox; part of the transaction of what it reports.
/// (`INSERT … SELECT`, so that a caller may add a `WHERE`.)
pub fn insert(e: &OperationalEvent) -> Sql {
    let mut sql = Sql::new("INSERT INTO operational_events (id, event_type, data, created_at) SELECT ");
    sql.bind(&e.id)
        .push(", ")
        .bind(e.kind.name())
        .push(", ")
        .bind(to_json(&e.data))
        .push(", ")
        .bind(e.created_at);
    sql
}

/// The steps that write `events`, for a transaction.
pub fn steps(events: &[OperationalEvent]) -> impl Iterator<Item = Step> + '_ {
    events.iter().map(|e| Step::any(insert(e)))
}

const EVENT_COLS: &str =
    "id, event_type, data, app_id, app_uid, endpoint_id, endpoint_uid, fail_since, task_id, created_at";

fn event(row: &Row) -> Result<StoredOperationalEvent> {
    Ok(StoredOperationalEvent {
        id: row.try_get("id")?,
        event_type: row.try_get("event_type")?,
        data: opt_json(row, "data")?,
        app_id: row.try_get("app_id")?,
        app_uid: row.try_get("app_uid")?,
        endpoint_id: row.try_get("endpoint_id")?,
        endpoint_uid: row.try_get("endpoint_uid")?,
        fail_since: row.try_get("fail_since")?,
        task_id: row.try_get("task_id")?,
        created_at: row.try_get("created_at")?,
    })
}

const TASK_COLS: &str = "id, task, status, data, count, created_at, updated_at";

/// `INSERT` of a finished task `id`, up to its count, which the caller adds
/// (then `created_at` and `updated_at`, and where the count comes from).
fn finished_task(id: &str, kind: TaskKind, data: &serde_json::Value) -> Sql {
    let mut sql = Sql::new(&format!("INSERT INTO background_tasks ({TASK_COLS}) SELECT "));
    sql.bind(id)
        .push(", ")
        .bind(kind.name())
        .push(", ")
        .bind(TaskStatus::Finished.name())
        .push(", ")
        .bind(to_json(data))
        .push(", ");
    sql
}

/// `background_task.finished` for task `id`, built from the task when sent.
fn task_finished(id: &str, now: Micros) -> Sql {
    let mut sql = Sql::new("INSERT INTO operational_events (id, event_type, task_id, created_at) VALUES (");
    sql.bind(ids::new(Kind::OperationalEvent))
        .push(", ")
        .bind(OperationalKind::BackgroundTaskFinished.name())
        .push(", ")
        .bind(id)
        .push(", ")
        .bind(now)
        .push(")");
    sql
}

fn task(row: &Row) -> Result<BackgroundTask> {
    let kind: String = row.try_get("task")?;
    let status: String = row.try_get("status")?;
    Ok(BackgroundTask {
        id: row.try_get("id")?,
        kind: TaskKind::from_name(&kind).ok_or_else(|| StoreError::Corrupt(format!("task {kind}")))?,
        status: TaskStatus::from_name(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
        data: super::rows::json(row, "data")?,
        count: row.try_get("count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[async_trait]
impl<D: Database> OperationsStore for SqlStore<D> {
    async fn operational_events(&self, limit: i64) -> Result<Vec<StoredOperationalEvent>> {
        let mut sql = Sql::new(&format!(
            "SELECT {EVENT_COLS} FROM operational_events ORDER BY id LIMIT "
        ));
        sql.bind(limit);
        self.db.fetch(sql).await?.iter().map(event).collect()
    }

    async fn remove_operational_events(&self, ids: &[String]) -> Result<()> {
        for chunk in ids.chunks(256) {
            let mut sql = Sql::new("DELETE FROM operational_events WHERE id IN ");
            sql.bind_list(chunk);
            self.db.execute(sql).await?;
        }
        Ok(())
    }

    async fn get_task(&self, id: &str) -> Result<Option<BackgroundTask>> {
        let mut sql = Sql::new(&format!("SELECT {TASK_COLS} FROM background_tasks WHERE id = "));
        sql.bind(id);
        self.db.fetch_optional(sql).await?.as_ref().map(task).transpose()
    }

    async fn list_tasks(
        &self,
        status: Option<TaskStatus>,
        kind: Option<TaskKind>,
        page: &Page,
    ) -> Result<Vec<BackgroundTask>> {
        let mut sql = Sql::new(&format!("SELECT {TASK_COLS} FROM background_tasks WHERE 1 = 1"));
        if let Some(s) = status {
            sql.push(" AND status = ").bind(s.name());
        }
        if let Some(k) = kind {
            sql.push(" AND task = ").bind(k.name());
        }
        paginate(&mut sql, "id", page);
        self.db.fetch(sql).await?.iter().map(task).collect()
    }

    /// One transaction queues the deliveries again, records the task as
    /// finished with how many it queued, and writes `background_task.finished`:
    /// none of the three happens without the others. The count is taken after
    /// the update, of the rows it marked (its time and the manual trigger),
    /// which the transaction holds until it commits.
    async fn recover(
        &self,
        endpoint_id: &str,
        since: Micros,
        until: Option<Micros>,
        data: serde_json::Value,
    ) -> Result<BackgroundTask> {
        let (id, now) = (ids::new(Kind::Task), time::now());
        let mut count = finished_task(&id, TaskKind::EndpointRecover, &data);
        count
            .push("COUNT(*), ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(" FROM deliveries WHERE ");
        DELIVERIES_BY_ENDPOINT.push_owned_by(&mut count, D::BACKEND, endpoint_id);
        count
            .push(" AND status = ")
            .bind(DeliveryStatus::Sending)
            .push(" AND trigger_type = ")
            .bind(Trigger::Manual);
        count.push(" AND updated_at = ").bind(now);
        let steps = vec![
            Step::any(queries::recover(D::BACKEND, endpoint_id, now, since, until)),
            Step::one(count),
            Step::one(task_finished(&id, now)),
        ];
        self.db.transaction(steps).await?;
        self.get_task(&id).await?.ok_or(StoreError::NotFound)
    }

    /// The count of payloads dropped is exact: on the embedded store it is
    /// taken just before the update in the same transaction of the one
    /// writer; on PostgreSQL from the rows the update itself returns.
    async fn purge_app_contents(&self, app_id: &str, data: serde_json::Value) -> Result<BackgroundTask> {
        let (id, now) = (ids::new(Kind::Task), time::now());
        let mut task = finished_task(&id, TaskKind::AppPurgeContent, &data);
        let mut steps = Vec::new();
        match D::BACKEND {
            Backend::Sqlite => {
                task.push("COUNT(*), ")
                    .bind(now)
                    .push(", ")
                    .bind(now)
                    .push(" FROM messages WHERE ");
                MESSAGES_BY_APP.push_owned_by(&mut task, D::BACKEND, app_id);
                task.push(" AND payload IS NOT NULL");
                let mut purge = Sql::new("UPDATE messages SET payload = NULL WHERE ");
                MESSAGES_BY_APP.push_owned_by(&mut purge, D::BACKEND, app_id);
                purge.push(" AND payload IS NOT NULL");
                steps.extend([Step::one(task), Step::any(purge)]);
            }
            Backend::Postgres => {
                let mut purge = Sql::new("WITH p AS (UPDATE messages SET payload = NULL WHERE app_id = ");
                purge.bind(app_id).push(" AND payload IS NOT NULL RETURNING 1) ");
                task.push("(SELECT COUNT(*) FROM p), ").bind(now).push(", ").bind(now);
                purge.append(task);
                steps.push(Step::one(purge));
            }
        }
        steps.push(Step::one(task_finished(&id, now)));
        self.db.transaction(steps).await?;
        self.get_task(&id).await?.ok_or(StoreError::NotFound)
    }

    async fn finish_task(&self, kind: TaskKind, data: serde_json::Value, count: i64) -> Result<BackgroundTask> {
        let (id, now) = (ids::new(Kind::Task), time::now());
        let mut task = finished_task(&id, kind, &data);
        task.bind(count).push(", ").bind(now).push(", ").bind(now);
        let steps = vec![Step::one(task), Step::one(task_finished(&id, now))];
        self.db.transaction(steps).await?;
        self.get_task(&id).await?.ok_or(StoreError::NotFound)
    }

    async fn start_task(&self, kind: TaskKind, data: serde_json::Value) -> Result<BackgroundTask> {
        let (id, now) = (ids::new(Kind::Task), time::now());
        let mut sql = Sql::new(&format!("INSERT INTO background_tasks ({TASK_COLS}) VALUES ("));
        sql.bind(&id)
            .push(", ")
            .bind(kind.name())
            .push(", ")
            .bind(TaskStatus::Running.name())
            .push(", ")
            .bind(to_json(&data))
            .push(", 0, ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(")");
        self.db.execute(sql).await?;
        self.get_task(&id).await?.ok_or(StoreError::NotFound)
    }

    async fn step_task(
        &self,
        id: &str,
        seen: Micros,
        data: &serde_json::Value,
        count: i64,
        finished: bool,
    ) -> Result<Option<Micros>> {
        // Strictly later than `seen`, so that the next step's condition tells them apart.
        let now = time::now().max(seen + 1);
        let status = match finished {
            true => TaskStatus::Finished,
            false => TaskStatus::Running,
        };
        let mut sql = Sql::new("UPDATE background_tasks SET status = ");
        sql.bind(status.name())
            .push(", data = ")
            .bind(to_json(data))
            .push(", count = ")
            .bind(count)
            .push(", updated_at = ")
            .bind(now)
            .push(" WHERE id = ")
            .bind(id)
            .push(" AND status = ")
            .bind(TaskStatus::Running.name())
            .push(" AND updated_at = ")
            .bind(seen);
        let mut steps = vec![Step::one(sql)];
        if finished {
            steps.push(Step::one(task_finished(id, now)));
        }
        match self.db.transaction(steps).await {
            Ok(()) => Ok(Some(now)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
