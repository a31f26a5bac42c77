//! An embedded store made by an earlier version keeps every row through the
//! table rebuilds of migrations 4 and 5 and finds them through the deferred
//! indexes of 6, and its constraints still hold afterwards.

use std::borrow::Cow;
use std::sync::Arc;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, Row, SqlSafeStr as _};

use super::{MIGRATIONS, SqlStore};
use crate::security::keyring::{Keyring, new_key_text};

async fn count(pool: &AnyPool, sql: &'static str) -> i64 {
    sqlx::query(sql).fetch_one(pool).await.unwrap().try_get(0).unwrap()
}

#[tokio::test]
async fn rebuilt_tables_keep_their_rows_and_constraints() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());

    // The schema as version 3 left it, with one of everything in it.
    let old = AnyPool::connect(&url).await.unwrap();
    let steps = MIGRATIONS
        .iter()
        .filter(|s| s.version <= 3)
        .map(|s| {
            let sql = AssertSqlSafe(s.sqlite).into_sql_str();
            Migration::new(s.version, Cow::Borrowed(s.name), MigrationType::Simple, sql, false)
        })
        .collect();
    let migrator = Migrator {
        migrations: Cow::Owned(steps),
        ..Migrator::DEFAULT
    };
    migrator.run(&old).await.unwrap();
    sqlx::raw_sql(
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
    .execute(&old)
    .await
    .unwrap();
    old.close().await;

    let keys = Arc::new(Keyring::from_key_text(&new_key_text()).unwrap());
    let store = SqlStore::open(&url, keys).await.unwrap();
    let db = &store.write;
    assert_eq!(count(db, "SELECT COUNT(*) FROM messages").await, 2);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM deliveries WHERE lease_owner = 'node'").await,
        1
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM attempts WHERE ssl_verification = 0").await,
        1
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM pragma_foreign_key_check").await, 0);
    let clustered = "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('messages', 'deliveries', 'attempts') \
                     AND sql LIKE '%WITHOUT ROWID'";
    assert_eq!(count(db, clustered).await, 3);
    let attempt = "SELECT COUNT(*) FROM attempts WHERE msg_id = 'msg_1' AND id = 'atmpt_1' AND response = 'ok'";
    assert_eq!(count(db, attempt).await, 1);
    // Migration 6 indexed the rows there were and set its marks past them.
    assert_eq!(count(db, "SELECT COUNT(*) FROM messages_by_app").await, 2);
    assert_eq!(count(db, "SELECT COUNT(*) FROM deliveries_by_endpoint").await, 2);
    assert_eq!(count(db, "SELECT COUNT(*) FROM attempts_by_endpoint").await, 1);
    let marks = "SELECT COUNT(*) FROM index_marks WHERE (name, upto) IN \
                 (VALUES ('messages', 'msg_2'), ('deliveries', 'dlv_2'), ('attempts', 'msg_1'))";
    assert_eq!(count(db, marks).await, 3);

    // An eventId is still unique per application; messages without one are not limited.
    let dup = "INSERT INTO messages VALUES ('msg_3', 'app_1', 't', 'evt_1', NULL, NULL, '{}', NULL, 3, 9)";
    assert!(sqlx::query(dup).execute(db).await.is_err());
    let plain = "INSERT INTO messages VALUES ('msg_4', 'app_1', 't', NULL, NULL, NULL, '{}', NULL, 4, 9)";
    sqlx::query(plain).execute(db).await.unwrap();

    // The foreign keys point at the rebuilt tables: deleting the application
    // takes everything under it, and a delivery for no message is refused.
    let orphan = "INSERT INTO deliveries VALUES ('dlv_9', 'app_1', 'msg_9', 'ep_1', 1, 0, 0, 5, NULL, NULL, 2, 2)";
    assert!(sqlx::query(orphan).execute(db).await.is_err());
    sqlx::query("DELETE FROM applications").execute(db).await.unwrap();
    for table in [
        "SELECT COUNT(*) FROM messages",
        "SELECT COUNT(*) FROM deliveries",
        "SELECT COUNT(*) FROM attempts",
        "SELECT COUNT(*) FROM messages_by_app",
        "SELECT COUNT(*) FROM deliveries_by_endpoint",
        "SELECT COUNT(*) FROM attempts_by_endpoint",
    ] {
        assert_eq!(count(db, table).await, 0, "{table}");
    }
    store.close().await;
}
