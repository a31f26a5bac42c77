//! The official `svix` crate, unchanged, as a client of hookd.

use svix::api::{MessageListOptions, Svix, SvixOptions};
use svix::models::{ApplicationIn, EndpointIn, EndpointSecretRotateIn, EventTypeIn, MessageIn};

use crate::harness::{Receiver, Server};

/// The official client, pointed at `s` with its operator token.
fn client(s: &Server) -> Svix {
    Svix::new(
        s.token.clone(),
        Some(SvixOptions {
            server_url: Some(s.url.clone()),
            ..Default::default()
        }),
    )
}

#[tokio::test]
async fn the_official_svix_crate_drives_hookd() {
    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let svix = client(&s);

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

#[tokio::test]
async fn the_official_svix_crate_manages_operational_webhooks_and_background_tasks() {
    use svix::models::{
        BackgroundTaskStatus, BackgroundTaskType, OperationalWebhookEndpointHeadersIn, OperationalWebhookEndpointIn,
        OperationalWebhookEndpointSecretIn, OperationalWebhookEndpointUpsertIn, RecoverIn,
    };

    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let svix = client(&s);
    let ops = svix.operational_webhook();
    let ep = ops
        .endpoint()
        .create(
            OperationalWebhookEndpointIn {
                uid: Some("pager".into()),
                event_types: Some(["endpoint.created".to_string()].into()),
                ..OperationalWebhookEndpointIn::new(format!("{}/ops", rx.url))
            },
            None,
        )
        .await
        .expect("create operational endpoint");
    assert_eq!(ops.endpoint().get("pager".into()).await.unwrap().id, ep.id);
    assert_eq!(ops.endpoint().list(None).await.unwrap().data.len(), 1);
    let secret = ops.endpoint().get_secret(ep.id.clone()).await.unwrap().key;
    ops.endpoint()
        .rotate_secret(ep.id.clone(), OperationalWebhookEndpointSecretIn::new(), None)
        .await
        .expect("rotate");
    assert_ne!(ops.endpoint().get_secret(ep.id.clone()).await.unwrap().key, secret);
    ops.endpoint()
        .set_headers(
            ep.id.clone(),
            OperationalWebhookEndpointHeadersIn::new([("X-Team".to_string(), "sre".to_string())].into()),
        )
        .await
        .expect("set headers");
    assert_eq!(
        ops.endpoint().get_headers(ep.id.clone()).await.unwrap().headers["X-Team"],
        "sre"
    );
    let updated = ops
        .endpoint()
        .upsert(
            ep.id.clone(),
            OperationalWebhookEndpointUpsertIn {
                description: Some("on call".into()),
                ..OperationalWebhookEndpointUpsertIn::new(format!("{}/ops", rx.url))
            },
        )
        .await
        .expect("upsert");
    assert_eq!(updated.description, "on call");

    let app = svix
        .application()
        .create(ApplicationIn::new("tenant".into()), None)
        .await
        .unwrap();
    let tenant_ep = svix
        .endpoint()
        .create(app.id.clone(), EndpointIn::new(format!("{}/t", rx.url)), None)
        .await
        .unwrap();
    let created = rx.first("/ops").await;
    assert!(created.body.contains(&tenant_ep.id), "{}", created.body);
    let recovered = svix
        .endpoint()
        .recover(
            app.id.clone(),
            tenant_ep.id.clone(),
            RecoverIn::new("2020-01-01T00:00:00Z".parse().unwrap()),
            None,
        )
        .await
        .expect("recover");
    let task = svix.background_task().get(recovered.id.clone()).await.expect("task");
    assert_eq!(task.status, BackgroundTaskStatus::Finished);
    assert_eq!(task.task, BackgroundTaskType::EndpointRecover);
    let tasks = svix.background_task().list(None).await.expect("list tasks");
    assert_eq!(tasks.data[0].id, recovered.id);
    ops.endpoint().delete(ep.id.clone()).await.expect("delete");
    assert!(ops.endpoint().get(ep.id).await.is_err());
}

/// One call or more of each group of Svix's current API through the official
/// crate: authentication, messages, attempts, statistics and polling (event
/// types and endpoints above). Broadcast is not in the crate's public API
/// (2.9); `api_messages::a_broadcast_reaches_every_application_once` drives it
/// over HTTP.
#[tokio::test]
async fn each_group_through_the_official_crate() {
    use svix::api::{MessageGetOptions, MessagePollerPollOptions};
    use svix::models::{AppPortalAccessIn, AppUsageStatsIn, ApplicationTokenExpireIn, MessagePrecheckIn};

    let s = Server::start(&[]);
    let rx = Receiver::start().await;
    let svix = client(&s);
    let app = (svix.application())
        .create(ApplicationIn::new("groups".into()), None)
        .await
        .unwrap();
    let ep = (svix.endpoint())
        .create(app.id.clone(), EndpointIn::new(format!("{}/g", rx.url)), None)
        .await
        .unwrap();
    let sink = (svix.endpoint())
        .create(app.id.clone(), EndpointIn::new("poller://groups".into()), None)
        .await
        .unwrap();

    // Authentication.
    let me = svix.authentication().whoami().await.expect("whoami");
    assert_eq!(me.app_id, None, "the operator token reaches every application");
    let portal = (svix.authentication())
        .app_portal_access(app.id.clone(), AppPortalAccessIn::new(), None)
        .await
        .expect("portal access");
    let tenant = Svix::new(
        portal.token.clone(),
        Some(SvixOptions {
            server_url: Some(s.url.clone()),
            ..Default::default()
        }),
    );
    assert_eq!(
        tenant.authentication().whoami().await.unwrap().app_id,
        Some(app.id.clone())
    );
    (svix.authentication())
        .expire_all(app.id.clone(), ApplicationTokenExpireIn::new(), None)
        .await
        .expect("expire all");
    assert!(tenant.application().get(app.id.clone()).await.is_err(), "expired");

    // Messages.
    let active = (svix.message())
        .precheck(app.id.clone(), MessagePrecheckIn::new("order.placed".into()), None)
        .await
        .expect("precheck");
    assert!(active.active);
    let msg = (svix.message())
        .create(
            app.id.clone(),
            MessageIn::new("order.placed".into(), serde_json::json!({"order": 7})),
            None,
        )
        .await
        .unwrap();
    rx.wait("/g", 1).await;
    // The crate asks for `with_content=false` unless told otherwise.
    let with_content = Some(MessageGetOptions {
        with_content: Some(true),
    });
    let got = (svix.message().get(app.id.clone(), msg.id.clone(), with_content))
        .await
        .expect("get message");
    assert_eq!(got.payload, serde_json::json!({"order": 7}));

    // Attempts (logged just after the receiver answered).
    let path = format!("/api/v1/app/{}/attempt/endpoint/{}", app.id, ep.id);
    (s.admin()
        .wait_for(&path, |b| b["data"].as_array().is_some_and(|d| !d.is_empty())))
    .await;
    let attempts = (svix.message_attempt())
        .list_by_endpoint(app.id.clone(), ep.id.clone(), None)
        .await
        .expect("attempts of the endpoint");
    let first = attempts.data.first().expect("an attempt");
    let again = (svix.message_attempt())
        .get(app.id.clone(), msg.id.clone(), first.id.clone(), None)
        .await
        .expect("one attempt");
    assert_eq!(
        (again.msg_id.as_str(), again.response_status_code),
        (msg.id.as_str(), 200)
    );

    // Statistics.
    let now = chrono::Utc::now();
    let usage = (svix.statistics())
        .aggregate_app_stats(AppUsageStatsIn::new(now - chrono::Duration::hours(1), now), None)
        .await
        .expect("usage");
    assert!(usage.id.starts_with("qtask_"), "{}", usage.id);
    let types = svix
        .statistics()
        .aggregate_event_types()
        .await
        .expect("event types in use");
    assert!(types.id.starts_with("qtask_"), "{}", types.id);

    // Polling: the message is read once it has settled.
    let path = format!("/api/v1/app/{}/poller/{}", app.id, sink.id);
    (s.admin()
        .wait_for(&path, |b| b["data"].as_array().is_some_and(|d| !d.is_empty())))
    .await;
    let poller = svix.message().poller();
    let read = (poller.poll(
        app.id.clone(),
        sink.id.clone(),
        Some(MessagePollerPollOptions::default()),
    ))
    .await
    .expect("poll");
    assert_eq!(read.data[0].id, msg.id);
    let consumer = (poller.consumer_poll(app.id.clone(), sink.id.clone(), "sdk".into(), None))
        .await
        .expect("consumer poll");
    assert_eq!(consumer.data[0].id, msg.id);
}
