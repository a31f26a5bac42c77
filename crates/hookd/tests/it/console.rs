//! The web console and portal: HTTP-level checks here, and the flows a person
//! goes through in Chromium (`tests/browser/console_flows.py`, Playwright).

use std::path::PathBuf;

use serde_json::json;

use crate::harness::{Behaviour, Receiver, Server};

/// Runs the browser flows against a fresh server and receiver. Playwright
/// (Python) and Debian's chromium must be installed (`scripts/test` does):
/// their absence fails the test, it is never skipped.
#[tokio::test(flavor = "multi_thread")]
async fn flows_in_a_real_browser() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    rx.on(
        "/ok",
        Behaviour {
            statuses: vec![200],
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(r#"{"received": true}"#.into()),
            ..Default::default()
        },
    );
    rx.on(
        "/html",
        Behaviour {
            statuses: vec![500],
            headers: vec![("content-type".into(), "text/html".into())],
            body: Some("<script>window.__pwned=2</script>".into()),
            ..Default::default()
        },
    );
    let shots = screenshots_dir();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console_flows.py");
    // `scripts/test` names the Python that has Playwright.
    let python = std::env::var("HOOKD_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .env("HOOKD_URL", &s.url)
        .env("HOOKD_TOKEN", &s.token)
        .env("RECEIVER_URL", &rx.url)
        .env("SCREENSHOTS", &shots)
        .output()
        .await
        .expect("Python runs (`scripts/test` installs Playwright and Debian's chromium)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser flows failed:\n{log}");
    assert!(log.contains("console flows: all passed"), "{log}");
    for name in ["overview", "message", "endpoint", "portal-read-only", "message-390px"] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "screenshot {name} in {}",
            shots.display()
        );
    }
}

