//! Applications by id or uid from memory: every publish looks its
//! application up. The cache answers only while it is trusted: always on the
//! embedded store, where this process makes every change; on PostgreSQL while
//! this node listens for the notice every application change sends in its own
//! transaction (`Database::apps_changed`), so that a change made by any node
//! clears every node's cache as it commits.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::AppRecord;

/// Past this many lookups the cache starts again.
const MAX_ENTRIES: usize = 10_000;

pub struct AppCache {
    /// The lookups, how many times the cache was cleared (a lookup that read
    /// the database before a clear must not store what it read after it), and
    /// whether the cache may answer.
    state: Mutex<State>,
}

struct State {
    by_key: HashMap<String, AppRecord>,
    clears: u64,
    trusted: bool,
}

impl AppCache {
    pub fn new(trusted: bool) -> Self {
        AppCache {
            state: Mutex::new(State {
                by_key: HashMap::new(),
                clears: 0,
                trusted,
            }),
        }
    }

    /// The application, or else the ticket to pass to [`AppCache::put`] once it is read.
    pub fn get(&self, id_or_uid: &str) -> Result<AppRecord, u64> {
        let state = self.state.lock().expect("app cache lock");
        match state.by_key.get(id_or_uid) {
            Some(app) if state.trusted => Ok(app.clone()),
            _ => Err(state.clears),
        }
    }

    pub fn put(&self, id_or_uid: &str, app: &AppRecord, ticket: u64) {
        let mut state = self.state.lock().expect("app cache lock");
        if !state.trusted || state.clears != ticket {
            return;
        }
        if state.by_key.len() >= MAX_ENTRIES {
            state.by_key.clear();
        }
        state.by_key.insert(id_or_uid.to_owned(), app.clone());
    }

    /// An application was created, changed or deleted.
    pub fn clear(&self) {
        let mut state = self.state.lock().expect("app cache lock");
        state.by_key.clear();
        state.clears += 1;
    }

    /// Whether changes made elsewhere are heard from now on; either way what
    /// was remembered before is forgotten (changes may have been missed).
    pub fn trust(&self, trusted: bool) {
        let mut state = self.state.lock().expect("app cache lock");
        state.by_key.clear();
        state.clears += 1;
        state.trusted = trusted;
    }
}
