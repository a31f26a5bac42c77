use serde_json::json;

use crate::harness::{Behaviour, Receiver, Server};

#[tokio::test]
async fn endpoint_lifecycle_and_validation() {
    let s = Server::start(&[]);
    let c = s.admin();
    let app = c.app("shop").await;
    c.post("/api/v1/event-type", json!({"name": "order.paid", "description": "x"}))
        .await;
    let base = format!("/api/v1/app/{app}/endpoint");

    for (body, field) in [
        (json!({"url": "ftp://example.com/x"}), "url"),
        (json!({"url": "http://"}), "url"),
        (json!({"url": "https://user:pw@example.com/"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (
            json!({"url": "https://example.com", "eventTypes": ["no.such.type"]}),
            "eventTypes",
        ),
        (
            json!({"url": "https://example.com", "channels": ["bad channel"]}),
            "channels",
        ),
        (json!({"url": "https://example.com", "secret": "short"}), "secret"),
        (json!({"url": "https://example.com", "throttleRate": 0}), "throttleRate"),
        (
            json!({"url": "https://example.com", "headers": {"webhook-id": "x"}}),
            "headers",
        ),
        (
            json!({"url": "https://example.com", "retrySchedule": [-1]}),
            "retrySchedule",
        ),
    ] {
        let r = c.post(&base, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(r.body["detail"][0]["loc"][1], field, "{body}: {}", r.body);
    }
    assert_eq!(c.get(&base).await.body["data"], json!([]));

    // older clients' names are accepted
    let ep = c
        .endpoint(&app, json!({"url": "https://example.com/hook", "filterTypes": ["order.paid"], "rateLimit": 10, "uid": "main", "version": 1}))
        .await;
    assert_eq!(ep["eventTypes"], json!(["order.paid"]));
    assert_eq!(ep["throttleRate"], 10);
    let id = ep["id"].as_str().unwrap();
    assert!(id.starts_with("ep_") && id.len() == 30);
    // wildcards need no catalogue entry
    let wild = c
        .endpoint(
            &app,
            json!({"url": "https://example.com/all", "eventTypes": ["*", "order.*"]}),
        )
        .await;
    assert_eq!(wild["eventTypes"], json!(["*", "order.*"]));

    assert_eq!(c.get(&format!("{base}/main")).await.body["id"], id);
    assert_eq!(
        c.post(&base, json!({"url": "https://example.com", "uid": "main"}))
            .await
            .status,
        409
    );
    let r = c
        .patch(
            &format!("{base}/main"),
            json!({"description": "primary", "eventTypes": null, "disabled": true}),
        )
        .await;
    assert_eq!(
        (
            r.body["description"].as_str(),
            r.body.get("eventTypes"),
            r.body["disabled"].as_bool()
        ),
        (Some("primary"), None, Some(true))
    );
    let r = c
        .put(&format!("{base}/{id}"), json!({"url": "https://example.com/v2"}))
        .await;
    assert_eq!(
        (r.status, r.body["url"].as_str(), r.body["disabled"].as_bool()),
        (200, Some("https://example.com/v2"), Some(false))
    );
    let r = c
        .put(&format!("{base}/by-uid"), json!({"url": "https://example.com/new"}))
        .await;
    assert_eq!((r.status, r.body["uid"].as_str()), (201, Some("by-uid")));
    let list = c.get(&format!("{base}?limit=2")).await.body;
    assert_eq!(
        (list["data"].as_array().unwrap().len(), list["done"].as_bool()),
        (2, Some(false))
    );

    // headers
    let h = format!("{base}/{id}/headers");
    assert_eq!(
        c.put(
            &h,
            json!({"headers": {"X-Team": "billing", "Authorization": "Bearer abc"}})
        )
        .await
        .status,
        204
    );
    let r = c.get(&h).await.body;
    assert_eq!(r["headers"], json!({"X-Team": "billing"}));
    assert_eq!(r["sensitive"], json!(["Authorization"]));
    assert_eq!(
        c.patch(&h, json!({"headers": {"X-Extra": "1", "X-Team": null}}))
            .await
            .status,
        204
    );
    assert_eq!(c.get(&h).await.body["headers"], json!({"X-Extra": "1"}));
    assert_eq!(
        c.patch(&h, json!({"headers": {}, "deleteHeaders": ["Authorization"]}))
            .await
            .status,
        204
    );
    assert_eq!(c.get(&h).await.body["sensitive"], json!([]));

    // secret
    let secret = c.get(&format!("{base}/{id}/secret")).await.body["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("whsec_"));
    let r = c.post(&format!("{base}/{id}/secret/rotate"), json!({})).await;
    assert_eq!(r.status, 200);
    let rotated = r.body["key"].as_str().unwrap().to_string();
    assert_ne!(rotated, secret);
    assert_eq!(
        c.get(&format!("{base}/{id}/secret")).await.body["key"],
        rotated.as_str()
    );
    let mine = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert_eq!(
        c.post(&format!("{base}/{id}/secret/rotate"), json!({"key": mine}))
            .await
            .body["key"],
        mine
    );
    assert_eq!(
        c.post(
            &format!("{base}/{id}/secret/rotate"),
            json!({"gracePeriodSeconds": 999999})
        )
        .await
        .status,
        422
    );

    let stats = c.get(&format!("{base}/{id}/stats")).await.body;
    assert_eq!(
        stats,
        json!({"success": 0, "pending": 0, "sending": 0, "fail": 0, "canceled": 0})
    );

    assert_eq!(c.delete(&format!("{base}/{id}")).await.status, 204);
    assert_eq!(c.get(&format!("{base}/{id}")).await.status, 404);
    assert_eq!(c.get("/api/v1/app/nope/endpoint").await.status, 404);
}

/// The embedded store keeps its writing connection while group commits come
/// back to back; an endpoint created under a steady stream of publishes must
/// still get its turn, and the messages after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_created_under_steady_publishing_gets_the_next_messages() {
    let s = Server::start(&[]);
    let rx = crate::harness::Receiver::start().await;
    let c = s.admin();
    let app = c.app("busy").await;
    c.endpoint(&app, json!({"url": format!("{}/a", rx.url)})).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut publishers = Vec::new();
    for _ in 0..8 {
        let (c, app, stop) = (c.clone(), app.clone(), stop.clone());
        publishers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.publish(&app, json!({"eventType": "tick", "payload": {}})).await;
                n += 1;
            }
            n
        }));
    }
    // Publishing is under way before the endpoint is created.
    rx.wait("/a", 50).await;
    c.endpoint(&app, json!({"url": format!("{}/b", rx.url)})).await;
    let marker = c.publish(&app, json!({"eventType": "marker", "payload": {}})).await;
    let marker = marker["id"].as_str().unwrap().to_string();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // Fails after a minute if the marker never reaches the new endpoint.
    rx.wait_until(|log| {
        log.iter()
            .any(|r| r.path == "/b" && r.headers.get("webhook-id") == Some(&marker))
    })
    .await;
    let mut published = 0;
    for p in publishers {
        published += p.await.unwrap();
    }
    assert!(published > 50, "the publishers kept going: {published}");
}

