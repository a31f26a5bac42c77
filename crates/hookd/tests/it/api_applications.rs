use serde_json::json;

use crate::harness::Server;

#[tokio::test]
async fn application_lifecycle_by_id_and_uid() {
    let s = Server::start(&[]);
    let c = s.admin();
    let r = c
        .post(
            "/api/v1/app",
            json!({"name": "Acme", "uid": "acme", "metadata": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("app_") && id.len() == 31);
    assert_eq!(r.body["metadata"]["tier"], "gold");

    for key in [&id, "acme"] {
        let r = c.get(&format!("/api/v1/app/{key}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["id"], id.as_str());
    }
    // uid taken
    let r = c.post("/api/v1/app", json!({"name": "Other", "uid": "acme"})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["code"], "conflict");
    // get_if_exists answers the existing one
    let r = c
        .post(
            "/api/v1/app?get_if_exists=true",
            json!({"name": "Other", "uid": "acme"}),
        )
        .await;
    assert_eq!((r.status, r.body["id"].as_str()), (200, Some(id.as_str())));

    let r = c
        .patch("/api/v1/app/acme", json!({"name": "Acme Inc", "throttleRate": 5}))
        .await;
    assert_eq!(
        (r.status, r.body["name"].as_str(), r.body["throttleRate"].as_i64()),
        (200, Some("Acme Inc"), Some(5))
    );
    let r = c.patch("/api/v1/app/acme", json!({"throttleRate": null})).await;
    assert!(r.body.get("throttleRate").is_none());

    let r = c.put("/api/v1/app/acme", json!({"name": "Put"})).await;
    assert_eq!(
        (r.status, r.body["name"].as_str(), r.body["uid"].as_str()),
        (200, Some("Put"), Some("acme"))
    );
    // PUT on an unknown uid creates it
    let r = c.put("/api/v1/app/newco", json!({"name": "New"})).await;
    assert_eq!((r.status, r.body["uid"].as_str()), (201, Some("newco")));

    // A renamed uid is found only under its new name (lookups are cached on the embedded store).
    let r = c.patch("/api/v1/app/newco", json!({"uid": "newco2"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(c.get("/api/v1/app/newco").await.status, 404);
    assert_eq!(c.get("/api/v1/app/newco2").await.body["name"], "New");

    let msg = json!({"eventType": "x.y", "payload": {}});
    assert_eq!(c.post("/api/v1/app/acme/msg", msg.clone()).await.status, 202);
    assert_eq!(c.delete("/api/v1/app/acme").await.status, 204);
    assert_eq!(c.get(&format!("/api/v1/app/{id}")).await.status, 404);
    assert_eq!(c.delete("/api/v1/app/acme").await.status, 404);
    assert_eq!(
        c.post("/api/v1/app/acme/msg", msg).await.status,
        404,
        "no publishing to a deleted application"
    );
}

#[tokio::test]
async fn application_list_paginates_both_ways() {
    let s = Server::start(&[]);
    let c = s.admin();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(c.app(&format!("app-{i}")).await);
    }
    let p1 = c.get("/api/v1/app?limit=2").await.body;
    assert_eq!(p1["data"].as_array().unwrap().len(), 2);
    assert_eq!(p1["done"], false);
    assert_eq!(p1["data"][0]["id"], ids[0].as_str());
    let it = p1["iterator"].as_str().unwrap();
    let p2 = c.get(&format!("/api/v1/app?limit=2&iterator={it}")).await.body;
    assert_eq!(p2["data"][0]["id"], ids[2].as_str());
    let it = p2["iterator"].as_str().unwrap();
    let p3 = c.get(&format!("/api/v1/app?limit=2&iterator={it}")).await.body;
    assert_eq!(p3["data"].as_array().unwrap().len(), 1);
    assert_eq!(p3["done"], true);
    // back from page 3 to page 2
    let prev = p3["prevIterator"].as_str().unwrap();
    let back = c.get(&format!("/api/v1/app?limit=2&iterator={prev}")).await.body;
    assert_eq!(back["data"], p2["data"]);
    // newest first
    let desc = c.get("/api/v1/app?order=descending&limit=1").await.body;
    assert_eq!(desc["data"][0]["id"], ids[4].as_str());
}

#[tokio::test]
async fn bad_input_gets_clear_4xx_and_changes_nothing() {
    let s = Server::start(&[]);
    let c = s.admin();
    let cases: Vec<(&str, &str, &str, u16)> = vec![
        ("POST", "/api/v1/app", "{not json", 400),
        ("POST", "/api/v1/app", "[]", 422),
        ("POST", "/api/v1/app", r#"{"uid": "x"}"#, 422),
        ("POST", "/api/v1/app", r#"{"name": 5}"#, 422),
        ("POST", "/api/v1/app", r#"{"name": ""}"#, 422),
        ("POST", "/api/v1/app", r#"{"name": "a", "uid": "bad uid!"}"#, 422),
        ("POST", "/api/v1/app", r#"{"name": "a", "throttleRate": 0}"#, 422),
        ("POST", "/api/v1/app", r#"{"name": "a", "metadata": {"k": 1}}"#, 422),
        ("GET", "/api/v1/app/app_doesnotexist", "", 404),
        ("PATCH", "/api/v1/app/nope", r#"{"name": "x"}"#, 404),
        ("GET", "/api/v1/app?limit=0", "", 422),
        ("GET", "/api/v1/app?limit=abc", "", 422),
        ("GET", "/api/v1/app?iterator=not%20a%20key", "", 422),
        ("GET", "/api/v1/app?order=sideways", "", 422),
        ("GET", "/api/v1/nothing-here", "", 404),
    ];
    for (method, path, body, want) in cases {
        let r = c.raw(method, path, body).await;
        assert_eq!(r.status, want, "{method} {path} {body}: {}", r.body);
        if want == 422 {
            let d = &r.body["detail"][0];
            assert!(
                d["loc"].is_array() && d["msg"].is_string() && d["type"].is_string(),
                "{}",
                r.body
            );
        } else {
            assert!(r.body["code"].is_string() && r.body["detail"].is_string(), "{}", r.body);
        }
    }
    let r = c.post("/api/v1/app", json!({"uid": "x"})).await;
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "name"]));
    assert_eq!(c.get("/api/v1/app").await.body["data"], json!([]));
}

#[tokio::test]
async fn idempotency_key_replays_and_refuses_reuse() {
    let s = Server::start(&[]);
    let c = s.admin();
    let body = json!({"name": "once"});
    let h = [("idempotency-key", "key-1")];
    let a = c.send("POST", "/api/v1/app", Some(&body), &h).await;
    let b = c.send("POST", "/api/v1/app", Some(&body), &h).await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_eq!(a.body["id"], b.body["id"]);
    assert_eq!(b.headers.get("idempotent-replayed").unwrap(), "true");
    let other = c.send("POST", "/api/v1/app", Some(&json!({"name": "twice"})), &h).await;
    assert_eq!(other.status, 422, "{}", other.body);
    assert_eq!(c.get("/api/v1/app").await.body["data"].as_array().unwrap().len(), 1);
    // a different key is a different request
    let d = c
        .send("POST", "/api/v1/app", Some(&body), &[("idempotency-key", "key-2")])
        .await;
    assert_ne!(d.body["id"], a.body["id"]);
}

#[tokio::test]
async fn health_openapi_restart_and_graceful_stop() {
    let mut s = Server::spawn(&[]);
    let anon = s.as_token("");
    assert_eq!(anon.get("/api/v1/health").await.status, 204);
    assert_eq!(anon.get("/api/v1/health/ping").await.status, 204);
    assert_eq!(anon.get("/livez").await.status, 200);
    let ready = anon.get("/readyz").await;
    assert_eq!(
        (ready.status, &ready.body["status"]),
        (200, &serde_json::json!("ready"))
    );
    let doc = anon.get("/api/v1/openapi.json").await.body;
    let paths = doc["paths"].as_object().unwrap();
    let ops: Vec<(&str, &str)> = include_str!("../data/svix-oss-operations.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once(' '))
        .collect();
    assert!(ops.len() >= 40, "{} operations in the list", ops.len());
    for (method, path) in ops {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from openapi.json"
        );
    }
    assert!(paths.len() >= 26, "{} paths", paths.len());
    // hookd's own extensions are documented beside the Svix paths.
    for (path, method) in [
        ("/api/v1/app/{app_id}/match-preview", "post"),
        ("/api/v1/app/{app_id}/test-delivery", "post"),
        ("/api/v1/app/{app_id}/endpoint/{endpoint_id}/test", "post"),
        ("/api/v1/app/{app_id}/msg/{msg_id}/cancel", "post"),
        ("/api/v1/catalog/openapi.json", "get"),
        ("/api/v1/catalog/schema.json", "get"),
    ] {
        assert!(
            paths[path].get(method).is_some(),
            "{method} {path} missing from openapi.json"
        );
    }
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        // EndpointIn and EndpointOut carry hookd's settings by reference to EndpointOptions.
        ("EndpointIn", "EndpointOptions"),
        ("EndpointOut", "EndpointOptions"),
        ("EndpointOptions", "filter"),
        ("EndpointOptions", "envelope"),
        ("EndpointPatch", "filter"),
        ("EventTypeUpsertIn", "validatePayloads"),
        ("MessageOut", "wait"),
    ] {
        assert!(
            serde_json::to_string(&schemas[schema]).unwrap().contains(field),
            "{schema}.{field} missing from openapi.json"
        );
    }
    let create = serde_json::to_string(&paths["/api/v1/app/{app_id}/msg"]["post"]["parameters"]).unwrap();
    assert!(
        create.contains("\"wait\"") && create.contains("wait_timeout"),
        "{create}"
    );
    assert_eq!(anon.send("HEAD", "/api/v1/health/ping", None, &[]).await.status, 204);

    let c = s.admin();
    let id = c.app("kept").await;
    s.restart();
    assert_eq!(s.admin().get(&format!("/api/v1/app/{id}")).await.status, 200);
    let status = s.terminate();
    assert!(status.success(), "hookd exits 0 on SIGTERM: {status}");
}

#[tokio::test]
async fn logs_are_json_lines_with_the_request_id_when_asked() {
    let mut s = Server::spawn(&[("HOOKD_LOG_FORMAT", "json"), ("HOOKD_LOG", "info,hookd::api=debug")]);
    let c = s.admin();
    c.app("logged").await;
    let r = c
        .send(
            "GET",
            "/api/v1/app/logged",
            None,
            &[("x-request-id", "req-from-caller-42")],
        )
        .await;
    assert_eq!(r.headers["x-request-id"], "req-from-caller-42");
    let made = c.get("/api/v1/app/logged").await;
    let made = made.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(made.starts_with("req_"), "{made}");
    assert!(s.terminate().success());
    let log = s.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["fields"]["message"] == "hookd stopped"), "{log}");
    for v in &lines {
        assert!(v["level"].is_string() && v["fields"]["message"].is_string(), "{v}");
    }
    // The request's own lines carry its id, the caller's or a new one.
    for id in ["req-from-caller-42", made.as_str()] {
        let of_request = |v: &&serde_json::Value| v["request_id"] == id;
        let line = lines
            .iter()
            .find(of_request)
            .unwrap_or_else(|| panic!("no line of {id}: {log}"));
        assert_eq!(line["fields"]["path"], "/api/v1/app/logged");
    }
}

/// The operator's counts over every tenant: endpoints by state, applications
/// with an active endpoint (Svix Play endpoints left out unless asked).
#[tokio::test]
async fn statistics_count_endpoints_and_active_applications() {
    let s = Server::start(&[]);
    let c = s.admin();
    let (a, b, play) = (c.app("a").await, c.app("b").await, c.app("play").await);
    c.endpoint(&a, json!({"url": "https://a.example.com/1"})).await;
    c.endpoint(&a, json!({"url": "https://a.example.com/2", "disabled": true}))
        .await;
    c.endpoint(&b, json!({"url": "https://b.example.com/1", "disabled": true}))
        .await;
    c.endpoint(&play, json!({"url": "https://play.svix.com/in/e_abc/"}))
        .await;
    let r = c
        .post(
            "/api/v1/operational-webhook/endpoint",
            json!({"url": "https://ops.example.com/"}),
        )
        .await;
    assert_eq!(r.status, 201, "the operator's own endpoints are not counted");
    let get = |path: &str| {
        let c = c.clone();
        let path = path.to_owned();
        async move { c.get(&path).await.body }
    };
    assert_eq!(
        get("/api/v1/stats/endpoint/count").await,
        json!({"active": 1, "disabled": 2})
    );
    assert_eq!(
        get("/api/v1/stats/endpoint/count?exclude_svix_play=false").await,
        json!({"active": 2, "disabled": 2})
    );
    assert_eq!(get("/api/v1/app/stats/count-active").await, json!({"count": 1}));
    assert_eq!(
        get("/api/v1/app/stats/count-active?exclude_svix_play=false").await,
        json!({"count": 2})
    );
    assert_eq!(
        get("/api/v1/app/stats/count-active?exclude_disabled=false").await,
        json!({"count": 2})
    );
    let r = c.post(&format!("/api/v1/auth/app-portal-access/{a}"), json!({})).await;
    let tenant = s.as_token(r.body["token"].as_str().unwrap());
    assert_eq!(tenant.get("/api/v1/stats/endpoint/count").await.status, 403);
    assert_eq!(tenant.get("/api/v1/app/stats/count-active").await.status, 403);
}

/// Statistics of an application's deliveries: ended ones counted by outcome,
/// per event type over a range, and per period as series; portal tokens see
/// their own application's.
#[tokio::test]
async fn an_applications_delivery_statistics() {
    let s = Server::start(&[]);
    let rx = crate::harness::Receiver::start().await;
    rx.on(
        "/down",
        crate::harness::Behaviour {
            statuses: vec![500],
            ..Default::default()
        },
    );
    let c = s.admin();
    let app = c.app("stats").await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let ok = c.endpoint(&app, json!({"url": format!("{}/up", rx.url)})).await;
    c.endpoint(&app, json!({"url": format!("{}/down", rx.url), "retrySchedule": []}))
        .await;
    for t in ["order.paid", "order.paid", "order.refunded"] {
        c.publish(&app, json!({"eventType": t, "payload": {}})).await;
    }
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    c.publish(
        &app,
        json!({"eventType": "order.shipped", "payload": {}, "deliverAt": later}),
    )
    .await;
    let cancel = format!("/api/v1/app/{app}/endpoint/{}/cancel-msgs", ok["id"].as_str().unwrap());
    let r = c
        .post(&cancel, json!({"createdBefore": chrono::Utc::now().to_rfc3339()}))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let until = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let q = |since: &str, until: &str| {
        let enc = |t: &str| t.replace('+', "%2B");
        format!(
            "/api/v1/app/{app}/stats/attempts?since={}&until={}",
            enc(since),
            enc(until)
        )
    };
    let path = q(&since.to_rfc3339(), &until);
    let stats = c
        .wait_for(&path, |b| b["total_success"] == 3 && b["total_failure"] == 3)
        .await;
    assert_eq!(stats["total_canceled"], 1, "{stats}");
    assert_eq!(
        stats["by_event_type"]["order.paid"],
        json!({"success": 2, "failure": 2, "canceled": 0})
    );
    assert_eq!(
        stats["by_event_type"]["order.refunded"],
        json!({"success": 1, "failure": 1, "canceled": 0})
    );
    assert_eq!(
        stats["by_event_type"]["order.shipped"],
        json!({"success": 0, "failure": 0, "canceled": 1})
    );
    let only = c.get(&format!("{path}&event_types=order.refunded")).await.body;
    assert_eq!(
        (only["total_success"].as_i64(), only["total_failure"].as_i64()),
        (Some(1), Some(1))
    );
    let before = c
        .get(&q(
            &(since - chrono::Duration::days(1)).to_rfc3339(),
            &since.to_rfc3339(),
        ))
        .await
        .body;
    assert_eq!(before["total_success"], 0, "nothing made before: {before}");

    let series = c
        .get(&format!(
            "/api/v1/stats/app/{app}/attempt?period=FiveMinutes&startDate={}",
            since.to_rfc3339().replace('+', "%2B")
        ))
        .await;
    assert_eq!(series.status, 200, "{}", series.body);
    let sum = |k: &str| {
        series.body["data"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!(
        (sum("successCount"), sum("failureCount"), sum("canceledCount")),
        (3, 3, 1),
        "{}",
        series.body
    );
    assert_eq!(series.body["period"], "FiveMinutes");
    let day = c.get(&format!("/api/v1/stats/app/{app}/attempt")).await.body;
    let hours = day["data"]["successCount"].as_array().unwrap().len();
    assert!(
        (24..=25).contains(&hours),
        "a day of hours by default, partial ones at each end: {day}"
    );

    let portal = c
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), json!({}))
        .await;
    let tenant = s.as_token(portal.body["token"].as_str().unwrap());
    assert_eq!(tenant.get(&path).await.status, 200);
    let other = c.app("stats-other").await;
    assert_eq!(
        tenant.get(&format!("/api/v1/stats/app/{other}/attempt")).await.status,
        404
    );
    let bad = c.get(&q("2026-01-01T00:00:00Z", "2025-01-01T00:00:00Z")).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    let too_many = c
        .get(&format!("/api/v1/stats/app/{app}/attempt?period=FiveMinutes&startDate=2026-11-20T00:00:00Z&endDate=2026-12-05T00:00:00Z"))
        .await;
    assert_eq!(too_many.status, 422, "{}", too_many.body);
}

/// The usage aggregates: deliveries made per application over a range
/// (`messageDestinations`, some applications or all), and the event types each
/// application's endpoints subscribe to; finished tasks read back.
#[tokio::test]
async fn usage_aggregates_per_application() {
    let s = Server::start(&[]);
    let rx = crate::harness::Receiver::start().await;
    let c = s.admin();
    for t in ["a.b", "c.d", "x"] {
        c.post("/api/v1/event-type", json!({"name": t, "description": t})).await;
    }
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (a, b) = (c.app("usage-a").await, c.app("usage-b").await);
    c.endpoint(&a, json!({"url": format!("{}/a1", rx.url), "filterTypes": ["a.b"]}))
        .await;
    c.endpoint(&a, json!({"url": format!("{}/a2", rx.url)})).await;
    c.endpoint(&b, json!({"url": format!("{}/b1", rx.url), "filterTypes": ["x"]}))
        .await;
    for t in ["a.b", "c.d"] {
        c.publish(&a, json!({"eventType": t, "payload": {}})).await;
    }
    c.publish(&b, json!({"eventType": "x", "payload": {}})).await;
    let until = chrono::Utc::now() + chrono::Duration::seconds(1);
    let range = json!({"since": since.to_rfc3339(), "until": until.to_rfc3339()});

    let r = c.post("/api/v1/stats/usage/app", range.clone()).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        (r.body["task"].as_str(), r.body["unresolvedAppIds"].clone()),
        (Some("application.stats"), json!([]))
    );
    let task = c
        .get(&format!("/api/v1/background-task/{}", r.body["id"].as_str().unwrap()))
        .await
        .body;
    let made = |task: &serde_json::Value, app: &str| {
        task["data"]["appStats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["appId"] == app)
            .map(|s| s["messageDestinations"].clone())
    };
    assert_eq!(
        (made(&task, &a), made(&task, &b)),
        (Some(json!(3)), Some(json!(1))),
        "{task}"
    );
    let mut some = range.clone();
    some["appIds"] = json!(["usage-b", "nope"]);
    let r = c.post("/api/v1/stats/usage/app", some).await;
    assert_eq!(r.body["unresolvedAppIds"], json!(["nope"]));
    let task = c
        .get(&format!("/api/v1/background-task/{}", r.body["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!((made(&task, &a), made(&task, &b)), (None, Some(json!(1))), "{task}");
    let mut none = range.clone();
    none["appIds"] = json!(["nope"]);
    assert_eq!(c.post("/api/v1/stats/usage/app", none).await.status, 422);

    let r = c.put("/api/v1/stats/usage/event-types", json!({})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let task = c
        .get(&format!("/api/v1/background-task/{}", r.body["id"].as_str().unwrap()))
        .await
        .body;
    let of = |app: &str| {
        task["data"]["event_types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["appId"] == app)
            .cloned()
            .unwrap()
    };
    assert_eq!(of(&a)["explicitlySubscribedEventTypes"], json!(["a.b"]));
    assert_eq!(of(&a)["hasCatchAllEndpoint"], true);
    assert_eq!(
        (
            of(&b)["explicitlySubscribedEventTypes"].clone(),
            of(&b)["hasCatchAllEndpoint"].clone()
        ),
        (json!(["x"]), json!(false))
    );

    let portal = c.post(&format!("/api/v1/auth/app-portal-access/{a}"), json!({})).await;
    let tenant = s.as_token(portal.body["token"].as_str().unwrap());
    assert_eq!(tenant.post("/api/v1/stats/usage/app", range).await.status, 403);
    assert_eq!(
        tenant.put("/api/v1/stats/usage/event-types", json!({})).await.status,
        403
    );
}

/// `search` (hookd extension) finds every application by part of its name in
/// any case, or by the start of its uid or id; LIKE's own characters are text.
#[tokio::test]
async fn applications_are_found_by_search() {
    let s = Server::start(&[]);
    let c = s.admin();
    for (name, uid) in [
        ("50% Off Shop", "shop-1"),
        ("5000 Things", "things"),
        ("Acme_Corp", "acme"),
    ] {
        assert_eq!(
            c.post("/api/v1/app", json!({"name": name, "uid": uid})).await.status,
            201
        );
    }
    let names = |r: &serde_json::Value| -> Vec<String> {
        r["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = c.get("/api/v1/app?search=50%25").await;
    assert_eq!(names(&r.body), ["50% Off Shop"], "{}", r.body);
    assert_eq!(
        names(&c.get("/api/v1/app?search=off%20SHOP").await.body),
        ["50% Off Shop"]
    );
    assert_eq!(names(&c.get("/api/v1/app?search=e_c").await.body), ["Acme_Corp"]);
    assert_eq!(names(&c.get("/api/v1/app?search=thi").await.body), ["5000 Things"]);
    let all = c.get("/api/v1/app?search=%20").await;
    assert_eq!(names(&all.body).len(), 3, "blank: every application");
    let id = c.get("/api/v1/app?search=acme").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        names(&c.get("/api/v1/app?search=shop-").await.body),
        ["50% Off Shop"],
        "a uid's start"
    );
    assert_eq!(
        names(&c.get(&format!("/api/v1/app?search={id}")).await.body),
        ["Acme_Corp"]
    );
    let long = "x".repeat(257);
    assert_eq!(c.get(&format!("/api/v1/app?search={long}")).await.status, 422);
}

/// The served document is the one in the repository (`docs/openapi.json`):
/// a change to the API shows up as a change to that file. To take a new one:
/// `HOOKD_UPDATE_OPENAPI=1 cargo test -p hookd --test it served_document`.
/// And it lists every operation of Svix's current API that hookd serves, as
/// `tests/data/svix-operations.txt` says, and none it says are still missing.
#[tokio::test]
async fn the_served_document_is_the_snapshot_and_covers_svixs_operations() {
    let s = Server::start(&[]);
    let doc = s.admin().get("/api/v1/openapi.json").await.body;
    let snapshot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("HOOKD_UPDATE_OPENAPI").is_some() {
        std::fs::write(&snapshot, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    let kept: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&snapshot).unwrap()).unwrap();
    assert!(
        doc == kept,
        "the served document differs from docs/openapi.json: if the change is meant, \
         run with HOOKD_UPDATE_OPENAPI=1 and commit the file"
    );

    let paths = doc["paths"].as_object().unwrap();
    let served = |method: &str, path: &str| paths.get(path).and_then(|p| p.get(method)).is_some();
    let list = include_str!("../data/svix-operations.txt");
    let (mut yes, mut not_yet) = (0, 0);
    for line in list.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (missing, op) = match line.strip_prefix("- ") {
            Some(op) => (true, op),
            None => (false, line),
        };
        let (method, path) = op.split_once(' ').unwrap();
        match missing {
            false => assert!(served(method, path), "{method} {path} is not served"),
            true => assert!(!served(method, path), "{method} {path} is served now: drop its `-`"),
        }
        *(if missing { &mut not_yet } else { &mut yes }) += 1;
    }
    assert_eq!(yes + not_yet, 95, "Svix's current API has 95 webhook operations");
    assert_eq!(not_yet, 0, "{yes} served");
}
