//! The command line as a user runs it: the real binary's client commands
//! against a real server, `hookd listen` forwarding to a real receiver, and
//! `hookd verify` on real deliveries.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::harness::{Behaviour, Receiver, Server};

/// The `hookd` binary pointed at one server, with a config directory of its own.
struct Hookd {
    url: String,
    token: Option<String>,
    config: tempfile::TempDir,
}

/// What one run printed, and how it ended.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Hookd {
    fn new(s: &Server) -> Hookd {
        Hookd {
            url: s.url.clone(),
            token: Some(s.token.clone()),
            config: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookd"));
        cmd.args(args)
            .env("XDG_CONFIG_HOME", self.config.path())
            .env("HOOKD_URL", &self.url)
            .env_remove("HOOKD_TOKEN")
            .kill_on_drop(true);
        if let Some(t) = &self.token {
            cmd.env("HOOKD_TOKEN", t);
        }
        cmd
    }

    async fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().await.expect("hookd runs");
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn run_owned(&self, args: Vec<String>) -> Run {
        self.run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await
    }

    /// Runs a command with `--json` that must succeed, and parses what it printed.
    async fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let r = self.run(&args).await;
        assert!(r.ok, "hookd {args:?} failed: {}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("hookd {args:?} printed no JSON ({e}): {}", r.stdout))
    }

    /// Runs a command that must fail, and returns its one-line complaint.
    async fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args).await;
        assert!(!r.ok, "hookd {args:?} succeeded: {}", r.stdout);
        let err = r.stderr.trim().to_owned();
        assert_eq!(err.lines().count(), 1, "one line, no backtrace: {err}");
        assert!(!err.contains("panicked"), "{err}");
        err
    }
}

