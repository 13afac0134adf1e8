//! The cache of recently read clients, so the OAuth endpoints need no
//! database read per request.

use std::sync::Arc;
use uuid::Uuid;

use crate::clock::Tick;
use crate::model::client::OAuthClient;

/// How long a cached client is trusted: a change made on this instance
/// applies at once, one made on another instance within this time.
const CLIENT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// Most clients cached per realm; beyond, the realm's cache starts over.
const CLIENT_CACHE_MAX: usize = 10_000;

/// Recently read clients by realm and `client_id`, so the token,
/// introspection and revocation endpoints need no database read per
/// request.
#[derive(Default)]
pub(crate) struct ClientCache(
    dashmap::DashMap<Uuid, dashmap::DashMap<String, (Arc<OAuthClient>, Tick)>>,
);

impl ClientCache {
    pub(super) fn get(
        &self,
        realm_id: Uuid,
        client_id: &str,
        now: Tick,
    ) -> Option<Arc<OAuthClient>> {
        let realm = self.0.get(&realm_id)?;
        let entry = realm.get(client_id)?;
        let (client, at) = entry.value();
        (now.since(*at) < CLIENT_CACHE_TTL).then(|| client.clone())
    }

    pub(super) fn put(&self, c: &Arc<OAuthClient>, now: Tick) {
        let realm = self.0.entry(c.realm_id).or_default();
        if realm.len() >= CLIENT_CACHE_MAX {
            realm.clear();
        }
        realm.insert(c.client_id.clone(), (c.clone(), now));
    }

    pub(crate) fn forget(&self, realm_id: Uuid, client_id: &str) {
        if let Some(realm) = self.0.get(&realm_id) {
            realm.remove(client_id);
        }
    }

    /// Forgets every client.
    pub(crate) fn clear(&self) {
        self.0.clear();
    }
}
