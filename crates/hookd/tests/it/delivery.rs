use std::time::Duration;

use serde_json::json;

use crate::harness::{Behaviour, Receiver, Server};

fn fails(statuses: &[u16]) -> Behaviour {
    Behaviour {
        statuses: statuses.to_vec(),
        ..Default::default()
    }
}

/// Sets up an application with one endpoint at `rx/path`; returns (app, endpoint id).
async fn one_endpoint(s: &Server, rx: &Receiver, path: &str, extra: serde_json::Value) -> (String, String) {
    let c = s.admin();
    let app = c.app("app").await;
    let mut body = json!({"url": format!("{}{path}", rx.url)});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let ep = c.endpoint(&app, body).await;
    (app, ep["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn deliveries_are_signed_and_verify_with_published_libraries() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let (app, ep) = one_endpoint(&s, &rx, "/signed", json!({"headers": {"X-Custom": "yes"}})).await;
    let c = s.admin();
    let secret = c.secret(&app, &ep).await;
    let msg = c
        .publish(
            &app,
            json!({"eventType": "user.created", "payload": {"email": "a@example.com", "n": 1.5}}),
        )
        .await;
    let r = rx.wait("/signed", 1).await.remove(0);
    let h = r.header_map();
    assert_eq!(
        r.body, r#"{"email":"a@example.com","n":1.5}"#,
        "the payload is sent as published"
    );
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.headers["user-agent"].starts_with("hookd/"));
    assert_eq!(r.headers["x-custom"], "yes");
    assert_eq!(r.headers["webhook-id"], msg["id"].as_str().unwrap());
    for name in ["id", "timestamp", "signature"] {
        assert_eq!(
            r.headers[&format!("webhook-{name}")],
            r.headers[&format!("svix-{name}")]
        );
    }
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(r.body.as_bytes(), &h)
        .expect("standardwebhooks verifies");
    svix::webhooks::Webhook::new(&secret)
        .unwrap()
        .verify(r.body.as_bytes(), &h)
        .expect("svix verifies");
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(
        svix::webhooks::Webhook::new(other)
            .unwrap()
            .verify(r.body.as_bytes(), &h)
            .is_err()
    );
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_signing_during_the_overlap() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let (app, ep) = one_endpoint(&s, &rx, "/rot", json!({})).await;
    let c = s.admin();
    let old = c.secret(&app, &ep).await;
    let new = c.rotate(&app, &ep, json!({"gracePeriodSeconds": 3600})).await;
    c.publish(&app, json!({"eventType": "x", "payload": {}})).await;
    let r = rx.wait("/rot", 1).await.remove(0);
    assert_eq!(r.headers["webhook-signature"].split(' ').count(), 2);
    for secret in [&old, &new] {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(r.body.as_bytes(), &r.header_map())
            .unwrap();
    }
    // no overlap: only the newest secret signs
    let newest = c.rotate(&app, &ep, json!({"gracePeriodSeconds": 0})).await;
    c.publish(&app, json!({"eventType": "x", "payload": {}})).await;
    let r = rx.wait("/rot", 2).await.remove(1);
    let sigs: Vec<&str> = r.headers["webhook-signature"].split(' ').collect();
    assert_eq!(sigs.len(), 2, "the first overlap (an hour) is still running");
    standardwebhooks::Webhook::new(&newest)
        .unwrap()
        .verify(r.body.as_bytes(), &r.header_map())
        .unwrap();
    assert!(
        standardwebhooks::Webhook::new(&new)
            .unwrap()
            .verify(r.body.as_bytes(), &r.header_map())
            .is_err()
    );
}

#[tokio::test]
async fn failures_are_retried_on_schedule_until_success() {
    let s = Server::start(&[("HOOKD_RETRY_SCHEDULE", "1,1,1")]);
    let rx = Receiver::start().await;
    rx.on("/flaky", fails(&[500, 503, 200]));
    let (app, ep) = one_endpoint(&s, &rx, "/flaky", json!({})).await;
    let msg = s.admin().publish(&app, json!({"eventType": "x", "payload": {}})).await;
    let got = rx.wait("/flaky", 3).await;
    for pair in got.windows(2) {
        let gap = pair[1].at - pair[0].at;
        // 1 s ± 20% jitter
        assert!(
            gap >= Duration::from_millis(750) && gap < Duration::from_secs(3),
            "gap {gap:?}"
        );
        assert_eq!(pair[0].headers["webhook-id"], pair[1].headers["webhook-id"]);
    }
    let msg_id = msg["id"].as_str().unwrap();
    let attempts = s
        .admin()
        .wait_for(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}"), |b| {
            b["data"].as_array().is_some_and(|d| d.len() == 3)
        })
        .await;
    assert_eq!(status_codes(&attempts), vec![200, 503, 500]);
    let stats = s
        .admin()
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/stats"))
        .await
        .body;
    assert_eq!(stats["success"], 1);
}

