use async_trait::async_trait;

use super::builder::{Sql, paginate};
use super::db::{Database, Step};
use super::rows::{self, ENDPOINT_COLS, opt_to_json, to_json};
use super::{SqlStore, operational};
use crate::security::keyring::Keyring;
use crate::security::url_password;
use crate::store::sqlite::deferred::{ATTEMPTS_BY_ENDPOINT, DELIVERIES_BY_ENDPOINT};
use crate::store::{EndpointRecord, EndpointStore, OPERATIONAL_APP, OperationalEvent, Page, Result};

#[async_trait]
impl<D: Database> EndpointStore for SqlStore<D> {
    async fn create_endpoint(&self, e: &EndpointRecord, announce: &[OperationalEvent]) -> Result<()> {
        let mut sql = Sql::new(&format!(
            "INSERT INTO endpoints ({}) VALUES (",
            ENDPOINT_COLS.replace("e.", "")
        ));
        sql.bind(&e.id).push(", ").bind(&e.app_id).push(", ");
        bind_mutable(&mut sql, e, &self.keys);
        sql.push(", ")
            .bind(e.created_at)
            .push(", ")
            .bind(e.updated_at)
            .push(")");
        let steps = std::iter::once(Step::any(sql)).chain(operational::steps(announce));
        let done = self.db.transaction(steps.collect()).await;
        self.endpoints.invalidate();
        done
    }

    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> Result<Option<EndpointRecord>> {
        let mut sql = Sql::new(&format!("SELECT {ENDPOINT_COLS} FROM endpoints e WHERE e.app_id = "));
        sql.bind(app_id)
            .push(" AND (e.id = ")
            .bind(id_or_uid)
            .push(" OR e.uid = ")
            .bind(id_or_uid)
            .push(") ORDER BY (e.id = ")
            .bind(id_or_uid)
            .push(") DESC LIMIT 1");
        self.db
            .fetch_optional(sql)
            .await?
            .map(|r| rows::endpoint(&r, &self.keys))
            .transpose()
    }

    async fn list_endpoints(&self, app_id: &str, page: &Page) -> Result<Vec<EndpointRecord>> {
        let mut sql = Sql::new(&format!("SELECT {ENDPOINT_COLS} FROM endpoints e WHERE e.app_id = "));
        sql.bind(app_id);
        paginate(&mut sql, "e.id", page);
        self.db
            .fetch(sql)
            .await?
            .iter()
            .map(|r| rows::endpoint(r, &self.keys))
            .collect()
    }

    async fn update_endpoint(&self, e: &EndpointRecord, announce: &[OperationalEvent]) -> Result<()> {
        let mut sql = Sql::new("UPDATE endpoints SET uid = ");
        sql.bind(e.uid.as_ref())
            .push(", url = ")
            .bind(url_password::masked(&e.url))
            .push(", url_password = ")
            .bind(sealed_url_password(e, &self.keys))
            .push(", description = ")
            .bind(&e.description);
        sql.push(", version = ")
            .bind(e.version)
            .push(", throttle_rate = ")
            .bind(e.throttle_rate);
        sql.push(", disabled = ")
            .bind(e.disabled)
            .push(", event_types = ")
            .bind(opt_to_json(&e.event_types));
        sql.push(", channels = ")
            .bind(opt_to_json(&e.channels))
            .push(", metadata = ")
            .bind(to_json(&e.metadata));
        sql.push(", headers = ")
            .bind(self.keys.seal(&to_json(&e.headers), &e.id))
            .push(", secret = ")
            .bind(self.keys.seal(&e.secret, &e.id));
        sql.push(", old_secrets = ")
            .bind(self.keys.seal(&to_json(&e.old_secrets), &e.id))
            .push(", options = ")
            .bind(to_json(&e.options))
            .push(", tls = ")
            .bind(sealed_tls(e, &self.keys))
            .push(", transformation = ")
            .bind(sealed_transformation(e, &self.keys));
        sql.push(", first_failure_at = ")
            .bind(e.first_failure_at)
            .push(", updated_at = ")
            .bind(e.updated_at);
        sql.push(" WHERE id = ").bind(&e.id);
        let steps = std::iter::once(Step::one(sql)).chain(operational::steps(announce));
        let done = self.db.transaction(steps.collect()).await;
        self.endpoints.invalidate();
        done
    }

