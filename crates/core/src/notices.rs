//! Change notices between the instances of a deployment: when one instance
//! changes something others hold in memory (a realm, its keys, its
//! authorization data, a client, a service key, a rate-limit policy) or
//! records a revocation (a logout, an ended session, a deactivated
//! account), it tells the others through a [`crate::ports::Notices`] bus
//! (Redis pub/sub with `PORTCULLIS_REDIS_URL`), and they drop what they
//! cached or read the revocations at once.
//!
//! A notice carries no data to trust, only what changed: the receiver
//! reads the change from the database as it would after its cache's time
//! to live. So a lost notice costs only the delay the caches and the
//! revocation poll bound anyway (a few seconds, a fraction of one), and a
//! forged one only a cache miss. A receiver that may have missed notices
//! (its subscription was cut) drops every cache ([`Portcullis::resynchronize`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Portcullis;
use crate::app::Inner;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// Revocations were recorded (tokens, sessions, accounts): read them.
    Revoked,
    /// A realm's settings or keys changed, or the realm was deleted.
    Realm {
        /// Its id.
        realm_id: Uuid,
        /// Its name (the cache's key).
        name: String,
    },
    /// A realm's authorization data changed (a new revision).
    Authz {
        /// The realm.
        realm_id: Uuid,
    },
    /// An OAuth client changed or was deleted.
    Client {
        /// Its realm.
        realm_id: Uuid,
        /// Its client id.
        client_id: String,
    },
    /// A service key changed (rotated, revoked, deleted).
    ServiceKey {
        /// Its id.
        id: Uuid,
    },
    /// A realm's rate-limit policy changed.
    RateLimits {
        /// The realm.
        realm_id: Uuid,
    },
    /// A caller of a realm was blocked, or a block lifted.
    Blocks {
        /// The realm.
        realm_id: Uuid,
    },
}

impl Notice {
    /// The notice's kind, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::Revoked => "revoked",
            Notice::Realm { .. } => "realm",
            Notice::Authz { .. } => "authz",
            Notice::Client { .. } => "client",
            Notice::ServiceKey { .. } => "service_key",
            Notice::RateLimits { .. } => "rate_limits",
            Notice::Blocks { .. } => "blocks",
        }
    }
}

impl Inner {
    /// Tells the other instances about a change this one made (and has
    /// applied to itself); sent off the request's path. Without a bus,
    /// nothing to do.
    pub(crate) fn announce(&self, notice: Notice) {
        let Some(bus) = self.notices.get().cloned() else {
            return;
        };
        metrics::counter!("portcullis_notices_sent_total", "kind" => notice.kind()).increment(1);
        tokio::spawn(async move { bus.publish(&notice).await });
    }
}

impl Inner {
    /// Drops everything this instance cached of a realm: the realm, its
    /// keys, its authorization view, its verified tokens, its policy.
    pub(crate) fn forget_realm(&self, realm_id: Uuid, name: &str) {
        self.realm_cache.remove(name);
        self.keys.invalidate(realm_id);
        crate::authz::Authz::new(self).invalidate(realm_id);
        self.verified.forget_realm(realm_id);
        self.edge.forget_policy(realm_id);
    }

    /// A realm changed here: forgotten here, announced to the others.
    pub(crate) fn realm_changed(&self, realm_id: Uuid, name: &str) {
        self.forget_realm(realm_id, name);
        self.announce(Notice::Realm {
            realm_id,
            name: name.to_owned(),
        });
    }
}

impl Portcullis {
    /// Sends this instance's change notices through `bus` (only the first
    /// call counts).
    pub fn set_notices(&self, bus: std::sync::Arc<dyn crate::ports::Notices>) {
        let _ = self.inner.notices.set(bus);
    }

    /// Installs the cache the instances share (the L2 layer of
    /// [`crate::cache`]), once, before serving.
    pub fn set_shared_cache(&self, cache: std::sync::Arc<dyn crate::cache::SharedCache>) {
        let _ = self.inner.shared_cache.set(cache);
    }

    /// Writes the caches' hits and misses per layer to the metrics
    /// recorder (before a scrape renders it).
    pub fn publish_cache_metrics(&self) {
        self.inner.cache_stats.publish();
    }

    /// Hits and misses of one cache's layer on this instance, by the names
    /// `/metrics` uses (`authz_view`, `client`, `realm`; `memory`, `redis`).
    pub fn cache_counts(&self, cache: &str, layer: &str) -> Option<(u64, u64)> {
        self.inner.cache_stats.counts_by_name(cache, layer)
    }

    /// Applies another instance's notice: drops what this one cached of
    /// the change, or wakes its revocation reader.
    pub fn apply_notice(&self, notice: &Notice) {
        let i = &self.inner;
        metrics::counter!("portcullis_notices_received_total", "kind" => notice.kind())
            .increment(1);
        match notice {
            Notice::Revoked => i.revocations.wake(),
            Notice::Realm { realm_id, name } => i.forget_realm(*realm_id, name),
            Notice::Authz { realm_id } => self.authz().invalidate(*realm_id),
            Notice::Client {
                realm_id,
                client_id,
            } => i.client_cache.forget(*realm_id, client_id),
            Notice::ServiceKey { id } => i.edge.forget_key(*id),
            Notice::RateLimits { realm_id } => i.edge.forget_policy(*realm_id),
            Notice::Blocks { realm_id } => {
                let (state, realm_id, now) = (i.edge.state.clone(), *realm_id, i.clock.now());
                tokio::spawn(async move { state.refresh_blocks(realm_id, now).await });
            }
        }
    }

    /// Drops every cache a notice could have invalidated and reads the
    /// revocations at once: for an instance that may have missed notices
    /// (its subscription was cut and is back).
    pub fn resynchronize(&self) {
        let i = &self.inner;
        metrics::counter!("portcullis_notices_resynchronized_total").increment(1);
        i.realm_cache.clear();
        i.keys.invalidate_all();
        i.authz.clear();
        i.verified.clear();
        i.client_cache.clear();
        i.edge.forget_all();
        i.revocations.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_as_json_with_their_kind() {
        let n = Notice::Client {
            realm_id: Uuid::nil(),
            client_id: "web".into(),
        };
        let text = serde_json::to_string(&n).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"client","realm_id":"00000000-0000-0000-0000-000000000000","client_id":"web"}"#
        );
        assert_eq!(serde_json::from_str::<Notice>(&text).unwrap(), n);
        assert_eq!(
            serde_json::from_str::<Notice>(r#"{"kind":"revoked"}"#).unwrap(),
            Notice::Revoked
        );
        assert!(serde_json::from_str::<Notice>(r#"{"kind":"shutdown"}"#).is_err());
    }
}
