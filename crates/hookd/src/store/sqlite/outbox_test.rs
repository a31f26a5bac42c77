//! An operational event is stored exactly when what it reports is: with a
//! write that commits, never with one that fails.

use serde_json::json;

use super::testing::{keys, open, url};
use crate::ids::{self, Kind};
use crate::store::sql::queries::sample_outcome;
use crate::store::{
    AppRecord, AppStore, EndpointStore, MessageStore, OperationalEvent, OperationalKind, OperationsStore, StoreError,
    test_endpoint,
};

fn event(kind: OperationalKind) -> OperationalEvent {
    OperationalEvent {
        id: ids::new(Kind::OperationalEvent),
        kind,
        data: json!({"endpointId": "ep_1"}),
        created_at: 1,
    }
}

#[tokio::test]
async fn an_event_is_stored_only_with_what_it_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&url(&dir), keys()).await;
    let app = AppRecord {
        id: "app_1".into(),
        uid: None,
        name: "a".into(),
        throttle_rate: None,
        metadata: Default::default(),
        created_at: 1,
        updated_at: 1,
    };
    store.create_app(&app).await.unwrap();
    let stored = || async { store.operational_events(10).await.unwrap() };

    let missing = store
        .update_endpoint(&test_endpoint(), &[event(OperationalKind::EndpointUpdated)])
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    assert!(
        stored().await.is_empty(),
        "an update that changed nothing announced itself"
    );

    let created = event(OperationalKind::EndpointCreated);
    store
        .create_endpoint(&test_endpoint(), std::slice::from_ref(&created))
        .await
        .unwrap();
    let again = store
        .create_endpoint(&test_endpoint(), &[event(OperationalKind::EndpointCreated)])
        .await;
    assert!(again.is_err(), "the same id twice");
    let events = stored().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].id.as_str(), events[0].event_type.as_str()),
        (created.id.as_str(), "endpoint.created")
    );
    assert_eq!(events[0].data, Some(json!({"endpointId": "ep_1"})));

    // An attempt's outcome for a delivery that is gone is not recorded, nor announced.
    let mut outcome = sample_outcome("app_1", "ep_1", "msg_1");
    outcome.announce = Some(event(OperationalKind::AttemptExhausted));
    store
        .write(&[], crate::subscriptions::MATCHER, &[outcome])
        .await
        .unwrap();
    assert_eq!(stored().await.len(), 1);

    store.remove_operational_events(&[created.id]).await.unwrap();
    assert!(stored().await.is_empty());
}
