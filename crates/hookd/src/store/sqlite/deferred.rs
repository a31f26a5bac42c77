//! The embedded store's deferred indexes (migration 0006): an application's
//! messages, an endpoint's deliveries and an endpoint's attempts are found
//! through tables that the writer fills in batches, not through indexes kept
//! in every commit.
//!
//! Each indexed table has a mark in `index_marks`. Rows whose leading key is
//! above it (the tail: the last moments' rows, since keys grow with time) are
//! not in the index table yet; every row at or below it is, the late ones put
//! there by a trigger as they are written. So a query reads the index table,
//! scans the tail by key range, and sees every row exactly once. The writer
//! indexes the tail and raises the mark in one transaction (`CATCH_UP_EVERY`).
//!
//! PostgreSQL keeps these as plain indexes: several nodes write at once there,
//! and none of them knows where the unindexed rows begin.

use std::time::Duration;

use crate::store::sql::builder::{Sql, paginate};
use crate::store::{Backend, Page};

/// How often the writer indexes the tails. Each catch-up writes a page or so
/// per application or endpoint that had messages meanwhile (against one per
/// message and index in every commit before); the tail that queries scan
/// holds at most this long's rows.
pub const CATCH_UP_EVERY: Duration = Duration::from_millis(500);

/// One deferred index.
pub struct Deferred {
    /// The table indexed, and the table that indexes it.
    table: &'static str,
    index: &'static str,
    /// The column the index is by, and the columns it keeps (owner first).
    owner: &'static str,
    columns: &'static str,
    /// The table's primary key, and its leading column, which the mark bounds.
    key: &'static str,
    lead: &'static str,
    /// The row of `index_marks` that holds the mark.
    mark: &'static str,
}

pub const MESSAGES_BY_APP: Deferred = Deferred {
    table: "messages",
    index: "messages_by_app",
    owner: "app_id",
    columns: "app_id, id, event_type",
    key: "id",
    lead: "id",
    mark: "messages",
};

pub const DELIVERIES_BY_ENDPOINT: Deferred = Deferred {
    table: "deliveries",
    index: "deliveries_by_endpoint",
    owner: "endpoint_id",
    columns: "endpoint_id, msg_id, id",
    key: "id",
    lead: "id",
    mark: "deliveries",
};

pub const ATTEMPTS_BY_ENDPOINT: Deferred = Deferred {
    table: "attempts",
    index: "attempts_by_endpoint",
    owner: "endpoint_id",
    columns: "endpoint_id, id, msg_id",
    key: "msg_id, id",
    lead: "msg_id",
    mark: "attempts",
};

pub const ALL: [&Deferred; 3] = [&MESSAGES_BY_APP, &DELIVERIES_BY_ENDPOINT, &ATTEMPTS_BY_ENDPOINT];

impl Deferred {
    /// The statements that index the tail and raise the mark past it.
    pub fn catch_up(&self) -> [String; 2] {
        let Deferred {
            table,
            index,
            columns,
            lead,
            ..
        } = self;
        let tail = self.tail(table);
        [
            format!("INSERT OR IGNORE INTO {index} ({columns}) SELECT {columns} FROM {table} WHERE {tail}"),
            format!(
                "UPDATE index_marks SET upto = (SELECT max({lead}) FROM {table}) \
                 WHERE name = '{}' AND upto < (SELECT max({lead}) FROM {table})",
                self.mark
            ),
        ]
    }

    /// The condition that a row of `alias` is in the tail.
    pub fn tail(&self, alias: &str) -> String {
        format!(
            "{alias}.{} > (SELECT upto FROM index_marks WHERE name = '{}')",
            self.lead, self.mark
        )
    }

    /// Pushes the condition that a row of the (unaliased) table belongs to `owner`.
    pub fn push_owned_by(&self, sql: &mut Sql, backend: Backend, owner: &str) {
        let Deferred {
            table,
            index,
            owner: column,
            key,
            ..
        } = self;
        if backend == Backend::Postgres {
            sql.push(column).push(" = ").bind(owner);
            return;
        }
        sql.push(&format!("({key}) IN (SELECT {key} FROM {index} WHERE {column} = "))
            .bind(owner);
        sql.push(&format!(
            " UNION ALL SELECT {key} FROM {table} WHERE {} AND {column} = ",
            self.tail(table)
        ))
        .bind(owner)
        .push(")");
    }
}

/// Everything a catch-up runs, in order: the attempts' tail counted, then
/// each index caught up and its mark raised.
pub fn catch_up_statements() -> Vec<String> {
    let mut all = vec![count_attempts_tail()];
    all.extend(ALL.iter().flat_map(|index| index.catch_up()));
    all
}

/// Adds the attempts' tail to `attempt_counts`. Run in the catch-up's
/// transaction before the attempts' mark is raised, it counts each attempt
/// once: the tail now, a late attempt by its trigger (migration 15).
fn count_attempts_tail() -> String {
    format!(
        "INSERT INTO attempt_counts (app_id, period, endpoint_id, status, n) \
         SELECT app_id, {}, endpoint_id, status, COUNT(*) FROM attempts WHERE {} \
         GROUP BY 1, 2, 3, 4 \
         ON CONFLICT (app_id, period, endpoint_id, status) DO UPDATE SET n = n + excluded.n",
        crate::store::sql::queries::hour_of("created_at"),
        ATTEMPTS_BY_ENDPOINT.tail("attempts")
    )
}

/// One page of rows found through a deferred index: the page read from the
/// index table and the page read from the tail, merged. `arm` pushes one side's
/// `SELECT … WHERE …` (`true`: through the index table) and returns the column
/// to page by; both sides name it `id` in their results.
pub fn union_page(page: &Page, mut arm: impl FnMut(&mut Sql, bool) -> &'static str) -> Sql {
    let mut sql = Sql::new("SELECT * FROM (");
    for indexed in [true, false] {
        if !indexed {
            sql.push(") UNION ALL SELECT * FROM (");
        }
        let key = arm(&mut sql, indexed);
        paginate(&mut sql, key, page);
    }
    sql.push(") ORDER BY id")
        .push(if page.descending { " DESC" } else { " ASC" });
    sql.push(" LIMIT ").bind(page.limit);
    sql
}
