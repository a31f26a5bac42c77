use serde_json::{Value, json};

use crate::harness::{Receiver, Server};

#[tokio::test]
async fn publishing_routes_by_type_wildcard_and_channel() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("routing").await;
    for t in ["invoice.paid", "invoice.voided", "user.created"] {
        c.post("/api/v1/event-type", json!({"name": t, "description": t})).await;
    }
    c.endpoint(
        &app,
        json!({"url": format!("{}/exact", rx.url), "eventTypes": ["invoice.paid"]}),
    )
    .await;
    c.endpoint(
        &app,
        json!({"url": format!("{}/prefix", rx.url), "eventTypes": ["invoice.*"]}),
    )
    .await;
    c.endpoint(&app, json!({"url": format!("{}/star", rx.url), "eventTypes": ["*"]}))
        .await;
    c.endpoint(&app, json!({"url": format!("{}/all", rx.url)})).await;
    c.endpoint(&app, json!({"url": format!("{}/eu", rx.url), "channels": ["eu"]}))
        .await;
    let off = c
        .endpoint(&app, json!({"url": format!("{}/off", rx.url), "disabled": true}))
        .await;

    c.publish(&app, json!({"eventType": "invoice.paid", "payload": {"n": 1}}))
        .await;
    c.publish(&app, json!({"eventType": "invoice.voided", "payload": {"n": 2}}))
        .await;
    // not in the catalogue: allowed for messages, as in Svix
    c.publish(
        &app,
        json!({"eventType": "custom.thing", "payload": {"n": 3}, "channels": ["eu", "us"]}),
    )
    .await;
    rx.wait("/all", 3).await;
    rx.wait("/star", 3).await;
    rx.wait("/prefix", 2).await;
    rx.wait("/exact", 1).await;
    rx.wait("/eu", 1).await;
    let count = |p: &str| rx.requests(p).len();
    assert_eq!(
        (count("/exact"), count("/prefix"), count("/eu"), count("/off")),
        (1, 2, 1, 0)
    );
    assert_eq!(rx.requests("/eu")[0].body, r#"{"n":3}"#);
    let stats = c
        .get(&format!(
            "/api/v1/app/{app}/endpoint/{}/stats",
            off["id"].as_str().unwrap()
        ))
        .await
        .body;
    assert_eq!(stats["success"], 0);
}