/// A running `hookd listen`, read line by line.
struct Listener {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Listener {
    fn start(h: &Hookd, args: &[&str]) -> Listener {
        let mut child = h
            .command(&[&["listen"], args].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("hookd listen starts");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Listener { child, lines }
    }

    /// The next line that starts with `prefix`.
    async fn line(&mut self, prefix: &str) -> String {
        let read = async {
            while let Some(line) = self.lines.next_line().await.expect("readable") {
                if line.starts_with(prefix) {
                    return line;
                }
            }
            panic!("hookd listen ended before printing {prefix:?}");
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .unwrap_or_else(|_| panic!("no line {prefix:?} from hookd listen"))
    }

    /// Ctrl-C, as a developer stops it.
    async fn interrupt(mut self) {
        let pid = self.child.id().expect("running") as i32;
        // SAFETY: sends a signal to our own child process, which is still running.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let status = self.child.wait().await.expect("exits");
        assert!(status.success(), "Ctrl-C ends hookd listen cleanly: {status}");
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn client_commands_manage_every_resource() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let h = Hookd::new(&s);

    let app = h.json(&["app", "create", "Acme", "--uid", "acme"]).await;
    assert_eq!(app["name"], "Acme");
    let listed = h.json(&["app", "list"]).await;
    assert_eq!(listed["data"][0]["uid"], "acme");
    let renamed = h.json(&["app", "update", "acme", "--name", "Acme Inc"]).await;
    assert_eq!(renamed["name"], "Acme Inc");
    let table = h.run(&["app", "list"]).await;
    assert!(
        table.ok && table.stdout.contains("Acme Inc") && table.stdout.contains("NAME"),
        "{}",
        table.stdout
    );

    let schema = r#"{"type":"object","properties":{"id":{"type":"string"}},"examples":[{"id":"u_1"}]}"#;
    let et = h
        .json(&[
            "event-type",
            "create",
            "user.created",
            "--description",
            "A user signed up",
            "--schema",
            schema,
        ])
        .await;
    assert_eq!(et["schemas"]["1"]["examples"][0]["id"], "u_1");
    h.json(&["event-type", "update", "user.created", "--description", "Signed up"])
        .await;
    assert_eq!(
        h.json(&["event-type", "get", "user.created"]).await["description"],
        "Signed up"
    );

    let url = format!("{}/cli", rx.url);
    let ep = h
        .json(&[
            "endpoint",
            "create",
            "acme",
            &url,
            "--event-types",
            "user.created",
            "--uid",
            "main",
        ])
        .await;
    assert_eq!(ep["url"], url.as_str());
    assert_eq!(ep["filterTypes"], json!(["user.created"]));
    let ep_id = id(&ep);
    let updated = h
        .json(&["endpoint", "update", "acme", "main", "--description", "primary"])
        .await;
    assert_eq!(updated["description"], "primary");
    assert_eq!(
        h.json(&["endpoint", "list", "acme"]).await["data"][0]["id"],
        ep_id.as_str()
    );
    assert_eq!(h.json(&["endpoint", "disable", "acme", "main"]).await["disabled"], true);
    assert_eq!(h.json(&["endpoint", "enable", "acme", "main"]).await["disabled"], false);
    let secret = h.run(&["endpoint", "secret", "acme", "main"]).await.stdout;
    assert!(secret.trim().starts_with("whsec_"), "the secret alone: {secret}");
    let rotated = h.json(&["endpoint", "rotate-secret", "acme", "main"]).await;
    assert_ne!(rotated["key"].as_str(), Some(secret.trim()));

    let payload = h.config.path().join("payload.json");
    std::fs::write(&payload, r#"{"id":"u_42"}"#).unwrap();
    let data = format!("@{}", payload.display());
    let msg = h
        .json(&[
            "message",
            "send",
            "acme",
            "user.created",
            "--data",
            &data,
            "--event-id",
            "evt-1",
        ])
        .await;
    assert_eq!(msg["payload"]["id"], "u_42");
    let msg_id = id(&msg);
    let got = rx.first("/cli").await;
    assert_eq!(got.body, r#"{"id":"u_42"}"#);
    assert_eq!(
        h.json(&["message", "get", "acme", "evt-1"]).await["id"],
        msg_id.as_str()
    );
    let msgs = h
        .json(&["message", "list", "acme", "--event-types", "user.created"])
        .await;
    assert_eq!(msgs["data"][0]["id"], msg_id.as_str());

    let attempts = s
        .admin()
        .wait_for(&format!("/api/v1/app/acme/attempt/msg/{msg_id}"), |b| {
            b["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    let attempt_id = id(&attempts["data"][0]);
    let listed = h.json(&["attempt", "list", "acme", "--msg", &msg_id]).await;
    assert_eq!(listed["data"][0]["id"], attempt_id.as_str());
    let by_endpoint = h.json(&["attempt", "list", "acme", "--endpoint", &ep_id]).await;
    assert_eq!(by_endpoint["data"][0]["responseStatusCode"], 200);
    let one = h.json(&["attempt", "get", "acme", &msg_id, &attempt_id]).await;
    assert_eq!(one["response"], "received");
    h.json(&["attempt", "resend", "acme", &msg_id, &ep_id]).await;
    rx.wait("/cli", 2).await;

    // Paging: one at a time, or every page at once.
    for n in 0..3 {
        h.json(&["app", "create", &format!("more-{n}")]).await;
    }
    let page = h.json(&["app", "list", "--limit", "2"]).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["done"], false);
    let next = page["iterator"].as_str().unwrap();
    let rest = h.json(&["app", "list", "--limit", "2", "--iterator", next]).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    let all = h.json(&["app", "list", "--limit", "1", "--all"]).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    let hint = h.run(&["app", "list", "--limit", "2"]).await.stdout;
    assert!(hint.contains("--iterator"), "a table says how to go on: {hint}");

    h.json(&["endpoint", "delete", "acme", "main"]).await;
    assert!(
        h.fails(&["endpoint", "get", "acme", "main"])
            .await
            .contains("not found")
    );
    h.json(&["event-type", "delete", "user.created"]).await;
    assert_eq!(h.json(&["event-type", "get", "user.created"]).await["archived"], true);
    h.json(&["app", "delete", "acme"]).await;
    assert!(h.fails(&["app", "get", "acme"]).await.contains("not found"));
}

#[tokio::test]
async fn event_types_are_imported_from_an_openapi_document() {
    let s = Server::start(&[]);
    let h = Hookd::new(&s);
    let doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "Shop", "version": "1" },
        "webhooks": {
            "order.paid": { "post": { "summary": "An order was paid", "requestBody": { "content": {
                "application/json": { "schema": { "$ref": "#/components/schemas/Order" } } } } } },
            "order.refunded": { "post": { "requestBody": { "content": {
                "application/json": { "schema": { "type": "object" } } } } } }
        },
        "components": { "schemas": { "Order": { "type": "object", "required": ["total"],
            "properties": { "total": { "type": "integer" } } } } }
    });
    let file = h.config.path().join("shop.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let file = file.display().to_string();
    let first = h.json(&["event-type", "import", &file]).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert!(
        first["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "created")
    );
    let paid = h.json(&["event-type", "get", "order.paid"]).await;
    assert_eq!(paid["description"], "An order was paid");
    assert_eq!(paid["schemas"]["1"]["properties"]["total"]["type"], "integer");
    let again = h.json(&["event-type", "import", &file]).await;
    assert!(
        again["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "updated")
    );
    let names: Vec<String> = h.json(&["event-type", "list"]).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["order.paid", "order.refunded"]);
}

#[tokio::test]
async fn client_errors_say_what_went_wrong_in_one_line() {
    let s = Server::start(&[]);
    let mut h = Hookd::new(&s);
    assert!(
        h.fails(&["app", "get", "nobody"])
            .await
            .contains("application not found")
    );
    let invalid = h.fails(&["endpoint", "create", "nobody", "ftp://x"]).await;
    assert!(invalid.contains("not found"), "{invalid}");
    h.json(&["app", "create", "A", "--uid", "a"]).await;
    let invalid = h.fails(&["endpoint", "create", "a", "ftp://example.com"]).await;
    assert!(
        invalid.contains("body.url") && invalid.contains("http or https"),
        "{invalid}"
    );
    let bad_data = h.fails(&["message", "send", "a", "x", "--data", "{nope"]).await;
    assert!(bad_data.contains("not JSON"), "{bad_data}");

    h.token = Some("not-a-token".into());
    assert!(h.fails(&["app", "list"]).await.contains("refused the token"));
    h.token = None;
    assert!(h.fails(&["app", "list"]).await.contains("refused the token"));

    h.url = "http://127.0.0.1:9".into();
    let down = h.fails(&["app", "list"]).await;
    assert!(down.contains("cannot reach hookd at http://127.0.0.1:9/"), "{down}");
}

#[tokio::test]
async fn login_saves_the_server_and_token_for_the_user_alone() {
    let s = Server::start(&[]);
    let mut h = Hookd::new(&s);
    h.token = None;
    assert!(
        h.fails(&["login", "--token", "wrong-token"])
            .await
            .contains("refused the token")
    );
    let r = h.run(&["login", "--token", &s.token]).await;
    assert!(r.ok, "{}", r.stderr);
    let saved = h.config.path().join("hookd/credentials.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&saved).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    h.json(&["app", "create", "After login"]).await;
    // The saved token goes to the saved server only.
    let elsewhere = Hookd {
        url: "http://127.0.0.2:9".into(),
        token: None,
        config: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir_all(elsewhere.config.path().join("hookd")).unwrap();
    std::fs::copy(&saved, elsewhere.config.path().join("hookd/credentials.json")).unwrap();
    let r = elsewhere.run(&["app", "list", "--url", &s.url]).await;
    assert!(r.ok, "the saved server, named: {}", r.stderr);
    assert!(h.run(&["logout"]).await.ok);
    assert!(!saved.exists());
    assert!(h.fails(&["app", "list"]).await.contains("refused the token"));

    let completions = h.run(&["completions", "bash"]).await;
    assert!(completions.ok && completions.stdout.contains("_hookd()"));
}

#[tokio::test]
async fn verify_checks_each_signing_scheme_hookd_uses() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let h = Hookd::new(&s);
    let c = s.admin();
    let app = c.app("v").await;
    let schemes = [
        ("standard", json!({})),
        (
            "ed25519",
            json!({"signature": {"scheme": "standard-webhooks", "asymmetric": true}}),
        ),
        ("github", json!({"signature": {"scheme": "hmac-sha256"}})),
        (
            "bearer",
            json!({"signature": {"scheme": "bearer"}, "secret": "a-shared-bearer-secret"}),
        ),
    ];
    for (path, options) in &schemes {
        let mut body = json!({"url": format!("{}/{path}", rx.url)});
        body.as_object_mut()
            .unwrap()
            .extend(options.as_object().unwrap().clone());
        let ep = c.endpoint(&app, body).await;
        let secret = c.secret(&app, ep["id"].as_str().unwrap()).await;
        c.publish(&app, json!({"eventType": "t", "payload": {"path": path}}))
            .await;
        let got = rx.first(&format!("/{path}")).await;
        let body_file = h.config.path().join(format!("{path}.body"));
        std::fs::write(&body_file, &got.body).unwrap();
        let verify = |secret: &str| {
            let mut args = vec!["verify".to_owned(), "--secret".into(), secret.to_owned()];
            for (k, v) in &got.headers {
                args.extend(["--header".into(), format!("{k}: {v}")]);
            }
            args.extend(["--body".into(), format!("@{}", body_file.display())]);
            args
        };
        let ok = h.run_owned(verify(&secret)).await;
        assert!(
            ok.ok && ok.stdout.starts_with("valid"),
            "{path}: {} {}",
            ok.stdout,
            ok.stderr
        );
        let other = h.run_owned(verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).await;
        assert!(
            !other.ok && other.stdout.starts_with("invalid"),
            "{path}, another secret: {}",
            other.stdout
        );
        if *path != "bearer" {
            std::fs::write(&body_file, got.body.replace(path, "tampered")).unwrap();
            let bad = h.run_owned(verify(&secret)).await;
            assert!(
                !bad.ok && bad.stdout.starts_with("invalid"),
                "{path}, another body: {}",
                bad.stdout
            );
        }
    }
    // Standard Webhooks' test vector: valid, though its timestamp is years old,
    // unless a tolerance is asked for.
    let vector = [
        "verify",
        "--secret",
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "-H",
        "webhook-id: msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        "-H",
        "webhook-timestamp: 1649367553",
        "-H",
        "webhook-signature: v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        "--body",
        r#"{"email":"test@example.com","username":"test_user"}"#,
    ];
    let stale = h.run(&vector).await;
    assert!(stale.ok, "the Standard Webhooks test vector: {}", stale.stdout);
    let strict = h.run(&[&vector[..], &["--tolerance", "300"]].concat()).await;
    assert!(!strict.ok && strict.stdout.contains("tolerance"), "{}", strict.stdout);
}

#[tokio::test]
async fn trigger_publishes_the_schema_example_and_says_where_it_went() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let h = Hookd::new(&s);
    let c = s.admin();
    let app = c.app("shop").await;
    let schema = r#"{"type":"object","examples":[{"order":"o_1"}]}"#;
    h.json(&["event-type", "create", "order.paid", "--schema", schema])
        .await;
    c.endpoint(
        &app,
        json!({"url": format!("{}/shop", rx.url), "filterTypes": ["order.paid"]}),
    )
    .await;
    let out = h.run(&["trigger", "order.paid", "--app", &app]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.starts_with("published msg_"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("{}/shop", rx.url)) && out.stdout.contains("success"),
        "{}",
        out.stdout
    );
    assert_eq!(rx.first("/shop").await.body, r#"{"order":"o_1"}"#);
    h.json(&["event-type", "create", "order.lost"]).await;
    assert!(
        h.fails(&["trigger", "order.lost", "--app", &app])
            .await
            .contains("--data")
    );
}

#[tokio::test]
async fn listen_brings_deliveries_to_a_receiver_on_this_machine() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let h = Hookd::new(&s);
    let c = s.admin();
    let app = c.app("dev").await;
    for t in ["user.created", "user.deleted"] {
        h.json(&["event-type", "create", t]).await;
    }
    let local = format!("{}/local", rx.url);
    let unknown = h
        .fails(&["listen", &local, "--app", &app, "--events", "user.unknown"])
        .await;
    assert!(unknown.contains("unknown or archived event types"), "{unknown}");
    assert!(
        h.fails(&["listen", "http://example.com/hook", "--app", &app])
            .await
            .contains("--allow-remote")
    );

    let mut listener = Listener::start(
        &h,
        &[&local, "--app", &app, "--events", "user.created", "--print-secret"],
    );
    listener.line("Ready").await;
    let secret = listener.line("Signing secret: ").await.replace("Signing secret: ", "");
    // Only the subscribed event type comes through.
    c.publish(&app, json!({"eventType": "user.deleted", "payload": {"n": 0}}))
        .await;
    let msg = c
        .publish(&app, json!({"eventType": "user.created", "payload": {"n": 1}}))
        .await;
    let got = rx.first("/local").await;
    assert_eq!(got.body, r#"{"n":1}"#);
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(got.body.as_bytes(), &got.header_map())
        .expect("signed with the relay endpoint's secret");
    let printed = listener.line("").await;
    assert!(
        printed.contains("user.created") && printed.contains(msg["id"].as_str().unwrap()) && printed.contains("200")
    );

    // The relay endpoint's attempt log holds the local receiver's answer.
    let ep = c.get(&format!("/api/v1/app/{app}/endpoint/listen-default")).await.body;
    assert_eq!(ep["url"], "relay://default");
    let log = c
        .wait_for(
            &format!("/api/v1/app/{app}/attempt/endpoint/{}", ep["id"].as_str().unwrap()),
            |b| b["data"].as_array().is_some_and(|d| !d.is_empty()),
        )
        .await;
    assert_eq!(log["data"][0]["responseStatusCode"], 200);
    assert_eq!(log["data"][0]["response"], "received");

    // A failing local receiver is a failed attempt, retried on the endpoint's schedule.
    rx.on(
        "/local",
        Behaviour {
            statuses: vec![503, 200],
            ..Default::default()
        },
    );
    c.publish(&app, json!({"eventType": "user.created", "payload": {"n": 2}}))
        .await;
    rx.wait("/local", 2).await;
    let attempts = format!("/api/v1/app/{app}/attempt/endpoint/{}", ep["id"].as_str().unwrap());
    c.wait_for(&attempts, |b| b["data"].as_array().is_some_and(|d| d.len() == 2))
        .await;
    assert_eq!(
        s.run_due_in(Duration::from_secs(10)).await,
        1,
        "the retry, moved to now"
    );
    let retried = rx.wait("/local", 3).await;
    assert_eq!(retried[1].body, retried[2].body, "the same message, sent again");

    // Stopped, it misses nothing: what was published meanwhile arrives when it is back.
    listener.interrupt().await;
    c.publish(&app, json!({"eventType": "user.created", "payload": {"n": 3}}))
        .await;
    let mut again = Listener::start(&h, &[&local, "--app", &app]);
    again.line("Ready").await;
    rx.wait_until(|all| all.iter().any(|r| r.body == r#"{"n":3}"#)).await;
    let same = c.get(&format!("/api/v1/app/{app}/endpoint/listen-default")).await.body;
    assert_eq!(same["id"], ep["id"], "the same relay endpoint, and so the same secret");
    again.interrupt().await;
}

#[tokio::test]
async fn listeners_on_one_name_share_its_deliveries() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let h = Hookd::new(&s);
    let c = s.admin();
    let app = c.app("shared").await;
    let mut first = Listener::start(&h, &[&format!("{}/one", rx.url), "--app", &app, "--name", "team"]);
    first.line("Ready").await;
    let mut second = Listener::start(&h, &[&format!("{}/two", rx.url), "--app", &app, "--name", "team"]);
    second.line("Ready").await;
    for n in 0..6 {
        c.publish(&app, json!({"eventType": "t", "payload": {"n": n}})).await;
    }
    rx.wait_until(|all| all.len() >= 6).await;
    let (one, two) = (rx.requests("/one").len(), rx.requests("/two").len());
    assert_eq!(one + two, 6, "each delivery once");
    assert!(one > 0 && two > 0, "both listeners took a share: {one} and {two}");
    let endpoints = c.get(&format!("/api/v1/app/{app}/endpoint")).await.body;
    assert_eq!(
        endpoints["data"].as_array().unwrap().len(),
        1,
        "one relay endpoint for the name"
    );
    first.interrupt().await;
    second.interrupt().await;
}
