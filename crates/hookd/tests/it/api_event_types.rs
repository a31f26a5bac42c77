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
