use async_trait::async_trait;

use super::SqlStore;
use super::builder::{Sql, paginate};
use super::db::{Database, Step};
use super::rows::{self, APP_COLS, EVENT_TYPE_COLS, opt_to_json, to_json};
use crate::store::sqlite::deferred::MESSAGES_BY_APP;
use crate::store::{AppRecord, AppStore, EventTypeRecord, OPERATIONAL_APP, Page, Result};

#[async_trait]
impl<D: Database> AppStore for SqlStore<D> {
    async fn create_app(&self, a: &AppRecord) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO applications (id, uid, name, throttle_rate, metadata, created_at, updated_at) VALUES (",
        );
        sql.bind(&a.id)
            .push(", ")
            .bind(a.uid.as_ref())
            .push(", ")
            .bind(&a.name)
            .push(", ");
        sql.bind(a.throttle_rate)
            .push(", ")
            .bind(to_json(&a.metadata))
            .push(", ");
        sql.bind(a.created_at).push(", ").bind(a.updated_at).push(")");
        let done = self.db.transaction(self.announced(Step::any(sql))).await;
        self.apps.clear();
        done
    }

    async fn get_app(&self, id_or_uid: &str) -> Result<Option<AppRecord>> {
        let ticket = match self.apps.get(id_or_uid) {
            Ok(app) => return Ok(Some(app)),
            Err(ticket) => ticket,
        };
        let mut sql = Sql::new(&format!("SELECT {APP_COLS} FROM applications WHERE id = "));
        sql.bind(id_or_uid)
            .push(" OR uid = ")
            .bind(id_or_uid)
            .push(" ORDER BY (id = ")
            .bind(id_or_uid)
            .push(") DESC LIMIT 1");
        let found = self.db.fetch_optional(sql).await?.map(|r| rows::app(&r)).transpose()?;
        if let Some(app) = &found {
            self.apps.put(id_or_uid, app, ticket);
        }
        Ok(found)
    }

    async fn list_apps(&self, page: &Page, search: Option<&str>) -> Result<Vec<AppRecord>> {
        let mut sql = Sql::new(&format!("SELECT {APP_COLS} FROM applications WHERE id <> "));
        sql.bind(OPERATIONAL_APP);
        if let Some(text) = search {
            // LIKE's own characters in the text match themselves.
            let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            sql.push(" AND (lower(name) LIKE ")
                .bind(format!("%{}%", escaped.to_lowercase()))
                .push(" ESCAPE '\\' OR uid LIKE ")
                .bind(format!("{escaped}%"))
                .push(" ESCAPE '\\' OR id LIKE ")
                .bind(format!("{escaped}%"))
                .push(" ESCAPE '\\')");
        }
        paginate(&mut sql, "id", page);
        self.db.fetch(sql).await?.iter().map(rows::app).collect()
    }

    async fn update_app(&self, a: &AppRecord) -> Result<()> {
        let mut sql = Sql::new("UPDATE applications SET uid = ");
        sql.bind(a.uid.as_ref())
            .push(", name = ")
            .bind(&a.name)
            .push(", throttle_rate = ")
            .bind(a.throttle_rate);
        sql.push(", metadata = ")
            .bind(to_json(&a.metadata))
            .push(", updated_at = ")
            .bind(a.updated_at);
        sql.push(" WHERE id = ").bind(&a.id);
        let done = self.db.transaction(self.announced(Step::one(sql))).await;
        self.apps.clear();
        done
    }

    async fn delete_app(&self, id: &str) -> Result<()> {
        // Children first: PostgreSQL checks deliveries' and attempts' foreign keys row by row.
        let mut steps = Vec::new();
        for table in ["attempts", "deliveries"] {
            let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE app_id = "));
            sql.bind(id);
            steps.push(Step::any(sql));
        }
        let mut sql = Sql::new("DELETE FROM messages WHERE ");
        MESSAGES_BY_APP.push_owned_by(&mut sql, D::BACKEND, id);
        steps.push(Step::any(sql));
        for table in ["endpoints", "tokens"] {
            let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE app_id = "));
            sql.bind(id);
            steps.push(Step::any(sql));
        }
        let mut sql = Sql::new("DELETE FROM applications WHERE id = ");
        sql.bind(id);
        steps.push(Step::one(sql));
        steps.extend(self.db.apps_changed().map(Step::any));
        let done = self.db.transaction(steps).await;
        self.apps.clear();
        self.endpoints.invalidate();
        done
    }

    async fn create_event_type(&self, e: &EventTypeRecord) -> Result<()> {
        let mut sql = Sql::new(&format!("INSERT INTO event_types ({EVENT_TYPE_COLS}) VALUES ("));
        bind_event_type(&mut sql, e);
        sql.push(")");
        self.db.execute(sql).await?;
        Ok(())
    }

    async fn get_event_type(&self, name: &str) -> Result<Option<EventTypeRecord>> {
        let mut sql = Sql::new(&format!("SELECT {EVENT_TYPE_COLS} FROM event_types WHERE name = "));
        sql.bind(name);
        self.db
            .fetch_optional(sql)
            .await?
            .map(|r| rows::event_type(&r))
            .transpose()
    }

    async fn list_event_types(&self, page: &Page, include_archived: bool) -> Result<Vec<EventTypeRecord>> {
        let mut sql = Sql::new(&format!("SELECT {EVENT_TYPE_COLS} FROM event_types WHERE 1 = 1"));
        if !include_archived {
            sql.push(" AND archived = 0");
        }
        paginate(&mut sql, "name", page);
        self.db.fetch(sql).await?.iter().map(rows::event_type).collect()
    }

    async fn update_event_type(&self, e: &EventTypeRecord) -> Result<()> {
        let mut delete = Sql::new("DELETE FROM event_types WHERE name = ");
        delete.bind(&e.name);
        let mut insert = Sql::new(&format!("INSERT INTO event_types ({EVENT_TYPE_COLS}) VALUES ("));
        bind_event_type(&mut insert, e);
        insert.push(")");
        self.db.transaction(vec![Step::one(delete), Step::any(insert)]).await
    }

    async fn delete_event_type(&self, name: &str) -> Result<()> {
        let mut schedule = Sql::new("DELETE FROM event_type_retry_schedules WHERE name = ");
        schedule.bind(name);
        let mut sql = Sql::new("DELETE FROM event_types WHERE name = ");
        sql.bind(name);
        self.db.transaction(vec![Step::any(schedule), Step::one(sql)]).await
    }

    async fn get_retry_schedule(&self, event_type: &str) -> Result<Option<Vec<f64>>> {
        let mut sql = Sql::new("SELECT schedule FROM event_type_retry_schedules WHERE name = ");
        sql.bind(event_type);
        match self.db.fetch_optional(sql).await? {
            Some(row) => Ok(Some(rows::json(&row, "schedule")?)),
            None => Ok(None),
        }
    }

    async fn set_retry_schedule(&self, event_type: &str, schedule: Option<&[f64]>) -> Result<()> {
        let Some(schedule) = schedule else {
            let mut sql = Sql::new("DELETE FROM event_type_retry_schedules WHERE name = ");
            sql.bind(event_type);
            self.db.execute(sql).await?;
            return Ok(());
        };
        let mut sql = Sql::new("INSERT INTO event_type_retry_schedules (name, schedule) VALUES (");
        sql.bind(event_type)
            .push(", ")
            .bind(to_json(&schedule))
            .push(") ON CONFLICT (name) DO UPDATE SET schedule = excluded.schedule");
        self.db.execute(sql).await?;
        Ok(())
    }

    async fn existing_event_types(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new("SELECT name FROM event_types WHERE archived = 0 AND name IN ");
        sql.bind_list(names);
        self.db.fetch(sql).await?.iter().map(|r| r.try_get("name")).collect()
    }
}

impl<D: Database> SqlStore<D> {
    /// `step`, and the notice that tells other nodes applications changed.
    fn announced(&self, step: Step) -> Vec<Step> {
        std::iter::once(step)
            .chain(self.db.apps_changed().map(Step::any))
            .collect()
    }
}

fn bind_event_type(sql: &mut Sql, e: &EventTypeRecord) {
    sql.bind(&e.name)
        .push(", ")
        .bind(&e.description)
        .push(", ")
        .bind(e.archived)
        .push(", ");
    sql.bind(e.deprecated)
        .push(", ")
        .bind(opt_to_json(&e.schemas))
        .push(", ")
        .bind(e.group_name.as_ref());
    sql.push(", ")
        .bind(opt_to_json(&e.feature_flags))
        .push(", ")
        .bind(e.created_at)
        .push(", ")
        .bind(e.updated_at)
        .push(", ")
        .bind(e.validate_payloads);
}
