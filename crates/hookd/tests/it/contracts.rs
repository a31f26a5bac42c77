//! Event contracts: payloads checked against their event type's schema, and
//! the catalogue served as one document.

use serde_json::{Value, json};

use crate::harness::{Receiver, Server};

fn invoice_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"invoice": {"type": "string"}, "amount": {"type": "integer", "minimum": 0}},
        "required": ["invoice", "amount"],
        "examples": [{"invoice": "inv-1", "amount": 4200}]
    })
}

#[tokio::test]
async fn payloads_are_checked_against_their_contract_when_asked() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let r = c
        .post(
            "/api/v1/event-type",
            json!({"name": "invoice.paid", "description": "An invoice was paid",
                   "schemas": {"1": {"type": "object"}, "2": invoice_schema()}, "validatePayloads": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["validatePayloads"], true);
    let app = c.app("acme").await;
    c.endpoint(&app, json!({"url": format!("{}/in", rx.url)})).await;

    // The newest version's schema decides; every problem is named with its place.
    let r = c
        .post(
            &format!("/api/v1/app/{app}/msg"),
            json!({"eventType": "invoice.paid", "payload": {"amount": "4200"}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let locs: Vec<&Value> = r.body["detail"].as_array().unwrap().iter().map(|d| &d["loc"]).collect();
    assert!(locs.contains(&&json!(["body", "payload", "amount"])), "{}", r.body);
    assert!(
        locs.contains(&&json!(["body", "payload"])),
        "the missing field: {}",
        r.body
    );
    assert!(r.body["detail"][0]["type"].as_str().unwrap().contains("jsonschema"));
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/msg")).await.body["data"],
        json!([]),
        "nothing stored"
    );

    let ok = c
        .publish(
            &app,
            json!({"eventType": "invoice.paid", "payload": {"invoice": "inv-1", "amount": 4200}}),
        )
        .await;
    assert_eq!(rx.first("/in").await.headers["webhook-id"], ok["id"].as_str().unwrap());
    // Types without a contract, or with checking off, take any payload.
    c.publish(&app, json!({"eventType": "other.thing", "payload": {"amount": "x"}}))
        .await;
    let r = c
        .patch("/api/v1/event-type/invoice.paid", json!({"validatePayloads": false}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    c.publish(&app, json!({"eventType": "invoice.paid", "payload": {"amount": "x"}}))
        .await;

    // A schema that cannot check anything is refused when checking is asked for.
    let r = c
        .put(
            "/api/v1/event-type/invoice.voided",
            json!({"description": "x", "schemas": {"1": {"type": "no-such-type"}}, "validatePayloads": true}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "schemas", "1"]));
}

#[tokio::test]
async fn the_catalogue_is_served_as_openapi_webhooks_and_json_schema() {
    let s = Server::start(&[]);
    let c = s.admin();
    for body in [
        json!({"name": "invoice.paid", "description": "An invoice was paid", "groupName": "invoice",
               "schemas": {"1": {"type": "object"}, "2": invoice_schema()}}),
        json!({"name": "user.deleted", "description": "A user was deleted", "deprecated": true}),
        json!({"name": "old.thing", "description": "gone", "archived": true}),
    ] {
        assert_eq!(c.post("/api/v1/event-type", body).await.status, 201);
    }
    let r = c.get("/api/v1/catalog/openapi.json").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let hooks = doc["webhooks"].as_object().unwrap();
    assert_eq!(
        hooks.keys().collect::<Vec<_>>(),
        ["invoice.paid", "user.deleted"],
        "archived types are left out"
    );
    let paid = &hooks["invoice.paid"]["post"];
    assert_eq!(paid["summary"], "An invoice was paid");
    assert_eq!(paid["tags"], json!(["invoice"]));
    assert_eq!(paid["x-schema-version"], "2");
    let reference = paid["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let name = reference.strip_prefix("#/components/schemas/").unwrap();
    assert_eq!(
        doc["components"]["schemas"][name]["required"],
        json!(["invoice", "amount"])
    );
    let headers: Vec<&str> = paid["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(headers, ["webhook-id", "webhook-timestamp", "webhook-signature"]);
    assert_eq!(hooks["user.deleted"]["post"]["deprecated"], true);
    assert_eq!(doc["components"]["schemas"]["user.deleted"]["type"], "object");

    let r = c.get("/api/v1/catalog/schema.json").await;
    assert_eq!(r.status, 200);
    let schema = r.body;
    assert_eq!(
        schema["$defs"]["invoice.paid"]["properties"]["amount"]["type"],
        "integer"
    );
    // The document is a usable JSON Schema: a payload of either type validates, a bad one does not.
    let v = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    assert!(v.is_valid(&json!({"invoice": "inv-1", "amount": 3})));
    let only_paid = json!({"$defs": schema["$defs"].clone(), "$ref": "#/$defs/invoice.paid"});
    let v = jsonschema::validator_for(&only_paid).unwrap();
    assert!(!v.is_valid(&json!({"invoice": "inv-1", "amount": -3})));

    // Without a token, nothing.
    assert_eq!(s.as_token("").get("/api/v1/catalog/openapi.json").await.status, 401);
}
