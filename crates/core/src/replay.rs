//! Single-use values seen recently (the `jti` of client assertions), each
//! kept until it would have expired anyway. In memory: with several
//! instances a value could be replayed once per instance until shared state
//! (Redis) backs this.

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use time::OffsetDateTime;

/// Most values remembered at once; beyond it new values are refused (fail
/// closed) until expired ones are purged.
const CAPACITY: usize = 1_000_000;

/// Values seen, with the instant each may be forgotten.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: DashMap<String, OffsetDateTime>,
}

impl ReplayGuard {
    /// Records `key` until `until`; false when it was seen already (and has
    /// not expired), or when the guard is full.
    pub fn first_use(&self, key: String, until: OffsetDateTime, now: OffsetDateTime) -> bool {
        if self.seen.len() >= CAPACITY {
            self.purge(now);
            if self.seen.len() >= CAPACITY {
                return false;
            }
        }
        match self.seen.entry(key) {
            Entry::Occupied(mut e) if *e.get() <= now => {
                e.insert(until);
                true
            }
            Entry::Occupied(_) => false,
            Entry::Vacant(e) => {
                e.insert(until);
                true
            }
        }
    }

    /// Forgets values past their instant.
    pub fn purge(&self, now: OffsetDateTime) {
        self.seen.retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    #[test]
    fn once_until_expiry() {
        let g = ReplayGuard::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        let until = now + Duration::minutes(5);
        assert!(g.first_use("a".into(), until, now));
        assert!(!g.first_use("a".into(), until, now + Duration::minutes(4)));
        assert!(g.first_use("b".into(), until, now));
        // Once expired, the same value is new again (its token is dead anyway).
        assert!(g.first_use("a".into(), until, now + Duration::minutes(6)));
        g.purge(now + Duration::hours(1));
        assert!(g.seen.is_empty());
    }
}