    async fn delete_endpoint(&self, app_id: &str, id: &str, announce: &[OperationalEvent]) -> Result<()> {
        let mut steps = Vec::new();
        for (table, by_endpoint) in [
            ("attempts", ATTEMPTS_BY_ENDPOINT),
            ("deliveries", DELIVERIES_BY_ENDPOINT),
        ] {
            let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE "));
            by_endpoint.push_owned_by(&mut sql, D::BACKEND, id);
            steps.push(Step::any(sql));
        }
        let mut sql = Sql::new("DELETE FROM endpoints WHERE app_id = ");
        sql.bind(app_id).push(" AND id = ").bind(id);
        steps.push(Step::one(sql));
        steps.extend(operational::steps(announce));
        let done = self.db.transaction(steps).await;
        self.endpoints.invalidate();
        done
    }

    async fn count_endpoints(&self, exclude_play: bool) -> Result<(i64, i64)> {
        let mut sql = Sql::new("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(disabled), 0) AS BIGINT) AS off");
        tenants_endpoints(&mut sql, exclude_play);
        let row = self.db.fetch_optional(sql).await?;
        let (n, off): (i64, i64) = match row {
            Some(r) => (r.try_get("n")?, r.try_get("off")?),
            None => (0, 0),
        };
        Ok((n - off, off))
    }

    async fn count_active_apps(&self, enabled_only: bool, exclude_play: bool) -> Result<i64> {
        let mut sql = Sql::new("SELECT COUNT(DISTINCT app_id) AS n");
        tenants_endpoints(&mut sql, exclude_play);
        if enabled_only {
            sql.push(" AND disabled = 0");
        }
        self.db.fetch_optional(sql).await?.map_or(Ok(0), |r| r.try_get("n"))
    }
}

/// The tenants' endpoints (not the operational application's), and with
/// `exclude_play` not those pointing at Svix Play.
fn tenants_endpoints(sql: &mut Sql, exclude_play: bool) {
    sql.push(" FROM endpoints WHERE app_id <> ").bind(OPERATIONAL_APP);
    if exclude_play {
        sql.push(" AND url NOT LIKE '%play.svix.com%'");
    }
}

/// Binds the columns from `uid` to `first_failure_at`, in `ENDPOINT_COLS` order.
fn bind_mutable(sql: &mut Sql, e: &EndpointRecord, keys: &Keyring) {
    sql.bind(e.uid.as_ref())
        .push(", ")
        .bind(url_password::masked(&e.url))
        .push(", ")
        .bind(sealed_url_password(e, keys))
        .push(", ")
        .bind(&e.description)
        .push(", ");
    sql.bind(e.version)
        .push(", ")
        .bind(e.throttle_rate)
        .push(", ")
        .bind(e.disabled)
        .push(", ");
    sql.bind(opt_to_json(&e.event_types))
        .push(", ")
        .bind(opt_to_json(&e.channels))
        .push(", ");
    sql.bind(to_json(&e.metadata))
        .push(", ")
        .bind(keys.seal(&to_json(&e.headers), &e.id))
        .push(", ")
        .bind(keys.seal(&e.secret, &e.id))
        .push(", ");
    sql.bind(keys.seal(&to_json(&e.old_secrets), &e.id))
        .push(", ")
        .bind(to_json(&e.options))
        .push(", ")
        .bind(sealed_tls(e, keys))
        .push(", ")
        .bind(sealed_transformation(e, keys))
        .push(", ")
        .bind(e.first_failure_at);
}

fn sealed_url_password(e: &EndpointRecord, keys: &Keyring) -> Option<String> {
    let password = url_password::split(&e.url).1?;
    Some(keys.seal(&password, &e.id))
}

fn sealed_transformation(e: &EndpointRecord, keys: &Keyring) -> Option<String> {
    let t = e.transformation.as_ref()?;
    Some(keys.seal(&to_json(t), &e.id))
}

fn sealed_tls(e: &EndpointRecord, keys: &Keyring) -> Option<String> {
    let tls = e.tls.as_ref().filter(|t| !t.is_empty())?;
    Some(keys.seal(&to_json(tls), &e.id))
}
