//! The statements on hot paths, built here so that the store runs them and the
//! plan check (`tests/it/cluster.rs`) EXPLAINs exactly the same text.

use super::builder::{Sql, json_array_contains, paginate};
use super::rows::{ATTEMPT_COLS, MESSAGE_COLS};
use crate::ids::{self, Kind};
use crate::store::sqlite::deferred::{ATTEMPTS_BY_ENDPOINT, DELIVERIES_BY_ENDPOINT, MESSAGES_BY_APP, union_page};
use crate::store::{
    AttemptFilter, AttemptScope, Backend, DeliveryStatus, MessageFilter, OPERATIONAL_APP, Page, Trigger,
};
use crate::time::Micros;

/// Leases up to `limit` due deliveries of enabled endpoints to `owner`.
pub fn claim(backend: Backend, owner: &str, now: Micros, lease_until: Micros, limit: i64) -> Sql {
    let mut sql = Sql::new("UPDATE deliveries SET lease_until = ");
    sql.bind(lease_until).push(", lease_owner = ").bind(owner);
    sql.push(" WHERE id IN (SELECT d.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id WHERE d.next_attempt_at <= ");
    sql.bind(now)
        .push(" AND (d.lease_until IS NULL OR d.lease_until < ")
        .bind(now)
        .push(") AND e.disabled = 0");
    // FIFO deliveries are claimed in their order only (`fifo::claim`).
    sql.push(" AND d.fifo_key IS NULL");
    sql.push(" ORDER BY d.next_attempt_at LIMIT ").bind(limit);
    if backend == Backend::Postgres {
        // Nodes claiming at once each take different rows instead of waiting on each other.
        sql.push(" FOR UPDATE OF d SKIP LOCKED");
    }
    sql.push(") RETURNING ").push(TASK_COLS);
    sql
}

/// What a delivery row gives a task (`SqlStore::tasks_for` reads the rest).
pub const TASK_COLS: &str = "id, msg_id, endpoint_id, attempts, trigger_type, fifo_key";

fn payload_col(with_content: bool) -> &'static str {
    if with_content { "m.payload" } else { "NULL AS payload" }
}

/// An application's messages.
/// An application's messages, or with no application every one's but the
/// operator's own (read through the primary key, in id order).
pub fn messages(backend: Backend, app_id: Option<&str>, filter: &MessageFilter, page: &Page) -> Sql {
    let payload = payload_col(filter.with_content);
    let cols = format!("SELECT {MESSAGE_COLS}, {payload}");
    let Some(app_id) = app_id else {
        let mut sql = Sql::new(&cols);
        sql.push(" FROM messages m WHERE m.app_id <> ").bind(OPERATIONAL_APP);
        filter_messages(&mut sql, filter);
        paginate(&mut sql, "m.id", page);
        return sql;
    };
    let arm = |sql: &mut Sql, indexed: bool| {
        let key = if indexed {
            sql.push(&cols)
                .push(" FROM messages_by_app x JOIN messages m ON m.id = x.id WHERE x.app_id = ")
                .bind(app_id);
            if let Some(types) = filter.event_types.as_ref().filter(|t| !t.is_empty()) {
                // The index table's own copy of the type: a type's messages
                // are found through its index, not by reading every message.
                sql.push(" AND x.event_type IN ").bind_list(types);
            }
            "x.id"
        } else {
            sql.push(&cols).push(" FROM messages m WHERE ");
            if backend == Backend::Sqlite {
                sql.push(&MESSAGES_BY_APP.tail("m")).push(" AND ");
            }
            sql.push("m.app_id = ").bind(app_id);
            "m.id"
        };
        filter_messages(sql, filter);
        key
    };
    by_owner(backend, page, arm)
}

