//! Endpoint transformations: JavaScript that changes what is sent, each kind
//! of failure a failed attempt, and simulation that sends nothing.

use serde_json::{Value, json};

use crate::harness::{Client, Receiver, Server};

const RESHAPE: &str = r#"
function handler(webhook) {
    if (webhook.payload.skip) {
        webhook.cancel = true;
        return webhook;
    }
    webhook.payload = { wrapped: webhook.payload, type: webhook.eventType, region: webhook.variables.region };
    webhook.headers["x-shaped"] = "yes";
    webhook.url = webhook.url.replace("/original", "/moved");
    webhook.method = "PUT";
    webhook.eventType = "not.changed";
    return webhook;
}
"#;

async fn transform(c: &Client, app: &str, ep: &str, body: Value) -> crate::harness::Reply {
    c.patch(&format!("/api/v1/app/{app}/endpoint/{ep}/transformation"), body)
        .await
}

/// The attempts of `msg` at the endpoint once its delivery has ended.
async fn ended(c: &Client, app: &str, msg: &Value) -> Value {
    let id = msg["id"].as_str().unwrap();
    c.wait_for(&format!("/api/v1/app/{app}/msg/{id}/endpoint"), |b| {
        ["success", "fail", "canceled"].contains(&b["data"][0]["statusText"].as_str().unwrap_or(""))
    })
    .await;
    c.get(&format!("/api/v1/app/{app}/attempt/msg/{id}")).await.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transformation_changes_what_is_sent_or_cancels_it() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("shaped").await;
    let ep = c
        .endpoint(
            &app,
            json!({"url": format!("{}/original", rx.url), "retrySchedule": []}),
        )
        .await;
    let ep_id = ep["id"].as_str().unwrap().to_owned();
    let secret = c.secret(&app, &ep_id).await;

    let r = transform(
        &c,
        &app,
        &ep_id,
        json!({"code": RESHAPE, "enabled": true, "variables": {"region": "eu"}}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = c
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/transformation"))
        .await;
    assert_eq!(
        (got.body["enabled"].as_bool(), got.body["code"].as_str()),
        (Some(true), Some(RESHAPE))
    );
    assert_eq!(got.body["variables"]["region"], "eu");
    assert!(got.body["updatedAt"].as_str().unwrap().ends_with('Z'));

    c.publish(&app, json!({"eventType": "user.created", "payload": {"n": 1}}))
        .await;
    let moved = rx.first("/moved").await;
    assert_eq!(moved.method, "PUT");
    assert_eq!(moved.headers["x-shaped"], "yes");
    let body: Value = serde_json::from_str(&moved.body).unwrap();
    assert_eq!(
        body,
        json!({"wrapped": {"n": 1}, "type": "user.created", "region": "eu"})
    );
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(moved.body.as_bytes(), &moved.header_map())
        .expect("the transformed body is what is signed");
    assert!(rx.requests("/original").is_empty());

    // Canceled: nothing sent, the delivery ends as canceled, the endpoint stays healthy.
    let msg = c
        .publish(&app, json!({"eventType": "user.created", "payload": {"skip": true}}))
        .await;
    let attempts = ended(&c, &app, &msg).await;
    assert_eq!(attempts["data"][0]["status"], 4, "{attempts}");
    assert!(
        attempts["data"][0]["error"]
            .as_str()
            .unwrap()
            .contains("canceled by the endpoint's transformation")
    );
    assert_eq!(rx.all().len(), 1);
    let shown = c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}")).await;
    assert!(shown.body.get("failingSince").is_none(), "{}", shown.body);

    // Turned off, the message goes out as published.
    assert_eq!(transform(&c, &app, &ep_id, json!({"enabled": false})).await.status, 204);
    c.publish(&app, json!({"eventType": "user.created", "payload": {"n": 2}}))
        .await;
    let plain = rx.first("/original").await;
    assert_eq!((plain.method.as_str(), plain.body.as_str()), ("POST", r#"{"n":2}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_transformation_failure_is_a_failed_attempt() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("broken").await;
    let cases = [
        ("function handler(w) { throw new Error('no thanks'); }", "no thanks"),
        ("function handler(w) { while (true) {} }", "ran longer than 50 ms"),
        (
            "function handler(w) { let a = []; while (true) { a.push('x'.repeat(1 << 20)); } }",
            "out of memory",
        ),
        ("function handler(w) { return 5; }", "the transformation returned"),
        (
            "function handler(w) { w.method = 'DELETE'; return w; }",
            "method \"DELETE\"",
        ),
        (
            "function handler(w) { w.headers['webhook-signature'] = 'v1,forged'; return w; }",
            "hookd sets itself",
        ),
        // A changed URL passes the address policy again.
        (
            "function handler(w) { w.url = 'http://169.254.169.254/latest'; return w; }",
            "169.254.169.254",
        ),
    ];
    for (i, (code, expected)) in cases.iter().enumerate() {
        let ep = c
            .endpoint(
                &app,
                json!({"url": format!("{}/case{i}", rx.url), "retrySchedule": [], "channels": [format!("c{i}")]}),
            )
            .await;
        let ep_id = ep["id"].as_str().unwrap();
        let r = transform(&c, &app, ep_id, json!({"code": code, "enabled": true})).await;
        assert_eq!(r.status, 204, "{code}: {}", r.body);
        let msg = c
            .publish(
                &app,
                json!({"eventType": "t", "channels": [format!("c{i}")], "payload": {}}),
            )
            .await;
        let attempts = ended(&c, &app, &msg).await;
        let a = &attempts["data"][0];
        assert_eq!(
            (a["status"].as_i64(), a["responseStatusCode"].as_i64()),
            (Some(2), Some(0)),
            "{code}: {a}"
        );
        let error = a["error"].as_str().unwrap();
        assert!(error.contains(expected), "{code}: {error}");
    }
    assert!(rx.all().is_empty(), "nothing was sent");
    // The server is unharmed: an endpoint without a transformation still receives.
    c.endpoint(&app, json!({"url": format!("{}/fine", rx.url), "channels": ["fine"]}))
        .await;
    c.publish(&app, json!({"eventType": "t", "channels": ["fine"], "payload": {}}))
        .await;
    rx.first("/fine").await;
}

#[tokio::test]
async fn a_simulation_shows_the_result_and_sends_nothing() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("tryout").await;
    let ep = c.endpoint(&app, json!({"url": format!("{}/original", rx.url)})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let simulate = format!("/api/v1/app/{app}/endpoint/{ep_id}/transformation/simulate");
    let r = c
        .post(
            &simulate,
            json!({"code": RESHAPE, "eventType": "user.created", "payload": {"n": 7}, "variables": {"region": "us"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["url"], format!("{}/moved", rx.url));
    assert_eq!(
        (r.body["method"].as_str(), r.body["cancel"].as_bool()),
        (Some("PUT"), Some(false))
    );
    let payload: Value = serde_json::from_str(r.body["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        payload,
        json!({"wrapped": {"n": 7}, "type": "user.created", "region": "us"})
    );

    let r = c
        .post(
            &simulate,
            json!({"code": RESHAPE, "eventType": "user.created", "payload": {"skip": true}, "variables": {}}),
        )
        .await;
    assert_eq!(r.body["cancel"], true, "{}", r.body);

    // Scripts that cannot run are refused with the engine's words; nothing is stored.
    for (code, says) in [
        ("function handler(w) {\n  return w", "unexpected token"),
        ("function handler(w) {\n  return w.;\n}", "eval_script:2"),
        ("function handle(w) { return w; }", "no function handler"),
        ("function handler(w) { throw new Error('bad input'); }", "bad input"),
    ] {
        let r = c
            .post(&simulate, json!({"code": code, "eventType": "t", "payload": {}}))
            .await;
        assert_eq!(
            (r.status, r.body["detail"][0]["loc"][1].as_str()),
            (422, Some("code")),
            "{code}: {}",
            r.body
        );
        assert!(
            r.body["detail"][0]["msg"].as_str().unwrap().contains(says),
            "{code}: {}",
            r.body
        );
    }
    let patch = format!("/api/v1/app/{app}/endpoint/{ep_id}/transformation");
    let r = c
        .patch(&patch, json!({"code": "function handle(w) { return w; }"}))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = c.patch(&patch, json!({"enabled": true})).await;
    assert_eq!(
        (r.status, r.body["detail"][0]["loc"][1].as_str()),
        (422, Some("enabled")),
        "{}",
        r.body
    );
    let r = c.get(&patch).await;
    assert_eq!(
        (r.body["code"].clone(), r.body["enabled"].clone()),
        (Value::Null, json!(false))
    );
    assert!(rx.all().is_empty());
}
