//! Replays as background tasks: what an endpoint never got (`replay-missing`),
//! and what filters choose (`bulk-replay`).

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::harness::{Behaviour, Client, Receiver, Server};
use crate::operational::{event, operational_endpoint};

/// The `n` of each payload that reached `path`, sorted, each verified with `secret`.
fn received(rx: &Receiver, path: &str, secret: &str) -> Vec<i64> {
    let mut ns: Vec<i64> = rx
        .requests(path)
        .iter()
        .map(|r| {
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .verify(r.body.as_bytes(), &r.header_map())
                .expect("a replayed delivery is signed with the endpoint's secret");
            serde_json::from_str::<Value>(&r.body).unwrap()["n"].as_i64().unwrap()
        })
        .collect();
    ns.sort_unstable();
    ns
}

/// Starts a replay and waits until its task has finished; answers the task.
async fn replay(c: &Client, app: &str, ep: &str, kind: &str, body: Value) -> Value {
    let r = c.post(&format!("/api/v1/app/{app}/endpoint/{ep}/{kind}"), body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["status"], "running");
    let task = format!("/api/v1/background-task/{}", r.body["id"].as_str().unwrap());
    c.wait_for(&task, |t| t["status"] == "finished").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_missing_sends_what_a_disabled_endpoint_never_got_once() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let ops_secret = operational_endpoint(&c, &rx, Some(vec!["background_task.finished"])).await;
    let app = c.app("replays").await;
    let ep = c
        .endpoint(&app, json!({"url": format!("{}/in", rx.url), "channels": ["mine"]}))
        .await;
    let ep_id = ep["id"].as_str().unwrap().to_owned();
    let secret = c.secret(&app, &ep_id).await;
    let since = (Utc::now() - Duration::minutes(1)).to_rfc3339();
    let publish = |n: i64, channel: &'static str| {
        c.publish(
            &app,
            json!({"eventType": "t", "channels": [channel], "payload": {"n": n}}),
        )
    };

    publish(1, "mine").await;
    rx.wait("/in", 1).await;
    let endpoint = format!("/api/v1/app/{app}/endpoint/{ep_id}");
    assert_eq!(c.patch(&endpoint, json!({"disabled": true})).await.status, 200);
    publish(2, "mine").await;
    publish(3, "mine").await;
    publish(4, "other").await;
    assert_eq!(c.patch(&endpoint, json!({"disabled": false})).await.status, 200);
    publish(5, "mine").await;
    rx.wait("/in", 2).await;
    assert_eq!(received(&rx, "/in", &secret), [1, 5]);

    // The two it missed while disabled, once each; not the other channel's.
    let task = replay(&c, &app, &ep_id, "replay-missing", json!({"since": since})).await;
    assert_eq!(task["task"], "endpoint.replay");
    assert_eq!(task["data"]["replayed"], 2, "{task}");
    let task_id = task["id"].as_str().unwrap().to_owned();
    let finished = event(&rx, &ops_secret, "background_task.finished", |d| {
        d["taskId"] == task_id.as_str()
    })
    .await;
    assert_eq!(finished["task"], "endpoint.replay");
    assert_eq!(finished["data"]["replayed"], 2);
    rx.wait("/in", 4).await;
    assert_eq!(received(&rx, "/in", &secret), [1, 2, 3, 5]);
    let attempts = c.get(&format!("/api/v1/app/{app}/attempt/endpoint/{ep_id}")).await;
    assert!(
        attempts.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["triggerType"] == 1)
            .count()
            == 2,
        "replayed deliveries are manual: {}",
        attempts.body
    );

    // Done again, it finds nothing missing.
    let again = replay(&c, &app, &ep_id, "replay-missing", json!({"since": since})).await;
    assert_eq!(again["data"]["replayed"], 0, "{again}");
    assert_eq!(rx.requests("/in").len(), 4);

    // A period that ends before it starts; another application's endpoint.
    let r = c
        .post(
            &format!("{endpoint}/replay-missing"),
            json!({"since": since, "until": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["detail"][0]["loc"][1].as_str()),
        (422, Some("until")),
        "{}",
        r.body
    );
    let other = c.app("elsewhere").await;
    let r = c
        .post(
            &format!("/api/v1/app/{other}/endpoint/{ep_id}/replay-missing"),
            json!({"since": since}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_replay_sends_again_what_its_filters_choose() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    rx.on(
        "/flaky",
        Behaviour {
            statuses: vec![500],
            ..Default::default()
        },
    );
    let app = c.app("bulk").await;
    let ep = c
        .endpoint(&app, json!({"url": format!("{}/flaky", rx.url), "retrySchedule": []}))
        .await;
    let ep_id = ep["id"].as_str().unwrap().to_owned();
    let secret = c.secret(&app, &ep_id).await;
    let since = (Utc::now() - Duration::minutes(1)).to_rfc3339();
    let a = c.publish(&app, json!({"eventType": "a", "payload": {"n": 1}})).await;
    let b = c.publish(&app, json!({"eventType": "b", "payload": {"n": 2}})).await;
    let state = |m: &Value| format!("/api/v1/app/{app}/msg/{}/endpoint", m["id"].as_str().unwrap());
    for m in [&a, &b] {
        c.wait_for(&state(m), |s| s["data"][0]["statusText"] == "fail").await;
    }
    rx.on("/flaky", Behaviour::default());

    // Failed ones (the default) of event type `a`.
    let task = replay(
        &c,
        &app,
        &ep_id,
        "bulk-replay",
        json!({"since": since, "eventTypes": ["a"]}),
    )
    .await;
    assert_eq!(
        (task["task"].as_str(), task["data"]["replayed"].as_i64()),
        (Some("endpoint.bulk-replay"), Some(1))
    );
    c.wait_for(&state(&a), |s| s["data"][0]["statusText"] == "success")
        .await;
    assert_eq!(c.get(&state(&b)).await.body["data"][0]["statusText"], "fail");

    // Those whose last answer was a 5xx: `b` now.
    let task = replay(
        &c,
        &app,
        &ep_id,
        "bulk-replay",
        json!({"since": since, "statusCodeClass": 500}),
    )
    .await;
    assert_eq!(task["data"]["replayed"], 1, "{task}");
    c.wait_for(&state(&b), |s| s["data"][0]["statusText"] == "success")
        .await;

    // The successful ones, on request: both once more.
    let task = replay(&c, &app, &ep_id, "bulk-replay", json!({"since": since, "status": 0})).await;
    assert_eq!(task["data"]["replayed"], 2, "{task}");
    rx.wait("/flaky", 6).await;
    assert_eq!(received(&rx, "/flaky", &secret), [1, 1, 1, 2, 2, 2]);

    for (body, field) in [
        (json!({"since": since, "statusCodeClass": 700}), "statusCodeClass"),
        (json!({"since": since, "status": 9}), "status"),
        (json!({"since": since, "eventTypes": ["not a name"]}), "eventTypes"),
        (json!({"since": since, "channel": "a b"}), "channel"),
    ] {
        let r = c
            .post(&format!("/api/v1/app/{app}/endpoint/{ep_id}/bulk-replay"), body)
            .await;
        assert_eq!(
            (r.status, r.body["detail"][0]["loc"][1].as_str()),
            (422, Some(field)),
            "{}",
            r.body
        );
    }
}
