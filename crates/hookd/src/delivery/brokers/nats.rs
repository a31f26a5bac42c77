//! NATS JetStream: a publish the stream acknowledges, headers as NATS headers.
//! `Nats-Msg-Id` is the message and endpoint, so a retry the stream already
//! stored (its answer lost) is not stored twice within the stream's
//! duplicate window.

use std::net::SocketAddr;
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;

use super::{Destination, Outgoing, PublishError};

pub async fn connect(dest: &Destination, addr: SocketAddr, timeout: Duration) -> Result<jetstream::Context, String> {
    let mut options = async_nats::ConnectOptions::new().connection_timeout(timeout);
    options = match (&dest.user, &dest.password) {
        (Some(user), Some(pass)) => options.user_and_password(user.clone(), pass.clone()),
        // `nats://TOKEN@host`
        (Some(token), None) => options.token(token.clone()),
        _ => options,
    };
    let client = options
        .connect(format!("nats://{addr}"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(jetstream::new(client))
}

pub async fn publish(js: &jetstream::Context, dest: &Destination, out: &Outgoing<'_>) -> Result<String, PublishError> {
    let mut headers = async_nats::HeaderMap::new();
    for (name, value) in &out.headers {
        headers.insert(name.as_str(), value.as_str());
    }
    headers.insert("Nats-Msg-Id", out.id.as_str());
    let body = Bytes::copy_from_slice(out.body);
    let pending = js
        .publish_with_headers(dest.path.clone(), headers, body)
        .await
        .map_err(|e| PublishError::broken(format!("publishing to {}: {e}", dest.path)))?;
    match pending.await {
        Ok(ack) => Ok(format!("stored in stream {} as sequence {}", ack.stream, ack.sequence)),
        Err(e) if e.kind() == jetstream::context::PublishErrorKind::StreamNotFound => Err(PublishError::refused(
            format!("no JetStream stream takes subject {}: {e}", dest.path),
        )),
        Err(e) => Err(PublishError::broken(format!("publishing to {}: {e}", dest.path))),
    }
}
