//! The in-process access-token denylist: token ids revoked by logout and
//! sessions ended early, each kept until the tokens it covers would have expired.
//! Checked on every bearer request, so it is a lock-free map in memory; the
//! store keeps a durable copy that is loaded back at start-up.

use dashmap::DashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Revoked token ids and session ids.
#[derive(Debug, Default)]
pub struct Denylist {
    tokens: DashMap<Uuid, OffsetDateTime>,
    sessions: DashMap<Uuid, OffsetDateTime>,
}

impl Denylist {
    /// An empty denylist.
    pub fn new() -> Self {
        Self::default()
    }

    /// Denies one access token until `until`.
    pub fn deny_token(&self, jti: Uuid, until: OffsetDateTime) {
        self.tokens.insert(jti, until);
    }

    /// Denies every access token of a session until `until`.
    pub fn deny_session(&self, sid: Uuid, until: OffsetDateTime) {
        self.sessions.insert(sid, until);
    }

    /// Whether a token (by id or by session) is denied.
    pub fn is_denied(&self, jti: Uuid, sid: Option<Uuid>) -> bool {
        self.tokens.contains_key(&jti) || sid.is_some_and(|s| self.sessions.contains_key(&s))
    }

    /// Drops entries whose tokens have expired anyway.
    pub fn purge(&self, now: OffsetDateTime) {
        self.tokens.retain(|_, until| *until > now);
        self.sessions.retain(|_, until| *until > now);
    }

    /// Number of entries (for tests and metrics).
    pub fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn deny_and_purge() {
        let d = Denylist::new();
        let now = OffsetDateTime::UNIX_EPOCH;
        let (t, s) = (Uuid::now_v7(), Uuid::now_v7());
        d.deny_token(t, now + Duration::minutes(1));
        d.deny_session(s, now + Duration::minutes(2));
        assert!(d.is_denied(t, None));
        assert!(d.is_denied(Uuid::now_v7(), Some(s)));
        assert!(!d.is_denied(Uuid::now_v7(), Some(Uuid::now_v7())));
        d.purge(now + Duration::seconds(90));
        assert!(!d.is_denied(t, None));
        assert!(d.is_denied(Uuid::now_v7(), Some(s)));
        d.purge(now + Duration::minutes(3));
        assert!(d.is_empty());
    }
}
