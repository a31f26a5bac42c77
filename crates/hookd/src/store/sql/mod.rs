//! The statements both backends run, and the store built on them:
//! [`SqlStore`] over a [`Database`], which `store::sqlite` and
//! `store::postgres` provide. Where the two dialects differ, the statement
//! builders in [`queries`] take the [`Backend`](crate::store::Backend) to
//! render for.

mod app_cache;
mod apps;
mod auth;
pub mod builder;
pub mod db;
pub mod deliveries;
pub mod endpoint_cache;
mod endpoints;
mod fifo;
pub mod messages;
pub mod operational;
pub mod queries;
pub mod rows;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{Result, Store, StoreError};
use crate::security::keyring::Keyring;

pub use builder::Sql;
use db::Heard;
pub use db::{Database, Row};

pub struct SqlStore<D: Database> {
    db: D,
    /// Seals endpoint secrets on the way in and opens them on the way out.
    keys: Arc<Keyring>,
    endpoints: endpoint_cache::EndpointCache,
    apps: Arc<app_cache::AppCache>,
}

impl<D: Database> SqlStore<D> {
    pub fn new(db: D, keys: Arc<Keyring>) -> Self {
        SqlStore {
            db,
            keys,
            endpoints: endpoint_cache::EndpointCache::new(D::SOLE_WRITER),
            // Elsewhere, trusted once this node hears other nodes' changes.
            apps: Arc::new(app_cache::AppCache::new(D::SOLE_WRITER)),
        }
    }

    pub fn database(&self) -> &D {
        &self.db
    }
}

#[async_trait]
impl<D: Database> Store for SqlStore<D> {
    fn writes_block(&self) -> bool {
        D::SOLE_WRITER
    }

    fn keys(&self) -> &Keyring {
        &self.keys
    }

    /// Each row is rewritten only if unchanged since it was read, so a
    /// concurrent update is never lost (it is picked up by the next pass).
    /// Values are sealed for their row's id.
    async fn reseal_secrets(&self) -> Result<(u64, u64)> {
        const SEALED: [(&str, &[&str]); 5] = [
            ("endpoints", &["secret", "old_secrets", "headers"]),
            ("endpoints", &["tls"]),
            ("endpoints", &["transformation"]),
            ("endpoints", &["url_password"]),
            ("tokens", &["sealed"]),
        ];
        let (mut resealed, mut left) = (0, 0);
        for (table, cols) in SEALED {
            let list = cols.join(", ");
            let rows = self
                .db
                .fetch(Sql::new(&format!(
                    "SELECT id, {list} FROM {table} WHERE {} IS NOT NULL",
                    cols[0]
                )))
                .await?;
            for row in rows {
                let id: String = row.try_get("id")?;
                let stored: Vec<String> = cols.iter().map(|c| row.try_get(c)).collect::<Result<_>>()?;
                if stored.iter().all(|v| self.keys.is_current(v)) {
                    continue;
                }
                let mut sql = Sql::new(&format!("UPDATE {table} SET "));
                for (i, (col, v)) in cols.iter().zip(&stored).enumerate() {
                    let plain = self.keys.open(v, &id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    sql.push(if i == 0 { "" } else { ", " })
                        .push(col)
                        .push(" = ")
                        .bind(self.keys.seal(&plain, &id));
                }
                sql.push(" WHERE id = ").bind(&id);
                for (col, v) in cols.iter().zip(&stored) {
                    sql.push(" AND ").push(col).push(" = ").bind(v);
                }
                if self.db.execute(sql).await? == 1 {
                    resealed += 1;
                } else {
                    left += 1;
                }
            }
        }
        Ok((resealed, left))
    }

    async fn check_keys(&self) -> Result<()> {
        let row = self
            .db
            .fetch_optional(Sql::new("SELECT id, secret FROM endpoints LIMIT 1"))
            .await?;
        if let Some(row) = row {
            let (id, secret): (String, String) = (row.try_get("id")?, row.try_get("secret")?);
            self.keys
                .open(&secret, &id)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        Ok(())
    }

    fn listen_for_work(&self, on_work: Box<dyn Fn() + Send + Sync>, stop: CancellationToken) {
        let apps = self.apps.clone();
        let on = move |heard| match heard {
            Heard::Listening => {
                apps.trust(true);
                // Work announced while this node was not listening waits in the store.
                on_work();
            }
            Heard::Lost => apps.trust(false),
            Heard::Work => on_work(),
            Heard::AppsChanged => apps.clear(),
        };
        self.db.listen(Box::new(on), stop);
    }

    async fn close(&self) {
        self.db.close().await;
    }
}

/// Turns "no row changed" into `NotFound`.
pub(crate) fn expect_one(changed: u64) -> Result<()> {
    match changed {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}
