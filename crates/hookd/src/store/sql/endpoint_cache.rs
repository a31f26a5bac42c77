//! Endpoints as publishing last read them. Each publish batch still asks the
//! database which endpoints are enabled and when each last changed (so every
//! node sees every change at once), but reads, opens and compiles only those
//! that changed: secrets are not decrypted, nor filters compiled, per batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::{Any, Row, Transaction};

use super::builder::Sql;
use super::rows::{self, ENDPOINT_COLS};
use crate::security::keyring::Keyring;
use crate::store::{EndpointRecord, Result};
use crate::time::Micros;

/// Past this many endpoints the cache starts again (deleted endpoints leave entries behind).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct EndpointCache {
    by_id: Mutex<HashMap<String, Arc<EndpointRecord>>>,
}

impl EndpointCache {
    /// The application's enabled endpoints, as of this transaction.
    pub async fn active(
        &self,
        tx: &mut Transaction<'static, Any>,
        app_id: &str,
        keys: &Keyring,
    ) -> Result<Vec<Arc<EndpointRecord>>> {
        let mut sql = Sql::new("SELECT e.id, e.updated_at FROM endpoints e WHERE e.disabled = 0 AND e.app_id = ");
        sql.bind(app_id);
        let current: Vec<(String, Micros)> = sql
            .query()
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("updated_at")?)))
            .collect::<Result<_>>()?;
        let stale: Vec<String> = {
            let cached = self.by_id.lock().expect("endpoint cache lock");
            current
                .iter()
                .filter(|(id, at)| cached.get(id).is_none_or(|e| e.updated_at != *at))
                .map(|(id, _)| id.clone())
                .collect()
        };
        let mut fresh = HashMap::new();
        for chunk in stale.chunks(256) {
            let mut sql = Sql::new(&format!("SELECT {ENDPOINT_COLS} FROM endpoints e WHERE e.id IN "));
            sql.bind_list(chunk);
            for row in sql.query().fetch_all(&mut **tx).await? {
                let ep = rows::endpoint(&row, keys)?;
                fresh.insert(ep.id.clone(), Arc::new(ep));
            }
        }
        let mut cached = self.by_id.lock().expect("endpoint cache lock");
        if cached.len() + fresh.len() > MAX_ENTRIES {
            cached.clear();
        }
        cached.extend(fresh);
        Ok(current.iter().filter_map(|(id, _)| cached.get(id).cloned()).collect())
    }
}
