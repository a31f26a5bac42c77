//! Operational webhooks and background tasks: every event reaches the
//! operator's endpoint at a real receiver, signed with that endpoint's secret.

use serde_json::{Value, json};

use crate::harness::{Behaviour, Client, Received, Receiver, Server};
use crate::metrics::Metrics;

/// The operational events that have reached `path`, checked and parsed.
pub fn events(rx: &Receiver, path: &str, secret: &str) -> Vec<Value> {
    rx.requests(path).iter().map(|r| parse(r, secret)).collect()
}

fn parse(r: &Received, secret: &str) -> Value {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(r.body.as_bytes(), &r.header_map())
        .expect("an operational webhook verifies with its endpoint's secret");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");
    body
}

/// Waits for an event of `kind` whose data `matches`, and answers its data.
pub async fn event(rx: &Receiver, secret: &str, kind: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let found = |log: &[Received]| {
        log.iter()
            .filter(|r| r.path == "/ops")
            .map(|r| parse(r, secret))
            .find(|b| b["type"] == kind && matches(&b["data"]))
    };
    rx.wait_until(|log| found(log).is_some()).await;
    found(&rx.requests("/ops")).unwrap()["data"].clone()
}

pub async fn operational_endpoint(c: &Client, rx: &Receiver, types: Option<Vec<&str>>) -> String {
    let r = c
        .post(
            "/api/v1/operational-webhook/endpoint",
            json!({"url": format!("{}/ops", rx.url), "eventTypes": types, "uid": "ops"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["uid"], "ops");
    let r = c.get("/api/v1/operational-webhook/endpoint/ops/secret").await;
    r.body["key"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operational_event_reaches_the_operators_endpoint_signed() {
    let s = Server::start(&[("HOOKD_DISABLE_AFTER", "2")]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let secret = operational_endpoint(&c, &rx, None).await;
    let app = c.app("ops-tenant").await;
    let app_id = c.get(&format!("/api/v1/app/{app}")).await.body["id"].clone();

    // endpoint.created, .updated, .disabled (by hand), .enabled, .deleted.
    let ep = c
        .endpoint(&app, json!({"url": format!("{}/ok", rx.url), "uid": "hand"}))
        .await;
    let ep_id = ep["id"].as_str().unwrap().to_owned();
    let is_ep = |d: &Value| d["endpointId"] == ep_id.as_str();
    let created = event(&rx, &secret, "endpoint.created", is_ep).await;
    assert_eq!(
        created,
        json!({"appId": app_id, "appUid": "ops-tenant", "endpointId": ep_id, "endpointUid": "hand"})
    );
    let path = format!("/api/v1/app/{app}/endpoint/{ep_id}");
    assert_eq!(c.patch(&path, json!({"description": "changed"})).await.status, 200);
    event(&rx, &secret, "endpoint.updated", is_ep).await;
    assert_eq!(c.patch(&path, json!({"disabled": true})).await.status, 200);
    let disabled = event(&rx, &secret, "endpoint.disabled", is_ep).await;
    assert_eq!(disabled["trigger"], "manual");
    assert_eq!(c.patch(&path, json!({"disabled": false})).await.status, 200);
    event(&rx, &secret, "endpoint.enabled", is_ep).await;
    assert_eq!(c.delete(&path).await.status, 204);
    event(&rx, &secret, "endpoint.deleted", is_ep).await;

    // message.attempt.failing on the fourth failure, then .exhausted.
    rx.on(
        "/down",
        Behaviour {
            statuses: vec![500],
            ..Default::default()
        },
    );
    let down = c
        .endpoint(
            &app,
            json!({"url": format!("{}/down", rx.url), "channels": ["down"], "retrySchedule": [0.05, 0.05, 0.05, 0.05]}),
        )
        .await;
    let down_id = down["id"].as_str().unwrap().to_owned();
    let msg = c
        .publish(
            &app,
            json!({"eventType": "t", "eventId": "evt-1", "channels": ["down"], "payload": {}}),
        )
        .await;
    let on_down = |d: &Value| d["endpointId"] == down_id.as_str();
    let failing = event(&rx, &secret, "message.attempt.failing", on_down).await;
    assert_eq!(failing["msgId"], msg["id"]);
    assert_eq!(failing["msgEventId"], "evt-1");
    assert_eq!(failing["appUid"], "ops-tenant");
    assert_eq!(failing["lastAttempt"]["responseStatusCode"], 500);
    let exhausted = event(&rx, &secret, "message.attempt.exhausted", on_down).await;
    assert_ne!(exhausted["lastAttempt"]["id"], failing["lastAttempt"]["id"]);
    let attempts = c.get(&format!("/api/v1/app/{app}/attempt/endpoint/{down_id}")).await;
    assert_eq!(attempts.body["data"].as_array().unwrap().len(), 5);

    // message.attempt.recovered: a success after the failing event.
    rx.on(
        "/flaky",
        Behaviour {
            statuses: vec![500, 500, 500, 500, 200],
            ..Default::default()
        },
    );
    let flaky = c
        .endpoint(
            &app,
            json!({"url": format!("{}/flaky", rx.url), "channels": ["flaky"], "retrySchedule": [0.05, 0.05, 0.05, 0.05, 0.05]}),
        )
        .await;
    let flaky_id = flaky["id"].as_str().unwrap().to_owned();
    c.publish(&app, json!({"eventType": "t", "channels": ["flaky"], "payload": {}}))
        .await;
    let on_flaky = |d: &Value| d["endpointId"] == flaky_id.as_str();
    event(&rx, &secret, "message.attempt.failing", on_flaky).await;
    let recovered = event(&rx, &secret, "message.attempt.recovered", on_flaky).await;
    assert_eq!(recovered["lastAttempt"]["responseStatusCode"], 200);

    // endpoint.disabled, automatically: failing for longer than HOOKD_DISABLE_AFTER.
    rx.on(
        "/dead",
        Behaviour {
            statuses: vec![503],
            ..Default::default()
        },
    );
    let dead = c
        .endpoint(
            &app,
            json!({"url": format!("{}/dead", rx.url), "channels": ["dead"], "retrySchedule": [2.5, 2.5]}),
        )
        .await;
    let dead_id = dead["id"].as_str().unwrap().to_owned();
    c.publish(&app, json!({"eventType": "t", "channels": ["dead"], "payload": {}}))
        .await;
    let auto = event(&rx, &secret, "endpoint.disabled", |d| {
        d["endpointId"] == dead_id.as_str()
    })
    .await;
    assert_eq!(auto["trigger"], "automatic");
    assert_eq!(auto["appUid"], "ops-tenant");
    assert!(auto["failSince"].as_str().unwrap().ends_with('Z'), "{auto}");
    let shown = c.get(&format!("/api/v1/app/{app}/endpoint/{dead_id}")).await;
    assert_eq!(shown.body["disabled"], true);

    // background_task.finished: a recovery, readable as a background task.
    rx.on("/down", Behaviour::default());
    let r = c
        .post(
            &format!("/api/v1/app/{app}/endpoint/{down_id}/recover"),
            json!({"since": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_str(), r.body["recovered"].as_i64()),
        (Some("finished"), Some(1))
    );
    let task_id = r.body["id"].as_str().unwrap().to_owned();
    let finished = event(&rx, &secret, "background_task.finished", |d| {
        d["taskId"] == task_id.as_str()
    })
    .await;
    assert_eq!(finished["task"], "endpoint.recover");
    assert_eq!(finished["status"], "finished");
    assert_eq!(finished["data"]["recovered"], 1);
    assert_eq!(finished["data"]["endpointId"], down_id.as_str());
    let task = c.get(&format!("/api/v1/background-task/{task_id}")).await;
    assert_eq!(task.status, 200);
    assert_eq!(task.body["data"]["recovered"], 1);
    let list = c
        .get("/api/v1/background-task?task=endpoint.recover&status=finished")
        .await;
    assert_eq!(list.body["data"][0]["id"], task_id.as_str());
    rx.wait("/down", 6).await;

    // Each event once: its message was made once.
    let all = events(&rx, "/ops", &secret);
    let mut ids: Vec<String> = rx
        .requests("/ops")
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "an operational message was sent twice: {all:?}");

    let m = Metrics::parse(c.get("/metrics").await.body.as_str().unwrap());
    assert_eq!(m.get("hookd_endpoints_disabled", &[]), 2.0);
    assert!(m.get("hookd_operational_webhooks_sent", &[]) >= all.len() as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_endpoints_are_the_operators_alone() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    // Subscribed to one kind: the others do not reach it.
    let secret = operational_endpoint(&c, &rx, Some(vec!["endpoint.deleted"])).await;
    let r = c
        .post(
            "/api/v1/operational-webhook/endpoint",
            json!({"url": format!("{}/x", rx.url), "eventTypes": ["user.created"]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.to_string().contains("not operational events"), "{}", r.body);

    let app = c.app("tenant").await;
    let ep = c.endpoint(&app, json!({"url": format!("{}/ok", rx.url)})).await;
    let ep_id = ep["id"].as_str().unwrap();
    c.delete(&format!("/api/v1/app/{app}/endpoint/{ep_id}")).await;
    event(&rx, &secret, "endpoint.deleted", |d| d["endpointId"] == ep_id).await;
    let kinds: Vec<Value> = events(&rx, "/ops", &secret).iter().map(|b| b["type"].clone()).collect();
    assert_eq!(kinds, [json!("endpoint.deleted")]);

    // Listed, read, changed, its headers and secret managed, by the operator.
    let list = c.get("/api/v1/operational-webhook/endpoint").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    let r = c
        .put(
            "/api/v1/operational-webhook/endpoint/ops",
            json!({"url": format!("{}/ops", rx.url), "description": "pager", "eventTypes": null}),
        )
        .await;
    assert_eq!((r.status, r.body["description"].as_str()), (200, Some("pager")));
    let r = c
        .put(
            "/api/v1/operational-webhook/endpoint/ops/headers",
            json!({"headers": {"X-Team": "sre", "Authorization": "Bearer t"}}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c.get("/api/v1/operational-webhook/endpoint/ops/headers").await;
    assert_eq!(
        r.body,
        json!({"headers": {"X-Team": "sre"}, "sensitive": ["Authorization"]})
    );
    let r = c
        .post("/api/v1/operational-webhook/endpoint/ops/secret/rotate", json!({}))
        .await;
    assert_eq!(r.status, 200);
    assert_ne!(r.body["key"].as_str().unwrap(), secret);

    // A tenant's token reaches none of it, and the operational application is nobody's.
    let r = c
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), json!({}))
        .await;
    let tenant = s.as_token(r.body["token"].as_str().unwrap());
    for path in ["/api/v1/operational-webhook/endpoint", "/api/v1/background-task"] {
        assert_eq!(tenant.get(path).await.status, 403, "{path}");
    }
    assert_eq!(c.get("/api/v1/app/app_hookd_operational").await.status, 404);
    let apps = c.get("/api/v1/app").await;
    assert!(!apps.body.to_string().contains("app_hookd_operational"));
    let r = c.delete("/api/v1/operational-webhook/endpoint/ops").await;
    assert_eq!(r.status, 204);
    assert_eq!(c.get("/api/v1/operational-webhook/endpoint/ops").await.status, 404);
}