/// The status codes of a page of attempts, newest first.
fn status_codes(attempts: &serde_json::Value) -> Vec<i64> {
    attempts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["responseStatusCode"].as_i64().unwrap())
        .collect()
}

/// With the default schedule (5 s, then 5 min, …), the test moves the
/// scheduler forward to each retry instead of waiting for it: nothing is
/// claimed before a retry is due, and exactly it once it is.
#[tokio::test]
async fn the_scheduler_can_be_moved_to_each_retry() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    rx.on("/later", fails(&[500, 503, 200]));
    let (app, _) = one_endpoint(&s, &rx, "/later", json!({})).await;
    let msg = s.admin().publish(&app, json!({"eventType": "x", "payload": {}})).await;
    let attempts = format!("/api/v1/app/{app}/attempt/msg/{}", msg["id"].as_str().unwrap());
    let recorded = |n: usize| {
        let attempts = attempts.clone();
        let admin = s.admin();
        async move {
            admin
                .wait_for(&attempts, |b| b["data"].as_array().is_some_and(|d| d.len() == n))
                .await
        }
    };
    for (n, next_due) in [(1, Duration::from_secs(5)), (2, Duration::from_secs(300))] {
        rx.wait("/later", n).await;
        recorded(n).await;
        // Not due yet (the schedule's jitter is 20% either way).
        assert_eq!(s.run_due_in(next_due * 7 / 10).await, 0, "after attempt {n}");
        assert_eq!(s.run_due_in(next_due * 13 / 10).await, 1, "after attempt {n}");
    }
    rx.wait("/later", 3).await;
    assert_eq!(status_codes(&recorded(3).await), vec![200, 503, 500]);
    assert_eq!(
        s.run_due_in(Duration::from_secs(86_400)).await,
        0,
        "delivered: nothing left"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let s = Server::start(&[("HOOKD_RETRY_SCHEDULE", "0.2")]);
    let rx = Receiver::start().await;
    rx.on(
        "/busy",
        Behaviour {
            statuses: vec![429, 200],
            headers: vec![("retry-after".into(), "2".into())],
            ..Default::default()
        },
    );
    let (app, _) = one_endpoint(&s, &rx, "/busy", json!({})).await;
    s.admin().publish(&app, json!({"eventType": "x", "payload": {}})).await;
    let got = rx.wait("/busy", 2).await;
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(1900),
        "retried after {:?}",
        got[1].at - got[0].at
    );
}