/// The messages sent to an endpoint, with their delivery state there.
pub fn endpoint_messages(backend: Backend, endpoint_id: &str, filter: &MessageFilter, page: &Page) -> Sql {
    let payload = payload_col(filter.with_content);
    let cols =
        format!("SELECT {MESSAGE_COLS}, {payload}, d.status AS d_status, d.next_attempt_at AS d_next_attempt_at");
    let arm = |sql: &mut Sql, indexed: bool| {
        let key = if indexed {
            sql.push(&cols).push(
                " FROM deliveries_by_endpoint x JOIN deliveries d ON d.id = x.id \
                 JOIN messages m ON m.id = x.msg_id WHERE x.endpoint_id = ",
            );
            "x.msg_id"
        } else {
            sql.push(&cols)
                .push(" FROM deliveries d JOIN messages m ON m.id = d.msg_id WHERE ");
            if backend == Backend::Sqlite {
                sql.push(&DELIVERIES_BY_ENDPOINT.tail("d")).push(" AND ");
            }
            sql.push("d.endpoint_id = ");
            // Sorted here, not read in order through the (msg_id, endpoint_id)
            // index: that would read the whole table for a page of its tail.
            if backend == Backend::Sqlite {
                "+d.msg_id"
            } else {
                "d.msg_id"
            }
        };
        sql.bind(endpoint_id);
        filter_messages(sql, filter);
        if let Some(s) = filter.status {
            sql.push(" AND d.status = ").bind(s);
        }
        key
    };
    by_owner(backend, page, arm)
}

/// A page of an application's or endpoint's rows: on PostgreSQL through its
/// index, on SQLite through its deferred index and tail (`deferred`). `arm`
/// pushes one side's query up to its conditions and returns the key to page by.
fn by_owner(backend: Backend, page: &Page, mut arm: impl FnMut(&mut Sql, bool) -> &'static str) -> Sql {
    match backend {
        Backend::Sqlite => union_page(page, arm),
        Backend::Postgres => {
            let mut sql = Sql::default();
            let key = arm(&mut sql, false);
            paginate(&mut sql, key, page);
            sql
        }
    }
}

/// Queues an endpoint's failed deliveries made in a period again.
pub fn recover(backend: Backend, endpoint_id: &str, now: Micros, since: Micros, until: Option<Micros>) -> Sql {
    let mut sql = Sql::new("UPDATE deliveries SET status = ");
    sql.bind(DeliveryStatus::Sending)
        .push(", trigger_type = ")
        .bind(Trigger::Manual);
    sql.push(", next_attempt_at = ")
        .bind(now)
        .push(", updated_at = ")
        .bind(now)
        .push(", lease_until = NULL, lease_owner = NULL WHERE ");
    DELIVERIES_BY_ENDPOINT.push_owned_by(&mut sql, backend, endpoint_id);
    sql.push(" AND status = ").bind(DeliveryStatus::Fail);
    sql.push(" AND created_at >= ").bind(since);
    if let Some(until) = until {
        sql.push(" AND created_at <= ").bind(until);
    }
    sql
}

/// An endpoint's deliveries waiting for a later time, unleased, due at `now`.
pub fn wake_endpoint(backend: Backend, endpoint_id: &str, now: Micros) -> Sql {
    let mut sql = Sql::new("UPDATE deliveries SET next_attempt_at = ");
    sql.bind(now).push(" WHERE ");
    DELIVERIES_BY_ENDPOINT.push_owned_by(&mut sql, backend, endpoint_id);
    sql.push(" AND status IN ")
        .bind_list(&[DeliveryStatus::Pending, DeliveryStatus::Sending]);
    sql.push(" AND next_attempt_at > ")
        .bind(now)
        .push(" AND (lease_until IS NULL OR lease_until < ")
        .bind(now)
        .push(")");
    sql
}