/// `cancel-msgs`: the endpoint's unfinished deliveries of messages created
/// before the cutoff are canceled and never sent again; later ones go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_msgs_stops_what_was_published_before_the_cutoff() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    rx.on(
        "/down",
        Behaviour {
            statuses: vec![500],
            ..Default::default()
        },
    );
    let c = s.admin();
    let app = c.app("cancel").await;
    let ep = c
        .endpoint(
            &app,
            json!({"url": format!("{}/down", rx.url), "retrySchedule": [3600]}),
        )
        .await;
    let ep = ep["id"].as_str().unwrap();
    let old = c.publish(&app, json!({"eventType": "t", "payload": {"n": 1}})).await;
    rx.wait("/down", 1).await;
    let cutoff = chrono::Utc::now();
    let new = c.publish(&app, json!({"eventType": "t", "payload": {"n": 2}})).await;
    // Both first attempts failed and are recorded: each waits an hour for its retry.
    let path = format!("/api/v1/app/{app}/endpoint/{ep}/msg");
    c.wait_for(&path, |b| {
        b["data"]
            .as_array()
            .is_some_and(|d| d.len() == 2 && d.iter().all(|m| m["status"] == 3))
    })
    .await;

    let r = c
        .post(
            &format!("/api/v1/app/{app}/endpoint/{ep}/cancel-msgs"),
            json!({"createdBefore": cutoff.to_rfc3339()}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let listed = c.get(&path).await;
    let status_of = |m: &serde_json::Value| {
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == m["id"])
            .map(|x| x["status"].clone())
    };
    assert_eq!(status_of(&old), Some(json!(4)), "canceled: {}", listed.body);
    assert_eq!(status_of(&new), Some(json!(3)), "still retrying: {}", listed.body);
    // Past the retry (an hour, ±20% jitter) only the message after the cutoff is tried again.
    assert_eq!(s.run_due_in(std::time::Duration::from_secs(5000)).await, 1);
    rx.wait("/down", 3).await;
    let third = &rx.requests("/down")[2];
    assert_eq!(third.headers["webhook-id"], new["id"].as_str().unwrap());
    let bad = c
        .post(&format!("/api/v1/app/{app}/endpoint/{ep}/cancel-msgs"), json!({}))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
}

