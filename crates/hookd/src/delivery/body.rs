//! The request body: the payload exactly as published, or wrapped in the
//! endpoint's envelope for receivers that expect one (Syskit Point's
//! `{type, content, meta: {timeStamp, idempotencyKey}}`).

use crate::store::{EndpointRecord, MessageRecord};
use crate::time;

pub fn render(ep: &EndpointRecord, msg: &MessageRecord) -> String {
    let payload = msg.payload.as_deref().unwrap_or("{}");
    let Some(env) = &ep.options.envelope else {
        return payload.to_owned();
    };
    // Built as text so that the payload inside stays byte for byte as published.
    let s = |v: &str| serde_json::to_string(v).expect("a string serialises");
    format!(
        "{{{}:{},{}:{},{}:{{{}:{},{}:{}}}}}",
        s(&env.type_key),
        s(&msg.event_type),
        s(&env.data_key),
        payload,
        s(&env.meta_key),
        s(&env.timestamp_key),
        s(&time::to_rfc3339(msg.created_at)),
        s(&env.idempotency_key),
        s(&msg.id),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::render;
    use crate::store::{EndpointRecord, Envelope, MessageRecord, test_endpoint};

    fn endpoint(envelope: Option<Envelope>) -> EndpointRecord {
        let mut ep = test_endpoint();
        ep.options.envelope = envelope;
        ep
    }

    #[test]
    fn plain_and_enveloped() {
        let msg = MessageRecord {
            id: "msg_1".into(),
            app_id: "app_1".into(),
            event_type: "ProvisioningCompleted".into(),
            event_id: None,
            channels: None,
            tags: None,
            payload: Some(r#"{"site":"x", "n":1.50}"#.into()),
            deliver_at: None,
            created_at: 1_700_000_000_000_000,
            expires_at: 0,
            traceparent: None,
            tracestate: None,
        };
        assert_eq!(render(&endpoint(None), &msg), r#"{"site":"x", "n":1.50}"#);
        let default: Value = serde_json::from_str(&render(&endpoint(Some(Envelope::default())), &msg)).unwrap();
        assert_eq!(
            default,
            json!({"type": "ProvisioningCompleted", "data": {"site": "x", "n": 1.50},
                   "meta": {"timestamp": "2023-11-14T22:13:20.000Z", "idempotencyKey": "msg_1"}})
        );
        let syskit = Envelope {
            data_key: "content".into(),
            timestamp_key: "timeStamp".into(),
            ..Default::default()
        };
        let text = render(&endpoint(Some(syskit)), &msg);
        assert!(text.contains(r#""content":{"site":"x", "n":1.50}"#), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["meta"]["timeStamp"], "2023-11-14T22:13:20.000Z");
    }
}
