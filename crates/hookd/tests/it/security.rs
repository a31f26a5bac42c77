use serde_json::json;

use crate::harness::{ADMIN, Receiver, Server};

const SECRET: &str = "whsec_QWxsIHNlY3JldHMgYXJlIGVuY3J5cHRlZCBhdCByZXN0IQ==";

fn stored_bytes(s: &Server) -> Vec<u8> {
    let mut all = Vec::new();
    for f in ["hookd.db", "hookd.db-wal"] {
        all.extend(std::fs::read(s.dir.path().join(f)).unwrap_or_default());
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_never_logged() {
    let s = Server::start(&[("HOOKD_LOG", "trace")]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("vault").await;
    let ep = c
        .endpoint(&app, json!({"url": format!("{}/v", rx.url), "secret": SECRET}))
        .await;
    let base = format!("/api/v1/app/{app}/endpoint/{}", ep["id"].as_str().unwrap());
    c.publish(&app, json!({"eventType": "x", "payload": {}})).await;
    rx.wait("/v", 1).await;
    assert_eq!(c.get(&format!("{base}/secret")).await.body["key"], SECRET);
    let rotated = c.post(&format!("{base}/secret/rotate"), json!({})).await.body["key"]
        .as_str()
        .unwrap()
        .to_string();
    c.post(&format!("{base}/secret/rotate"), json!({"key": "not base64 !"}))
        .await;

    let stored = stored_bytes(&s);
    assert!(!stored.is_empty());
    for secret in [SECRET, &rotated] {
        assert!(!contains(&stored, secret), "a secret is stored in the clear");
        assert!(
            !contains(&stored, secret.trim_start_matches("whsec_")),
            "a secret's body is stored in the clear"
        );
    }
    let log = s.log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log was captured at trace level"
    );
    for secret in [SECRET, &rotated, ADMIN] {
        assert!(!log.contains(secret), "a secret or token appears in the log");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.dir.path().join("main.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn rotate_key_reseals_while_the_server_runs() {
    let mut s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("rotating").await;
    let mut eps = Vec::new();
    for i in 0..3 {
        let ep = c.endpoint(&app, json!({"url": format!("{}/r{i}", rx.url)})).await;
        let id = ep["id"].as_str().unwrap().to_string();
        let secret = c.get(&format!("/api/v1/app/{app}/endpoint/{id}/secret")).await.body["key"]
            .as_str()
            .unwrap()
            .to_string();
        eps.push((id, secret));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["rotate-key", "--data-dir"])
        .arg(s.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.starts_with("3 secrets sealed under key"), "{said}");
    let keys = std::fs::read_to_string(s.dir.path().join("main.key")).unwrap();
    assert_eq!(
        keys.lines().count(),
        2,
        "the old key stays, to open anything sealed with it"
    );

    // The running server opens the resealed secrets and delivers with them.
    for (id, secret) in &eps {
        assert_eq!(
            c.get(&format!("/api/v1/app/{app}/endpoint/{id}/secret")).await.body["key"],
            secret.as_str()
        );
    }
    c.publish(&app, json!({"eventType": "x", "payload": {"k": 1}})).await;
    let got = rx.wait("/r0", 1).await.remove(0);
    let mut h = axum::http::HeaderMap::new();
    for (k, v) in &got.headers {
        h.insert(
            axum::http::HeaderName::try_from(k.as_str()).unwrap(),
            v.parse().unwrap(),
        );
    }
    standardwebhooks::Webhook::new(&eps[0].1)
        .unwrap()
        .verify(got.body.as_bytes(), &h)
        .unwrap();
    s.restart();
    let c = s.admin();
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/endpoint/{}/secret", eps[2].0))
            .await
            .body["key"],
        eps[2].1.as_str()
    );
}

#[tokio::test]
async fn keys_from_the_environment_rotate_by_listing_the_new_key_first() {
    let old = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let new = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
    let mut s = Server::start(&[("HOOKD_MAIN_KEY", old)]);
    let c = s.admin();
    let app = c.app("envkeys").await;
    let ep = c
        .endpoint(&app, json!({"url": "https://example.com/x", "secret": SECRET}))
        .await;
    let path = format!("/api/v1/app/{app}/endpoint/{}/secret", ep["id"].as_str().unwrap());
    assert!(
        !s.dir.path().join("main.key").exists(),
        "no key file when the key comes from the environment"
    );
    s.kill();
    let both = format!("{new},{old}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["rotate-key", "--data-dir"])
        .arg(s.dir.path())
        .env("HOOKD_MAIN_KEY", &both)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut s2 = Server::start_in(s.dir.clone(), &[("HOOKD_MAIN_KEY", new)]);
    assert_eq!(
        s2.admin().get(&path).await.body["key"],
        SECRET,
        "only the new key is needed after rotation"
    );
    s2.kill();
}
