//! Where stored records meet routing: an endpoint's subscription, a message
//! as a candidate, and the routing function the store calls without knowing
//! what is inside it (`store::Matcher`).

use std::sync::Arc;

use crate::routing::{self, Candidate, Subscription, UrlValues};
use crate::store::{EndpointRecord, MessageRecord};

pub fn subscription(ep: &EndpointRecord) -> Subscription<'_> {
    Subscription {
        event_types: ep.event_types.as_deref(),
        channels: ep.channels.as_deref(),
        filter: ep.options.filter.as_ref(),
    }
}

pub fn candidate(msg: &MessageRecord) -> Candidate<'_> {
    Candidate::new(&msg.event_type, msg.channels.as_deref(), msg.payload.as_deref())
}

/// What the store routes with.
pub const MATCHER: crate::store::Matcher = crate::store::Matcher { route, order: fifo_key };

/// The positions in `endpoints` of those that receive `msg`; its payload is
/// parsed once, and only if one of them filters.
pub fn route(msg: &MessageRecord, endpoints: &[Arc<EndpointRecord>]) -> Vec<usize> {
    let c = candidate(msg);
    endpoints
        .iter()
        .enumerate()
        .filter(|(_, ep)| subscription(ep).accepts(&c))
        .map(|(i, _)| i)
        .collect()
}

/// The order a delivery of `msg` to `ep` keeps: none unless the endpoint is
/// FIFO, else its ordering key's value ("" for the endpoint's one order).
pub fn fifo_key(ep: &EndpointRecord, msg: &MessageRecord) -> Option<String> {
    ep.options.ordering?;
    Some(routing::ordering_key(
        msg.payload.as_deref(),
        ep.options.ordering_key.as_deref(),
    ))
}

/// The endpoint's URL for this message, its placeholders filled.
pub fn url_for(ep: &EndpointRecord, msg: &MessageRecord) -> String {
    let values = UrlValues {
        event_type: &msg.event_type,
        msg_id: &msg.id,
        event_id: msg.event_id.as_deref(),
        app_id: &msg.app_id,
    };
    routing::fill_url(&ep.url, &values)
}