/// Unfinished deliveries by state, read through `deliveries_due` (the
/// partial index of rows with a next attempt) on both databases.
pub fn pending(now: Micros) -> Sql {
    let mut sql = Sql::new("SELECT SUM(CASE WHEN lease_until >= ");
    sql.bind(now)
        .push(" THEN 1 ELSE 0 END) AS in_flight, SUM(CASE WHEN (lease_until IS NULL OR lease_until < ");
    sql.bind(now).push(") AND next_attempt_at <= ");
    sql.bind(now)
        .push(" THEN 1 ELSE 0 END) AS due, SUM(CASE WHEN (lease_until IS NULL OR lease_until < ");
    sql.bind(now).push(") AND next_attempt_at > ");
    sql.bind(now)
        .push(" THEN 1 ELSE 0 END) AS scheduled, MIN(CASE WHEN (lease_until IS NULL OR lease_until < ");
    sql.bind(now).push(") AND next_attempt_at <= ");
    sql.bind(now)
        .push(" THEN next_attempt_at END) AS oldest_due FROM deliveries WHERE next_attempt_at IS NOT NULL");
    sql
}

/// How many of an endpoint's deliveries (made in a period) are in each status.
pub fn endpoint_stats(backend: Backend, endpoint_id: &str, since: Option<Micros>, until: Option<Micros>) -> Sql {
    let mut sql = Sql::new("SELECT status, COUNT(*) AS n FROM deliveries WHERE ");
    DELIVERIES_BY_ENDPOINT.push_owned_by(&mut sql, backend, endpoint_id);
    if let Some(since) = since {
        sql.push(" AND created_at >= ").bind(since);
    }
    if let Some(until) = until {
        sql.push(" AND created_at <= ").bind(until);
    }
    sql.push(" GROUP BY status");
    sql
}

/// An application's deliveries by event type, period and status, for its
/// messages made in `[since, until)`. Ids sort by the time they were made,
/// so the messages are read as a range of the application's ids (on SQLite
/// through its deferred lookup and tail), never the whole table; the times
/// then cut that range exactly.
pub fn app_stats(
    backend: Backend,
    app_id: &str,
    since: Micros,
    until: Micros,
    event_types: Option<&[String]>,
    period: Micros,
) -> Sql {
    // An id's time is exact to about 4 ms: the range starts a tick early and ends a tick late.
    let (lo, hi) = (
        ids::floor(Kind::Message, since - 5_000),
        ids::floor(Kind::Message, until + 5_000),
    );
    let mut sql = Sql::new("SELECT m.event_type AS event_type, (m.created_at / ");
    sql.bind(period).push(") * ").bind(period).push(
        " AS period, d.status AS status, COUNT(*) AS n \
         FROM messages m JOIN deliveries d ON d.msg_id = m.id WHERE ",
    );
    match backend {
        Backend::Postgres => {
            sql.push("m.app_id = ").bind(app_id);
            sql.push(" AND m.id >= ").bind(&lo).push(" AND m.id < ").bind(&hi);
        }
        Backend::Sqlite => {
            sql.push("m.id IN (SELECT id FROM messages_by_app WHERE app_id = ")
                .bind(app_id);
            sql.push(" AND id >= ").bind(&lo).push(" AND id < ").bind(&hi);
            sql.push(" UNION ALL SELECT id FROM messages x WHERE ")
                .push(&MESSAGES_BY_APP.tail("x"))
                .push(" AND x.app_id = ")
                .bind(app_id);
            sql.push(" AND x.id >= ")
                .bind(&lo)
                .push(" AND x.id < ")
                .bind(&hi)
                .push(")");
        }
    }
    sql.push(" AND m.created_at >= ")
        .bind(since)
        .push(" AND m.created_at < ")
        .bind(until);
    if let Some(types) = event_types.filter(|t| !t.is_empty()) {
        sql.push(" AND m.event_type IN ").bind_list(types);
    }
    sql.push(" GROUP BY m.event_type, 2, d.status");
    sql
}