/// `attempt/endpoint/{id}/count` counts with the list's filters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_counted_with_the_lists_filters() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    rx.on(
        "/flaky",
        Behaviour {
            statuses: vec![500, 200],
            ..Default::default()
        },
    );
    let c = s.admin();
    let app = c.app("count").await;
    let ep = c
        .endpoint(
            &app,
            json!({"url": format!("{}/flaky", rx.url), "retrySchedule": [0.05]}),
        )
        .await;
    let ep = ep["id"].as_str().unwrap();
    c.publish(&app, json!({"eventType": "t", "payload": {}})).await;
    let count = format!("/api/v1/app/{app}/attempt/endpoint/{ep}/count");
    let all = c.wait_for(&count, |b| b["count"] == 2).await;
    assert_eq!(all, json!({"count": 2, "approximated": false}));
    for (query, n) in [
        ("status=0", 1),
        ("status=2", 1),
        ("status_code_class=500", 1),
        ("status_code_class=400", 0),
    ] {
        let r = c.get(&format!("{count}?{query}")).await;
        assert_eq!(r.body["count"], n, "{query}: {}", r.body);
    }
    assert_eq!(c.get(&format!("{count}?status_code_class=7")).await.status, 422);
}

/// `msg/test-attempt`: a message sent to one endpoint only, answered with its
/// first attempt and the receiver's response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_attempt_answers_the_receivers_response() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    rx.on(
        "/refuses",
        Behaviour {
            statuses: vec![503],
            ..Default::default()
        },
    );
    let c = s.admin();
    let app = c.app("test-attempt").await;
    let ok = c.endpoint(&app, json!({"url": format!("{}/ok", rx.url)})).await;
    let refuses = c.endpoint(&app, json!({"url": format!("{}/refuses", rx.url)})).await;
    let path = |ep: &serde_json::Value| {
        format!(
            "/api/v1/app/{app}/endpoint/{}/msg/test-attempt",
            ep["id"].as_str().unwrap()
        )
    };
    let body = json!({"eventType": "t", "payload": {"ping": true}});

    let r = c.post(&path(&ok), body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_i64(), r.body["responseStatusCode"].as_i64()),
        (Some(0), Some(200))
    );
    assert_eq!(r.body["response"], "received");
    assert_eq!(r.body["endpointId"], ok["id"]);
    let r = c.post(&path(&refuses), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_i64(), r.body["responseStatusCode"].as_i64()),
        (Some(2), Some(503))
    );
    assert_eq!(rx.requests("/ok").len(), 1, "each test went to its endpoint only");
    assert_eq!(rx.requests("/refuses").len(), 1);
}

