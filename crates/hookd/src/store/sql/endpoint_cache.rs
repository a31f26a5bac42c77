//! Endpoints as publishing last read them, so that secrets are not decrypted,
//! nor filters compiled, for every batch.
//!
//! On PostgreSQL each batch still asks which endpoints are enabled and when
//! each last changed (another node may have changed one), and reads in full
//! only those that changed. The embedded store has one process, whose every
//! endpoint write bumps [`EndpointCache::invalidate`]: there an application's
//! list is reused without asking until that happens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::builder::Sql;
use super::db::Reader;
use super::rows::{self, ENDPOINT_COLS};
use crate::security::keyring::Keyring;
use crate::store::{EndpointRecord, Result};
use crate::time::Micros;

/// Past this many endpoints the cache starts again (deleted endpoints leave entries behind).
const MAX_ENTRIES: usize = 100_000;

pub struct EndpointCache {
    by_id: Mutex<HashMap<String, Arc<EndpointRecord>>>,
    /// Per application: the generation its list was read at, and the endpoint ids.
    lists: Mutex<HashMap<String, (u64, Vec<String>)>>,
    generation: AtomicU64,
    /// Whether this process sees every endpoint write (the embedded store).
    sole_writer: bool,
}

impl EndpointCache {
    pub fn new(sole_writer: bool) -> Self {
        EndpointCache {
            sole_writer,
            by_id: Mutex::default(),
            lists: Mutex::default(),
            generation: AtomicU64::default(),
        }
    }

    /// Something about endpoints changed: lists must be asked for again.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Each application's enabled endpoints, as of this connection's view,
    /// read in one query for all the applications the cache cannot answer.
    pub async fn active(
        &self,
        conn: &mut dyn Reader,
        app_ids: &[&str],
        keys: &Keyring,
    ) -> Result<HashMap<String, Vec<Arc<EndpointRecord>>>> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut found = HashMap::with_capacity(app_ids.len());
        let mut unknown = Vec::new();
        for &app_id in app_ids {
            match self.sole_writer.then(|| self.remembered(app_id, generation)).flatten() {
                Some(eps) => {
                    found.insert(app_id.to_owned(), eps);
                }
                None => unknown.push(app_id.to_owned()),
            }
        }
        for chunk in unknown.chunks(256) {
            let mut sql =
                Sql::new("SELECT e.id, e.app_id, e.updated_at FROM endpoints e WHERE e.disabled = 0 AND e.app_id IN ");
            sql.bind_list(chunk).push(" ORDER BY e.app_id, e.id");
            let rows = conn.fetch(sql).await?;
            let mut lists: HashMap<String, Vec<String>> = chunk.iter().map(|a| (a.clone(), Vec::new())).collect();
            let mut current = Vec::with_capacity(rows.len());
            for r in &rows {
                let id: String = r.try_get("id")?;
                lists.entry(r.try_get("app_id")?).or_default().push(id.clone());
                current.push((id, r.try_get("updated_at")?));
            }
            let mut cached = self.refresh(conn, current, keys).await?;
            let mut remembered = self.lists.lock().expect("endpoint cache lock");
            if cached.len() > MAX_ENTRIES {
                cached.clear();
                remembered.clear();
            }
            for (app_id, ids) in lists {
                found.insert(
                    app_id.clone(),
                    ids.iter().filter_map(|id| cached.get(id).cloned()).collect(),
                );
                remembered.insert(app_id, (generation, ids));
            }
        }
        Ok(found)
    }

    /// These endpoints (those that exist), current as of this connection's view:
    /// only their versions are read, and in full only those that changed.
    pub async fn by_ids(
        &self,
        conn: &mut dyn Reader,
        ids: &[String],
        keys: &Keyring,
    ) -> Result<HashMap<String, Arc<EndpointRecord>>> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(256) {
            let mut sql = Sql::new("SELECT e.id, e.updated_at FROM endpoints e WHERE e.id IN ");
            sql.bind_list(chunk);
            let current = self.versions(conn, sql).await?;
            let mut cached = self.refresh(conn, current, keys).await?;
            found.extend(
                chunk
                    .iter()
                    .filter_map(|id| Some((id.clone(), cached.get(id)?.clone()))),
            );
            if cached.len() > MAX_ENTRIES {
                // Lists naming an endpoint no longer here are read again when next used.
                cached.clear();
            }
        }
        Ok(found)
    }

    /// Reads in full the endpoints of `current` that the cache lacks or holds
    /// at another version, and returns the cache with them in it.
    async fn refresh(
        &self,
        conn: &mut dyn Reader,
        current: Vec<(String, Micros)>,
        keys: &Keyring,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, Arc<EndpointRecord>>>> {
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
            for row in conn.fetch(sql).await? {
                let ep = rows::endpoint(&row, keys)?;
                fresh.insert(ep.id.clone(), Arc::new(ep));
            }
        }
        let mut cached = self.by_id.lock().expect("endpoint cache lock");
        cached.extend(fresh);
        Ok(cached)
    }

    fn remembered(&self, app_id: &str, generation: u64) -> Option<Vec<Arc<EndpointRecord>>> {
        // Locks are taken one at a time here; `active` holds both in the order by_id, lists.
        let ids = {
            let lists = self.lists.lock().expect("endpoint cache lock");
            let (_, ids) = lists.get(app_id).filter(|(at, _)| *at == generation)?;
            ids.clone()
        };
        let cached = self.by_id.lock().expect("endpoint cache lock");
        ids.iter().map(|id| cached.get(id).cloned()).collect()
    }

    /// `(id, updated_at)` of the endpoints `sql` selects.
    async fn versions(&self, conn: &mut dyn Reader, sql: Sql) -> Result<Vec<(String, Micros)>> {
        conn.fetch(sql)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("updated_at")?)))
            .collect()
    }
}