async fn body(r: reqwest::Response) -> serde_json::Value {
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

/// `target/console-screenshots`, kept after the run to be looked at.
fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

#[tokio::test]
async fn the_page_keeps_to_its_own_scripts_and_the_framing_allowed() {
    let s = Server::start(&[("HOOKD_PORTAL_FRAME_ANCESTORS", "'self' https://app.example.com")]);
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/console/", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'self' https://app.example.com"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let page = r.text().await.unwrap();
    assert!(page.contains(r#"<script src="console.js" defer></script>"#));
    let js = http.get(format!("{}/console/console.js", s.url)).send().await.unwrap();
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(
        !js.text().await.unwrap().contains("innerHTML"),
        "data never goes in as markup"
    );

    // A value that could end the directive is refused when the server starts.
    let args = hookd::config::ServeArgs {
        portal_frame_ancestors: Some("'self'; script-src *".into()),
        ..Default::default()
    };
    let err = hookd::config::Config::resolve(args).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("portal_frame_ancestors"), "{err}");
}

#[tokio::test]
async fn a_console_session_is_a_cookie_with_a_csrf_token_and_ends_on_sign_out() {
    let s = Server::start(&[]);
    let http = reqwest::Client::new();
    let sign_in = |token: &str| {
        http.post(format!("{}/console/session", s.url))
            .header("content-type", "application/json")
            .body(json!({ "token": token }).to_string())
            .send()
    };
    let r = sign_in("wrong").await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.headers().get("set-cookie").is_none());
    // An application's token opens its portal, not the operator's console.
    let app = s.admin().app("acme").await;
    let portal = s
        .admin()
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), json!({}))
        .await;
    let r = sign_in(portal.body["token"].as_str().unwrap()).await.unwrap();
    assert_eq!(r.status(), 403);

    let r = sign_in(&s.token).await.unwrap();
    assert_eq!(r.status(), 200);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    let csrf = body(r).await["csrf"].as_str().unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    let with_cookie = |req: reqwest::RequestBuilder| req.header("cookie", &cookie);

    // Reading needs only the cookie; changing needs the CSRF token too.
    let r = with_cookie(http.get(format!("{}/api/v1/app", s.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let create = || {
        with_cookie(http.post(format!("{}/api/v1/app", s.url)))
            .header("content-type", "application/json")
            .body(r#"{"name": "x"}"#)
    };
    let r = create().send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = create().header("x-csrf-token", "0".repeat(32)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = create().header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = with_cookie(http.get(format!("{}/console/session", s.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(body(r).await["csrf"], csrf.as_str());

    // Signing out revokes the session on the server.
    let r = with_cookie(http.delete(format!("{}/console/session", s.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "sign-out needs the CSRF token too");
    let r = with_cookie(http.delete(format!("{}/console/session", s.url)))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let r = with_cookie(http.get(format!("{}/api/v1/app", s.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = with_cookie(http.get(format!("{}/console/session", s.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(body(r).await, json!({}));
}

/// The console's charts read hourly counts that every recorded attempt adds to.
#[tokio::test]
async fn hourly_attempt_counts_follow_every_attempt() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    rx.on(
        "/bad",
        Behaviour {
            statuses: vec![500],
            ..Default::default()
        },
    );
    let c = s.admin();
    let app = c.app("acme").await;
    let ok = c.endpoint(&app, json!({"url": format!("{}/ok", rx.url)})).await;
    let bad = c.endpoint(&app, json!({"url": format!("{}/bad", rx.url)})).await;
    for i in 0..3 {
        c.publish(&app, json!({"eventType": "t", "payload": {"i": i}})).await;
    }
    let bad_id = bad["id"].as_str().unwrap();
    c.wait_for(&format!("/api/v1/app/{app}/attempt/endpoint/{bad_id}"), |b| {
        b["data"].as_array().unwrap().len() == 3
    })
    .await;
    let ok_id = ok["id"].as_str().unwrap();
    c.wait_for(&format!("/api/v1/app/{app}/attempt/endpoint/{ok_id}"), |b| {
        b["data"].as_array().unwrap().len() == 3
    })
    .await;

    // Two hours, this one last (an attempt made just past the hour counts in
    // it). Counted at once, whether the store has folded them into its hourly
    // rows yet or not, and never twice: asked again after more commits.
    let sum = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|n| n.as_i64().unwrap()).sum::<i64>();
    let hourly = format!("/api/v1/app/{app}/stats/attempts/hourly?hours=2");
    for seen in 3..5 {
        let r = c.get(&hourly).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"]["successCount"].as_array().unwrap().len(), 2);
        let totals = (
            sum(&r.body["data"]["successCount"]),
            sum(&r.body["data"]["failureCount"]),
        );
        assert_eq!(totals, (seen, seen), "{}", r.body);
        c.publish(&app, json!({"eventType": "t", "payload": {}})).await;
        c.wait_for(&format!("/api/v1/app/{app}/attempt/endpoint/{bad_id}"), |b| {
            b["data"].as_array().unwrap().len() == seen as usize + 1
        })
        .await;
        c.wait_for(&format!("/api/v1/app/{app}/attempt/endpoint/{ok_id}"), |b| {
            b["data"].as_array().unwrap().len() == seen as usize + 1
        })
        .await;
    }
    let r = c.get(&hourly).await;
    let per = |ep: &str, k: &str| -> i64 { sum(&r.body["byEndpoint"][ep][k]) };
    assert_eq!(
        (per(ok_id, "successCount"), per(ok_id, "failureCount")),
        (5, 0),
        "{}",
        r.body
    );
    assert_eq!(
        (per(bad_id, "successCount"), per(bad_id, "failureCount")),
        (0, 5),
        "{}",
        r.body
    );

    let r = c.get(&format!("/api/v1/app/{app}/stats/attempts/hourly?hours=0")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let other = c.app("globex").await;
    let portal = c
        .post(&format!("/api/v1/auth/app-portal-access/{other}"), json!({}))
        .await;
    let r = s
        .as_token(portal.body["token"].as_str().unwrap())
        .get(&format!("/api/v1/app/{app}/stats/attempts/hourly"))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}
