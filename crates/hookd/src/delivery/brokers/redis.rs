//! Redis streams: `XADD` (trimmed to about `maxlen` entries when given), the
//! body in a `payload` field and one field per header.

use std::net::SocketAddr;

use redis::IntoConnectionInfo;
use redis::aio::MultiplexedConnection;

use super::{Destination, Outgoing, PublishError};

pub async fn connect(dest: &Destination, addr: SocketAddr) -> Result<MultiplexedConnection, String> {
    let mut info = redis::RedisConnectionInfo::default();
    if let Ok(db) = dest.path.parse::<i64>() {
        info = info.set_db(db);
    }
    if let Some(user) = &dest.user {
        info = info.set_username(user.clone());
    }
    if let Some(pass) = &dest.password {
        info = info.set_password(pass.clone());
    }
    let conn = redis::ConnectionAddr::Tcp(addr.ip().to_string(), addr.port())
        .into_connection_info()
        .map_err(|e| e.to_string())?
        .set_redis_settings(info);
    let client = redis::Client::open(conn).map_err(|e| e.to_string())?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())
}

pub async fn publish(
    mut conn: MultiplexedConnection,
    dest: &Destination,
    out: &Outgoing<'_>,
) -> Result<String, PublishError> {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(&dest.stream);
    if let Some(n) = dest.maxlen {
        cmd.arg("MAXLEN").arg("~").arg(n);
    }
    cmd.arg("*").arg("payload").arg(out.body);
    for (name, value) in &out.headers {
        cmd.arg(name).arg(value);
    }
    match cmd.query_async::<String>(&mut conn).await {
        Ok(id) => Ok(format!("added to stream {} as {id}", dest.stream)),
        Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
            Err(PublishError::broken(format!("XADD {}: {e}", dest.stream)))
        }
        Err(e) => Err(PublishError::refused(format!("XADD {}: {e}", dest.stream))),
    }
}