#[tokio::test]
async fn timeouts_redirects_and_exhaustion_fail_then_resend_and_recover() {
    let s = Server::start(&[("HOOKD_RETRY_SCHEDULE", "0.1,0.1")]);
    let rx = Receiver::start().await;
    rx.on(
        "/slow",
        Behaviour {
            delay: Duration::from_secs(2),
            ..Default::default()
        },
    );
    rx.on(
        "/moved",
        Behaviour {
            statuses: vec![302],
            headers: vec![("location".into(), format!("{}/elsewhere", rx.url))],
            ..Default::default()
        },
    );
    rx.on("/down", fails(&[500, 500, 500, 200]));
    let c = s.admin();
    let app = c.app("app").await;
    let slow = c.endpoint(&app, json!({"url": format!("{}/slow", rx.url), "attemptTimeout": 0.3, "retrySchedule": [], "eventTypes": ["*"], "channels": ["slow"]})).await;
    let moved = c
        .endpoint(
            &app,
            json!({"url": format!("{}/moved", rx.url), "retrySchedule": [], "channels": ["moved"]}),
        )
        .await;
    let down = c
        .endpoint(&app, json!({"url": format!("{}/down", rx.url), "channels": ["down"]}))
        .await;
    let attempts_of =
        |ep: &serde_json::Value| format!("/api/v1/app/{app}/attempt/endpoint/{}", ep["id"].as_str().unwrap());

    c.publish(&app, json!({"eventType": "x", "payload": {}, "channels": ["slow"]}))
        .await;
    let a = c
        .wait_for(&attempts_of(&slow), |b| {
            b["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    assert_eq!(a["data"][0]["responseStatusCode"], 0);
    assert!(
        a["data"][0]["error"].as_str().unwrap().contains("timed out"),
        "{}",
        a["data"][0]
    );

    c.publish(&app, json!({"eventType": "x", "payload": {}, "channels": ["moved"]}))
        .await;
    let a = c
        .wait_for(&attempts_of(&moved), |b| {
            b["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    assert_eq!(a["data"][0]["responseStatusCode"], 302);
    assert!(
        a["data"][0]["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed")
    );
    assert!(rx.requests("/elsewhere").is_empty());

    let msg = c
        .publish(&app, json!({"eventType": "x", "payload": {}, "channels": ["down"]}))
        .await;
    let msg_id = msg["id"].as_str().unwrap();
    let down_id = down["id"].as_str().unwrap();
    let state = format!("/api/v1/app/{app}/msg/{msg_id}/endpoint");
    let failed = c.wait_for(&state, |b| b["data"][0]["statusText"] == "fail").await;
    assert!(failed["data"][0].get("nextAttempt").is_none());
    assert_eq!(rx.requests("/down").len(), 3, "one attempt and two retries");

    // resend queues it once more; the receiver's fourth answer is a 200
    c.post(
        &format!("/api/v1/app/{app}/msg/{msg_id}/endpoint/{down_id}/resend"),
        json!({}),
    )
    .await;
    c.wait_for(&state, |b| b["data"][0]["statusText"] == "success").await;

    // recover: fail another message, then recover everything since a minute ago
    rx.on("/down", fails(&[500, 500, 500, 200]));
    let msg2 = c
        .publish(&app, json!({"eventType": "x", "payload": {}, "channels": ["down"]}))
        .await;
    let state2 = format!("/api/v1/app/{app}/msg/{}/endpoint", msg2["id"].as_str().unwrap());
    c.wait_for(&state2, |b| b["data"][0]["statusText"] == "fail").await;
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let r = c
        .post(
            &format!("/api/v1/app/{app}/endpoint/{down_id}/recover"),
            json!({"since": since.to_rfc3339()}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["recovered"].as_i64(), r.body["task"].as_str()),
        (202, Some(1), Some("endpoint.recover"))
    );
    c.wait_for(&state2, |b| b["data"][0]["statusText"] == "success").await;
}

#[tokio::test]
async fn an_endpoint_failing_for_too_long_is_disabled() {
    let s = Server::start(&[
        ("HOOKD_RETRY_SCHEDULE", "0.4,0.4,0.4,0.4,0.4,0.4"),
        ("HOOKD_DISABLE_AFTER", "1"),
    ]);
    let rx = Receiver::start().await;
    rx.on("/dead", fails(&[500]));
    let (app, ep) = one_endpoint(&s, &rx, "/dead", json!({})).await;
    s.admin().publish(&app, json!({"eventType": "x", "payload": {}})).await;
    let ep = s
        .admin()
        .wait_for(&format!("/api/v1/app/{app}/endpoint/{ep}"), |b| b["disabled"] == true)
        .await;
    assert_eq!(ep["disabled"], true);
    let seen = rx.requests("/dead").len();
    assert!((3..=6).contains(&seen), "{seen} attempts before it was disabled");
}

#[tokio::test]
async fn a_slow_endpoint_does_not_delay_a_fast_one() {
    let s = Server::start(&[("HOOKD_ENDPOINT_CONCURRENCY", "1")]);
    let rx = Receiver::start().await;
    rx.on(
        "/slow",
        Behaviour {
            delay: Duration::from_millis(800),
            ..Default::default()
        },
    );
    let c = s.admin();
    let app = c.app("app").await;
    c.endpoint(&app, json!({"url": format!("{}/slow", rx.url), "channels": ["slow"]}))
        .await;
    c.endpoint(&app, json!({"url": format!("{}/fast", rx.url), "channels": ["fast"]}))
        .await;
    for _ in 0..4 {
        c.publish(&app, json!({"eventType": "x", "payload": {}, "channels": ["slow"]}))
            .await;
    }
    for _ in 0..4 {
        c.publish(&app, json!({"eventType": "x", "payload": {}, "channels": ["fast"]}))
            .await;
    }
    rx.wait("/fast", 4).await;
    assert!(
        rx.requests("/slow").len() <= 1,
        "fast deliveries finished while the slow endpoint was still busy"
    );
    rx.wait("/slow", 4).await;
}

#[tokio::test]
async fn throttle_rate_spaces_deliveries() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let (app, _) = one_endpoint(&s, &rx, "/throttled", json!({"throttleRate": 4})).await;
    for _ in 0..9 {
        s.admin().publish(&app, json!({"eventType": "x", "payload": {}})).await;
    }
    let got = rx.wait("/throttled", 9).await;
    let span = got[8].at - got[0].at;
    assert!(span >= Duration::from_millis(1900), "9 messages at 4/s took {span:?}");
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let s = Server::start(&[("HOOKD_ALLOW_NETWORKS", "10.255.255.0/24")]);
    let rx = Receiver::start().await;
    let port = rx.url.rsplit(':').next().unwrap().to_string();
    let c = s.admin();
    let app = c.app("app").await;
    // The literal address, the name that resolves to it, and a decimal spelling of it.
    let urls = [
        format!("{}/literal", rx.url),
        format!("http://localhost:{port}/name"),
        format!("http://2130706433:{port}/decimal"),
    ];
    let mut eps = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let ep = c
            .endpoint(
                &app,
                json!({"url": url, "retrySchedule": [0.1], "channels": [format!("c{i}")]}),
            )
            .await;
        c.publish(
            &app,
            json!({"eventType": "x", "payload": {}, "channels": [format!("c{i}")]}),
        )
        .await;
        eps.push(ep["id"].as_str().unwrap().to_string());
    }
    for ep in &eps {
        // Refused like any failure: attempted, retried once, then failed.
        let a = c
            .wait_for(&format!("/api/v1/app/{app}/attempt/endpoint/{ep}"), |b| {
                b["data"].as_array().is_some_and(|d| d.len() == 2)
            })
            .await;
        for attempt in a["data"].as_array().unwrap() {
            assert!(
                attempt["error"].as_str().unwrap().contains("is not public (loopback)"),
                "{attempt}"
            );
            assert_eq!(attempt["responseStatusCode"], 0);
        }
        c.wait_for(&format!("/api/v1/app/{app}/endpoint/{ep}/msg"), |b| {
            b["data"][0]["statusText"] == "fail"
        })
        .await;
    }
    assert!(rx.all().is_empty(), "nothing reached the receiver");
    // A test delivery gets the same answer at once.
    let r = c
        .post(&format!("/api/v1/app/{app}/test-delivery"), json!({"url": urls[1]}))
        .await;
    assert_eq!(
        (r.status, r.body["success"].as_bool(), r.body["statusCode"].as_i64()),
        (200, Some(false), Some(0))
    );
    assert!(
        r.body["error"].as_str().unwrap().contains("is not public (loopback)"),
        "{}",
        r.body
    );

    // Allowed, the same URLs work.
    let open = Server::start(&[("HOOKD_ALLOW_NETWORKS", "127.0.0.0/8")]);
    let c = open.admin();
    let app = c.app("app").await;
    for url in &urls {
        let r = c
            .post(
                &format!("/api/v1/app/{app}/test-delivery"),
                json!({"url": url, "payload": {"hello": "world"}}),
            )
            .await;
        assert_eq!(
            (r.body["success"].as_bool(), r.body["statusCode"].as_i64()),
            (Some(true), Some(200)),
            "{url}: {}",
            r.body
        );
        assert_eq!(r.body["response"], "received");
    }
    let got = rx.first("/name").await;
    assert_eq!(got.body, r#"{"hello":"world"}"#);
    assert!(got.headers.contains_key("webhook-signature"));
}

#[tokio::test]
async fn each_event_type_can_have_its_own_route() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let app = c.app("fig").await;
    c.endpoint(&app, json!({"url": format!("{}/fig/{{eventType}}", rx.url)}))
        .await;
    for bad in ["https://{eventType}.example.com/x", "https://example.com/{nope}"] {
        let r = c
            .post(&format!("/api/v1/app/{app}/endpoint"), json!({"url": bad}))
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
    }
    for t in ["ClientStatusChanged", "SettingValueChanged"] {
        c.publish(&app, json!({"eventType": t, "payload": {"t": t}})).await;
    }
    assert_eq!(
        rx.first("/fig/ClientStatusChanged").await.body,
        r#"{"t":"ClientStatusChanged"}"#
    );
    assert_eq!(
        rx.first("/fig/SettingValueChanged").await.body,
        r#"{"t":"SettingValueChanged"}"#
    );
}

#[tokio::test]
async fn an_endpoint_deleted_mid_attempt_loses_its_outcome_and_nothing_else() {
    let s = Server::spawn(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let app = c.app("app").await;
    let doomed = c.endpoint(&app, json!({"url": format!("{}/doomed", rx.url)})).await;
    c.endpoint(&app, json!({"url": format!("{}/kept", rx.url)})).await;
    rx.on(
        "/doomed",
        Behaviour {
            statuses: vec![500],
            delay: Duration::from_millis(500),
            ..Default::default()
        },
    );
    let first = c.publish(&app, json!({"eventType": "a.b", "payload": {"n": 1}})).await;
    rx.wait("/kept", 1).await;
    // While /doomed is still answering, its endpoint (and so its delivery) goes.
    let r = c
        .delete(&format!(
            "/api/v1/app/{app}/endpoint/{}",
            doomed["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status, 204);
    rx.wait("/doomed", 1).await;
    // The outcome that comes back is written with the next batch, which must still commit.
    let second = c.publish(&app, json!({"eventType": "a.b", "payload": {"n": 2}})).await;
    let got = rx.wait("/kept", 2).await;
    assert_eq!(got[1].headers["webhook-id"], second["id"].as_str().unwrap());
    let attempts = c
        .wait_for(
            &format!("/api/v1/app/{app}/attempt/msg/{}", first["id"].as_str().unwrap()),
            |b| b["data"].as_array().is_some_and(|a| a.len() == 1),
        )
        .await;
    assert_eq!(
        attempts["data"][0]["responseStatusCode"], 200,
        "only the kept endpoint's attempt"
    );
    assert!(!s.log().contains("cannot be stored"), "{}", s.log());
    assert!(!s.log().contains("writing its items one by one"), "{}", s.log());
}

#[tokio::test]
async fn deliveries_continue_the_publishers_trace_retries_included() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    rx.on(
        "/traced",
        Behaviour {
            statuses: vec![503, 200],
            ..Default::default()
        },
    );
    let c = s.admin();
    let app = c.app("traced").await;
    c.endpoint(&app, json!({"url": format!("{}/traced", rx.url)})).await;
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let headers = [("traceparent", parent), ("tracestate", "congo=t61rcWkgMzE")];
    let body = json!({"eventType": "t", "payload": {"n": 1}});
    let r = c
        .send("POST", &format!("/api/v1/app/{app}/msg"), Some(&body), &headers)
        .await;
    assert_eq!(r.status, 202);
    let first = rx.first("/traced").await;
    let tp = &first.headers["traceparent"];
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && tp.ends_with("-01"),
        "{tp}"
    );
    assert_ne!(tp, parent, "a span of the delivery's own");
    assert_eq!(first.headers["tracestate"], "congo=t61rcWkgMzE");
    // The retry is claimed from the store: the trace was stored with the message.
    let msg = r.body["id"].as_str().unwrap();
    c.wait_for(&format!("/api/v1/app/{app}/attempt/msg/{msg}"), |b| {
        b["data"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    assert_eq!(s.run_due_in(Duration::from_secs(10)).await, 1);
    let retry = rx.wait("/traced", 2).await.remove(1);
    assert!(retry.headers["traceparent"].starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert_ne!(retry.headers["traceparent"], *tp);

    // Without one, hookd starts a trace per message.
    rx.on("/traced", Behaviour::default());
    c.publish(&app, json!({"eventType": "t", "payload": {"n": 2}})).await;
    c.publish(&app, json!({"eventType": "t", "payload": {"n": 3}})).await;
    let all = rx.wait("/traced", 4).await;
    let trace_of = |r: &crate::harness::Received| r.headers["traceparent"].split('-').nth(1).unwrap().to_owned();
    assert_ne!(trace_of(&all[2]), trace_of(&all[3]));
    assert!(
        all[2..]
            .iter()
            .all(|r| r.headers["traceparent"].len() == 55 && !r.headers.contains_key("tracestate"))
    );
}
