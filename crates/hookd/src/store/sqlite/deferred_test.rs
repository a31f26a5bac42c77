//! The embedded store's deferred indexes: rows in the index tables, in the
//! tail and written late are each found once, in order, page by page; deletes
//! take their index entries with them; and the queries search, never scan.

use rusqlite::Connection;

use super::deferred::catch_up_statements;
use super::testing::{count, keys, look, open, url};
use crate::store::sql::SqlStore;
use crate::store::sql::queries::{explained, sample_outcome};
use crate::store::{
    AppStore, AttemptFilter, AttemptScope, Backend, DeliveryStatus, DeliveryStore, EndpointStore, MessageFilter,
    MessageStore, OperationsStore, Page, Store,
};

fn exec(db: &Connection, sql: &str) {
    db.execute_batch(sql).unwrap();
}

async fn open_store(dir: &tempfile::TempDir) -> (SqlStore<super::Sqlite>, Connection) {
    let url = url(dir);
    (open(&url, keys()).await, look(&url))
}

/// Two applications; `app_1` has endpoints `ep_a` and `ep_b`, `app_2` has `ep_c`.
fn apps_and_endpoints(db: &Connection) {
    let mut sql = String::from(
        "INSERT INTO applications (id, name, metadata, created_at, updated_at) VALUES \
         ('app_1', 'one', '{}', 1, 1), ('app_2', 'two', '{}', 1, 1);",
    );
    for (ep, app) in [("ep_a", "app_1"), ("ep_b", "app_1"), ("ep_c", "app_2")] {
        sql.push_str(&format!(
            "INSERT INTO endpoints (id, app_id, url, description, version, disabled, metadata, headers, secret, \
             old_secrets, options, created_at, updated_at) \
             VALUES ('{ep}', '{app}', 'https://example.com', '', 1, 0, '{{}}', '{{}}', 's', '[]', '{{}}', 1, 1);"
        ));
    }
    exec(db, &sql);
}

/// Message `n` of `app`, delivered to and attempted at each of `endpoints`;
/// even-numbered deliveries failed.
fn message(db: &Connection, n: u32, app: &str, endpoints: &[&str]) {
    let mut sql = format!(
        "INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at) \
         VALUES ('msg_{n:05}', '{app}', 't', '{{}}', {n}, 9999999);"
    );
    for ep in endpoints {
        let st = if n.is_multiple_of(2) {
            DeliveryStatus::Fail.code()
        } else {
            DeliveryStatus::Success.code()
        };
        sql.push_str(&format!(
            "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, attempts, trigger_type, created_at, updated_at) \
             VALUES ('dlv_{n:05}{ep}', '{app}', 'msg_{n:05}', '{ep}', {st}, 1, 0, {n}, {n}); \
             INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code, duration_ms, trigger_type, created_at) \
             VALUES ('atmpt_{n:05}{ep}', '{app}', 'msg_{n:05}', '{ep}', 'https://example.com', {st}, 200, 1, 0, {n});"
        ));
    }
    exec(db, &sql);
}

fn catch_up(db: &Connection) {
    for text in catch_up_statements() {
        exec(db, &text);
    }
}

fn page(after: Option<String>, descending: bool) -> Page {
    Page {
        limit: 7,
        after,
        descending,
    }
}

/// Every id a list gives, following its pages to the end.
async fn all_pages<F, Fut>(descending: bool, list: F) -> Vec<String>
where
    F: Fn(Page) -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let mut ids: Vec<String> = Vec::new();
    loop {
        let got = list(page(ids.last().cloned(), descending)).await;
        let full = got.len() == 7;
        ids.extend(got);
        if !full {
            return ids;
        }
    }
}

