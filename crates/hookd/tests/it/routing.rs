//! Routing beyond event types: payload filters, match preview, envelopes, and
//! testing a saved endpoint route by route.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{Behaviour, Server};
use crate::harness::{Client, Receiver};

/// Fig's web hook filter: the setting client matches one regex and one of the changed settings another.
fn fig_filter() -> Value {
    json!({
        "clientName": {"$regex": "^Billing\\."},
        "changedSettings": {"$any": {"name": {"$regex": "Timeout$"}}}
    })
}

fn setting_changed(client: &str, settings: &[&str]) -> Value {
    let changed: Vec<Value> = settings.iter().map(|s| json!({"name": s})).collect();
    json!({"eventType": "SettingValueChanged", "payload": {"clientName": client, "changedSettings": changed}})
}

async fn ids_delivered_to(c: &Client, app: &str, ep: &str) -> Vec<String> {
    let r = c.get(&format!("/api/v1/app/{app}/endpoint/{ep}/msg")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ids: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn payload_filters_route_messages_and_preview_shows_their_effect() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let app = c.app("fig").await;

    // A filter that does not compile is refused where it is wrong, and nothing is stored.
    let r = c
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": format!("{}/x", rx.url), "filter": {"$or": [{"a": {"$regex": "("}}]}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["detail"][0]["loc"],
        json!(["body", "filter", "$or", "0", "a", "$regex"])
    );
    assert!(
        r.body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("regular expression")
    );
    let r = c.get(&format!("/api/v1/app/{app}/endpoint")).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 0);

    let fig = c
        .endpoint(&app, json!({"url": format!("{}/fig", rx.url), "filter": fig_filter()}))
        .await;
    assert_eq!(fig["filter"], fig_filter(), "the filter is echoed as given");
    let fig_id = fig["id"].as_str().unwrap().to_string();
    let all = c.endpoint(&app, json!({"url": format!("{}/all", rx.url)})).await;
    let all_id = all["id"].as_str().unwrap().to_string();

    let r = c
        .patch(
            &format!("/api/v1/app/{app}/endpoint/{fig_id}"),
            json!({"filter": {"n": {"$between": [1, 2]}}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "filter", "n", "$between"]));
    let r = c.get(&format!("/api/v1/app/{app}/endpoint/{fig_id}")).await;
    assert_eq!(r.body["filter"], fig_filter(), "a refused update changes nothing");

    let mut matching = Vec::new();
    for (client, settings, matches) in [
        ("Billing.Api", vec!["DbTimeout", "LogLevel"], true),
        ("Shipping.Api", vec!["DbTimeout"], false),
        ("Billing.Api", vec!["LogLevel"], false),
        ("Billing.Worker", vec!["HttpTimeout"], true),
    ] {
        let m = c.publish(&app, setting_changed(client, &settings)).await;
        if matches {
            matching.push(m["id"].as_str().unwrap().to_string());
        }
    }
    rx.wait("/all", 4).await;
    let got = rx.wait("/fig", 2).await;
    matching.sort();
    assert_eq!(
        ids_delivered_to(&c, &app, &fig_id).await,
        matching,
        "only matching messages"
    );
    assert_eq!(ids_delivered_to(&c, &app, &all_id).await.len(), 4);
    let mut ids: Vec<String> = got.iter().map(|r| r.headers["webhook-id"].clone()).collect();
    ids.sort();
    assert_eq!(ids, matching);

    // The preview answers for the same subscription before it is saved.
    let preview = |body: Value| {
        let c = c.clone();
        let app = app.clone();
        async move { c.post(&format!("/api/v1/app/{app}/match-preview"), body).await }
    };
    let r = preview(json!({"filter": fig_filter()})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scanned"], 4);
    assert_eq!(r.body["matched"], 2);
    assert_eq!(r.body["matchedByEventType"], json!({"SettingValueChanged": 2}));
    let mut sample: Vec<String> = r.body["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        r.body["sample"][0]["payload"]["clientName"], "Billing.Worker",
        "newest first"
    );
    sample.sort();
    assert_eq!(sample, matching);
    let r = preview(json!({"filter": fig_filter(), "limit": 2, "sampleSize": 0})).await;
    assert_eq!(
        (r.body["scanned"].as_u64(), r.body["matched"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r.body["sample"], json!([]));
    let r = preview(json!({"eventTypes": ["Other"], "filter": {}})).await;
    assert_eq!(r.body["matched"], 0);
    let r = preview(json!({"filter": {"clientName": {"$regex": "["}}, "limit": 0})).await;
    assert_eq!(r.status, 422);
    let locs: Vec<&Value> = r.body["detail"].as_array().unwrap().iter().map(|d| &d["loc"]).collect();
    assert!(locs.contains(&&json!(["body", "limit"])), "{}", r.body);
    assert!(
        locs.contains(&&json!(["body", "filter", "clientName", "$regex"])),
        "{}",
        r.body
    );

    // Removing the filter sends everything again.
    let r = c
        .patch(&format!("/api/v1/app/{app}/endpoint/{fig_id}"), json!({"filter": null}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("filter").is_none());
    c.publish(&app, setting_changed("Shipping.Api", &["LogLevel"])).await;
    rx.wait("/fig", 3).await;
}

#[tokio::test]
async fn envelopes_wrap_the_payload_with_the_receivers_key_names() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    let app = c.app("point").await;
    let r = c
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": format!("{}/x", rx.url), "envelope": {"type": "kind", "data": "kind"}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "envelope"]));

    // Syskit Point: {type, content, meta: {timeStamp, idempotencyKey}}, signed in a `Signature` header.
    let key = "158b08cc-6a06-49f2-a724-2bc514fdcf1e";
    c.endpoint(
        &app,
        json!({
            "url": format!("{}/syskit", rx.url),
            "secret": key,
            "envelope": {"data": "content", "timestamp": "timeStamp"},
            "signature": {"scheme": "hmac-sha256", "header": "Signature", "encoding": "base64", "prefix": ""},
            "headers": {"Algorithm": "HMACSHA256"}
        }),
    )
    .await;
    c.endpoint(&app, json!({"url": format!("{}/default", rx.url), "envelope": {}}))
        .await;
    c.endpoint(&app, json!({"url": format!("{}/plain", rx.url)})).await;
    let payload = r#"{"site": "https://contoso.sharepoint.com/sites/x", "n": 1.50}"#;
    let r = c.publish_text(&app, "ProvisioningCompleted", payload).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let msg_id = r.body["id"].as_str().unwrap();

    let plain = rx.first("/plain").await;
    assert_eq!(plain.body, payload, "without an envelope the payload goes as published");

    let got = rx.first("/syskit").await;
    assert!(
        got.body.contains(&format!(r#""content":{payload}"#)),
        "payload kept byte for byte: {}",
        got.body
    );
    let body: Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(body["type"], "ProvisioningCompleted");
    assert_eq!(body["meta"]["idempotencyKey"], msg_id);
    assert_eq!(body["meta"]["idempotencyKey"], got.headers["webhook-id"].as_str());
    assert!(chrono::DateTime::parse_from_rfc3339(body["meta"]["timeStamp"].as_str().unwrap()).is_ok());
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(got.body.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(got.headers["signature"], expected, "the signature covers the envelope");
    assert_eq!(got.headers["algorithm"], "HMACSHA256");

    let default: Value = serde_json::from_str(&rx.first("/default").await.body).unwrap();
    assert_eq!(default["type"], "ProvisioningCompleted");
    assert_eq!(default["data"]["n"], 1.5);
    assert_eq!(default["meta"]["idempotencyKey"], msg_id);
    assert!(default["meta"]["timestamp"].is_string());
}

#[tokio::test]
async fn testing_a_saved_endpoint_tries_each_route_and_stores_nothing() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let c = s.admin();
    for (name, example) in [
        (
            "ClientStatusChanged",
            Some(json!({"client": "Billing.Api", "connected": true})),
        ),
        (
            "SettingValueChanged",
            Some(json!({"clientName": "Billing.Api", "changedSettings": []})),
        ),
        ("NewClientRegistration", None),
    ] {
        let mut body = json!({"name": name, "description": name});
        if let Some(e) = example {
            body["schemas"] = json!({"1": {"type": "object", "examples": [e]}});
        }
        assert_eq!(c.post("/api/v1/event-type", body).await.status, 201);
    }
    let app = c.app("fig").await;
    let ep = c
        .endpoint(
            &app,
            json!({"url": format!("{}/fig/{{eventType}}", rx.url),
                   "eventTypes": ["ClientStatusChanged", "SettingValueChanged"]}),
        )
        .await;
    let ep = ep["id"].as_str().unwrap();
    let secret = c.secret(&app, ep).await;
    rx.on(
        "/fig/SettingValueChanged",
        Behaviour {
            statuses: vec![404],
            ..Default::default()
        },
    );

    let r = c
        .post(&format!("/api/v1/app/{app}/endpoint/{ep}/test"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{}", r.body);
    assert_eq!(data[0]["eventType"], "ClientStatusChanged");
    assert_eq!(data[0]["success"], true);
    assert_eq!(data[0]["statusCode"], 200);
    assert_eq!(data[0]["url"], format!("{}/fig/ClientStatusChanged", rx.url));
    assert_eq!(data[1]["eventType"], "SettingValueChanged");
    assert_eq!(data[1]["success"], false);
    assert_eq!(data[1]["statusCode"], 404);
    assert_eq!(data[1]["response"], "received");

    let got = rx.first("/fig/ClientStatusChanged").await;
    assert_eq!(
        serde_json::from_str::<Value>(&got.body).unwrap(),
        json!({"client": "Billing.Api", "connected": true}),
        "the catalogue's example is sent"
    );
    let mut headers = axum::http::HeaderMap::new();
    for (k, v) in &got.headers {
        headers.insert(
            axum::http::HeaderName::try_from(k.as_str()).unwrap(),
            axum::http::HeaderValue::try_from(v.as_str()).unwrap(),
        );
    }
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(got.body.as_bytes(), &headers)
        .expect("test requests are signed with the endpoint's secret");

    // One chosen type, without an example: an empty object.
    let r = c
        .post(
            &format!("/api/v1/app/{app}/endpoint/{ep}/test"),
            json!({"eventType": "NewClientRegistration"}),
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(rx.first("/fig/NewClientRegistration").await.body, "{}");

    // An endpoint of every type is tested with each type in the catalogue.
    let every = c
        .endpoint(
            &app,
            json!({"url": format!("{}/every/{{eventType}}", rx.url), "eventTypes": ["*"]}),
        )
        .await;
    let r = c
        .post(
            &format!("/api/v1/app/{app}/endpoint/{}/test", every["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    let tested: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        tested,
        ["ClientStatusChanged", "NewClientRegistration", "SettingValueChanged"]
    );

    let r = c.get(&format!("/api/v1/app/{app}/msg")).await;
    assert_eq!(r.body["data"], json!([]), "tests store no message");
    let r = c.get(&format!("/api/v1/app/{app}/attempt/endpoint/{ep}")).await;
    assert_eq!(r.body["data"], json!([]), "and no attempt");
    let r = c
        .post(&format!("/api/v1/app/{app}/endpoint/ep_nope/test"), json!({}))
        .await;
    assert_eq!(r.status, 404);
}