/// `rate-limit-status`: while sends wait for the endpoint's `throttleRate`,
/// it says `RateLimited` and since when; once they have gone, `Ok`.
#[tokio::test]
async fn rate_limit_status_follows_the_throttle() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let app = c.app("paced").await;
    let ep = c
        .endpoint(&app, json!({"url": format!("{}/slow", rx.url), "throttleRate": 2}))
        .await;
    let path = format!(
        "/api/v1/app/{app}/endpoint/{}/rate-limit-status",
        ep["id"].as_str().unwrap()
    );
    let idle = c.get(&path).await;
    assert_eq!(idle.body, json!({"status": "Ok"}));
    for i in 0..5 {
        c.publish(&app, json!({"eventType": "t", "payload": {"i": i}})).await;
    }
    let limited = c.wait_for(&path, |b| b["status"] == "RateLimited").await;
    let since = chrono::DateTime::parse_from_rfc3339(limited["throttledSince"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - since.to_utc()).num_seconds() < 5, "{limited}");
    rx.wait("/slow", 5).await;
    let done = c.wait_for(&path, |b| b["status"] == "Ok").await;
    assert!(done.get("throttledSince").is_none(), "{done}");
    let tenant = s.as_token(
        c.post(&format!("/api/v1/auth/app-portal-access/{app}"), json!({}))
            .await
            .body["token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(tenant.get(&path).await.status, 200);
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/endpoint/ep_nothere/rate-limit-status"))
            .await
            .status,
        404
    );
}

/// Polling endpoints: a `poller://` endpoint sends nothing (its attempts say
/// the message was kept); its messages, and a pushed endpoint's too, are read
/// in order with an iterator; a consumer id keeps its place on the server,
/// and `seek` moves it.
#[tokio::test]
async fn a_polling_endpoints_messages_are_read_in_order() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let app = c.app("behind-firewall").await;
    c.post(
        "/api/v1/event-type",
        json!({"name": "stock.changed", "description": "Stock moved"}),
    )
    .await;
    let sink = c
        .endpoint(
            &app,
            json!({"url": "poller://warehouse", "filterTypes": ["stock.changed"]}),
        )
        .await;
    let pushed = c.endpoint(&app, json!({"url": format!("{}/push", rx.url)})).await;
    let (sink, pushed) = (
        sink["id"].as_str().unwrap().to_owned(),
        pushed["id"].as_str().unwrap().to_owned(),
    );
    let mut sent = Vec::new();
    let mut between = chrono::Utc::now();
    for i in 0..3 {
        if i == 2 {
            // After the second message was stored, before the third was made.
            between = chrono::Utc::now();
        }
        let m = c
            .publish(&app, json!({"eventType": "stock.changed", "payload": {"sku": i}}))
            .await;
        sent.push(m["id"].as_str().unwrap().to_owned());
    }
    c.publish(&app, json!({"eventType": "price.changed", "payload": {"sku": 9}}))
        .await;
    let ids = |b: &serde_json::Value| -> Vec<String> {
        b["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let poll = format!("/api/v1/app/{app}/poller/{sink}");
    // A message shows once it has settled (two seconds).
    c.wait_for(&poll, |b| b["data"].as_array().is_some_and(|d| d.len() == 3))
        .await;
    let first = c.get(&format!("{poll}?limit=2")).await.body;
    assert_eq!(ids(&first), sent[..2]);
    assert_eq!(first["data"][0]["payload"], json!({"sku": 0}));
    let it = first["iterator"].as_str().unwrap();
    let rest = c.get(&format!("{poll}?iterator={it}")).await.body;
    assert_eq!((ids(&rest), rest["done"].as_bool()), (sent[2..].to_vec(), Some(true)));
    // The push endpoint got all four; its messages read the same way.
    rx.wait("/push", 4).await;
    let both = c
        .get(&format!("/api/v1/app/{app}/poller/{pushed}?event_type=stock.changed"))
        .await;
    assert_eq!(ids(&both.body), sent);
    // Nothing went over the network for the sink: its attempt says kept.
    let attempts = c
        .wait_for(&format!("/api/v1/app/{app}/attempt/endpoint/{sink}"), |b| {
            b["data"].as_array().is_some_and(|d| d.len() == 3)
        })
        .await;
    assert_eq!(attempts["data"][0]["responseStatusCode"], 202, "{attempts}");

    let consumer = format!("{poll}/consumer/warehouse-1");
    let a = c.get(&format!("{consumer}?limit=2")).await.body;
    assert_eq!(ids(&a), sent[..2]);
    let b = c.get(&consumer).await.body;
    assert_eq!(ids(&b), sent[2..], "the consumer goes on where it was");
    let idle = c.get(&consumer).await.body;
    assert_eq!((ids(&idle).len(), idle["iterator"].clone()), (0, b["iterator"].clone()));
    let other = c.get(&format!("{poll}/consumer/warehouse-2")).await.body;
    assert_eq!(ids(&other), sent, "each consumer has its own place");
    let sought = c
        .post(&format!("{consumer}/seek"), json!({"after": between.to_rfc3339()}))
        .await;
    assert_eq!(sought.status, 200, "{}", sought.body);
    let again = c.get(&consumer).await.body;
    assert_eq!(ids(&again), sent[2..], "after the second message: {again}");

    let portal = c
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), json!({}))
        .await;
    let tenant = s.as_token(portal.body["token"].as_str().unwrap());
    assert_eq!(ids(&tenant.get(&poll).await.body), sent);
    let stranger = c.app("someone-else").await;
    assert_eq!(
        c.get(&format!("/api/v1/app/{stranger}/poller/{sink}")).await.status,
        404
    );
    assert_eq!(c.get(&format!("{poll}/consumer/bad%20id")).await.status, 422);
    assert_eq!(c.get(&format!("{poll}?iterator=no%2Fpe")).await.status, 422);
}

