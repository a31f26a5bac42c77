//! Applications by id or uid, answered from memory on the embedded store:
//! every publish looks its application up, and there this process makes every
//! change, clearing the cache as it does. PostgreSQL nodes always ask.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::AppRecord;

/// Past this many lookups the cache starts again.
const MAX_ENTRIES: usize = 10_000;

pub struct AppCache {
    sole_writer: bool,
    /// The lookups, and how many times the cache was cleared: a lookup that
    /// read the database before a clear must not store what it read after it.
    by_key: Mutex<(HashMap<String, AppRecord>, u64)>,
}

impl AppCache {
    pub fn new(sole_writer: bool) -> Self {
        AppCache {
            sole_writer,
            by_key: Mutex::new((HashMap::new(), 0)),
        }
    }

    /// The application, or else the ticket to pass to [`AppCache::put`] once it is read.
    pub fn get(&self, id_or_uid: &str) -> Result<AppRecord, u64> {
        let guard = self.by_key.lock().expect("app cache lock");
        let (map, clears) = &*guard;
        match map.get(id_or_uid) {
            Some(app) if self.sole_writer => Ok(app.clone()),
            _ => Err(*clears),
        }
    }

    pub fn put(&self, id_or_uid: &str, app: &AppRecord, ticket: u64) {
        let mut guard = self.by_key.lock().expect("app cache lock");
        let (map, clears) = &mut *guard;
        if !self.sole_writer || *clears != ticket {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(id_or_uid.to_owned(), app.clone());
    }

    /// An application was created, changed or deleted.
    pub fn clear(&self) {
        let mut guard = self.by_key.lock().expect("app cache lock");
        guard.0.clear();
        guard.1 += 1;
    }
}
