//! Zero trust on every authenticated request, in memory.
//!
//! A bearer token is not enough on its own: every request that presents one
//! is checked against its session, without a database read on the hot path.
//!
//! - The token is not revoked, its session not ended and its account not
//!   deactivated: the [`crate::denylist::Denylist`], which every instance
//!   keeps current from the shared database ([`crate::revocation`]).
//! - The session has not expired and belongs to the token's subject: the
//!   session's facts, kept in a bounded map ([`SessionCache`]) filled at
//!   login and refresh, or read from the store on a miss.
//! - The request's device fingerprint (browser family, operating system,
//!   device kind, preferred language: [`crate::risk::device_fingerprint`])
//!   is the session's. A mismatch raises the session's risk (audited as
//!   `risk.session.device_mismatch`): the request goes on, but sensitive
//!   operations need a fresh authentication ([`crate::access::Fresh`]),
//!   or, in a realm whose policy says `end_session`, the session ends.
//!
//! Tokens an OAuth client got for a user are presented by the client, not
//! the user's device, so their fingerprint is not compared; tokens of a
//! client acting as itself have no session.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dashmap::DashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// What the per-request check needs of a session.
#[derive(Debug)]
pub(crate) struct SessionFacts {
    /// The session's user.
    pub(crate) user_id: Uuid,
    /// When it ends.
    pub(crate) expires_at: OffsetDateTime,
    /// The device fingerprint of its baseline (`None`: none recorded yet).
    pub(crate) fingerprint: Option<String>,
    /// Whether a request from another device raised its risk.
    raised: AtomicBool,
    /// The [`SessionCache::device_key`] of the last request headers found
    /// to match `fingerprint` (0: none yet): the same headers again skip
    /// parsing the User-Agent and hashing.
    matched: AtomicU64,
}

impl SessionFacts {
    pub(crate) fn new(
        user_id: Uuid,
        expires_at: OffsetDateTime,
        fingerprint: Option<String>,
        raised: bool,
    ) -> Self {
        Self {
            user_id,
            expires_at,
            fingerprint,
            raised: AtomicBool::new(raised),
            matched: AtomicU64::new(0),
        }
    }

    /// Whether request headers with this key were found to match.
    pub(crate) fn matched(&self, key: u64) -> bool {
        key != 0 && self.matched.load(Ordering::Relaxed) == key
    }

    /// Remembers that request headers with this key match.
    pub(crate) fn remember_match(&self, key: u64) {
        self.matched.store(key, Ordering::Relaxed);
    }

    /// Whether the session's risk is raised.
    pub(crate) fn raised(&self) -> bool {
        self.raised.load(Ordering::Relaxed)
    }

    /// Raises the session's risk; returns whether it was not raised yet.
    pub(crate) fn raise(&self) -> bool {
        !self.raised.swap(true, Ordering::Relaxed)
    }
}

/// Sessions' facts by id, bounded: at capacity, an eighth of the entries
/// is dropped (they are read again from the store when next used).
#[derive(Debug)]
pub(crate) struct SessionCache {
    map: DashMap<Uuid, Arc<SessionFacts>>,
    capacity: usize,
    /// Keys [`Self::device_key`] with a secret of this process.
    keys: std::collections::hash_map::RandomState,
}

impl SessionCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: DashMap::new(),
            capacity: capacity.max(8),
            keys: Default::default(),
        }
    }

    /// A keyed 64-bit digest of the raw device headers (User-Agent and
    /// Accept-Language), cheaper than the fingerprint: a request whose
    /// headers have the key of ones that matched before matches too.
    pub(crate) fn device_key(
        &self,
        user_agent: Option<&str>,
        accept_language: Option<&str>,
    ) -> u64 {
        let mut h = self.keys.build_hasher();
        h.write(user_agent.unwrap_or("").as_bytes());
        h.write_u8(0xff);
        h.write(accept_language.unwrap_or("").as_bytes());
        h.finish()
    }

    pub(crate) fn get(&self, sid: Uuid) -> Option<Arc<SessionFacts>> {
        self.map.get(&sid).map(|f| f.clone())
    }

    pub(crate) fn insert(&self, sid: Uuid, facts: Arc<SessionFacts>) {
        if !self.map.contains_key(&sid) && self.map.len() >= self.capacity {
            let drop: Vec<Uuid> = self
                .map
                .iter()
                .take(self.capacity / 8)
                .map(|e| *e.key())
                .collect();
            for id in drop {
                self.map.remove(&id);
            }
            metrics::counter!("portcullis_session_cache_evictions_total")
                .increment((self.capacity / 8) as u64);
        }
        self.map.insert(sid, facts);
    }

    pub(crate) fn remove(&self, sid: Uuid) {
        self.map.remove(&sid);
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Arc<SessionFacts> {
        Arc::new(SessionFacts::new(
            Uuid::now_v7(),
            OffsetDateTime::UNIX_EPOCH,
            Some("fp".into()),
            false,
        ))
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = SessionCache::new(16);
        let first = Uuid::now_v7();
        cache.insert(first, facts());
        for _ in 0..100 {
            cache.insert(Uuid::now_v7(), facts());
            assert!(cache.len() <= 16);
        }
        // Replacing an entry never evicts.
        let full = cache.len();
        let some = cache.map.iter().next().map(|e| *e.key()).unwrap();
        cache.insert(some, facts());
        assert_eq!(cache.len(), full);
    }

    #[test]
    fn device_keys_tell_headers_apart() {
        let cache = SessionCache::new(8);
        let a = cache.device_key(Some("curl/8"), Some("en"));
        assert_eq!(a, cache.device_key(Some("curl/8"), Some("en")));
        assert_ne!(a, cache.device_key(Some("curl/8"), Some("fr")));
        assert_ne!(a, cache.device_key(Some("curl/8e"), Some("n")));
        let f = facts();
        assert!(!f.matched(a));
        f.remember_match(a);
        assert!(f.matched(a));
        assert!(!f.matched(0));
    }

    #[test]
    fn raising_is_sticky_and_reported_once() {
        let f = facts();
        assert!(!f.raised());
        assert!(f.raise());
        assert!(!f.raise());
        assert!(f.raised());
    }
}
