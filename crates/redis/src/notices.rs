//! Change notices over Redis pub/sub: every instance publishes what it
//! changed on one channel (`portcullis:notices`) and listens on it for the
//! others' ([`portcullis_core::notices`]).
//!
//! The listener has a connection of its own (RESP3, whose pushes carry
//! the messages), resubscribed by the client after every reconnection.
//! Messages published while it was cut off are lost, so after a
//! resubscription the instance drops every cache and reads the revocations
//! ([`Portcullis::resynchronize`]).

use std::time::Duration;

use async_trait::async_trait;
use portcullis_core::Portcullis;
use portcullis_core::notices::Notice;
use portcullis_core::ports::Notices;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, Value};
use serde_json::json;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::{CONNECTION_TIMEOUT, RESPONSE_TIMEOUT, Redis};

/// How often the listener's connection is checked while no message comes.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// Largest message read (a notice is a few hundred bytes).
const MAX_MESSAGE: usize = 4096;

/// Publishes this instance's notices.
#[derive(Debug)]
pub struct RedisNotices {
    redis: Redis,
    /// This instance, so that it skips its own notices.
    from: Uuid,
    channel: String,
}

impl RedisNotices {
    /// Notices of the instance `from` on `redis`.
    pub fn new(redis: Redis, from: Uuid) -> Self {
        let channel = redis.key(format_args!("notices"));
        Self {
            redis,
            from,
            channel,
        }
    }
}

#[async_trait]
impl Notices for RedisNotices {
    async fn publish(&self, notice: &Notice) {
        let message = json!({ "from": self.from, "notice": notice }).to_string();
        let mut conn = self.redis.conn();
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(message)
            .query_async(&mut conn)
            .instrument(crate::span("notice_publish"))
            .await;
        let _ = self.redis.record("notice_publish", sent);
    }
}

/// The notice of a message another instance published; `None` for this
/// instance's own, and for anything that is not a notice.
fn notice_of(payload: &[u8], me: Uuid) -> Option<Notice> {
    if payload.len() > MAX_MESSAGE {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let from: Uuid = serde_json::from_value(v.get("from")?.clone()).ok()?;
    if from == me {
        return None;
    }
    serde_json::from_value(v.get("notice")?.clone()).ok()
}

/// Listens for the other instances' notices and applies them to `core`,
/// forever (the server spawns it). `from` is this instance's id, as given
/// to [`RedisNotices::new`]. Behind Sentinel it follows the primary: after
/// a failover it subscribes there, and drops every cache, since notices may
/// have been missed meanwhile.
pub async fn listen(redis: Redis, core: Portcullis, from: Uuid) {
    let mut links = 0u64;
    loop {
        while redis.generation() == 0 {
            portcullis_core::clock::wait(Duration::from_secs(1)).await;
        }
        let (client, generation) = redis.client();
        if links > 0 {
            tracing::info!("change notices follow the new Redis primary: dropping every cache");
            core.resynchronize();
        }
        links += 1;
        if !listen_on(&redis, &core, from, &client, generation).await {
            return;
        }
    }
}

/// Listens on `client`'s server until the link's generation moves on
/// (`true`) or listening cannot start (`false`, logged).
async fn listen_on(
    redis: &Redis,
    core: &Portcullis,
    from: Uuid,
    client: &redis::Client,
    generation: u64,
) -> bool {
    let channel = redis.key(format_args!("notices"));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
    let info = client.get_connection_info().clone();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    let client = match redis::Client::open(info.set_redis_settings(settings)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %crate::describe(&e), "cannot listen for change notices");
            return false;
        }
    };
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(2))
        .set_push_sender(tx)
        .set_automatic_resubscription();
    let mut conn = match ConnectionManager::new_lazy_with_config(client, config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %crate::describe(&e), "cannot listen for change notices");
            return false;
        }
    };
    // Until the first subscription holds (Redis may be down at start).
    loop {
        if redis.generation() != generation {
            return true;
        }
        let subscribed = conn.subscribe(&channel).await;
        if redis.record("notice_subscribe", subscribed).is_ok() {
            break;
        }
        portcullis_core::clock::wait(Duration::from_secs(1)).await;
    }
    let mut subscriptions = 0u64;
    loop {
        let push = tokio::select! {
            push = rx.recv() => push,
            // A connection that gave up reconnecting tries again on its
            // next command: one every few seconds keeps it trying.
            () = portcullis_core::clock::wait(KEEPALIVE) => {
                if redis.generation() != generation {
                    return true;
                }
                let pong: redis::RedisResult<Value> =
                    redis::cmd("PING").query_async(&mut conn).await;
                let _ = redis.record("notice_keepalive", pong);
                continue;
            }
        };
        let Some(push) = push else { return true };
        match push.kind {
            PushKind::Message => {
                let payload = match push.data.get(1) {
                    Some(Value::BulkString(b)) => b.as_slice(),
                    _ => continue,
                };
                if let Some(notice) = notice_of(payload, from) {
                    core.apply_notice(&notice);
                }
            }
            PushKind::Subscribe => {
                subscriptions += 1;
                // Subscribed again after a cut: notices may have been missed.
                if subscriptions > 1 {
                    tracing::info!("change notices resumed: dropping every cache");
                    core.resynchronize();
                }
            }
            PushKind::Disconnection => {
                tracing::warn!("change notices cut off: reconnecting");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_notices_and_strange_messages_are_skipped() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        let msg = |from: Uuid| {
            json!({"from": from, "notice": {"kind": "authz", "realm_id": Uuid::nil()}}).to_string()
        };
        assert_eq!(
            notice_of(msg(other).as_bytes(), me),
            Some(Notice::Authz {
                realm_id: Uuid::nil()
            })
        );
        assert_eq!(notice_of(msg(me).as_bytes(), me), None);
        for bad in [
            "not json",
            r#"{"from": "x", "notice": {"kind": "revoked"}}"#,
            r#"{"notice": {"kind": "revoked"}}"#,
            &format!(r#"{{"from": "{other}", "notice": {{"kind": "reboot"}}}}"#),
        ] {
            assert_eq!(notice_of(bad.as_bytes(), me), None, "{bad}");
        }
        let huge = format!(
            r#"{{"from": "{other}", "notice": {{"kind": "revoked"}}, "pad": "{}"}}"#,
            "x".repeat(MAX_MESSAGE)
        );
        assert_eq!(notice_of(huge.as_bytes(), me), None);
    }
}
