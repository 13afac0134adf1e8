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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
        }
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
}

impl SessionCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: DashMap::new(),
            capacity: capacity.max(8),
        }
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
    fn raising_is_sticky_and_reported_once() {
        let f = facts();
        assert!(!f.raised());
        assert!(f.raise());
        assert!(!f.raise());
        assert!(f.raised());
    }
}