#[tokio::test]
async fn message_create_get_list_and_expunge() {
    let s = Server::start(&[("HOOKD_MAX_PAYLOAD_BYTES", "1000")]);
    let c = s.admin();
    let app = c.app("msgs").await;
    let base = format!("/api/v1/app/{app}/msg");
    let m1 = c
        .publish(
            &app,
            json!({"eventType": "a.one", "payload": {"x": 1}, "eventId": "evt-1", "channels": ["c1"], "tags": ["t1"]}),
        )
        .await;
    let id1 = m1["id"].as_str().unwrap();
    assert!(id1.starts_with("msg_") && id1.len() == 31);
    assert_eq!(m1["payload"], json!({"x": 1}));
    let m2 = c
        .publish(&app, json!({"eventType": "b.two", "payload": {"x": 2}}))
        .await;

    assert_eq!(
        c.post(&base, json!({"eventType": "a.one", "payload": {}, "eventId": "evt-1"}))
            .await
            .status,
        409
    );
    assert_eq!(
        c.post(
            &base,
            json!({"eventType": "a.one", "payload": {"big": "x".repeat(2000)}})
        )
        .await
        .status,
        413
    );
    assert_eq!(
        c.post(&base, json!({"eventType": "a.one", "payload": [1, 2]}))
            .await
            .status,
        422
    );
    assert_eq!(
        c.post(&base, json!({"eventType": "bad type!", "payload": {}}))
            .await
            .status,
        422
    );
    assert_eq!(c.post(&base, json!({"payload": {}})).await.status, 422);
    assert_eq!(
        c.post(
            "/api/v1/app/app_2xxxxxxxxxxxxxxxxxxxxxxxxxx/msg",
            json!({"eventType": "a", "payload": {}})
        )
        .await
        .status,
        404
    );

    assert_eq!(c.get(&format!("{base}/{id1}")).await.body["eventId"], "evt-1");
    assert_eq!(c.get(&format!("{base}/evt-1")).await.body["id"], id1);
    let list = c.get(&base).await.body;
    assert_eq!(list["data"][0]["id"], m2["id"]);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let only_a = c.get(&format!("{base}?event_types=a.one")).await.body;
    assert_eq!(only_a["data"].as_array().unwrap().len(), 1);
    let both = c.get(&format!("{base}?event_types=a.one,b.two")).await.body;
    assert_eq!(both["data"].as_array().unwrap().len(), 2);
    let chan = c.get(&format!("{base}?channel=c1")).await.body;
    assert_eq!(chan["data"][0]["id"], id1);
    let tag = c.get(&format!("{base}?tag=t1")).await.body;
    assert_eq!(tag["data"].as_array().unwrap().len(), 1);
    let ts = m2["timestamp"].as_str().unwrap();
    let before = c.get(&format!("{base}?before={}", urlencode(ts))).await.body;
    assert_eq!(before["data"][0]["id"], id1);
    let after = c
        .get(&format!(
            "{base}?after={}",
            urlencode(m1["timestamp"].as_str().unwrap())
        ))
        .await
        .body;
    assert_eq!(after["data"][0]["id"], m2["id"]);
    let bare = c.get(&format!("{base}?with_content=false")).await.body;
    assert_eq!(bare["data"][0]["payload"], json!({}));
    assert_eq!(c.get(&format!("{base}?before=yesterday")).await.status, 422);

    assert_eq!(c.delete(&format!("{base}/{id1}/content")).await.status, 204);
    assert_eq!(c.get(&format!("{base}/{id1}")).await.body["payload"], json!({}));

    // `application` creates the app on first publish
    let r = c
        .post(
            "/api/v1/app/auto-made/msg",
            json!({"eventType": "a", "payload": {}, "application": {"name": "Auto"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(c.get("/api/v1/app/auto-made").await.body["name"], "Auto");
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}

#[tokio::test]
async fn attempts_are_logged_and_listed() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("log").await;
    let ep = c.endpoint(&app, json!({"url": format!("{}/ok", rx.url)})).await;
    let ep_id = ep["id"].as_str().unwrap();
    let msg = c
        .publish(&app, json!({"eventType": "thing.done", "payload": {"k": "v"}}))
        .await;
    let msg_id = msg["id"].as_str().unwrap();
    rx.wait("/ok", 1).await;

    let by_ep = c
        .wait_for(&format!("/api/v1/app/{app}/attempt/endpoint/{ep_id}"), |b| {
            b["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    let a = &by_ep["data"][0];
    assert_eq!(
        (
            a["status"].as_i64(),
            a["statusText"].as_str(),
            a["responseStatusCode"].as_i64()
        ),
        (Some(0), Some("success"), Some(200))
    );
    assert_eq!(a["response"], "received");
    assert_eq!(a["msgId"], msg_id);
    assert_eq!(a["triggerType"], 0);
    let att_id = a["id"].as_str().unwrap();
    assert!(att_id.starts_with("atmpt_") && att_id.len() == 33);

    let by_msg = c
        .get(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}?with_msg=true"))
        .await
        .body;
    assert_eq!(by_msg["data"][0]["id"], att_id);
    assert_eq!(by_msg["data"][0]["msg"]["payload"], json!({"k": "v"}));
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}?status=2"))
            .await
            .body["data"],
        json!([])
    );
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}?status_code_class=200"))
            .await
            .body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}?status_code_class=500"))
            .await
            .body["data"],
        json!([])
    );
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}?status_code_class=7"))
            .await
            .status,
        422
    );

    let one = c.get(&format!("/api/v1/app/{app}/msg/{msg_id}/attempt/{att_id}")).await;
    assert_eq!((one.status, one.body["endpointId"].as_str()), (200, Some(ep_id)));
    let ep_msgs = c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/msg")).await.body;
    assert_eq!(
        (
            ep_msgs["data"][0]["id"].as_str(),
            ep_msgs["data"][0]["statusText"].as_str()
        ),
        (Some(msg_id), Some("success"))
    );
    let dests = c.get(&format!("/api/v1/app/{app}/msg/{msg_id}/endpoint")).await.body;
    assert_eq!(
        (dests["data"][0]["id"].as_str(), dests["data"][0]["status"].as_i64()),
        (Some(ep_id), Some(0))
    );
    let stats = c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/stats")).await.body;
    assert_eq!(stats["success"], 1);

    let r = c
        .post(
            &format!("/api/v1/app/{app}/msg/{msg_id}/endpoint/{ep_id}/resend"),
            json!({}),
        )
        .await;
    assert_eq!((r.status, &r.body), (202, &json!({})));
    rx.wait("/ok", 2).await;
    let all = c
        .wait_for(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}"), |b| {
            b["data"].as_array().is_some_and(|d| d.len() == 2)
        })
        .await;
    assert_eq!(all["data"][0]["triggerType"], 1);
    assert_eq!(
        rx.requests("/ok")[0].headers["webhook-id"],
        rx.requests("/ok")[1].headers["webhook-id"]
    );

    assert_eq!(
        c.delete(&format!("/api/v1/app/{app}/msg/{msg_id}/attempt/{att_id}/content"))
            .await
            .status,
        204
    );
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/msg/{msg_id}/attempt/{att_id}"))
            .await
            .body["response"],
        ""
    );
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/msg/{msg_id}/attempt/atmpt_nope"))
            .await
            .status,
        404
    );
    assert_eq!(
        c.post(
            &format!("/api/v1/app/{app}/msg/{msg_id}/endpoint/ep_nope/resend"),
            json!({})
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn send_example_goes_to_one_endpoint() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("examples").await;
    let schema = json!({"1": {"type": "object", "examples": [{"id": "first"}, {"id": "second"}]}});
    c.post(
        "/api/v1/event-type",
        json!({"name": "user.created", "description": "x", "schemas": schema}),
    )
    .await;
    let target = c
        .endpoint(
            &app,
            json!({"url": format!("{}/target", rx.url), "eventTypes": ["user.created"]}),
        )
        .await;
    c.endpoint(&app, json!({"url": format!("{}/bystander", rx.url)})).await;
    let path = format!(
        "/api/v1/app/{app}/endpoint/{}/send-example",
        target["id"].as_str().unwrap()
    );
    let r = c
        .post(&path, json!({"eventType": "user.created", "exampleIndex": 1}))
        .await;
    assert_eq!((r.status, &r.body["payload"]), (202, &json!({"id": "second"})));
    rx.wait("/target", 1).await;
    assert_eq!(rx.requests("/target")[0].body, r#"{"id":"second"}"#);
    assert_eq!(
        c.post(&path, json!({"eventType": "user.created", "exampleIndex": 5}))
            .await
            .status,
        422
    );
    assert_eq!(c.post(&path, json!({"eventType": "no.such"})).await.status, 404);
    assert!(rx.requests("/bystander").is_empty());
}

#[tokio::test]
async fn precheck_says_whether_a_message_would_reach_an_endpoint_and_raw_gives_the_payload_as_published() {
    let s = Server::start(&[]);
    let c = s.admin();
    let app = c.app("pre").await;
    let precheck = |body: serde_json::Value| {
        let c = c.clone();
        let app = app.clone();
        async move {
            let r = c.post(&format!("/api/v1/app/{app}/msg/precheck/active"), body).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["active"].as_bool().unwrap()
        }
    };
    assert!(
        !precheck(json!({"eventType": "invoice.paid"})).await,
        "no endpoint at all"
    );
    let ep = c
        .endpoint(
            &app,
            json!({"url": "https://example.com/a", "channels": ["eu"], "filterTypes": ["invoice.*"]}),
        )
        .await;
    assert!(precheck(json!({"eventType": "invoice.paid", "channels": ["eu"]})).await);
    assert!(
        !precheck(json!({"eventType": "invoice.paid"})).await,
        "not on its channel"
    );
    assert!(
        !precheck(json!({"eventType": "user.created", "channels": ["eu"]})).await,
        "not its type"
    );
    let ep_id = ep["id"].as_str().unwrap();
    c.patch(
        &format!("/api/v1/app/{app}/endpoint/{ep_id}"),
        json!({"disabled": true}),
    )
    .await;
    assert!(
        !precheck(json!({"eventType": "invoice.paid", "channels": ["eu"]})).await,
        "disabled"
    );
    let bad = c
        .post(
            &format!("/api/v1/app/{app}/msg/precheck/active"),
            json!({"eventType": "no spaces"}),
        )
        .await;
    assert_eq!(bad.status, 422);

    let text = r#"{"b": 1,   "a": [1.50, "x"]}"#;
    let r = c.publish_text(&app, "t", text).await;
    assert_eq!(r.status, 202);
    let id = r.body["id"].as_str().unwrap();
    let raw = c.get(&format!("/api/v1/app/{app}/msg/{id}/raw")).await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.body["payload"], text, "byte for byte");
    c.delete(&format!("/api/v1/app/{app}/msg/{id}/content")).await;
    assert_eq!(c.get(&format!("/api/v1/app/{app}/msg/{id}/raw")).await.status, 404);
}

/// `expunge-all-contents`: every payload of one application is dropped, as a
/// finished background task that says how many; other applications keep theirs.
#[tokio::test]
async fn expunge_all_contents_drops_one_applications_payloads() {
    let s = Server::start(&[]);
    let c = s.admin();
    let (a, b) = (c.app("purged").await, c.app("kept").await);
    let mut ids = Vec::new();
    for n in 0..2 {
        let m = c.publish(&a, json!({"eventType": "t", "payload": {"secret": n}})).await;
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    let other = c
        .publish(&b, json!({"eventType": "t", "payload": {"keep": true}}))
        .await;
    let r = c
        .post(&format!("/api/v1/app/{a}/msg/expunge-all-contents"), json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_str(), r.body["task"].as_str()),
        (Some("finished"), Some("application.purge_content"))
    );
    let task = c
        .get(&format!("/api/v1/background-task/{}", r.body["id"].as_str().unwrap()))
        .await;
    assert_eq!(task.body["data"]["messagesPurged"], 2, "{}", task.body);
    for id in &ids {
        let raw = c.get(&format!("/api/v1/app/{a}/msg/{id}")).await;
        assert!(!raw.body.to_string().contains("secret"), "{}", raw.body);
    }
    let kept = c
        .get(&format!("/api/v1/app/{b}/msg/{}", other["id"].as_str().unwrap()))
        .await;
    assert_eq!(kept.body["payload"], json!({"keep": true}));
    let again = c
        .post(&format!("/api/v1/app/{a}/msg/expunge-all-contents"), json!({}))
        .await;
    let task = c
        .get(&format!(
            "/api/v1/background-task/{}",
            again.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(task.body["data"]["messagesPurged"], 0);
}

/// `bulk-expunge`: the listed messages (by id or eventId) lose their
/// payloads; each id is answered `expunged` or `not-found`.
#[tokio::test]
async fn bulk_expunge_drops_the_listed_payloads() {
    let s = Server::start(&[]);
    let c = s.admin();
    let app = c.app("bulk").await;
    let by_id = c
        .publish(&app, json!({"eventType": "t", "payload": {"card": "4242"}}))
        .await;
    c.publish(
        &app,
        json!({"eventType": "t", "eventId": "evt-9", "payload": {"card": "4343"}}),
    )
    .await;
    let kept = c
        .publish(&app, json!({"eventType": "t", "payload": {"fine": true}}))
        .await;
    let id = by_id["id"].as_str().unwrap();
    let r = c
        .post(
            &format!("/api/v1/app/{app}/msg/bulk-expunge"),
            json!({"ids": [id, "evt-9", "msg_nothere"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"results": {id: "expunged", "evt-9": "expunged", "msg_nothere": "not-found"}})
    );
    for m in [id, "evt-9"] {
        let got = c.get(&format!("/api/v1/app/{app}/msg/{m}")).await;
        assert!(!got.body.to_string().contains("card"), "{}", got.body);
    }
    let got = c
        .get(&format!("/api/v1/app/{app}/msg/{}", kept["id"].as_str().unwrap()))
        .await;
    assert_eq!(got.body["payload"], json!({"fine": true}));
    let too_many: Vec<String> = (0..1001).map(|i| format!("m{i}")).collect();
    let r = c
        .post(&format!("/api/v1/app/{app}/msg/bulk-expunge"), json!({"ids": too_many}))
        .await;
    assert_eq!(r.status, 422);
}

/// The event feeds: oldest first from a point, followed with the iterator
/// (which stays put when nothing new has come), by event type and channels;
/// one application's for its token, every one's for the operator only.
#[tokio::test]
async fn the_event_feeds_are_read_in_order_with_an_iterator() {
    let s = Server::start(&[]);
    let c = s.admin();
    let (a, b) = (c.app("feed-a").await, c.app("feed-b").await);
    let mut sent = Vec::new();
    let mut between = chrono::Utc::now();
    for (i, (event_type, channels)) in [
        ("user.created", json!(["eu"])),
        ("user.deleted", json!(["us"])),
        ("user.created", json!(["us"])),
    ]
    .into_iter()
    .enumerate()
    {
        if i == 1 {
            // After the first message was stored, before the second was made.
            between = chrono::Utc::now();
        }
        let m = c
            .publish(
                &a,
                json!({"eventType": event_type, "channels": channels, "payload": {"n": i}}),
            )
            .await;
        sent.push(m["id"].as_str().unwrap().to_owned());
    }
    let other = c
        .publish(&b, json!({"eventType": "user.created", "payload": {"n": 9}}))
        .await;
    // A message shows once it has settled (two seconds).
    c.wait_for(&format!("/api/v1/app/{a}/events"), |b| {
        b["data"].as_array().is_some_and(|d| d.len() == 3)
    })
    .await;
    let page = c.get(&format!("/api/v1/app/{a}/events?limit=2")).await.body;
    let ids = |p: &Value| -> Vec<String> {
        p["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&page), sent[..2], "oldest first: {page}");
    assert_eq!(page["data"][0]["payload"], json!({"n": 0}));
    assert_eq!(page["done"], false);
    let it = page["iterator"].as_str().unwrap();
    let rest = c
        .wait_for(&format!("/api/v1/app/{a}/events?iterator={it}"), |b| {
            b["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    assert_eq!(ids(&rest), sent[2..]);
    assert_eq!(rest["done"], true);
    let end = rest["iterator"].as_str().unwrap();
    let idle = c.get(&format!("/api/v1/app/{a}/events?iterator={end}")).await;
    assert_eq!(
        (
            idle.body["data"].as_array().unwrap().len(),
            idle.body["iterator"].as_str()
        ),
        (0, Some(end))
    );
    let later = c
        .publish(&a, json!({"eventType": "user.deleted", "payload": {"n": 3}}))
        .await;
    let next = c
        .wait_for(&format!("/api/v1/app/{a}/events?iterator={end}"), |b| {
            b["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    assert_eq!(ids(&next), [later["id"].as_str().unwrap()]);

    let created = c.get(&format!("/api/v1/app/{a}/events?event_types=user.created")).await;
    assert_eq!(ids(&created.body), [sent[0].clone(), sent[2].clone()]);
    let us = c
        .get(&format!("/api/v1/app/{a}/events?channels=us&channels=nowhere"))
        .await;
    assert_eq!(ids(&us.body), sent[1..]);
    // `after`: made after that time.
    let after = between.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let since = c.get(&format!("/api/v1/app/{a}/events?after={after}")).await;
    let mut want = sent[1..].to_vec();
    want.push(later["id"].as_str().unwrap().to_owned());
    assert_eq!(ids(&since.body), want, "{}", since.body);

    let all = c
        .wait_for("/api/v1/events?limit=250", |b| {
            b["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|m| m["id"] == other["id"]))
        })
        .await;
    let everyone = ids(&all);
    let pos = |id: &str| everyone.iter().position(|x| x == id).unwrap();
    assert!(pos(&sent[0]) < pos(&sent[2]) && pos(&sent[2]) < pos(other["id"].as_str().unwrap()));

    let portal = c.post(&format!("/api/v1/auth/app-portal-access/{a}"), json!({})).await;
    let tenant = s.as_token(portal.body["token"].as_str().unwrap());
    assert_eq!(tenant.get("/api/v1/events").await.status, 403);
    assert_eq!(tenant.get(&format!("/api/v1/app/{b}/events")).await.status, 404);
    assert_eq!(ids(&tenant.get(&format!("/api/v1/app/{a}/events")).await.body).len(), 4);
    let bad = c.get(&format!("/api/v1/app/{a}/events?iterator=non%24sense")).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
}

/// `msg/search`: the list's filters in a body, newest first, paged.
#[tokio::test]
async fn search_filters_an_applications_messages() {
    let s = Server::start(&[]);
    let c = s.admin();
    let app = c.app("search").await;
    let mut sent = Vec::new();
    for (event_type, tag) in [("a", "x"), ("b", "y"), ("a", "y")] {
        let m = c
            .publish(
                &app,
                json!({"eventType": event_type, "tags": [tag], "payload": {"t": tag}}),
            )
            .await;
        sent.push(m["id"].as_str().unwrap().to_owned());
    }
    let found = c
        .post(
            &format!("/api/v1/app/{app}/msg/search"),
            json!({"event_types": ["a"], "limit": 1}),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["data"][0]["id"], sent[2].as_str());
    assert_eq!(found.body["done"], false);
    let it = found.body["iterator"].as_str().unwrap();
    let next = c
        .post(
            &format!("/api/v1/app/{app}/msg/search"),
            json!({"event_types": ["a"], "iterator": it}),
        )
        .await;
    assert_eq!(next.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(next.body["data"][0]["id"], sent[0].as_str());
    let tagged = c
        .post(
            &format!("/api/v1/app/{app}/msg/search"),
            json!({"tag": "y", "with_content": false}),
        )
        .await;
    let ids: Vec<&str> = tagged.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [sent[2].as_str(), sent[1].as_str()]);
    assert_eq!(tagged.body["data"][0]["payload"], json!({}));
    let bad = c
        .post(&format!("/api/v1/app/{app}/msg/search"), json!({"limit": 0}))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
}

/// `msg/broadcast`: a running `message.broadcast` task sends the message to
/// every application once (each with the broadcast's eventId), and a second
/// broadcast with the same eventId reaches nobody twice. A task another
/// process left in the store, part done, is finished from where it stopped.
#[tokio::test]
async fn a_broadcast_reaches_every_application_once() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let mut apps = Vec::new();
    for name in ["bc-a", "bc-b", "bc-c"] {
        let app = c.app(name).await;
        c.endpoint(&app, json!({"url": format!("{}/{name}", rx.url)})).await;
        apps.push(app);
    }
    let quiet = c.app("bc-no-endpoint").await;
    let body = json!({"eventType": "maintenance.planned", "eventId": "mnt-1", "payload": {"at": "sunday"}});
    let r = c.post("/api/v1/msg/broadcast", body.clone()).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["task"], "message.broadcast");
    let task = format!("/api/v1/background-task/{}", r.body["id"].as_str().unwrap());
    let done = c.wait_for(&task, |t| t["status"] == "finished").await;
    assert_eq!(done["data"]["messages"], 4, "{done}");
    for name in ["bc-a", "bc-b", "bc-c"] {
        let got = rx.wait(&format!("/{name}"), 1).await;
        assert_eq!(got[0].body, r#"{"at":"sunday"}"#);
    }
    let listed = c.get(&format!("/api/v1/app/{quiet}/msg")).await;
    assert_eq!(listed.body["data"][0]["eventId"], "mnt-1", "{}", listed.body);

    let again = c.post("/api/v1/msg/broadcast", body).await;
    let task = format!("/api/v1/background-task/{}", again.body["id"].as_str().unwrap());
    let done = c.wait_for(&task, |t| t["status"] == "finished").await;
    assert_eq!(done["data"]["messages"], 0, "{done}");

    // Left by another node after the first application (in id order).
    let mut sorted = apps.clone();
    sorted.push(quiet.clone());
    sorted.sort();
    let store = s.open_store().await;
    let left = store
        .start_task(
            hookd::store::TaskKind::MessageBroadcast,
            json!({"eventType": "resumed", "payload": {"n": 1}, "retention": 3_600_000_000i64, "cursor": sorted[0]}),
        )
        .await
        .unwrap();
    let done = c
        .wait_for(&format!("/api/v1/background-task/{}", left.id), |t| {
            t["status"] == "finished"
        })
        .await;
    assert_eq!(done["data"]["messages"], 3, "{done}");
    for app in &sorted {
        let got = c.get(&format!("/api/v1/app/{app}/msg?event_types=resumed")).await;
        let want = usize::from(app != &sorted[0]);
        assert_eq!(got.body["data"].as_array().unwrap().len(), want, "{app}: {}", got.body);
    }

    let bad = c
        .post("/api/v1/msg/broadcast", json!({"eventType": "t", "payload": [1]}))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    let portal = c
        .post(&format!("/api/v1/auth/app-portal-access/{quiet}"), json!({}))
        .await;
    let tenant = s.as_token(portal.body["token"].as_str().unwrap());
    let r = tenant
        .post("/api/v1/msg/broadcast", json!({"eventType": "t", "payload": {}}))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn an_attempts_headers_are_those_the_receiver_got() {
    let s = Server::start(&[]);
    let c = s.admin();
    let rx = Receiver::start().await;
    let app = c.app("sent-headers").await;
    let body = json!({"url": format!("{}/h", rx.url), "headers": {"X-Team": "blue", "X-Api-Key": "k-123"}});
    let ep = c.endpoint(&app, body).await;
    let ep_id = ep["id"].as_str().unwrap();
    for n in 0..5 {
        c.publish(&app, json!({"eventType": "thing.done", "payload": {"n": n}}))
            .await;
    }
    let got = rx.wait("/h", 5).await;
    let attempts = c
        .wait_for(&format!("/api/v1/app/{app}/attempt/endpoint/{ep_id}"), |b| {
            b["data"].as_array().is_some_and(|d| d.len() == 5)
        })
        .await;
    for a in attempts["data"].as_array().unwrap() {
        let (msg_id, att_id) = (a["msgId"].as_str().unwrap(), a["id"].as_str().unwrap());
        let h = c
            .get(&format!("/api/v1/app/{app}/msg/{msg_id}/attempt/{att_id}/headers"))
            .await;
        assert_eq!(h.status, 200, "{:?}", h.body);
        let received = got.iter().find(|r| r.headers["webhook-id"] == msg_id).unwrap();
        let sent = h.body["sentHeaders"].as_object().unwrap();
        for name in [
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "content-type",
            "x-team",
        ] {
            assert_eq!(sent[name], received.headers[name], "{name}");
        }
        assert_eq!(h.body["sensitive"], json!(["x-api-key"]));
        assert_eq!(sent["x-api-key"], "********");
        assert!(h.body["responseHeaders"].as_array().is_some_and(|r| !r.is_empty()));
    }
    let other = c.app("other").await;
    let a = &attempts["data"][0];
    let path = format!(
        "/api/v1/app/{other}/msg/{}/attempt/{}/headers",
        a["msgId"].as_str().unwrap(),
        a["id"].as_str().unwrap()
    );
    assert_eq!(c.get(&path).await.status, 404);
}