/// Attempts of an endpoint or of a message.
pub fn attempts(backend: Backend, f: &AttemptFilter, page: &Page) -> Sql {
    let by_message = f.event_types.is_some() || f.channel.is_some() || f.tag.is_some();
    let join_message = if by_message {
        " JOIN messages m ON m.id = a.msg_id"
    } else {
        ""
    };
    let arm = |sql: &mut Sql, indexed: bool| {
        sql.push(&format!("SELECT {ATTEMPT_COLS} FROM "));
        let key = match &f.scope {
            AttemptScope::Endpoint(id) if indexed => {
                sql.push("attempts_by_endpoint x JOIN attempts a ON a.msg_id = x.msg_id AND a.id = x.id")
                    .push(join_message)
                    .push(" WHERE x.endpoint_id = ")
                    .bind(id);
                "x.id"
            }
            AttemptScope::Endpoint(id) => {
                sql.push("attempts a").push(join_message).push(" WHERE ");
                if backend == Backend::Sqlite {
                    sql.push(&ATTEMPTS_BY_ENDPOINT.tail("a")).push(" AND ");
                }
                sql.push("a.endpoint_id = ").bind(id);
                "a.id"
            }
            AttemptScope::Message(id) => {
                sql.push("attempts a")
                    .push(join_message)
                    .push(" WHERE a.msg_id = ")
                    .bind(id);
                "a.id"
            }
        };
        attempt_conditions(sql, f, by_message);
        key
    };
    match f.scope {
        AttemptScope::Endpoint(_) => by_owner(backend, page, arm),
        // A message's attempts are found by the table's own key.
        AttemptScope::Message(_) => by_owner(Backend::Postgres, page, arm),
    }
}

/// How many attempts `f` matches, counting at most `at_most` of them.
pub fn count_attempts(backend: Backend, f: &AttemptFilter, at_most: i64) -> Sql {
    let page = Page {
        limit: at_most,
        after: None,
        descending: true,
    };
    let mut sql = Sql::new("SELECT COUNT(*) AS n FROM (");
    sql.append(attempts(backend, f, &page)).push(") t");
    sql
}

fn attempt_conditions(sql: &mut Sql, f: &AttemptFilter, by_message: bool) {
    if let Some(ep) = &f.endpoint_id {
        sql.push(" AND a.endpoint_id = ").bind(ep);
    }
    if let Some(s) = f.status {
        sql.push(" AND a.status = ").bind(s);
    }
    match f.status_code_class {
        Some(0) => {
            sql.push(" AND a.status_code = 0");
        }
        Some(class) => {
            sql.push(" AND a.status_code >= ")
                .bind(class)
                .push(" AND a.status_code < ")
                .bind(class + 100);
        }
        None => {}
    }
    if by_message {
        let mf = MessageFilter {
            event_types: f.event_types.clone(),
            channels: f.channel.iter().cloned().collect(),
            tag: f.tag.clone(),
            ..Default::default()
        };
        filter_messages(sql, &mf);
    }
    if let Some(before) = f.before {
        sql.push(" AND a.created_at < ").bind(before);
    }
    if let Some(after) = f.after {
        sql.push(" AND a.created_at > ").bind(after);
    }
}

/// Appends the conditions of `f` on the message table aliased `m`.
pub fn filter_messages(sql: &mut Sql, f: &MessageFilter) {
    if let Some(types) = f.event_types.as_ref().filter(|t| !t.is_empty()) {
        sql.push(" AND m.event_type IN ").bind_list(types);
    }
    json_array_contains(sql, "m.channels", &f.channels);
    if let Some(tag) = &f.tag {
        json_array_contains(sql, "m.tags", std::slice::from_ref(tag));
    }
    if let Some(before) = f.before {
        sql.push(" AND m.created_at < ").bind(before);
    }
    if let Some(after) = f.after {
        sql.push(" AND m.created_at > ").bind(after);
    }
}

/// The start of the hour of `column` (µs), as `attempt_counts.period` holds it.
pub fn hour_of(column: &str) -> String {
    let hour = crate::time::HOUR;
    format!("({column} / {hour}) * {hour}")
}

/// An application's attempts per hour, endpoint and outcome since `since`,
/// from `attempt_counts`; on SQLite also the attempts' tail, which the writer
/// has not counted yet (a row may then come twice: the reader adds them up).
pub fn attempt_counts(backend: Backend, app_id: &str, since: Micros) -> Sql {
    let mut sql = Sql::new("SELECT period, endpoint_id, status, n FROM attempt_counts WHERE app_id = ");
    sql.bind(app_id).push(" AND period >= ").bind(since);
    if backend == Backend::Sqlite {
        sql.push(&format!(
            " UNION ALL SELECT {}, a.endpoint_id, a.status, COUNT(*) FROM attempts a WHERE ",
            hour_of("a.created_at")
        ))
        .push(&ATTEMPTS_BY_ENDPOINT.tail("a"))
        .push(" AND a.app_id = ")
        .bind(app_id)
        .push(" AND a.created_at >= ")
        .bind(since)
        .push(" GROUP BY 1, 2, 3");
    }
    sql
}

