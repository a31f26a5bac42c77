use serde_json::json;

use crate::harness::Server;

#[tokio::test]
async fn event_type_catalogue() {
    let s = Server::start(&[]);
    let c = s.admin();
    let schema = json!({"1": {"type": "object", "properties": {"id": {"type": "string"}}, "examples": [{"id": "u1"}]}});
    let r = c
        .post(
            "/api/v1/event-type",
            json!({"name": "user.created", "description": "A user signed up", "schemas": schema}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["schemas"], schema);
    assert_eq!(
        c.post(
            "/api/v1/event-type",
            json!({"name": "user.created", "description": "again"})
        )
        .await
        .status,
        409
    );
    assert_eq!(
        c.post("/api/v1/event-type", json!({"name": "bad name", "description": "x"}))
            .await
            .status,
        422
    );
    assert_eq!(
        c.post(
            "/api/v1/event-type",
            json!({"name": "x", "description": "x", "schemas": {"1": 5}})
        )
        .await
        .status,
        422
    );

    let r = c.get("/api/v1/event-type/user.created").await;
    assert_eq!(
        (r.status, r.body["description"].as_str()),
        (200, Some("A user signed up"))
    );
    let r = c
        .put("/api/v1/event-type/user.deleted", json!({"description": "gone"}))
        .await;
    assert_eq!(r.status, 201);
    let r = c
        .put(
            "/api/v1/event-type/user.deleted",
            json!({"description": "gone for good"}),
        )
        .await;
    assert_eq!((r.status, r.body["description"].as_str()), (200, Some("gone for good")));
    let r = c
        .patch("/api/v1/event-type/user.deleted", json!({"deprecated": true}))
        .await;
    assert_eq!(r.body["deprecated"], true);

    // list hides schemas unless asked, and archived types unless asked
    let list = c.get("/api/v1/event-type").await.body;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(list["data"][1].get("schemas").is_none());
    let list = c.get("/api/v1/event-type?with_content=true&limit=1").await.body;
    assert_eq!(list["data"][0]["schemas"], schema);
    assert_eq!(list["done"], false);

    assert_eq!(c.delete("/api/v1/event-type/user.deleted").await.status, 204);
    assert_eq!(
        c.get("/api/v1/event-type").await.body["data"].as_array().unwrap().len(),
        1
    );
    let all = c.get("/api/v1/event-type?include_archived=true").await.body;
    assert_eq!(all["data"][1]["archived"], true);
    assert_eq!(
        c.delete("/api/v1/event-type/user.deleted?expunge=true").await.status,
        204
    );
    assert_eq!(c.get("/api/v1/event-type/user.deleted").await.status, 404);
}

/// An event type's retry schedule: its deliveries follow it unless their
/// endpoint has its own; an update of the event type keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_types_retry_schedule_paces_its_deliveries() {
    let s = Server::start(&[]);
    let rx = crate::harness::Receiver::start().await;
    for path in ["/plain", "/own"] {
        rx.on(
            path,
            crate::harness::Behaviour {
                statuses: vec![500],
                ..Default::default()
            },
        );
    }
    let c = s.admin();
    let r = c
        .post("/api/v1/event-type", json!({"name": "slow.retry", "description": "d"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let path = "/api/v1/event-type/slow.retry/retry-schedule";
    assert_eq!(c.get(path).await.body, json!({"retrySchedule": null}));
    let schedule = json!({"retrySchedule": [{"secs": 3600, "nanos": 0}, {"secs": 1, "nanos": 500000000}]});
    let r = c.put(path, schedule.clone()).await;
    assert_eq!((r.status, &r.body), (200, &schedule));
    let r = c
        .put("/api/v1/event-type/slow.retry", json!({"description": "changed"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        c.get(path).await.body,
        schedule,
        "kept across an update of the event type"
    );

    let app = c.app("paced").await;
    let plain = c.endpoint(&app, json!({"url": format!("{}/plain", rx.url)})).await;
    c.endpoint(&app, json!({"url": format!("{}/own", rx.url), "retrySchedule": [0.05]}))
        .await;
    c.publish(&app, json!({"eventType": "slow.retry", "payload": {}})).await;
    // The endpoint's own schedule wins: its retry comes at once.
    rx.wait("/own", 2).await;
    let listed = format!("/api/v1/app/{app}/endpoint/{}/msg", plain["id"].as_str().unwrap());
    let body = c.wait_for(&listed, |b| b["data"][0]["status"] == 3).await;
    let next: chrono::DateTime<chrono::Utc> = body["data"][0]["nextAttempt"].as_str().unwrap().parse().unwrap();
    let wait = next - chrono::Utc::now();
    assert!(
        wait > chrono::Duration::minutes(40) && wait < chrono::Duration::minutes(80),
        "the event type's hour, not the server's 5 s: {wait}"
    );

    assert_eq!(c.put(path, json!({"retrySchedule": null})).await.status, 200);
    assert_eq!(c.get(path).await.body, json!({"retrySchedule": null}));
    let too_long: Vec<_> = (0..31).map(|_| json!({"secs": 1, "nanos": 0})).collect();
    assert_eq!(c.put(path, json!({"retrySchedule": too_long})).await.status, 422);
    assert_eq!(c.get("/api/v1/event-type/nope/retry-schedule").await.status, 404);
}

/// `import/openapi` and `export/openapi`: a document's webhooks become event
/// types (references inlined, YAML too), an unchanged import changes nothing,
/// a dry run says what would change, `replaceAll` archives what the document
/// leaves out; the export's document imports back to no change.
#[tokio::test]
async fn the_catalogue_goes_to_and_from_openapi_documents() {
    let s = Server::start(&[]);
    let c = s.admin();
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "Shop", "version": "1"},
        "webhooks": {
            "order.paid": {"post": {"description": "An order was paid",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}}}},
            "order.refunded": {"post": {"summary": "Money went back", "deprecated": true,
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}}
        },
        "components": {"schemas": {"Order": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}}
    });
    c.post(
        "/api/v1/event-type",
        json!({"name": "legacy.thing", "description": "old"}),
    )
    .await;
    let r = c.post("/api/v1/event-type/import/openapi", json!({"spec": spec})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut modified: Vec<&str> = r.body["data"]["modified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    modified.sort();
    assert_eq!(modified, ["order.paid", "order.refunded"]);
    let paid = c.get("/api/v1/event-type/order.paid").await.body;
    assert_eq!(paid["description"], "An order was paid");
    assert_eq!(paid["schemas"]["1"]["properties"]["id"], json!({"type": "string"}));
    assert_eq!(
        c.get("/api/v1/event-type/order.refunded").await.body["deprecated"],
        true
    );

    let again = c.post("/api/v1/event-type/import/openapi", json!({"spec": spec})).await;
    assert_eq!(again.body["data"], json!({"modified": [], "to_modify": []}));

    let yaml = "openapi: 3.1.0\nwebhooks:\n  order.paid:\n    post:\n      description: Paid at last\n";
    let dry = c
        .post(
            "/api/v1/event-type/import/openapi",
            json!({"specRaw": yaml, "dryRun": true, "replaceAll": true}),
        )
        .await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.body["data"]["modified"], json!([]));
    assert_eq!(dry.body["data"]["to_modify"][0]["name"], "order.paid");
    assert_eq!(dry.body["data"]["to_modify"][0]["description"], "Paid at last");
    assert_eq!(
        c.get("/api/v1/event-type/order.paid").await.body["description"],
        "An order was paid"
    );
    let real = c
        .post(
            "/api/v1/event-type/import/openapi",
            json!({"specRaw": yaml, "replaceAll": true}),
        )
        .await;
    let mut modified: Vec<&str> = real.body["data"]["modified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    modified.sort();
    assert_eq!(modified, ["legacy.thing", "order.paid", "order.refunded"]);
    assert_eq!(c.get("/api/v1/event-type/legacy.thing").await.body["archived"], true);
    let paid = c.get("/api/v1/event-type/order.paid").await.body;
    assert_eq!(
        (paid["description"].as_str(), paid["archived"].as_bool()),
        (Some("Paid at last"), Some(false))
    );
    assert_eq!(
        paid["schemas"]["1"]["required"],
        json!(["id"]),
        "a webhook without a body keeps its schema"
    );

    let exported = c.post("/api/v1/event-type/export/openapi", json!({})).await;
    assert_eq!(exported.status, 202, "{}", exported.body);
    assert_eq!(
        (exported.body["task"].as_str(), exported.body["status"].as_str()),
        (Some("sdk.generate"), Some("finished"))
    );
    let task = c
        .get(&format!(
            "/api/v1/background-task/{}",
            exported.body["id"].as_str().unwrap()
        ))
        .await;
    let doc = &task.body["data"]["spec"];
    let hooks: Vec<&String> = doc["webhooks"].as_object().unwrap().keys().collect();
    assert_eq!(hooks, ["order.paid"], "archived event types are left out: {doc}");
    // The catalogue's own document (as `/api/v1/catalog/openapi.json`): schemas in components.
    assert_eq!(doc, &c.get("/api/v1/catalog/openapi.json").await.body);
    assert_eq!(doc["components"]["schemas"]["order.paid"]["required"], json!(["id"]));
    // Imported back, it describes the same event type (its schema now carries
    // the description); a second import changes nothing.
    let round = c.post("/api/v1/event-type/import/openapi", json!({"spec": doc})).await;
    assert_eq!(round.status, 200, "{}", round.body);
    let paid = c.get("/api/v1/event-type/order.paid").await.body;
    assert_eq!(paid["schemas"]["1"]["required"], json!(["id"]), "{paid}");
    let again = c.post("/api/v1/event-type/import/openapi", json!({"spec": doc})).await;
    assert_eq!(again.body["data"]["modified"], json!([]), "{}", again.body);

    for bad in [
        json!({}),
        json!({"spec": spec, "specRaw": "openapi: 3.1.0"}),
        json!({"specRaw": "webhooks: ["}),
        json!({"spec": {"openapi": "3.1.0"}}),
    ] {
        let r = c.post("/api/v1/event-type/import/openapi", bad.clone()).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert!(r.body["detail"][0]["msg"].is_string(), "{}", r.body);
    }
    let badname = json!({"spec": {"openapi": "3.1.0", "webhooks": {"no spaces": {"post": {}}}}});
    assert_eq!(c.post("/api/v1/event-type/import/openapi", badname).await.status, 422);
    let app = c.app("catalogue-reader").await;
    let portal = c
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), json!({}))
        .await;
    let tenant = s.as_token(portal.body["token"].as_str().unwrap());
    assert_eq!(
        tenant
            .post("/api/v1/event-type/import/openapi", json!({"spec": spec}))
            .await
            .status,
        403
    );
    assert_eq!(
        tenant.post("/api/v1/event-type/export/openapi", json!({})).await.status,
        403
    );
}
