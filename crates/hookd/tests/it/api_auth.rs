use serde_json::{Value, json};

use crate::harness::{Receiver, Server};

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let s = Server::start(&[]);
    for token in ["", "wrong-token"] {
        let c = s.as_token(token);
        let r = c.get("/api/v1/app").await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (401, Some("authentication_failed")),
            "{token}"
        );
        assert_eq!(c.post("/api/v1/app", json!({"name": "x"})).await.status, 401);
    }
    assert_eq!(
        s.admin().get("/api/v1/app").await.body["data"],
        json!([]),
        "nothing was created"
    );
}

/// Every path, as a token of application A, aimed at application B, must answer 404,
/// and the operator-only ones aimed at A must answer 403.
#[tokio::test]
async fn app_token_reaches_only_its_application() {
    let s = Server::start(&[]);
    let admin = s.admin();
    let rx = Receiver::start().await;
    admin
        .post(
            "/api/v1/event-type",
            json!({"name": "e.x", "description": "x", "schemas": {"1": {"examples": [{"a": 1}]}}}),
        )
        .await;
    let mut ids = Vec::new();
    for uid in ["tenant-a", "tenant-b"] {
        let app = admin.app(uid).await;
        let ep = admin.endpoint(&app, json!({"url": format!("{}/{uid}", rx.url)})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let msg = admin.publish(&app, json!({"eventType": "e.x", "payload": {}})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        rx.wait(&format!("/{uid}"), 1).await;
        let att = admin
            .wait_for(&format!("/api/v1/app/{app}/attempt/msg/{msg}"), |b| {
                b["data"].as_array().is_some_and(|d| !d.is_empty())
            })
            .await["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        ids.push((app, ep, msg, att));
    }
    let r = admin
        .post(&format!("/api/v1/auth/app-portal-access/{}", ids[0].0), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["url"].as_str().unwrap().contains("/console/"));
    let a = s.as_token(r.body["token"].as_str().unwrap());
    let me = a.get("/api/v1/auth/whoami").await;
    assert_eq!(me.body["appId"], ids[0].0.as_str(), "{}", me.body);
    let operator = admin.get("/api/v1/auth/whoami").await.body;
    assert_eq!(
        operator,
        json!({"permissionSource": "GlobalAuthToken", "readOnly": false})
    );

    let paths = |(app, ep, msg, att): &(String, String, String, String)| -> Vec<(&'static str, String, Option<Value>)> {
        vec![
            ("GET", format!("/api/v1/app/{app}"), None),
            ("PUT", format!("/api/v1/app/{app}"), Some(json!({"name": "x"}))),
            ("PATCH", format!("/api/v1/app/{app}"), Some(json!({"name": "x"}))),
            ("DELETE", format!("/api/v1/app/{app}"), None),
            ("GET", format!("/api/v1/app/{app}/endpoint"), None),
            (
                "POST",
                format!("/api/v1/app/{app}/endpoint"),
                Some(json!({"url": "https://example.com"})),
            ),
            ("GET", format!("/api/v1/app/{app}/endpoint/{ep}"), None),
            (
                "PUT",
                format!("/api/v1/app/{app}/endpoint/{ep}"),
                Some(json!({"url": "https://example.com"})),
            ),
            ("PATCH", format!("/api/v1/app/{app}/endpoint/{ep}"), Some(json!({}))),
            ("GET", format!("/api/v1/app/{app}/endpoint/{ep}/headers"), None),
            (
                "PUT",
                format!("/api/v1/app/{app}/endpoint/{ep}/headers"),
                Some(json!({"headers": {}})),
            ),
            (
                "PATCH",
                format!("/api/v1/app/{app}/endpoint/{ep}/headers"),
                Some(json!({"headers": {}})),
            ),
            ("GET", format!("/api/v1/app/{app}/endpoint/{ep}/secret"), None),
            (
                "POST",
                format!("/api/v1/app/{app}/endpoint/{ep}/secret/rotate"),
                Some(json!({})),
            ),
            (
                "POST",
                format!("/api/v1/app/{app}/endpoint/{ep}/recover"),
                Some(json!({"since": "2020-01-01T00:00:00Z"})),
            ),
            (
                "POST",
                format!("/api/v1/app/{app}/endpoint/{ep}/send-example"),
                Some(json!({"eventType": "e.x"})),
            ),
            (
                "POST",
                format!("/api/v1/app/{app}/endpoint/{ep}/cancel-msgs"),
                Some(json!({"createdBefore": "2020-01-01T00:00:00Z"})),
            ),
            ("GET", format!("/api/v1/app/{app}/endpoint/{ep}/stats"), None),
            ("GET", format!("/api/v1/app/{app}/endpoint/{ep}/msg"), None),
            ("GET", format!("/api/v1/app/{app}/attempt/endpoint/{ep}"), None),
            ("GET", format!("/api/v1/app/{app}/attempt/endpoint/{ep}/count"), None),
            ("GET", format!("/api/v1/app/{app}/attempt/msg/{msg}"), None),
            ("GET", format!("/api/v1/app/{app}/msg"), None),
            (
                "POST",
                format!("/api/v1/app/{app}/msg"),
                Some(json!({"eventType": "e.x", "payload": {}})),
            ),
            ("GET", format!("/api/v1/app/{app}/msg/{msg}"), None),
            ("DELETE", format!("/api/v1/app/{app}/msg/{msg}/content"), None),
            ("GET", format!("/api/v1/app/{app}/msg/{msg}/endpoint"), None),
            ("GET", format!("/api/v1/app/{app}/msg/{msg}/attempt/{att}"), None),
            (
                "DELETE",
                format!("/api/v1/app/{app}/msg/{msg}/attempt/{att}/content"),
                None,
            ),
            (
                "POST",
                format!("/api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend"),
                Some(json!({})),
            ),
            (
                "POST",
                format!("/api/v1/app/{app}/test-delivery"),
                Some(json!({"url": "https://example.com/t"})),
            ),
            (
                "POST",
                format!("/api/v1/app/{app}/endpoint/{ep}/test"),
                Some(json!({"eventType": "e.x"})),
            ),
            (
                "POST",
                format!("/api/v1/app/{app}/match-preview"),
                Some(json!({"filter": {}})),
            ),
            ("POST", format!("/api/v1/app/{app}/msg/{msg}/cancel"), Some(json!({}))),
        ]
    };
    for (method, path, body) in paths(&ids[1]) {
        let r = a.send(method, &path, body.as_ref(), &[]).await;
        assert_eq!(r.status, 404, "{method} {path} with another app's token: {}", r.body);
    }
    // B is untouched
    assert_eq!(admin.get(&format!("/api/v1/app/{}", ids[1].0)).await.status, 200);

    // Within its own application: reads work, operator-only actions are 403.
    let own = paths(&ids[0]);
    for (method, path, body) in own.iter().filter(|(m, _, _)| *m == "GET") {
        let r = a.send(method, path, body.as_ref(), &[]).await;
        assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
    }
    let app_a = &ids[0].0;
    for (method, path, body) in [
        ("PATCH", format!("/api/v1/app/{app_a}"), Some(json!({"name": "x"}))),
        ("DELETE", format!("/api/v1/app/{app_a}"), None),
        (
            "POST",
            format!("/api/v1/app/{app_a}/msg"),
            Some(json!({"eventType": "e.x", "payload": {}})),
        ),
        ("DELETE", format!("/api/v1/app/{app_a}/msg/{}/content", ids[0].2), None),
        (
            "POST",
            format!("/api/v1/app/{app_a}/msg/{}/cancel", ids[0].2),
            Some(json!({})),
        ),
        ("GET", "/api/v1/app".to_string(), None),
        ("POST", "/api/v1/app".to_string(), Some(json!({"name": "x"}))),
        (
            "POST",
            "/api/v1/event-type".to_string(),
            Some(json!({"name": "y", "description": "y"})),
        ),
        (
            "PATCH",
            "/api/v1/event-type/e.x".to_string(),
            Some(json!({"description": "y"})),
        ),
        ("DELETE", "/api/v1/event-type/e.x".to_string(), None),
        (
            "POST",
            format!("/api/v1/auth/app-portal-access/{app_a}"),
            Some(json!({})),
        ),
    ] {
        let r = a.send(method, &path, body.as_ref(), &[]).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
    }
    assert_eq!(a.get("/api/v1/event-type").await.status, 200);
    assert_eq!(a.get("/api/v1/event-type/e.x").await.status, 200);
    assert_eq!(a.get("/api/v1/catalog/openapi.json").await.status, 200);
    let r = a
        .post(&format!("/api/v1/app/{app_a}/match-preview"), json!({"filter": {}}))
        .await;
    assert_eq!(r.status, 200, "a portal token previews its own application: {}", r.body);
    // the portal manages its own endpoints
    assert_eq!(
        a.post(
            &format!("/api/v1/app/{app_a}/endpoint"),
            json!({"url": "https://example.com/p"})
        )
        .await
        .status,
        201
    );

    // read-only tokens read but do not change
    let ro = admin
        .post(
            &format!("/api/v1/auth/app-portal-access/{app_a}"),
            json!({"readOnly": true}),
        )
        .await
        .body;
    let ro = s.as_token(ro["token"].as_str().unwrap());
    assert_eq!(ro.get(&format!("/api/v1/app/{app_a}/endpoint")).await.status, 200);
    assert_eq!(
        ro.post(
            &format!("/api/v1/app/{app_a}/endpoint"),
            json!({"url": "https://example.com/q"})
        )
        .await
        .status,
        403
    );

    // logout revokes the calling token
    assert_eq!(a.post("/api/v1/auth/logout", json!({})).await.status, 204);
    assert_eq!(a.get(&format!("/api/v1/app/{app_a}")).await.status, 401);
    assert_eq!(
        admin.post("/api/v1/auth/logout", json!({})).await.status,
        403,
        "the configured token cannot be revoked"
    );
    assert_eq!(admin.get("/api/v1/app").await.status, 200);
}

#[tokio::test]
async fn generated_admin_token_is_printed_once_and_reissued_by_command() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let first = run(&["admin-token"]);
    assert!(first.status.success());
    let t1 = String::from_utf8(first.stdout).unwrap().trim().to_string();
    let second = run(&["admin-token"]);
    let t2 = String::from_utf8(second.stdout).unwrap().trim().to_string();
    assert!(t1.starts_with("hookd_admin_") && t2.starts_with("hookd_admin_") && t1 != t2);
    // Only hashes are stored.
    let db = std::fs::read(dir.path().join("hookd.db")).unwrap();
    let wal = std::fs::read(dir.path().join("hookd.db-wal")).unwrap_or_default();
    for t in [&t1, &t2] {
        assert!(!db.windows(t.len()).any(|w| w == t.as_bytes()) && !wal.windows(t.len()).any(|w| w == t.as_bytes()));
    }
}

/// `expire-all`: an application's tokens stop working, all of them or one
/// session's, at once or later; the operator's are untouched.
#[tokio::test]
async fn expire_all_ends_an_applications_tokens() {
    let s = Server::start(&[]);
    let admin = s.admin();
    let app = admin.app("expiring").await;
    let issue = |session: Option<&str>| {
        let body = match session {
            Some(id) => json!({"sessionId": id}),
            None => json!({}),
        };
        let (admin, app) = (admin.clone(), app.clone());
        async move {
            let r = admin.post(&format!("/api/v1/auth/app-portal-access/{app}"), body).await;
            assert_eq!(r.status, 200, "{}", r.body);
            token_of(&r.body)
        }
    };
    let (one, two, plain) = (
        issue(Some("user_1")).await,
        issue(Some("user_2")).await,
        issue(None).await,
    );
    let works = |token: String| {
        let c = s.as_token(&token);
        let app = app.clone();
        async move { c.get(&format!("/api/v1/app/{app}")).await.status }
    };
    let path = format!("/api/v1/auth/app/{app}/expire-all");
    assert_eq!(
        s.as_token(&one).post(&path, json!({})).await.status,
        403,
        "not for its own tokens"
    );

    let r = admin.post(&path, json!({"sessionIds": ["user_1"]})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(works(one.clone()).await, 401);
    assert_eq!(works(two.clone()).await, 200);
    assert_eq!(works(plain.clone()).await, 200);

    let later = admin.post(&path, json!({"expiry": 3600})).await;
    assert_eq!(later.status, 204);
    assert_eq!(works(two.clone()).await, 200, "expires in an hour, not now");
    assert_eq!(admin.post(&path, json!({})).await.status, 204);
    assert_eq!(works(two).await, 401);
    assert_eq!(works(plain).await, 401);
    assert_eq!(admin.get(&format!("/api/v1/app/{app}")).await.status, 200);
    let bad = admin
        .post(&path, json!({"expiry": -1, "sessionIds": ["no spaces"]}))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
}

fn token_of(body: &Value) -> String {
    body["token"].as_str().unwrap().to_owned()
}

/// `create-message-token`: the token publishes to its application (and the
/// message is delivered), and may do nothing else: reading or managing there
/// answers 403, another application 404; whoami names its application.
#[tokio::test]
async fn a_message_token_may_only_create_messages() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let (app, other) = (c.app("producer").await, c.app("elsewhere").await);
    c.endpoint(&app, json!({"url": format!("{}/in", rx.url)})).await;
    let r = c
        .post(
            &format!("/api/v1/auth/app/{app}/create-message-token"),
            json!({"name": "billing producer", "expiry": 3600}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "billing producer");
    assert!(
        r.body["expiresAt"].is_string() && r.body["createdAt"].is_string(),
        "{}",
        r.body
    );
    let producer = s.as_token(r.body["token"].as_str().unwrap());

    let sent = producer
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(rx.wait("/in", 1).await[0].body, r#"{"n":1}"#);
    let who = producer.get("/api/v1/auth/whoami").await;
    assert_eq!(who.body["appId"], app.as_str());

    let msg = sent.body["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/app/{app}"),
        format!("/api/v1/app/{app}/msg"),
        format!("/api/v1/app/{app}/msg/{msg}"),
        format!("/api/v1/app/{app}/endpoint"),
    ] {
        let got = producer.get(&path).await;
        assert_eq!(got.status, 403, "{path}: {}", got.body);
    }
    let made = producer
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": "https://example.com/x"}),
        )
        .await;
    assert_eq!(made.status, 403, "{}", made.body);
    let elsewhere = producer
        .post(
            &format!("/api/v1/app/{other}/msg"),
            json!({"eventType": "t", "payload": {}}),
        )
        .await;
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.body);
    assert_eq!(producer.get("/api/v1/app").await.status, 403);
    let minted = producer
        .post(
            &format!("/api/v1/auth/app/{app}/create-message-token"),
            json!({"name": "more"}),
        )
        .await;
    assert_eq!(minted.status, 403, "{}", minted.body);

    // A portal token cannot mint them; bad names and expiries are 422.
    let portal = c
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), json!({}))
        .await;
    let tenant = s.as_token(portal.body["token"].as_str().unwrap());
    let r = tenant
        .post(
            &format!("/api/v1/auth/app/{app}/create-message-token"),
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    for bad in [json!({"name": ""}), json!({"name": "x", "expiry": 0}), json!({})] {
        let r = c
            .post(&format!("/api/v1/auth/app/{app}/create-message-token"), bad.clone())
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
    let unknown = c
        .post(
            "/api/v1/auth/app/app_nothere/create-message-token",
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

/// Every operation that takes a body and names an application: a token of
/// another application gets 404 whatever the body (empty, incomplete,
/// malformed), and so does one naming another application's endpoint.
#[tokio::test]
async fn the_caller_is_checked_before_the_body() {
    let s = Server::start(&[]);
    let c = s.admin();
    let (mine, theirs) = (c.app("mine").await, c.app("theirs").await);
    let their_ep = c.endpoint(&theirs, json!({"url": "https://example.com/hook"})).await;
    let their_ep = their_ep["id"].as_str().unwrap();
    let portal = c
        .post(&format!("/api/v1/auth/app-portal-access/{mine}"), json!({}))
        .await;
    let tenant = s.as_token(&token_of(&portal.body));
    let doc = c.get("/api/v1/openapi.json").await.body;
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if !path.contains("{app_id}") {
            continue;
        }
        for (method, op) in ops.as_object().unwrap() {
            if op.get("requestBody").is_none() {
                continue;
            }
            let fill = |app: &str| {
                path.replace("{app_id}", app)
                    .replace("{endpoint_id}", their_ep)
                    .replace("{sink_id}", their_ep)
                    .replace("{msg_id}", "msg_3N8SQZRBa93j2kogqLsA3UHRZdJ")
                    .replace("{attempt_id}", "atmpt_3N8SQZRBa93j2kogqLsA3UHRZdJ")
                    .replace("{consumer_id}", "c1")
            };
            let method = method.to_uppercase();
            let names_more = ["{endpoint_id}", "{sink_id}", "{msg_id}"]
                .iter()
                .any(|p| path.contains(p));
            let targets = match names_more {
                true => vec![fill(&theirs), fill(&mine)],
                false => vec![fill(&theirs)],
            };
            for target in targets {
                if target.contains('{') {
                    panic!("a path parameter this test does not fill: {target}");
                }
                for body in ["{}", "{\"", "[]"] {
                    let r = tenant.raw(&method, &target, body).await;
                    assert!(
                        [403, 404].contains(&r.status),
                        "{method} {target} with {body}: {} {}",
                        r.status,
                        r.body
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} operations checked");
}
