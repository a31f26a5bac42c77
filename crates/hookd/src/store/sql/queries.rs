//! The statements on hot paths, built here so that the store runs them and the
//! plan check (`tests/it/cluster.rs`) EXPLAINs exactly the same text.

use super::builder::{Sql, json_array_contains, paginate};
use super::rows::{ATTEMPT_COLS, MESSAGE_COLS};
use crate::store::{AttemptFilter, AttemptScope, Backend, MessageFilter, Page};
use crate::time::Micros;

/// Leases up to `limit` due deliveries of enabled endpoints to `owner`.
pub fn claim(backend: Backend, owner: &str, now: Micros, lease_until: Micros, limit: i64) -> Sql {
    let mut sql = Sql::new("UPDATE deliveries SET lease_until = ");
    sql.bind(lease_until).push(", lease_owner = ").bind(owner);
    sql.push(" WHERE id IN (SELECT d.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id WHERE d.next_attempt_at <= ");
    sql.bind(now)
        .push(" AND (d.lease_until IS NULL OR d.lease_until < $3) AND e.disabled = 0");
    sql.push(" ORDER BY d.next_attempt_at LIMIT ").bind(limit);
    if backend == Backend::Postgres {
        // Nodes claiming at once each take different rows instead of waiting on each other.
        sql.push(" FOR UPDATE OF d SKIP LOCKED");
    }
    sql.push(") RETURNING ").push(TASK_COLS);
    sql
}

/// What a delivery row gives a task (`SqlStore::tasks_for` reads the rest).
pub const TASK_COLS: &str = "id, msg_id, endpoint_id, attempts, trigger_type";

fn payload_col(with_content: bool) -> &'static str {
    if with_content { "m.payload" } else { "NULL AS payload" }
}

/// An application's messages.
pub fn messages(app_id: &str, filter: &MessageFilter, page: &Page) -> Sql {
    let payload = payload_col(filter.with_content);
    let mut sql = Sql::new(&format!(
        "SELECT {MESSAGE_COLS}, {payload} FROM messages m WHERE m.app_id = "
    ));
    sql.bind(app_id);
    filter_messages(&mut sql, filter);
    paginate(&mut sql, "m.id", page);
    sql
}

/// The messages sent to an endpoint, with their delivery state there.
pub fn endpoint_messages(endpoint_id: &str, filter: &MessageFilter, page: &Page) -> Sql {
    let payload = payload_col(filter.with_content);
    let mut sql = Sql::new(&format!(
        "SELECT {MESSAGE_COLS}, {payload}, d.status AS d_status, d.next_attempt_at AS d_next_attempt_at \
         FROM deliveries d JOIN messages m ON m.id = d.msg_id WHERE d.endpoint_id = "
    ));
    sql.bind(endpoint_id);
    filter_messages(&mut sql, filter);
    if let Some(s) = filter.status {
        sql.push(" AND d.status = ").bind(s);
    }
    paginate(&mut sql, "d.msg_id", page);
    sql
}

/// Attempts of an endpoint or of a message.
pub fn attempts(f: &AttemptFilter, page: &Page) -> Sql {
    let mut sql = Sql::new(&format!("SELECT {ATTEMPT_COLS} FROM attempts a"));
    let by_message = f.event_types.is_some() || f.channel.is_some() || f.tag.is_some();
    if by_message {
        sql.push(" JOIN messages m ON m.id = a.msg_id");
    }
    match &f.scope {
        AttemptScope::Endpoint(id) => sql.push(" WHERE a.endpoint_id = ").bind(id),
        AttemptScope::Message(id) => sql.push(" WHERE a.msg_id = ").bind(id),
    };
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
            channel: f.channel.clone(),
            tag: f.tag.clone(),
            ..Default::default()
        };
        filter_messages(&mut sql, &mf);
    }
    if let Some(before) = f.before {
        sql.push(" AND a.created_at < ").bind(before);
    }
    if let Some(after) = f.after {
        sql.push(" AND a.created_at > ").bind(after);
    }
    paginate(&mut sql, "a.id", page);
    sql
}

/// Appends the conditions of `f` on the message table aliased `m`.
pub fn filter_messages(sql: &mut Sql, f: &MessageFilter) {
    if let Some(types) = f.event_types.as_ref().filter(|t| !t.is_empty()) {
        sql.push(" AND m.event_type IN ").bind_list(types);
    }
    if let Some(channel) = &f.channel {
        json_array_contains(sql, "m.channels", channel);
    }
    if let Some(tag) = &f.tag {
        json_array_contains(sql, "m.tags", tag);
    }
    if let Some(before) = f.before {
        sql.push(" AND m.created_at < ").bind(before);
    }
    if let Some(after) = f.after {
        sql.push(" AND m.created_at > ").bind(after);
    }
}

/// Each hot statement with sample arguments, as `EXPLAIN` statements: what the
/// plan check runs against a large database.
pub fn explained(backend: Backend, app: &str, endpoint: &str, msg: &str) -> Vec<(&'static str, Sql)> {
    let page = Page {
        limit: 51,
        after: None,
        descending: true,
    };
    let later = Page {
        after: Some(msg.to_owned()),
        ..page.clone()
    };
    let by = |scope| AttemptFilter {
        scope,
        endpoint_id: None,
        status: None,
        status_code_class: None,
        event_types: None,
        channel: None,
        tag: None,
        before: None,
        after: None,
        with_content: true,
    };
    let mf = MessageFilter {
        with_content: true,
        ..Default::default()
    };
    let now = crate::time::now();
    let mut all: Vec<(&'static str, Sql)> = vec![
        ("claim", claim(backend, "node", now, now, 500)),
        ("messages", messages(app, &mf, &page)),
        ("messages, next page", messages(app, &mf, &later)),
        ("endpoint messages", endpoint_messages(endpoint, &mf, &page)),
        (
            "attempts by endpoint",
            attempts(&by(AttemptScope::Endpoint(endpoint.into())), &page),
        ),
        (
            "attempts by message",
            attempts(&by(AttemptScope::Message(msg.into())), &page),
        ),
    ];
    // Recording an outcome for a delivery of the sample message to the sample endpoint.
    let delivery = format!(
        "dlv_{}{endpoint}",
        msg.trim_start_matches("msg_").trim_start_matches('0')
    );
    let outcome = crate::store::Outcome {
        attempt: crate::store::AttemptRecord {
            id: "atmpt_sample".into(),
            app_id: app.into(),
            msg_id: msg.into(),
            endpoint_id: endpoint.into(),
            url: "https://example.com".into(),
            status: crate::store::status::SUCCESS,
            status_code: 200,
            response: None,
            response_headers: None,
            duration_ms: 1,
            trigger_type: 0,
            error: None,
            ssl_verification: true,
            created_at: now,
        },
        delivery_id: delivery,
        status: crate::store::status::SUCCESS,
        next_attempt_at: None,
        disable_if_failing_since: None,
    };
    // The endpoint's own update reads a small table; the check is about the large ones.
    all.extend(
        super::deliveries::outcome_statements(&[outcome], None)
            .into_iter()
            .filter(|s| !s.text().starts_with("UPDATE endpoints"))
            .map(|s| ("record an outcome", s)),
    );
    all.into_iter().map(|(name, sql)| (name, sql.explain())).collect()
}
