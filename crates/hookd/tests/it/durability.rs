use std::collections::{HashMap, HashSet};

use serde_json::json;

use crate::harness::{Behaviour, Receiver, Server};

/// SIGTERM: at once not ready and refusing publishes, while the attempt under
/// way finishes and is recorded (nothing is sent again after a restart); exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_attempts_under_way_and_refuses_new_work() {
    let mut s = Server::spawn(&[]);
    let rx = Receiver::start().await;
    rx.on(
        "/slow",
        Behaviour {
            delay: std::time::Duration::from_secs(3),
            ..Default::default()
        },
    );
    let c = s.admin();
    let app = c.app("drain").await;
    c.endpoint(&app, json!({"url": format!("{}/slow", rx.url)})).await;
    let msg = c.publish(&app, json!({"eventType": "t", "payload": {}})).await;
    rx.wait_arrived("/slow", 1).await;

    s.signal_term();
    let ready = c.wait_for("/readyz", |b| b["status"] == "shutting down").await;
    assert_eq!(ready["status"], "shutting down");
    let refused = c
        .try_send(
            "POST",
            &format!("/api/v1/app/{app}/msg"),
            Some(&json!({"eventType": "t", "payload": {}})),
            &[],
        )
        .await
        .expect("the API still answers while the engine drains");
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body["detail"].is_string(), "{}", refused.body);
    assert!(rx.all().is_empty(), "the attempt under way has not been answered yet");
    let status = s.wait_exit();
    assert!(status.success(), "hookd exits 0 on SIGTERM: {status}");
    assert_eq!(rx.all().len(), 1, "answered before hookd exited");

    s.respawn();
    let c = s.admin();
    let attempts = c
        .get(&format!(
            "/api/v1/app/{app}/attempt/msg/{}",
            msg["id"].as_str().unwrap()
        ))
        .await;
    let attempts = attempts.body["data"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["status"], 0, "recorded as a success before exiting");
    assert_eq!(rx.all().len(), 1, "not sent again");
}

/// Publishes a few thousand messages, kills hookd with SIGKILL while it is
/// delivering, starts it again, and checks that every accepted message reached
/// every endpoint, and that nothing unaccepted was delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_accepted_is_lost_across_kill_9() {
    // A short lease: on PostgreSQL the restarted node takes over once the dead one's leases run out.
    let mut s = Server::spawn(&[
        ("HOOKD_RETRY_SCHEDULE", "0.5,1,1,1,1"),
        ("HOOKD_ENDPOINT_CONCURRENCY", "4"),
        ("HOOKD_LEASE", "3"),
    ]);
    let rx = Receiver::start().await;
    // 4 at a time, 20 ms each: 200 a second per endpoint, much slower than
    // publishing, so that most deliveries are still to come when the kill lands.
    for p in ["/a", "/b"] {
        rx.on(
            p,
            Behaviour {
                delay: std::time::Duration::from_millis(20),
                ..Default::default()
            },
        );
    }
    let c = s.admin();
    let app = c.app("durable").await;
    c.endpoint(&app, json!({"url": format!("{}/a", rx.url)})).await;
    c.endpoint(&app, json!({"url": format!("{}/b", rx.url)})).await;

    const N: usize = 2000;
    let mut accepted = HashSet::new();
    let mut tasks = Vec::new();
    for chunk in 0..8 {
        let c = c.clone();
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..N / 8 {
                let body = json!({"eventType": "x", "payload": {"i": chunk * 1000 + i}});
                match c
                    .try_send("POST", &format!("/api/v1/app/{app}/msg"), Some(&body), &[])
                    .await
                {
                    Some(r) if r.status == 202 => ids.push(r.body["id"].as_str().unwrap().to_string()),
                    Some(r) => panic!("publish answered {}: {}", r.status, r.body),
                    // hookd was killed: what was not answered is not accepted.
                    None => break,
                }
            }
            ids
        }));
    }
    for t in tasks {
        accepted.extend(t.await.unwrap());
    }
    assert_eq!(accepted.len(), N, "every publish was accepted");
    // Kill in the middle of delivering: some arrived, most are still to come.
    rx.wait_until(|log| log.len() >= N / 4).await;
    s.kill();
    assert!(rx.all().len() < 2 * N, "the kill came after everything was delivered");
    let before_restart = rx.all().len();
    s.restart();
    rx.wait_until(|log| {
        ["/a", "/b"].iter().all(|p| {
            let got: HashSet<&str> = log
                .iter()
                .filter(|r| r.path == *p)
                .map(|r| r.headers["webhook-id"].as_str())
                .collect();
            accepted.iter().all(|id| got.contains(id.as_str()))
        })
    })
    .await;
    let all = rx.all();
    let mut per: HashMap<(&str, &str), usize> = HashMap::new();
    for r in &all {
        *per.entry((r.path.as_str(), r.headers["webhook-id"].as_str()))
            .or_default() += 1;
    }
    // A message whose 202 was lost with the killed process may still have been
    // committed, and is then delivered (at least once). Anything else delivered
    // must be a message hookd stored, with a payload this test published.
    let c = s.admin();
    let mut unacknowledged = 0;
    for id in all
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect::<HashSet<_>>()
    {
        if accepted.contains(&id) {
            continue;
        }
        unacknowledged += 1;
        let m = c.get(&format!("/api/v1/app/{app}/msg/{id}")).await;
        assert_eq!(m.status, 200, "delivered {id}, which hookd never stored");
        assert!(
            m.body["payload"]["i"]
                .as_u64()
                .is_some_and(|i| i % 1000 < (N / 8) as u64)
        );
    }
    let duplicates: usize = per.values().map(|n| n - 1).sum();
    println!(
        "kill -9: {} accepted, {} stored but unacknowledged, {} requests before the kill, {} after restart, {} duplicates",
        accepted.len(),
        unacknowledged,
        before_restart,
        all.len() - before_restart,
        duplicates
    );
    assert!(
        accepted.len() >= N / 4,
        "only {} accepted before the kill",
        accepted.len()
    );
}

