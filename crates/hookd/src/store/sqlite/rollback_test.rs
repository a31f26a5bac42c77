//! A transaction that spills pages to the log and then rolls back must leave
//! nothing behind, even when the log restarted just before it and another
//! connection (in this process, or another such as `hookd rotate-key`)
//! commits right after it: on the writer's own connection, and through
//! hookd's group commit. The writer's connection uses SQLite's own VFS; these
//! tests guard against a log-writing shortcut coming back (one that buffered
//! a commit's frames lost the whole database in the first test).

use std::sync::Arc;

use rusqlite::Connection;

use super::testing::{keys, look, open};
use crate::store::{AppRecord, AppStore, EndpointStore, MessageRecord, MessageStore, NewMessage, Store, test_endpoint};

/// Rows of about 3 KB, so that a batch is larger than the writer's page cache.
const BIG: usize = 3000;

fn message(id: &str, app_id: &str) -> NewMessage {
    NewMessage {
        message: Arc::new(MessageRecord {
            id: id.into(),
            app_id: app_id.into(),
            event_type: "t".into(),
            event_id: None,
            channels: None,
            tags: None,
            payload: Some(format!("\"{}\"", "x".repeat(BIG))),
            deliver_at: None,
            created_at: 1,
            expires_at: i64::MAX,
            traceparent: None,
            tracestate: None,
        }),
        lease: None,
        lease_room: 0,
        only_endpoint: None,
    }
}

fn app(id: &str) -> AppRecord {
    AppRecord {
        id: id.into(),
        uid: None,
        name: id.into(),
        throttle_rate: None,
        metadata: Default::default(),
        created_at: 1,
        updated_at: 1,
    }
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

/// A second writer: a connection in this process, or `python3`'s sqlite3 in another.
fn commit_elsewhere(path: &std::path::Path, another_process: bool, rows: usize) {
    if another_process {
        let script = format!(
            "import sqlite3\n\
             c = sqlite3.connect({path:?}, timeout=10)\n\
             c.executemany('INSERT INTO settings (key, value) VALUES (?, ?)', \
               [('o_%d' % i, 'y' * {BIG}) for i in range({rows})])\n\
             c.commit()\n",
            path = path.display().to_string()
        );
        let out = std::process::Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    let other = Connection::open(path).unwrap();
    other.execute_batch("PRAGMA busy_timeout=10000;").unwrap();
    let tx = other.unchecked_transaction().unwrap();
    for i in 0..rows {
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)",
            (format!("o_{i}"), "y".repeat(BIG)),
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// The case that lost the database with the gathering VFS: the log restarts,
/// the writer spills a transaction (a page cache of ten pages, twelve rows of
/// 3 KB) and rolls it back, another writer commits where those frames were,
/// and the writer reads.
#[tokio::test]
async fn a_rolled_back_spill_on_the_writer_survives_another_writer() {
    for another_process in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookd.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = open(&url, keys()).await;
        let writer = store.database().writer();
        let checkpoint = look(&url);
        checkpoint
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0))
            .unwrap();
        writer.connection(|c| {
            c.execute_batch("PRAGMA cache_size=10; BEGIN IMMEDIATE;").unwrap();
            for i in 0..12 {
                c.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2)",
                    (format!("gone_{i}"), "x".repeat(BIG)),
                )
                .unwrap();
            }
            c.execute_batch("ROLLBACK; PRAGMA cache_size=-2000;").unwrap();
        });
        commit_elsewhere(&path, another_process, 100);
        let (kept, gone, check) = writer.connection(|c| {
            (
                count(c, "settings WHERE key LIKE 'o_%'"),
                count(c, "settings WHERE key LIKE 'gone_%'"),
                integrity(c),
            )
        });
        assert_eq!(
            (kept, gone, check.as_str()),
            (100, 0, "ok"),
            "another process: {another_process}"
        );
        drop(checkpoint);
        store.close().await;
        drop(store);
        let fresh = Connection::open(&path).unwrap();
        assert_eq!(integrity(&fresh), "ok");
        assert_eq!(count(&fresh, "settings WHERE key LIKE 'o_%'"), 100);
    }
}

/// The same through hookd's group commit: a fan-out batch of about 3 MB that
/// spills and rolls back on a foreign-key failure, another connection
/// committing right after, and the writer going on.
#[tokio::test]
async fn a_spilled_group_commit_rolled_back_leaves_the_database_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookd.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let keys = keys();
    let store = open(&url, keys.clone()).await;
    store.create_app(&app("app_1")).await.unwrap();
    store
        .create_endpoint(
            &crate::store::EndpointRecord {
                secret: "whsec_c2VjcmV0".into(),
                ..test_endpoint()
            },
            &[],
        )
        .await
        .unwrap();
    let other = look(&url);

    for round in 0..3 {
        // The log starts again from its first frame.
        other
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0))
            .unwrap();
        // About 3 MB of messages and their deliveries, more than the writer's
        // page cache holds, and one message of an application that does not
        // exist: the foreign key fails at the commit and all of it rolls back.
        let mut batch: Vec<NewMessage> = (0..1000)
            .map(|i| message(&format!("msg_{round}_{i:04}"), "app_1"))
            .collect();
        batch.push(message(&format!("msg_{round}_orphan"), "app_missing"));
        let matches = crate::store::Matcher {
            route: |_, eps| (0..eps.len()).collect(),
            order: |_, _| None,
        };
        assert!(store.write(&batch, matches, &[]).await.is_err(), "round {round}");

        // Another connection commits right after, over where the rolled-back
        // frames would have gone.
        let tx = other.unchecked_transaction().unwrap();
        for i in 0..100 {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)",
                (format!("k_{round}_{i}"), "y".repeat(BIG)),
            )
            .unwrap();
        }
        tx.commit().unwrap();

        // The writer goes on, and what it writes lands.
        let kept = [message(&format!("msg_{round}_kept"), "app_1")];
        let published = store.write(&kept, matches, &[]).await.unwrap();
        assert_eq!(published[0].as_ref().unwrap().tasks.len(), 1);
        assert_eq!(integrity(&other), "ok", "round {round}");
    }
    assert_eq!(count(&other, "messages"), 3);
    assert_eq!(count(&other, "deliveries"), 3);
    assert_eq!(count(&other, "settings WHERE key LIKE 'k_%'"), 300);
    drop(other);
    store.close().await;
    drop(store);

    // After a restart, every row is where it belongs.
    let store = open(&url, keys).await;
    let page = crate::store::Page {
        limit: 10,
        after: None,
        descending: false,
    };
    let listed = store
        .list_messages(Some("app_1"), &Default::default(), &page)
        .await
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["msg_0_kept", "msg_1_kept", "msg_2_kept"]);
    store.close().await;
    drop(store);
    let fresh = Connection::open(&path).unwrap();
    assert_eq!(integrity(&fresh), "ok");
    assert_eq!(count(&fresh, "settings WHERE key LIKE 'k_%'"), 300);
}
