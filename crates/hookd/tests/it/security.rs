use serde_json::json;

use crate::harness::{ADMIN, Receiver, Server, TestCa};

const SECRET: &str = "whsec_QWxsIHNlY3JldHMgYXJlIGVuY3J5cHRlZCBhdCByZXN0IQ==";

/// Everything the store holds, as bytes: the SQLite files, or a dump of the PostgreSQL database.
fn stored_bytes(s: &Server) -> Vec<u8> {
    if let Some((_, url)) = s.database_env().pop() {
        let out = std::process::Command::new("pg_dump")
            .args(["--data-only", &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        return out.stdout;
    }
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
    let s = Server::spawn(&[("HOOKD_LOG", "trace")]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("vault").await;
    let header_secret = "Bearer custom-header-credential-42";
    let body = json!({"url": format!("{}/v", rx.url), "secret": SECRET, "headers": {"Authorization": header_secret}});
    let ep = c.endpoint(&app, body).await;
    let base = format!("/api/v1/app/{app}/endpoint/{}", ep["id"].as_str().unwrap());
    c.publish(&app, json!({"eventType": "x", "payload": {}})).await;
    assert_eq!(rx.first("/v").await.headers["authorization"], header_secret);
    assert_eq!(c.get(&format!("{base}/secret")).await.body["key"], SECRET);
    let rotated = c.post(&format!("{base}/secret/rotate"), json!({})).await.body["key"]
        .as_str()
        .unwrap()
        .to_string();
    c.post(&format!("{base}/secret/rotate"), json!({"key": "not base64 !"}))
        .await;

    let stored = stored_bytes(&s);
    assert!(!stored.is_empty());
    assert!(
        !contains(&stored, header_secret),
        "a header credential is stored in the clear"
    );
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
    for secret in [SECRET, &rotated, ADMIN, header_secret] {
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
        let secret = c.secret(&app, &id).await;
        eps.push((id, secret));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["rotate-key", "--data-dir"])
        .arg(s.dir.path())
        .envs(s.database_env())
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
        assert_eq!(&c.secret(&app, id).await, secret);
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
    let mut s = Server::spawn(&[("HOOKD_MAIN_KEY", old)]);
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
        .envs(s.database_env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let db = s.database_env();
    let mut env = vec![("HOOKD_MAIN_KEY", new)];
    env.extend(db.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut s2 = Server::spawn_in(s.dir.clone(), &env);
    assert_eq!(
        s2.admin().get(&path).await.body["key"],
        SECRET,
        "only the new key is needed after rotation"
    );
    s2.kill();
}

/// An independent check: Python's own hmac module.
fn python_hmac(secret: &str, body: &str, encoding: &str) -> String {
    let script = format!(
        "import hmac,hashlib,base64,sys; d=hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).digest(); \
         print(d.hex() if '{encoding}'=='hex' else base64.b64encode(d).decode())"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script, secret, body])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn each_signature_scheme_verifies_independently() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("schemes").await;
    let ep = |path: &str, extra: serde_json::Value| {
        let mut body = json!({"url": format!("{}{path}", rx.url), "channels": [path.trim_start_matches('/')]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let github_secret = "It's a Secret to Everybody";
    c.endpoint(
        &app,
        ep(
            "/github",
            json!({"secret": github_secret, "signature": {"scheme": "hmac-sha256"}}),
        ),
    )
    .await;
    c.endpoint(
        &app,
        ep(
            "/syskit",
            json!({"secret": "158b08cc-6a06-49f2-a724-2bc514fdcf1e", "headers": {"Algorithm": "HMACSHA256"},
        "signature": {"scheme": "hmac-sha256", "header": "Signature", "encoding": "base64", "prefix": ""}}),
        ),
    )
    .await;
    c.endpoint(
        &app,
        ep(
            "/plextrac",
            json!({"secret": "plextrac-shared-secret",
        "signature": {"scheme": "hmac-sha256", "header": "X-Authorization-HMAC-256", "prefix": ""}}),
        ),
    )
    .await;
    c.endpoint(
        &app,
        ep(
            "/fig",
            json!({"secret": "fig-pre-shared-secret", "signature": {"scheme": "bearer"}}),
        ),
    )
    .await;
    c.endpoint(&app, ep("/none", json!({"signature": {"scheme": "none"}})))
        .await;
    let ed = c
        .endpoint(&app, ep("/ed25519", json!({"signature": {"asymmetric": true}})))
        .await;
    let ed_path = format!("/api/v1/app/{app}/endpoint/{}/secret", ed["id"].as_str().unwrap());
    let public = c.get(&ed_path).await.body["key"].as_str().unwrap().to_string();
    assert!(public.starts_with("whpk_"), "{public}");
    assert_eq!(c.post("/api/v1/app/x/endpoint", json!({})).await.status, 404);
    assert_eq!(
        c.post(&format!("/api/v1/app/{app}/endpoint"), json!({})).await.status,
        422
    );
    assert_eq!(
        c.post(
            &format!("/api/v1/app/{app}/endpoint"),
            ep(
                "/bad",
                json!({"signature": {"scheme": "hmac-sha256", "header": "webhook-id"}})
            )
        )
        .await
        .status,
        422
    );

    for ch in ["github", "syskit", "plextrac", "fig", "none", "ed25519"] {
        c.publish(
            &app,
            json!({"eventType": "report.published", "payload": {"report": ch, "n": 1}, "channels": [ch]}),
        )
        .await;
    }
    let r = rx.first("/github").await;
    assert_eq!(
        r.headers["x-hub-signature-256"],
        format!("sha256={}", python_hmac(github_secret, &r.body, "hex"))
    );
    let r = rx.first("/syskit").await;
    assert_eq!(
        r.headers["signature"],
        python_hmac("158b08cc-6a06-49f2-a724-2bc514fdcf1e", &r.body, "base64")
    );
    assert_eq!(r.headers["algorithm"], "HMACSHA256");
    let r = rx.first("/plextrac").await;
    assert_eq!(
        r.headers["x-authorization-hmac-256"],
        python_hmac("plextrac-shared-secret", &r.body, "hex")
    );
    let r = rx.first("/fig").await;
    assert_eq!(r.headers["authorization"], "Bearer fig-pre-shared-secret");
    let r = rx.first("/none").await;
    assert!(!r.headers.contains_key("webhook-signature") && !r.headers.contains_key("svix-signature"));
    assert!(r.headers.contains_key("webhook-id"));
    for r in [rx.first("/github").await, rx.first("/fig").await] {
        assert!(
            !r.headers.contains_key("webhook-signature"),
            "only the chosen scheme signs"
        );
    }

    let r = rx.first("/ed25519").await;
    let sig = r.headers["webhook-signature"]
        .strip_prefix("v1a,")
        .expect("a v1a signature")
        .to_string();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key: [u8; 32] = b64
        .decode(public.trim_start_matches("whpk_"))
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&b64.decode(sig).unwrap()).unwrap();
    let content = format!(
        "{}.{}.{}",
        r.headers["webhook-id"], r.headers["webhook-timestamp"], r.body
    );
    key.verify_strict(content.as_bytes(), &sig)
        .expect("ed25519 signature verifies");
}

#[tokio::test]
async fn tls_is_verified_unless_the_endpoint_or_a_ca_bundle_says_otherwise() {
    let ca = TestCa::new();
    let rx = Receiver::start_tls(&ca).await;
    let s = Server::start(&[]);
    let c = s.admin();
    let app = c.app("tls").await;
    let strict = c
        .endpoint(
            &app,
            json!({"url": format!("{}/strict", rx.url), "retrySchedule": [], "channels": ["strict"]}),
        )
        .await;
    let lax = c
        .endpoint(
            &app,
            json!({"url": format!("{}/lax", rx.url), "sslVerification": false, "channels": ["lax"]}),
        )
        .await;
    assert_eq!(lax["sslVerification"], false);
    c.publish(&app, json!({"eventType": "x", "payload": {}, "channels": ["strict"]}))
        .await;
    c.publish(&app, json!({"eventType": "x", "payload": {}, "channels": ["lax"]}))
        .await;
    let attempts =
        |ep: &serde_json::Value| format!("/api/v1/app/{app}/attempt/endpoint/{}", ep["id"].as_str().unwrap());
    let a = c
        .wait_for(&attempts(&strict), |b| {
            b["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    let err = a["data"][0]["error"].as_str().unwrap().to_lowercase();
    assert!(err.contains("certificate") || err.contains("unknownissuer"), "{err}");
    assert_eq!(a["data"][0]["sslVerification"], true);
    rx.wait("/lax", 1).await;
    let a = c
        .wait_for(&attempts(&lax), |b| b["data"].as_array().is_some_and(|d| !d.is_empty()))
        .await;
    assert_eq!(
        (
            a["data"][0]["responseStatusCode"].as_i64(),
            a["data"][0]["sslVerification"].as_bool()
        ),
        (Some(200), Some(false))
    );
    assert!(rx.requests("/strict").is_empty());

    // An operator CA bundle makes the same certificate trusted, with verification on.
    let bundle = s.dir.path().join("ca.pem");
    std::fs::write(&bundle, &ca.ca_pem).unwrap();
    let s2 = Server::start(&[("HOOKD_CA_BUNDLE", bundle.to_str().unwrap())]);
    let c2 = s2.admin();
    let app2 = c2.app("tls2").await;
    c2.endpoint(&app2, json!({"url": format!("{}/bundled", rx.url)})).await;
    c2.publish(&app2, json!({"eventType": "x", "payload": {}})).await;
    rx.wait("/bundled", 1).await;
}

#[tokio::test]
async fn the_api_sheds_oversized_slow_and_unauthenticated_requests() {
    let s = Server::start(&[("HOOKD_MAX_PAYLOAD_BYTES", "1000"), ("HOOKD_HEADER_TIMEOUT", "2")]);
    let c = s.admin();
    let app = c.app("guarded").await;
    // Far over the body limit: 413 with the error shape, nothing stored.
    let big = format!(
        r#"{{"eventType": "x", "payload": {{"blob": "{}"}}}}"#,
        "x".repeat(200_000)
    );
    // hookd answers without reading the rest, and closes that connection.
    let r = s
        .separate(ADMIN)
        .raw("POST", &format!("/api/v1/app/{app}/msg"), &big)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (413, Some("payload_too_large")),
        "{}",
        r.body
    );
    assert_eq!(c.get(&format!("/api/v1/app/{app}/msg")).await.body["data"], json!([]));

    // A flood of made-up tokens: every one refused.
    let mut floods = Vec::new();
    for i in 0..8 {
        let s_url = s.separate(&format!("made-up-token-{i}"));
        floods.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for _ in 0..50 {
                codes.push(s_url.get("/api/v1/app").await.status);
            }
            codes
        }));
    }
    for f in floods {
        assert!(f.await.unwrap().iter().all(|c| *c == 401));
    }

    // A client that never finishes its headers is cut off.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), conn.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the half-sent request was not cut off");
    // The server still answers others.
    assert_eq!(s.separate("").get("/api/v1/health").await.status, 204);
}

/// An endpoint's own CA (`ca`) and mutual TLS (`mtls`): a receiver whose
/// certificate comes from a private CA and which demands a client
/// certificate gets nothing until the endpoint trusts that CA and presents
/// an identity; the key is never answered back; bad PEM is a 422.
#[tokio::test]
async fn an_endpoint_trusts_its_own_ca_and_presents_a_client_certificate() {
    let ca = TestCa::new();
    let rx = Receiver::start_mtls(&ca).await;
    let s = Server::start(&[]);
    let c = s.admin();
    let app = c.app("mtls").await;
    let ep = c
        .endpoint(
            &app,
            json!({"url": format!("{}/secure", rx.url), "retrySchedule": [1, 1, 1]}),
        )
        .await;
    let base = format!("/api/v1/app/{app}/endpoint/{}", ep["id"].as_str().unwrap());
    let attempts = format!("/api/v1/app/{app}/attempt/endpoint/{}", ep["id"].as_str().unwrap());
    assert_eq!(c.get(&format!("{base}/ca")).await.body, json!({"cert": null}));
    assert_eq!(c.get(&format!("{base}/mtls")).await.status, 404);
    assert_eq!(
        c.get(&format!("{base}/mtls-config")).await.body,
        json!({"enabled": false, "config": null})
    );

    c.publish(&app, json!({"eventType": "x", "payload": {"n": 1}})).await;
    let first = c
        .wait_for(&attempts, |b| b["data"].as_array().is_some_and(|d| !d.is_empty()))
        .await;
    let err = first["data"][0]["error"].as_str().unwrap().to_lowercase();
    assert!(err.contains("certificate") || err.contains("unknownissuer"), "{err}");

    let r = c.put(&format!("{base}/ca"), json!({"cert": ca.ca_pem})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(c.get(&format!("{base}/ca")).await.body["cert"], ca.ca_pem.as_str());
    s.run_due_in(std::time::Duration::from_secs(2)).await;
    let second = c
        .wait_for(&attempts, |b| b["data"].as_array().is_some_and(|d| d.len() >= 2))
        .await;
    let err = second["data"][0]["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        !err.contains("unknownissuer") && second["data"][0]["responseStatusCode"] != 200,
        "trusted now, but no client certificate: {second}"
    );
    assert!(rx.requests("/secure").is_empty());

    let identity = ca.client_identity();
    let r = c.put(&format!("{base}/mtls"), json!({"identity": identity})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let shown = c.get(&format!("{base}/mtls-config")).await.body;
    assert_eq!(shown["enabled"], true);
    let cert = shown["config"]["certificate"].as_str().unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{shown}");
    assert!(!shown.to_string().contains("PRIVATE KEY"), "the key is never shown");
    s.run_due_in(std::time::Duration::from_secs(2)).await;
    assert_eq!(rx.wait("/secure", 1).await[0].body, r#"{"n":1}"#);

    // Removing the identity ends the deliveries again; bad PEM is refused.
    assert_eq!(c.delete(&format!("{base}/mtls")).await.status, 204);
    assert_eq!(c.get(&format!("{base}/mtls-config")).await.body["enabled"], false);
    for (path, body) in [
        ("ca", json!({"cert": "not a certificate"})),
        ("mtls", json!({"identity": ca.ca_pem})),
        (
            "mtls",
            json!({"identity": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}),
        ),
    ] {
        let r = c.put(&format!("{base}/{path}"), body).await;
        assert_eq!(r.status, 422, "{path}: {}", r.body);
    }
    let other = TestCa::new().client_identity();
    let mismatched = format!(
        "{}{}",
        identity.split("-----BEGIN CERTIFICATE-----").next().unwrap(),
        &other[other.find("-----BEGIN CERTIFICATE-----").unwrap()..]
    );
    let r = c.put(&format!("{base}/mtls"), json!({"identity": mismatched})).await;
    assert_eq!(r.status, 422, "a key that does not match its certificate: {}", r.body);
    let portal = c
        .post(
            &format!("/api/v1/auth/app-portal-access/{app}"),
            json!({"readOnly": true}),
        )
        .await;
    let viewer = s.as_token(portal.body["token"].as_str().unwrap());
    assert_eq!(
        viewer.put(&format!("{base}/ca"), json!({"cert": null})).await.status,
        403
    );
    assert_eq!(viewer.get(&format!("{base}/ca")).await.status, 200);
}