#[tokio::test]
async fn rows_are_found_once_whether_indexed_in_the_tail_or_late() {
    let dir = tempfile::tempdir().unwrap();
    let (store, db) = &open_store(&dir).await;
    apps_and_endpoints(db);
    // 1..=40 indexed, 61..=90 in the tail, and 41..=50 written after the mark
    // had passed them (a late commit), which the triggers index at once.
    for n in 1..=40 {
        message(db, n, "app_1", &["ep_a", "ep_b"]);
    }
    catch_up(db);
    // Raising a mark past keys nobody has yet keeps every row found once.
    exec(db, "UPDATE index_marks SET upto = 'msg_00060' WHERE name = 'messages'");
    exec(
        db,
        "UPDATE index_marks SET upto = 'dlv_00060' WHERE name = 'deliveries'",
    );
    exec(db, "UPDATE index_marks SET upto = 'msg_00060' WHERE name = 'attempts'");
    message(db, 100, "app_2", &["ep_c"]);
    for n in (41..=50).chain(61..=90) {
        message(db, n, "app_1", &["ep_a", "ep_b"]);
    }
    for (index, owner) in [
        ("messages_by_app", "app_id = 'app_1'"),
        ("deliveries_by_endpoint", "endpoint_id = 'ep_a'"),
        ("attempts_by_endpoint", "endpoint_id = 'ep_b'"),
    ] {
        let sql = format!("SELECT COUNT(*) FROM {index} WHERE {owner}");
        assert_eq!(count(db, &sql), 50, "{index}");
    }

    let want: Vec<u32> = (1..=50).chain(61..=90).collect();
    let ids = |prefix: &str, suffix: &str| -> Vec<String> {
        want.iter().map(|n| format!("{prefix}{n:05}{suffix}")).collect()
    };
    for descending in [true, false] {
        let mut expect_msgs = ids("msg_", "");
        let mut expect_attempts = ids("atmpt_", "ep_a");
        if descending {
            expect_msgs.reverse();
            expect_attempts.reverse();
        }
        let f = MessageFilter::default();
        let msgs = all_pages(descending, |p| {
            let f = &f;
            async move {
                let got = store.list_messages(Some("app_1"), f, &p).await.unwrap();
                got.into_iter().map(|m| m.id).collect()
            }
        })
        .await;
        assert_eq!(msgs, expect_msgs, "an application's messages, descending: {descending}");

        let sent = all_pages(descending, |p| {
            let f = &f;
            async move {
                let got = store.list_endpoint_messages("ep_a", f, &p).await.unwrap();
                got.into_iter().map(|(m, _)| m.id).collect()
            }
        })
        .await;
        assert_eq!(sent, expect_msgs, "an endpoint's messages, descending: {descending}");

        let attempts = all_pages(descending, |p| async move {
            let f = AttemptFilter::all(AttemptScope::Endpoint("ep_a".into()));
            let got = store.list_attempts(&f, &p).await.unwrap();
            got.into_iter().map(|a| a.id).collect()
        })
        .await;
        assert_eq!(
            attempts, expect_attempts,
            "an endpoint's attempts, descending: {descending}"
        );
    }

    // Filters apply on both sides.
    let failed = MessageFilter {
        status: Some(DeliveryStatus::Fail),
        ..Default::default()
    };
    let got = store
        .list_endpoint_messages("ep_b", &failed, &page(None, true))
        .await
        .unwrap();
    let got: Vec<String> = got.into_iter().map(|(m, _)| m.id).collect();
    assert_eq!(
        got,
        [
            "msg_00090",
            "msg_00088",
            "msg_00086",
            "msg_00084",
            "msg_00082",
            "msg_00080",
            "msg_00078"
        ]
    );

    let stats = store.endpoint_stats("ep_a", None, None).await.unwrap();
    assert_eq!((stats.fail, stats.success), (40, 40));
    assert_eq!(
        store
            .recover("ep_a", 45, None, serde_json::json!({}))
            .await
            .unwrap()
            .count,
        Some(18),
        "46, 48, 50 and 62..=90 even"
    );

    // Deletes take their index entries, wherever the rows were.
    store.delete_endpoint("app_1", "ep_a", &[]).await.unwrap();
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM deliveries WHERE endpoint_id = 'ep_a'"),
        0
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM attempts WHERE endpoint_id = 'ep_a'"), 0);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM deliveries_by_endpoint WHERE endpoint_id = 'ep_a'"
        ),
        0
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM attempts_by_endpoint WHERE endpoint_id = 'ep_a'"
        ),
        0
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM deliveries_by_endpoint WHERE endpoint_id = 'ep_b'"
        ),
        50
    );
    store.delete_app("app_1").await.unwrap();
    for table in ["messages", "deliveries", "attempts"] {
        assert_eq!(
            count(db, &format!("SELECT COUNT(*) FROM {table} WHERE app_id = 'app_1'")),
            0
        );
    }
    // Nothing of app_1 is left to index, nor left in the index tables.
    catch_up(db);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM messages_by_app"),
        1,
        "app_2's message is left"
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM deliveries_by_endpoint"), 1);
    assert_eq!(count(db, "SELECT COUNT(*) FROM attempts_by_endpoint"), 1);
    store.close().await;
}

