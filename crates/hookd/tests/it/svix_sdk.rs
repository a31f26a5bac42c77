//! The official `svix` crate, unchanged, as a client of hookd.

use svix::api::{MessageListOptions, Svix, SvixOptions};
use svix::models::{ApplicationIn, EndpointIn, EndpointSecretRotateIn, EventTypeIn, MessageIn};

use crate::harness::{Receiver, Server};

#[tokio::test]
async fn the_official_svix_crate_drives_hookd() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let svix = Svix::new(
        s.token.clone(),
        Some(SvixOptions {
            server_url: Some(s.url.clone()),
            ..Default::default()
        }),
    );

    svix.health().get().await.expect("health");
    let app = svix
        .application()
        .create(
            ApplicationIn {
                uid: Some("sdk-app".into()),
                ..ApplicationIn::new("SDK app".into())
            },
            None,
        )
        .await
        .expect("create application");
    assert_eq!(svix.application().get("sdk-app".into()).await.unwrap().id, app.id);
    svix.event_type()
        .create(EventTypeIn::new("invoice.paid".into(), "Paid".into()), None)
        .await
        .expect("create event type");
    let ep = svix
        .endpoint()
        .create(
            app.id.clone(),
            EndpointIn {
                event_types: Some(["invoice.paid".to_string()].into_iter().collect()),
                ..EndpointIn::new(format!("{}/sdk", rx.url))
            },
            None,
        )
        .await
        .expect("create endpoint");
    let secret = svix
        .endpoint()
        .get_secret(app.id.clone(), ep.id.clone())
        .await
        .unwrap()
        .key;

    let msg = svix
        .message()
        .create(
            app.id.clone(),
            MessageIn::new("invoice.paid".into(), serde_json::json!({"amount": 42})),
            None,
        )
        .await
        .expect("create message");
    let got = rx.wait("/sdk", 1).await.remove(0);
    let mut headers = axum::http::HeaderMap::new();
    for (k, v) in &got.headers {
        headers.insert(
            axum::http::HeaderName::try_from(k.as_str()).unwrap(),
            v.parse().unwrap(),
        );
    }
    svix::webhooks::Webhook::new(&secret)
        .unwrap()
        .verify(got.body.as_bytes(), &headers)
        .expect("signature verifies");
    assert_eq!(got.headers["svix-id"], msg.id);

    let list = svix
        .message()
        .list(
            app.id.clone(),
            Some(MessageListOptions {
                event_types: Some(["invoice.paid".to_string()].into_iter().collect()),
                ..Default::default()
            }),
        )
        .await
        .expect("list messages");
    assert_eq!(list.data.len(), 1);
    assert!(list.done);

    let attempts = svix
        .message_attempt()
        .list_by_msg(app.id.clone(), msg.id.clone(), None)
        .await
        .expect("attempts");
    assert!(attempts.data.len() <= 1);
    let rotated = svix
        .endpoint()
        .rotate_secret(app.id.clone(), ep.id.clone(), EndpointSecretRotateIn::default(), None)
        .await
        .expect("rotate");
    assert_ne!(rotated.key, secret);
    let stats = svix
        .endpoint()
        .get_stats(app.id.clone(), ep.id.clone(), None)
        .await
        .expect("stats");
    assert!(stats.success + stats.pending + stats.sending <= 1);
    let apps = svix.application().list(None).await.expect("list applications");
    assert_eq!(apps.data.len(), 1);
    svix.endpoint()
        .delete(app.id.clone(), ep.id.clone())
        .await
        .expect("delete endpoint");
    svix.application()
        .delete(app.id.clone())
        .await
        .expect("delete application");
    assert!(svix.application().get(app.id.clone()).await.is_err());
}