/// Each hot statement with sample arguments, and the group commit's
/// statements recording `sample_outcome`: what the plan checks EXPLAIN
/// against a large database.
pub fn explained(
    backend: Backend,
    app: &str,
    endpoint: &str,
    msg: &str,
    group_commit: Vec<Sql>,
) -> Vec<(&'static str, Sql)> {
    let page = Page {
        limit: 51,
        after: None,
        descending: true,
    };
    let later = Page {
        after: Some(msg.to_owned()),
        ..page.clone()
    };
    let feed = Page {
        descending: false,
        ..later.clone()
    };
    let by = |scope| AttemptFilter {
        with_content: true,
        ..AttemptFilter::all(scope)
    };
    let mf = MessageFilter {
        with_content: true,
        ..Default::default()
    };
    let of_type = MessageFilter {
        event_types: Some(vec!["invoice.paid".into()]),
        ..mf.clone()
    };
    let now = crate::time::now();
    let mut all: Vec<(&'static str, Sql)> = vec![
        ("claim", claim(backend, "node", now, now, 500)),
        ("fifo: unplaced", super::fifo::unplaced()),
        ("fifo: place", super::fifo::place(backend)),
        ("fifo: claim", super::fifo::claim(backend, "node", now, now, 500)),
        ("messages", messages(backend, Some(app), &mf, &page)),
        ("messages, next page", messages(backend, Some(app), &mf, &later)),
        (
            "messages of an event type",
            messages(backend, Some(app), &of_type, &page),
        ),
        ("endpoint messages", endpoint_messages(backend, endpoint, &mf, &page)),
        ("every application's messages", messages(backend, None, &mf, &feed)),
        ("endpoint stats", endpoint_stats(backend, endpoint, Some(0), None)),
        (
            "application stats",
            app_stats(backend, app, now - crate::time::DAY, now, None, crate::time::HOUR),
        ),
        ("attempt counts", attempt_counts(backend, app, now - crate::time::DAY)),
        ("recover", recover(backend, endpoint, now, 0, Some(now))),
        (
            "attempts by endpoint",
            attempts(backend, &by(AttemptScope::Endpoint(endpoint.into())), &page),
        ),
        (
            "attempts by message",
            attempts(backend, &by(AttemptScope::Message(msg.into())), &page),
        ),
    ];
    all.extend(group_commit.into_iter().map(|s| ("group commit", s)));
    all.into_iter()
        .map(|(name, sql)| (name, sql.explain(backend)))
        .collect()
}

/// An outcome for the delivery of `msg` to `endpoint` (as the plan checks
/// name their deliveries), for the group commit's statements to record.
pub fn sample_outcome(app: &str, endpoint: &str, msg: &str) -> crate::store::Outcome {
    let delivery = format!(
        "dlv_{}{endpoint}",
        msg.trim_start_matches("msg_").trim_start_matches('0')
    );
    crate::store::Outcome {
        attempt: crate::store::AttemptRecord {
            id: "atmpt_sample".into(),
            app_id: app.into(),
            msg_id: msg.into(),
            endpoint_id: endpoint.into(),
            url: "https://example.com".into(),
            status: DeliveryStatus::Success,
            status_code: 200,
            response: None,
            response_headers: None,
            duration_ms: 1,
            trigger_type: Trigger::Scheduled,
            error: None,
            ssl_verification: true,
            created_at: crate::time::now(),
        },
        delivery_id: delivery,
        status: DeliveryStatus::Success,
        next_attempt_at: None,
        disable_if_failing_since: None,
        announce: None,
    }
}