#[tokio::test]
async fn deferred_index_queries_search_and_never_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (store, db) = &open_store(&dir).await;
    apps_and_endpoints(db);
    for n in 1..=300 {
        message(db, n, "app_1", &["ep_a", "ep_b"]);
    }
    catch_up(db);
    exec(db, "ANALYZE");
    let mut checked = 0;
    // Recording an outcome: the endpoint's own update reads a small table;
    // the check is about the large ones.
    let outcome = sample_outcome("app_1", "ep_a", "msg_00150");
    let group_commit = super::write::outcome_statements(&[outcome])
        .into_iter()
        .filter(|s| !s.text().starts_with("UPDATE endpoints"))
        .collect();
    for (name, sql) in explained(Backend::Sqlite, "app_1", "ep_a", "msg_00150", group_commit) {
        let plan: Vec<String> = super::fetch(db, &sql)
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("detail").unwrap())
            .collect();
        for line in &plan {
            // The statements' tables go by these names; other scans are of
            // subqueries, VALUES lists and constant rows.
            let tables = ["m", "d", "a", "x", "e", "messages", "deliveries", "attempts"];
            let scanned = line.strip_prefix("SCAN ").and_then(|l| l.split(' ').next());
            // The FIFO indexes hold only FIFO deliveries not yet placed or not
            // yet finished: reading one whole costs what is waiting, not the table.
            let fifo_work = ["deliveries_fifo_unplaced", "deliveries_fifo_open"].iter().any(|i| {
                line.ends_with(&format!("USING INDEX {i}")) || line.ends_with(&format!("USING COVERING INDEX {i}"))
            });
            let scans_a_table = scanned.is_some_and(|t| tables.contains(&t)) && !fifo_work;
            assert!(!scans_a_table, "{name} scans a table: {plan:#?}");
        }
        if name == "messages of an event type" {
            let typed = plan.iter().any(|l| l.contains("messages_by_app_type"));
            assert!(typed, "a type's messages are read through its index: {plan:#?}");
        }
        checked += 1;
    }
    assert!(checked >= 6);
    store.close().await;
}

/// Attempts in the tail are counted by the reader, folded in by the catch-up,
/// and late ones by their trigger: each once, at every moment.
#[tokio::test]
async fn attempts_are_counted_once_in_the_tail_folded_in_or_late() {
    let dir = tempfile::tempdir().unwrap();
    let (store, db) = &open_store(&dir).await;
    apps_and_endpoints(db);
    let counted = async || -> i64 {
        store
            .attempt_counts("app_1", 0)
            .await
            .unwrap()
            .iter()
            .map(|r| r.n)
            .sum()
    };
    for n in 1..=10 {
        message(db, n, "app_1", &["ep_a", "ep_b"]);
    }
    message(db, 11, "app_2", &["ep_c"]);
    assert_eq!(counted().await, 20, "the tail");
    catch_up(db);
    assert_eq!(counted().await, 20, "folded in");
    for n in 12..=13 {
        message(db, n, "app_1", &["ep_a"]);
    }
    assert_eq!(counted().await, 22, "folded in and a new tail");
    exec(
        db,
        "INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code, duration_ms, trigger_type, created_at) \
         VALUES ('atmpt_late', 'app_1', 'msg_00003', 'ep_a', 'https://example.com', 0, 200, 1, 1, 3)",
    );
    assert_eq!(counted().await, 23, "a retry of a message below the mark");
    catch_up(db);
    assert_eq!(counted().await, 23, "all folded in");
    let ok: i64 = store
        .attempt_counts("app_1", 0)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.status == DeliveryStatus::Success && r.endpoint_id == "ep_a")
        .map(|r| r.n)
        .sum();
    assert_eq!(ok, 7, "the odd messages 1 to 9 and 13, and the retry");
    store.close().await;
}
