//! What the shared statements need of a database: somewhere to read, to write
//! one statement, and to write several atomically. `store::sqlite` and
//! `store::postgres` each provide it, and each its own group commit.

use std::sync::Arc;

use async_trait::async_trait;

use super::builder::Sql;
use crate::security::keyring::Keyring;
use crate::store::{Backend, Matcher, NewMessage, Outcome, Published, Result, StoreError};

/// A value read from a column. The schema holds text and integers only
/// (flags are 0 or 1, times are microseconds).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// One row of a result, owned, with its columns' names.
#[derive(Clone, Debug)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Row {
        debug_assert_eq!(columns.len(), values.len());
        Row { columns, values }
    }

    pub fn try_get<T: FromValue>(&self, col: &str) -> Result<T> {
        let i = self
            .columns
            .iter()
            .position(|c| c == col)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))?;
        T::from_value(&self.values[i]).ok_or_else(|| StoreError::Corrupt(format!("{col}: {:?}", self.values[i])))
    }

    /// The first column, whatever its name.
    pub fn first<T: FromValue>(&self) -> Result<T> {
        let v = self
            .values
            .first()
            .ok_or_else(|| StoreError::Corrupt("empty row".into()))?;
        T::from_value(v).ok_or_else(|| StoreError::Corrupt(format!("{v:?}")))
    }
}

pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// A connection to read on, for code shared by both backends' group commits
/// (routing reads endpoints on the connection that then writes).
#[async_trait]
pub trait Reader: Send {
    async fn fetch(&mut self, sql: Sql) -> Result<Vec<Row>>;
}

/// A statement of a [`Database::transaction`], and whether it must change a row.
pub struct Step {
    pub sql: Sql,
    /// If it changes none, the transaction rolls back and fails with `NotFound`.
    pub must_change: bool,
}

impl Step {
    pub fn any(sql: Sql) -> Step {
        Step {
            sql,
            must_change: false,
        }
    }

    pub fn one(sql: Sql) -> Step {
        Step { sql, must_change: true }
    }
}

/// One backend's connections. Reads see every write that returned before
/// they began.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// The dialect the shared statements are rendered in.
    const BACKEND: Backend;
    /// Whether this process makes every write (the embedded store), so that
    /// what it remembers of the database stays true until it changes it itself.
    const SOLE_WRITER: bool;

    async fn fetch(&self, sql: Sql) -> Result<Vec<Row>>;

    async fn fetch_optional(&self, sql: Sql) -> Result<Option<Row>> {
        Ok(self.fetch(sql).await?.into_iter().next())
    }

    /// Runs one statement that writes; returns how many rows it changed.
    async fn execute(&self, sql: Sql) -> Result<u64>;

    /// Runs one statement that writes and returns rows (`RETURNING`).
    async fn execute_returning(&self, sql: Sql) -> Result<Vec<Row>>;

    /// Runs the steps in one transaction: all of them are committed, or none.
    async fn transaction(&self, steps: Vec<Step>) -> Result<()>;

    /// The group commit: stores the publishes with the deliveries that
    /// `route` chooses, and records the outcomes, in one durable transaction.
    async fn write(
        &self,
        batch: &[NewMessage],
        route: Router<'_>,
        outcomes: &[Outcome],
    ) -> Result<Vec<Result<Published>>>;

    /// Tells every node that work is waiting (see `DeliveryStore::announce_work`).
    async fn announce_work(&self) -> Result<()>;

    /// The statement that tells every other node, when the transaction it
    /// is part of commits, that applications changed; `None` where no other
    /// node can be (the embedded store).
    fn apps_changed(&self) -> Option<Sql>;

    /// See `DeliveryStore::release_orphaned_leases`.
    async fn release_orphaned_leases(&self, owner: &str) -> Result<u64>;

    /// Tells `on` what other nodes announce, until `stop`.
    fn listen(&self, on: Box<dyn Fn(Heard) + Send + Sync>, stop: tokio_util::sync::CancellationToken);

    async fn close(&self);
}

/// What a node hears from the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Listening (again): whatever was announced before may have been missed.
    Listening,
    /// Not listening any more, until `Listening`.
    Lost,
    Work,
    AppsChanged,
}

/// What a group commit routes with: the shared routing step (`messages::route_batch`)
/// and what it needs, handed to the backend that owns the connection.
pub struct Router<'a> {
    pub matches: Matcher,
    pub endpoints: &'a super::endpoint_cache::EndpointCache,
    pub keys: &'a Keyring,
}
