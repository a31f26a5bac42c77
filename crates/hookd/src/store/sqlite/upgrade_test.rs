//! An embedded store made by an earlier version (its versions recorded by
//! sqlx) keeps every row through the table rebuilds of migrations 4 and 5 and
//! finds them through the deferred indexes of 6, and its constraints still
//! hold afterwards.

use super::migrate::migrate_to;
use super::testing::{count, keys, look, open, url};
use crate::store::Store;

#[tokio::test]
async fn rebuilt_tables_keep_their_rows_and_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let url = url(&dir);

    // The schema as version 3 left it, with one of everything in it, and its
    // versions recorded as sqlx recorded them then.
    let mut old = look(&url);
    migrate_to(&mut old, 3).unwrap();
    old.execute_batch(
        "PRAGMA user_version = 0;
         CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL,
             checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);
         INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (1, 'init', TRUE, x'00', 1), (2, 'attempt tls', TRUE, x'00', 1),
                    (3, 'event type validation', TRUE, x'00', 1);",
    )
    .unwrap();
    old.execute_batch(
        "INSERT INTO applications VALUES ('app_1', NULL, 'a', NULL, '{}', 1, 1);
         INSERT INTO endpoints VALUES ('ep_1', 'app_1', NULL, 'https://example.com', '', 1, NULL, 0, NULL,
             NULL, '{}', '{}', 's', '[]', '{}', NULL, 1, 1);
         INSERT INTO messages VALUES ('msg_1', 'app_1', 't', 'evt_1', NULL, NULL, '{}', NULL, 1, 9),
                                     ('msg_2', 'app_1', 't', NULL, NULL, NULL, '{}', NULL, 2, 9);
         INSERT INTO deliveries VALUES ('dlv_1', 'app_1', 'msg_1', 'ep_1', 0, 1, 0, NULL, NULL, NULL, 1, 1),
                                       ('dlv_2', 'app_1', 'msg_2', 'ep_1', 1, 0, 0, 5, 7, 'node', 2, 2);
         INSERT INTO attempts VALUES ('atmpt_1', 'app_1', 'msg_1', 'ep_1', 'https://example.com', 0, 200,
             'ok', '{}', 3, 0, NULL, 1, 0);",
    )
    .unwrap();
    drop(old);

    let store = open(&url, keys()).await;
    let db = &look(&url);
    assert_eq!(count(db, "PRAGMA user_version"), 20);
    assert_eq!(count(db, "SELECT COUNT(*) FROM messages"), 2);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM deliveries WHERE lease_owner = 'node'"),
        1
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM attempts WHERE ssl_verification = 0"), 1);
    assert_eq!(count(db, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
    let clustered = "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('messages', 'deliveries', 'attempts') \
                     AND sql LIKE '%WITHOUT ROWID'";
    assert_eq!(count(db, clustered), 3);
    let attempt = "SELECT COUNT(*) FROM attempts WHERE msg_id = 'msg_1' AND id = 'atmpt_1' AND response = 'ok'";
    assert_eq!(count(db, attempt), 1);
    // Migration 6 indexed the rows there were and set its marks past them.
    assert_eq!(count(db, "SELECT COUNT(*) FROM messages_by_app"), 2);
    // Migration 16 gave the index its messages' event types.
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM messages_by_app WHERE event_type = 't'"),
        2
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM deliveries_by_endpoint"), 2);
    assert_eq!(count(db, "SELECT COUNT(*) FROM attempts_by_endpoint"), 1);
    let marks = "SELECT COUNT(*) FROM index_marks WHERE (name, upto) IN \
                 (VALUES ('messages', 'msg_2'), ('deliveries', 'dlv_2'), ('attempts', 'msg_1'))";
    assert_eq!(count(db, marks), 3);

    // Migration 7 gave messages a trace context; those stored before have none.
    assert_eq!(count(db, "SELECT COUNT(*) FROM messages WHERE traceparent IS NULL"), 2);

    // An eventId is still unique per application; messages without one are not limited.
    let dup = "INSERT INTO messages (id, app_id, event_type, event_id, channels, tags, payload, deliver_at, created_at, expires_at) VALUES ('msg_3', 'app_1', 't', 'evt_1', NULL, NULL, '{}', NULL, 3, 9)";
    assert!(db.execute_batch(dup).is_err());
    let plain = "INSERT INTO messages (id, app_id, event_type, event_id, channels, tags, payload, deliver_at, created_at, expires_at) VALUES ('msg_4', 'app_1', 't', NULL, NULL, NULL, '{}', NULL, 4, 9)";
    db.execute_batch(plain).unwrap();

    // The foreign keys point at the rebuilt tables: deleting the application
    // takes everything under it, and a delivery for no message is refused.
    let orphan = "INSERT INTO deliveries VALUES ('dlv_9', 'app_1', 'msg_9', 'ep_1', 1, 0, 0, 5, NULL, NULL, 2, 2)";
    assert!(db.execute_batch(orphan).is_err());
    db.execute_batch("DELETE FROM applications").unwrap();
    for table in [
        "SELECT COUNT(*) FROM messages",
        "SELECT COUNT(*) FROM deliveries",
        "SELECT COUNT(*) FROM attempts",
        "SELECT COUNT(*) FROM messages_by_app",
        "SELECT COUNT(*) FROM deliveries_by_endpoint",
        "SELECT COUNT(*) FROM attempts_by_endpoint",
    ] {
        assert_eq!(count(db, table), 0, "{table}");
    }
    store.close().await;
}