/// Payloads past their retention are dropped by the background sweep, in
/// batches, and the message records stay.
#[tokio::test]
async fn expired_payloads_are_swept() {
    use hookd::security::keyring::{Keyring, new_key_text};
    use hookd::store::{AppRecord, MessageRecord, NewMessage, Store};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("hookd.db").display());
    let keys = std::sync::Arc::new(Keyring::from_key_text(&new_key_text()).unwrap());
    let store: std::sync::Arc<dyn Store> = hookd::store::open(&url, keys).await.unwrap();
    let now = hookd::time::now();
    let app = AppRecord {
        id: hookd::ids::new(hookd::ids::Kind::App),
        uid: None,
        name: "r".into(),
        throttle_rate: None,
        metadata: Default::default(),
        created_at: now,
        updated_at: now,
    };
    store.create_app(&app).await.unwrap();
    let committer = hookd::store::committer::spawn(
        store.clone(),
        hookd::subscriptions::MATCHER,
        hookd::metrics::Metrics::new(),
    )
    .unwrap();
    let mut ids = Vec::new();
    for (i, expires_at) in [now - 1, now - 1, now + hookd::time::DAY].into_iter().enumerate() {
        let message = MessageRecord {
            id: hookd::ids::new(hookd::ids::Kind::Message),
            app_id: app.id.clone(),
            event_type: "x".into(),
            event_id: None,
            channels: None,
            tags: None,
            payload: Some(format!(r#"{{"i":{i}}}"#)),
            deliver_at: None,
            created_at: now,
            expires_at,
            traceparent: None,
            tracestate: None,
        };
        ids.push(message.id.clone());
        let done = committer
            .publish(NewMessage {
                message: std::sync::Arc::new(message),
                lease: None,
                lease_room: 0,
                only_endpoint: None,
            })
            .await;
        assert!(matches!(done, Some(Ok(_))));
    }
    let dropped = hookd::retention::sweep(&*store, &tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(dropped, 2);
    let mut payloads = Vec::new();
    for id in &ids {
        payloads.push(store.get_message(&app.id, id).await.unwrap().unwrap().payload);
    }
    assert_eq!(payloads, vec![None, None, Some(r#"{"i":2}"#.to_string())]);
}

/// A success ends an endpoint's failure streak, so failures before it never
/// count towards disabling the endpoint; failures in a row do.
#[tokio::test]
async fn a_success_ends_an_endpoints_failure_streak() {
    use hookd::store::{AttemptRecord, DeliveryStatus, Outcome, Trigger};

    let s = Server::start(&[]);
    let c = s.admin();
    let app = c.app("streaks").await;
    let ep = c.endpoint(&app, json!({"url": "https://example.com/hook"})).await;
    let ep = ep["id"].as_str().unwrap().to_string();
    let store = s.open_store().await;
    let outcome = |n: i64, ok: bool, disable_if_failing_since: Option<i64>| Outcome {
        attempt: AttemptRecord {
            id: format!("atmpt_streak{n}"),
            app_id: app.clone(),
            msg_id: format!("msg_streak{n}"),
            endpoint_id: ep.clone(),
            url: "https://example.com/hook".into(),
            status: if ok {
                DeliveryStatus::Success
            } else {
                DeliveryStatus::Fail
            },
            status_code: if ok { 200 } else { 500 },
            response: None,
            response_headers: None,
            duration_ms: 1,
            trigger_type: Trigger::Scheduled,
            error: None,
            ssl_verification: true,
            created_at: n,
        },
        delivery_id: format!("dlv_streak{n}"),
        status: if ok {
            DeliveryStatus::Success
        } else {
            DeliveryStatus::Fail
        },
        next_attempt_at: None,
        disable_if_failing_since,
        announce: None,
    };
    let streak = |outcome: Outcome| {
        let (store, app, ep) = (store.clone(), app.clone(), ep.clone());
        async move {
            store
                .write(&[], hookd::subscriptions::MATCHER, &[outcome])
                .await
                .unwrap();
            let e = store.get_endpoint(&app, &ep).await.unwrap().unwrap();
            (e.first_failure_at, e.disabled)
        }
    };
    assert_eq!(streak(outcome(1_000, false, None)).await, (Some(1_000), false));
    assert_eq!(
        streak(outcome(2_000, false, None)).await,
        (Some(1_000), false),
        "it goes on"
    );
    assert_eq!(
        streak(outcome(3_000, true, None)).await,
        (None, false),
        "a success ends it"
    );
    // Failing since before 3,500 would disable it, but this streak began at 4,000.
    assert_eq!(streak(outcome(4_000, false, Some(3_500))).await, (Some(4_000), false));
    assert_eq!(streak(outcome(5_000, false, Some(4_500))).await, (Some(4_000), true));
    store.close().await;
}
