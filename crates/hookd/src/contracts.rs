//! Event contracts: an event type's JSON Schema, checked against published
//! payloads when the event type asks for it (`validatePayloads`), and the
//! catalogue of all of them as one document (see `api::catalog`).
//!
//! Publishing must not read the catalogue on every message, so each node keeps
//! what it learnt of an event type, compiled, for [`FRESH_FOR`]. The node that
//! changes an event type forgets it at once; other nodes see the change within
//! that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::store::{AppStore, EventTypeRecord, StoreError};

const FRESH_FOR: Duration = Duration::from_secs(1);
/// Problems reported for one payload at most.
const MAX_REPORTED: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The payload does not match its event type's schema.
    #[error("the payload does not match the event type's schema")]
    Violations(Vec<Violation>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One place where a payload breaks its schema: the JSON path to it, and why.
#[derive(Debug)]
pub struct Violation {
    pub path: Vec<String>,
    pub msg: String,
}

type Validator = Arc<jsonschema::Validator>;

#[derive(Default)]
pub struct Contracts {
    known: Mutex<HashMap<String, (Instant, Option<Validator>)>>,
}

impl Contracts {
    /// Checks `payload` if its event type validates payloads.
    pub async fn check(&self, store: &dyn AppStore, event_type: &str, payload: &str) -> Result<(), ContractError> {
        let Some(validator) = self.validator(store, event_type).await? else {
            return Ok(());
        };
        let value: Value = serde_json::from_str(payload).map_err(|e| {
            ContractError::Violations(vec![Violation {
                path: Vec::new(),
                msg: e.to_string(),
            }])
        })?;
        let found: Vec<Violation> = validator
            .iter_errors(&value)
            .take(MAX_REPORTED)
            .map(|e| Violation {
                path: e.instance_path().segments().map(|s| s.to_string()).collect(),
                msg: e.to_string(),
            })
            .collect();
        if found.is_empty() {
            Ok(())
        } else {
            Err(ContractError::Violations(found))
        }
    }

    /// Drops what this node knows of an event type (after changing it).
    pub fn forget(&self, event_type: &str) {
        self.known.lock().expect("contracts lock").remove(event_type);
    }

    async fn validator(&self, store: &dyn AppStore, name: &str) -> Result<Option<Validator>, StoreError> {
        if let Some((at, v)) = self.known.lock().expect("contracts lock").get(name)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(v.clone());
        }
        let et = store.get_event_type(name).await?;
        // A schema that stopped compiling validates nothing rather than refusing every publish;
        // the API refuses such a schema when validation is turned on.
        let v = et
            .filter(|e| e.validate_payloads && !e.archived)
            .and_then(|e| compile(&e).ok())
            .map(Arc::new);
        let mut known = self.known.lock().expect("contracts lock");
        if known.len() > 10_000 {
            known.clear();
        }
        known.insert(name.to_owned(), (Instant::now(), v.clone()));
        Ok(v)
    }
}

/// The newest version's schema (versions are numbered: `{"1": {…}, "2": {…}}`), if any.
pub fn newest_schema(e: &EventTypeRecord) -> Option<(&str, &Value)> {
    let versions = e.schemas.as_ref()?.as_object()?;
    versions
        .iter()
        .max_by_key(|(k, _)| k.parse::<u64>().unwrap_or(0))
        .map(|(k, v)| (k.as_str(), v))
}

/// The validator for the newest schema; an event type without one accepts any payload.
pub fn compile(e: &EventTypeRecord) -> Result<jsonschema::Validator, (String, String)> {
    let schema = newest_schema(e).map_or(Value::Bool(true), |(_, s)| s.clone());
    jsonschema::validator_for(&schema).map_err(|err| {
        let version = newest_schema(e).map_or_else(String::new, |(v, _)| v.to_owned());
        (version, err.to_string())
    })
}
