//! The in-process access-token denylist: token ids revoked by logout,
//! sessions ended early and accounts deactivated, each kept until the tokens
//! it covers would have expired (which bounds it). Checked on every bearer
//! request, so it is a lock-free map in memory; the store keeps a durable
//! copy that is loaded back at start-up, and every instance polls the store
//! for the revocations of the others ([`crate::revocation`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Revoked token ids, session ids and deactivated accounts.
#[derive(Debug, Default)]
pub struct Denylist {
    tokens: DashMap<Uuid, OffsetDateTime>,
    sessions: DashMap<Uuid, OffsetDateTime>,
    /// Deactivated accounts: tokens issued at or before the first time
    /// (Unix seconds) are denied, until the second.
    users: DashMap<Uuid, (i64, OffsetDateTime)>,
    /// Roughly `users.len()`: lets the common case (no deactivation in the
    /// last token lifetime) skip parsing the subject.
    user_entries: AtomicUsize,
}

impl Denylist {
    /// An empty denylist.
    pub fn new() -> Self {
        Self::default()
    }

    /// Denies one access token until `until`. Returns whether it was not
    /// denied already.
    pub fn deny_token(&self, jti: Uuid, until: OffsetDateTime) -> bool {
        self.tokens.insert(jti, until).is_none()
    }

    /// Denies every access token of a session until `until`. Returns
    /// whether it was not denied already (a later `until` still applies).
    pub fn deny_session(&self, sid: Uuid, until: OffsetDateTime) -> bool {
        let mut fresh = false;
        self.sessions
            .entry(sid)
            .and_modify(|u| *u = (*u).max(until))
            .or_insert_with(|| {
                fresh = true;
                until
            });
        fresh
    }

    /// Denies the tokens of an account issued up to `at` (it was
    /// deactivated then), until `until`. A later deactivation moves `at`.
    /// Returns whether the account was not denied already.
    pub fn deny_user(&self, user: Uuid, at: OffsetDateTime, until: OffsetDateTime) -> bool {
        let at = at.unix_timestamp();
        let mut fresh = false;
        self.users
            .entry(user)
            .and_modify(|e| *e = (e.0.max(at), e.1.max(until)))
            .or_insert_with(|| {
                fresh = true;
                (at, until)
            });
        if fresh {
            self.user_entries.fetch_add(1, Ordering::Relaxed);
        }
        fresh
    }

    /// Forgets an account's entry (it was reactivated on this instance).
    /// Other instances keep theirs, which only covers tokens issued before
    /// the deactivation.
    pub fn allow_user(&self, user: Uuid) {
        if self.users.remove(&user).is_some() {
            self.user_entries.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether a token (by id or by session) is denied.
    pub fn is_denied(&self, jti: Uuid, sid: Option<Uuid>) -> bool {
        self.tokens.contains_key(&jti) || sid.is_some_and(|s| self.sessions.contains_key(&s))
    }

    /// Whether a token of subject `sub` issued at `iat` belongs to an
    /// account deactivated since. Costs an atomic load while no account
    /// was deactivated within a token's lifetime.
    pub fn is_user_denied(&self, sub: &str, iat: i64) -> bool {
        if self.user_entries.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let Ok(user) = Uuid::parse_str(sub) else {
            return false;
        };
        self.users.get(&user).is_some_and(|e| iat <= e.0)
    }

    /// Drops entries whose tokens have expired anyway.
    pub fn purge(&self, now: OffsetDateTime) {
        self.tokens.retain(|_, until| *until > now);
        self.sessions.retain(|_, until| *until > now);
        self.users.retain(|_, (_, until)| *until > now);
        self.user_entries.store(self.users.len(), Ordering::Relaxed);
    }

    /// Number of entries (for tests and metrics).
    pub fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.users.len()
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

    #[test]
    fn users_are_denied_for_tokens_issued_before_deactivation() {
        let d = Denylist::new();
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let user = Uuid::now_v7();
        let sub = user.to_string();
        assert!(!d.is_user_denied(&sub, now.unix_timestamp()));
        d.deny_user(user, now, now + Duration::minutes(15));
        assert!(d.is_user_denied(&sub, now.unix_timestamp() - 60));
        assert!(d.is_user_denied(&sub, now.unix_timestamp()));
        // A token issued after the deactivation (the account was
        // reactivated elsewhere) is not this entry's business.
        assert!(!d.is_user_denied(&sub, now.unix_timestamp() + 1));
        assert!(!d.is_user_denied(&Uuid::now_v7().to_string(), 0));
        assert!(!d.is_user_denied("not-a-uuid", 0));
        d.allow_user(user);
        assert!(!d.is_user_denied(&sub, 0));
        d.deny_user(user, now, now + Duration::minutes(15));
        d.purge(now + Duration::minutes(16));
        assert!(d.is_empty());
        assert!(!d.is_user_denied(&sub, 0));
    }
}
