//! AMQP 0-9-1 (RabbitMQ): a persistent publish on a channel in confirm mode,
//! `mandatory` so that a message no queue takes comes back instead of
//! vanishing; headers as AMQP message headers.

use std::net::SocketAddr;

use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};

use super::{Destination, Outgoing, PublishError};

/// A channel in confirm mode, and the connection it lives on.
pub struct Channel {
    channel: lapin::Channel,
    _connection: Connection,
}

impl Channel {
    pub async fn open(dest: &Destination, addr: SocketAddr) -> Result<Channel, String> {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        let user = dest.user.as_deref().unwrap_or("guest");
        let pass = dest.password.as_deref().unwrap_or("guest");
        // The empty path is the default virtual host, `/`.
        let vhost = if dest.path.is_empty() { "/" } else { &dest.path };
        let uri = format!("amqp://{}:{}@{addr}/{}", enc(user), enc(pass), enc(vhost));
        let connection = Connection::connect(&uri, ConnectionProperties::default())
            .await
            .map_err(|e| e.to_string())?;
        let channel = connection.create_channel().await.map_err(|e| e.to_string())?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Channel {
            channel,
            _connection: connection,
        })
    }

    pub async fn publish(&self, dest: &Destination, out: &Outgoing<'_>) -> Result<String, PublishError> {
        let mut headers = FieldTable::default();
        for (name, value) in &out.headers {
            headers.insert(
                ShortString::from(name.as_str()),
                AMQPValue::LongString(value.as_str().into()),
            );
        }
        let properties = BasicProperties::default()
            .with_headers(headers)
            .with_content_type("application/json".into())
            .with_message_id(out.id.as_str().into())
            // Persistent: kept across a broker restart by a durable queue.
            .with_delivery_mode(2);
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let target = format!("exchange {:?} with routing key {:?}", dest.exchange, dest.routing_key);
        // A missing exchange closes the channel: the connection is made again.
        let confirm = self
            .channel
            .basic_publish(
                dest.exchange.as_str().into(),
                dest.routing_key.as_str().into(),
                options,
                out.body,
                properties,
            )
            .await
            .map_err(|e| PublishError::broken(format!("publishing to {target}: {e}")))?
            .await
            .map_err(|e| PublishError::broken(format!("publishing to {target}: {e}")))?;
        match confirm {
            Confirmation::Ack(None) => Ok(format!("confirmed by the broker ({target})")),
            Confirmation::Ack(Some(returned)) => Err(PublishError::refused(format!(
                "no queue is bound to {target}: returned with {} {}",
                returned.reply_code, returned.reply_text
            ))),
            Confirmation::Nack(_) => Err(PublishError::refused(format!(
                "the broker refused the message ({target})"
            ))),
            Confirmation::NotRequested => Err(PublishError::broken("the channel is not in confirm mode")),
        }
    }
}
