use async_trait::async_trait;

use super::builder::Sql;
use super::db::Database;
use super::rows::{self, TOKEN_COLS};
use super::{SqlStore, expect_one};
use crate::store::{AuthStore, Idempotent, Result, StoreError, TokenRecord};
use crate::time::Micros;

#[async_trait]
impl<D: Database> AuthStore for SqlStore<D> {
    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT value FROM settings WHERE key = ");
        sql.bind(key);
        self.db
            .fetch_optional(sql)
            .await?
            .map(|r| r.try_get("value"))
            .transpose()
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let mut sql = Sql::new("INSERT INTO settings (key, value) VALUES (");
        sql.bind(key)
            .push(", ")
            .bind(value)
            .push(") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        self.db.execute(sql).await?;
        Ok(())
    }

    async fn insert_token(&self, t: &TokenRecord) -> Result<()> {
        let mut sql = Sql::new(&format!("INSERT INTO tokens ({TOKEN_COLS}) VALUES ("));
        sql.bind(&t.id)
            .push(", ")
            .bind(&t.hash)
            .push(", ")
            .bind(t.app_id.as_ref())
            .push(", ")
            .bind(t.read_only);
        sql.push(", ")
            .bind(t.expires_at)
            .push(", ")
            .bind(t.revoked)
            .push(", ")
            .bind(t.created_at)
            .push(", ")
            .bind(t.session_id.as_ref())
            .push(", ")
            .bind(t.name.as_ref())
            .push(", ")
            .bind(t.publish_only)
            .push(", ")
            .bind(t.endpoint_id.as_ref())
            .push(", ")
            .bind(t.text.as_ref().map(|plain| self.keys.seal(plain, &t.id)))
            .push(")");
        self.db.execute(sql).await?;
        Ok(())
    }

    async fn expire_app_tokens(&self, app_id: &str, sessions: Option<&[String]>, at: Micros) -> Result<u64> {
        let mut sql = Sql::new("UPDATE tokens SET expires_at = ");
        sql.bind(at)
            .push(" WHERE app_id = ")
            .bind(app_id)
            .push(" AND revoked = 0 AND (expires_at IS NULL OR expires_at > ")
            .bind(at)
            .push(")");
        if let Some(sessions) = sessions {
            sql.push(" AND session_id IN ").bind_list(sessions);
        }
        self.db.execute(sql).await
    }

    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let mut sql = Sql::new(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = "));
        sql.bind(hash);
        self.db.fetch_optional(sql).await?.map(|r| rows::token(&r)).transpose()
    }

    async fn revoke_token(&self, id: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE tokens SET revoked = 1 WHERE id = ");
        sql.bind(id);
        expect_one(self.db.execute(sql).await?)
    }

    async fn endpoint_tokens(&self, endpoint_id: &str, now: Micros) -> Result<Vec<TokenRecord>> {
        let mut sql = Sql::new(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE endpoint_id = "));
        sql.bind(endpoint_id)
            .push(" AND revoked = 0 AND (expires_at IS NULL OR expires_at > ")
            .bind(now)
            .push(") ORDER BY id DESC");
        let mut out = Vec::new();
        for row in self.db.fetch(sql).await? {
            let mut t = rows::token(&row)?;
            let sealed: Option<String> = row.try_get("sealed")?;
            t.text = sealed
                .map(|s| self.keys.open(&s, &t.id))
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push(t);
        }
        Ok(out)
    }

    async fn expire_endpoint_tokens(&self, endpoint_id: &str, except: &str, at: Micros) -> Result<u64> {
        let mut sql = Sql::new("UPDATE tokens SET expires_at = ");
        sql.bind(at)
            .push(" WHERE endpoint_id = ")
            .bind(endpoint_id)
            .push(" AND id <> ")
            .bind(except)
            .push(" AND revoked = 0 AND (expires_at IS NULL OR expires_at > ")
            .bind(at)
            .push(")");
        self.db.execute(sql).await
    }

    async fn revoke_admin_tokens(&self) -> Result<u64> {
        let sql = Sql::new("UPDATE tokens SET revoked = 1 WHERE app_id IS NULL AND revoked = 0");
        self.db.execute(sql).await
    }

    async fn idempotency_begin(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: Micros,
    ) -> Result<Option<Idempotent>> {
        let mut sql = Sql::new("INSERT INTO idempotency (scope, key, request_hash, created_at) VALUES (");
        sql.bind(scope)
            .push(", ")
            .bind(key)
            .push(", ")
            .bind(request_hash)
            .push(", ")
            .bind(now);
        sql.push(") ON CONFLICT (scope, key) DO NOTHING");
        if self.db.execute(sql).await? == 1 {
            return Ok(None);
        }
        let mut sql = Sql::new("SELECT request_hash, status, body FROM idempotency WHERE scope = ");
        sql.bind(scope).push(" AND key = ").bind(key);
        // The claim that failed above was another request's, committed before this read.
        let row = self.db.fetch_optional(sql).await?.ok_or(StoreError::NotFound)?;
        let status: Option<i64> = row.try_get("status")?;
        let body: Option<String> = row.try_get("body")?;
        Ok(Some(Idempotent {
            request_hash: row.try_get("request_hash")?,
            response: status.zip(body).map(|(s, b)| (s as u16, b)),
        }))
    }

    async fn idempotency_finish(&self, scope: &str, key: &str, status: u16, body: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE idempotency SET status = ");
        sql.bind(status as i64)
            .push(", body = ")
            .bind(body)
            .push(" WHERE scope = ")
            .bind(scope);
        sql.push(" AND key = ").bind(key);
        self.db.execute(sql).await?;
        Ok(())
    }

    async fn idempotency_abort(&self, scope: &str, key: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM idempotency WHERE status IS NULL AND scope = ");
        sql.bind(scope).push(" AND key = ").bind(key);
        self.db.execute(sql).await?;
        Ok(())
    }

    async fn purge_idempotency(&self, older_than: Micros) -> Result<u64> {
        let mut sql = Sql::new("DELETE FROM idempotency WHERE created_at < ");
        sql.bind(older_than);
        self.db.execute(sql).await
    }
}
