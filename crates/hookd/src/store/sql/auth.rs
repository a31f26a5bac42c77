use async_trait::async_trait;

use super::SqlStore;
use super::builder::Sql;
use super::rows::{self, TOKEN_COLS};
use crate::store::{AuthStore, Idempotent, Result, TokenRecord};
use crate::time::Micros;

#[async_trait]
impl AuthStore for SqlStore {
    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT value FROM settings WHERE key = ");
        let row = sql.bind(key).query(self.backend).fetch_optional(&self.read).await?;
        Ok(row.map(|r| sqlx::Row::try_get(&r, "value")).transpose()?)
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let mut sql = Sql::new("INSERT INTO settings (key, value) VALUES (");
        sql.bind(key)
            .push(", ")
            .bind(value)
            .push(") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        sql.query(self.backend).execute(&self.write).await?;
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
            .push(")");
        sql.query(self.backend).execute(&self.write).await?;
        Ok(())
    }

    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let mut sql = Sql::new(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = "));
        sql.bind(hash)
            .query(self.backend)
            .fetch_optional(&self.read)
            .await?
            .map(|r| rows::token(&r))
            .transpose()
    }

    async fn revoke_token(&self, id: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE tokens SET revoked = 1 WHERE id = ");
        super::apps::expect_one(sql.bind(id).query(self.backend).execute(&self.write).await?)
    }

    async fn revoke_admin_tokens(&self) -> Result<u64> {
        let sql = Sql::new("UPDATE tokens SET revoked = 1 WHERE app_id IS NULL AND revoked = 0");
        Ok(sql.query(self.backend).execute(&self.write).await?.rows_affected())
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
        if sql.query(self.backend).execute(&self.write).await?.rows_affected() == 1 {
            return Ok(None);
        }
        let mut sql = Sql::new("SELECT request_hash, status, body FROM idempotency WHERE scope = ");
        sql.bind(scope).push(" AND key = ").bind(key);
        let row = sql.query(self.backend).fetch_one(&self.write).await?;
        let status: Option<i64> = sqlx::Row::try_get(&row, "status")?;
        let body: Option<String> = sqlx::Row::try_get(&row, "body")?;
        Ok(Some(Idempotent {
            request_hash: sqlx::Row::try_get(&row, "request_hash")?,
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
        sql.push(" AND key = ")
            .bind(key)
            .query(self.backend)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn idempotency_abort(&self, scope: &str, key: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM idempotency WHERE status IS NULL AND scope = ");
        sql.bind(scope)
            .push(" AND key = ")
            .bind(key)
            .query(self.backend)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn purge_idempotency(&self, older_than: Micros) -> Result<u64> {
        let mut sql = Sql::new("DELETE FROM idempotency WHERE created_at < ");
        Ok(sql
            .bind(older_than)
            .query(self.backend)
            .execute(&self.write)
            .await?
            .rows_affected())
    }
}