/// Poller tokens: the operator gets one per endpoint (the same again on the
/// next ask), it reads that endpoint's messages and nothing else, and a
/// rotation ends the earlier ones at once or after `oldTokenExpiry`.
#[tokio::test]
async fn a_poller_token_reads_one_endpoints_messages() {
    let s = Server::start(&[]);
    let c = s.admin();
    let app = c.app("poll-token").await;
    let sink = c.endpoint(&app, json!({"url": "poller://erp"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = c.endpoint(&app, json!({"url": "poller://crm"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = c.publish(&app, json!({"eventType": "t", "payload": {"k": 1}})).await;
    let path = format!("/api/v1/auth/app/{app}/poller/{sink}/token");
    let first = c.get(&path).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        c.get(&path).await.body["token"],
        first.body["token"],
        "the same token again"
    );
    let poller = s.as_token(first.body["token"].as_str().unwrap());
    let read = poller
        .wait_for(&format!("/api/v1/app/{app}/poller/{sink}"), |b| {
            b["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    assert_eq!(read["data"][0]["id"], sent["id"]);
    assert_eq!(
        poller
            .get(&format!("/api/v1/app/{app}/poller/{sink}/consumer/c1"))
            .await
            .status,
        200
    );
    assert_eq!(
        poller.get(&format!("/api/v1/app/{app}/poller/{other}")).await.status,
        404
    );
    for path in [
        format!("/api/v1/app/{app}"),
        format!("/api/v1/app/{app}/msg"),
        format!("/api/v1/app/{app}/endpoint/{sink}"),
    ] {
        assert_eq!(poller.get(&path).await.status, 403, "{path}");
    }
    let publish = poller
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "t", "payload": {}}),
        )
        .await;
    assert_eq!(publish.status, 403, "{}", publish.body);
    assert_eq!(
        poller.get(&path).await.status,
        403,
        "a poller token cannot ask for tokens"
    );

    let rotated = c.post(&format!("{path}/rotate"), json!({"oldTokenExpiry": 0})).await;
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    assert_ne!(rotated.body["token"], first.body["token"]);
    assert_eq!(
        poller.get(&format!("/api/v1/app/{app}/poller/{sink}")).await.status,
        401
    );
    assert_eq!(c.get(&path).await.body["token"], rotated.body["token"]);
    let kept = s.as_token(rotated.body["token"].as_str().unwrap());
    let graceful = c.post(&format!("{path}/rotate"), json!({"expiry": 3600})).await;
    assert!(graceful.body["expiresAt"].is_string(), "{}", graceful.body);
    assert_eq!(
        kept.get(&format!("/api/v1/app/{app}/poller/{sink}")).await.status,
        200,
        "the old one works a while"
    );
    for bad in [json!({"expiry": 0}), json!({"oldTokenExpiry": 90000})] {
        assert_eq!(c.post(&format!("{path}/rotate"), bad).await.status, 422);
    }
    let portal = c
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), json!({}))
        .await;
    let tenant = s.as_token(portal.body["token"].as_str().unwrap());
    assert_eq!(tenant.get(&path).await.status, 403);
    c.delete(&format!("/api/v1/app/{app}/endpoint/{sink}")).await;
    let gone = s.as_token(graceful.body["token"].as_str().unwrap());
    let r = gone.get(&format!("/api/v1/app/{app}/poller/{sink}")).await;
    assert!(matches!(r.status, 401 | 404), "{}", r.status);
}

/// Fig's receivers keep a hash of the bearer secret and check what they
/// receive with BCrypt.Net-Next's `EnhancedVerify`: the secret answers carry
/// that hash, which a bcrypt of its own verifies the way that library does.
#[tokio::test]
async fn a_bearer_secret_comes_with_the_hash_figs_receivers_keep() {
    use base64::Engine;
    use sha2::Digest;
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let app = c.app("fig").await;
    let ep = c
        .endpoint(
            &app,
            json!({"url": format!("{}/in", rx.url), "signature": {"scheme": "bearer"}, "secret": "fig-shared-secret-1"}),
        )
        .await;
    let ep = ep["id"].as_str().unwrap();
    let enhanced_verify = |secret: &str, hashed: &str| {
        let prehash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(secret));
        bcrypt::verify(prehash, hashed).unwrap()
    };
    let r = c.get(&format!("/api/v1/app/{app}/endpoint/{ep}/secret")).await;
    assert_eq!(r.body["key"], "fig-shared-secret-1");
    let hashed = r.body["hashedKey"].as_str().unwrap().to_owned();
    assert!(hashed.starts_with("$2a$11$"), "{hashed}");
    assert!(enhanced_verify("fig-shared-secret-1", &hashed));
    assert!(!enhanced_verify("fig-shared-secret-2", &hashed));

    let r = c
        .post(
            &format!("/api/v1/app/{app}/endpoint/{ep}/secret/rotate"),
            json!({"key": "fig-shared-secret-2"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(enhanced_verify(
        "fig-shared-secret-2",
        r.body["hashedKey"].as_str().unwrap()
    ));

    // Other schemes have no such hash.
    let plain = c.endpoint(&app, json!({"url": format!("{}/in", rx.url)})).await;
    let r = c
        .get(&format!(
            "/api/v1/app/{app}/endpoint/{}/secret",
            plain["id"].as_str().unwrap()
        ))
        .await;
    assert!(r.body.get("hashedKey").is_none(), "{}", r.body);
}

/// The offset-based poller: offsets from 0, a lease that hands out what
/// follows while it lasts, a commit that moves the consumer on, and a lease
/// that ends without a commit hands the same messages out again.
#[tokio::test]
async fn a_polling_consumer_commits_offsets_and_gets_back_what_it_did_not_commit() {
    let s = Server::start(&[]);
    let c = s.admin();
    let app = c.app("pollerv2").await;
    let sink = c.endpoint(&app, json!({"url": "poller://ledger"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut sent = Vec::new();
    for i in 0..5 {
        let m = c
            .publish(&app, json!({"eventType": "entry.added", "payload": {"n": i}}))
            .await;
        sent.push(m["id"].as_str().unwrap().to_owned());
    }
    let base = format!("/api/v1/app/{app}/polling-endpoint/{sink}/consumer");
    let offsets = |b: &serde_json::Value| -> Vec<(u64, String)> {
        let data = b["data"].as_array().unwrap().iter();
        data.map(|m| (m["offset"].as_u64().unwrap(), m["id"].as_str().unwrap().to_owned()))
            .collect()
    };
    let expect =
        |from: usize, to: usize| -> Vec<(u64, String)> { (from..to).map(|i| (i as u64, sent[i].clone())).collect() };
    // A message is read once it has settled (two seconds); with no lease
    // each read starts from the beginning.
    let first = c
        .wait_for(&format!("{base}/probe?lease_duration_ms=0"), |b| {
            b["data"].as_array().is_some_and(|d| d.len() == 5)
        })
        .await;
    assert_eq!(offsets(&first), expect(0, 5));
    let a = c.get(&format!("{base}/worker?limit=2")).await.body;
    assert_eq!((offsets(&a), a["done"].as_bool()), (expect(0, 2), Some(false)));
    assert_eq!(a["data"][0]["payload"], json!({"n": 0}));
    let b = c.get(&format!("{base}/worker?limit=2")).await.body;
    assert_eq!(offsets(&b), expect(2, 4), "the lease goes on after what it handed out");
    let commit_path = format!("{base}/worker/commit");
    let commit = |o: u64| c.post(&commit_path, json!({"offset": o}));
    assert_eq!(commit(1).await.status, 204);
    assert_eq!(commit(0).await.status, 204, "committed already: nothing changes");
    let ahead = commit(4).await;
    assert_eq!((ahead.status, ahead.body["code"].as_str()), (409, Some("conflict")));
    let rest = c.get(&format!("{base}/worker")).await.body;
    assert_eq!((offsets(&rest), rest["done"].as_bool()), (expect(4, 5), Some(true)));
    assert_eq!(commit(4).await.status, 204);
    let idle = c.get(&format!("{base}/worker")).await.body;
    assert_eq!(offsets(&idle), vec![], "everything committed, nothing leased");

    // A lease of 0 ms has ended by the next read: without a commit the same
    // messages come again, with the same offsets; after one, what follows.
    let crashy = format!("{base}/crashy?limit=2&lease_duration_ms=0");
    assert_eq!(offsets(&c.get(&crashy).await.body), expect(0, 2));
    assert_eq!(offsets(&c.get(&crashy).await.body), expect(0, 2));
    let commit = c.post(&format!("{base}/crashy/commit"), json!({"offset": 1})).await;
    assert_eq!(commit.status, 204);
    assert_eq!(offsets(&c.get(&crashy).await.body), expect(2, 4));

    // A consumer that starts at the latest reads only what comes later.
    let late = c.get(&format!("{base}/late?starting_position=latest")).await.body;
    assert_eq!(offsets(&late), vec![]);
    let m = c
        .publish(&app, json!({"eventType": "entry.added", "payload": {"n": 5}}))
        .await;
    let late = c
        .wait_for(&format!("{base}/late"), |b| {
            b["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    assert_eq!(offsets(&late), vec![(0, m["id"].as_str().unwrap().to_owned())]);

    assert_eq!(
        c.post(&format!("{base}/nobody/commit"), json!({"offset": 0}))
            .await
            .status,
        404
    );
    assert_eq!(c.get(&format!("{base}/worker?limit=0")).await.status, 422);
    let stranger = c.app("stranger").await;
    let theirs = format!("/api/v1/app/{stranger}/polling-endpoint/{sink}/consumer/worker");
    assert_eq!(c.get(&theirs).await.status, 404);
}
