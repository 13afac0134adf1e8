//! Revocations across instances: every instance that shares a database
//! reads, at a sub-second interval, the revocations recorded since its
//! cursor (revoked access-token ids, ended sessions, deactivated accounts)
//! and applies them to its in-memory [`crate::denylist::Denylist`]. A
//! logout, a revoked session or a deactivated account on one instance is
//! then refused by every other within one interval plus a query, without
//! Redis and without a database read per request.
//!
//! The cursor is the latest revocation time read so far, never beyond this
//! instance's clock; each read starts [`OVERLAP`] before it, so a
//! revocation committed late (a slow transaction) or stamped by an instance
//! whose clock is a little behind is still seen. Applying a revocation
//! twice changes nothing.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::app::Portcullis;
use crate::denylist::Denylist;
use crate::error::Result;
use crate::ports::Revocations;
use crate::tokens::LEEWAY;

/// How far before its cursor a read starts (late commits, clock skew
/// between instances).
pub const OVERLAP: Duration = Duration::seconds(5);

/// The state of an instance's reads.
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    /// The latest revocation time read (`None`: not read yet).
    cursor: Mutex<Option<OffsetDateTime>>,
    /// Wakes the reader before its interval is up (another instance
    /// announced revocations, [`crate::notices`]).
    wakeup: tokio::sync::Notify,
}

impl SyncState {
    /// Makes the reader read now (several wakes before it runs make one read).
    pub(crate) fn wake(&self) {
        self.wakeup.notify_one();
    }

    fn cursor(&self) -> Option<OffsetDateTime> {
        self.cursor.lock().map(|c| *c).unwrap_or(None)
    }

    fn advance(&self, to: OffsetDateTime) {
        if let Ok(mut c) = self.cursor.lock() {
            *c = Some(c.map_or(to, |c| c.max(to)));
        }
    }
}

/// How many revocations one read applied that this instance did not know.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Access-token ids.
    pub tokens: usize,
    /// Sessions.
    pub sessions: usize,
    /// Accounts.
    pub users: usize,
}

impl Portcullis {
    /// Reads the revocations recorded since the last read (the first read
    /// goes back one access-token lifetime) and applies those this
    /// instance did not know. Returns what it learned.
    pub async fn sync_revocations(&self) -> Result<Applied> {
        let i = &self.inner;
        let now = i.clock.now();
        let ttl = i.settings.access_token_ttl;
        let since = match i.revocations.cursor() {
            Some(cursor) => cursor - OVERLAP,
            None => now - ttl - LEEWAY,
        };
        let found = match i.store.revocations_since(since).await {
            Ok(found) => found,
            Err(e) => {
                metrics::counter!("portcullis_revocation_sync_failures_total").increment(1);
                return Err(e.into());
            }
        };
        let covers = i.settings.access_token_ttl + LEEWAY;
        let applied = apply(&i.denylist, &found, covers, now);
        if let Some(latest) = found.latest() {
            // Never beyond this instance's own time: a row stamped by an
            // instance whose clock runs ahead must not make the others skip
            // what is recorded meanwhile (it is read again until then).
            i.revocations.advance(latest.min(now));
        } else if i.revocations.cursor().is_none() {
            i.revocations.advance(since + OVERLAP);
        }
        metrics::gauge!("portcullis_revocation_sync_last_success_seconds")
            .set(now.unix_timestamp() as f64);
        Ok(applied)
    }

    /// Reads the revocations of other instances every `every` (the
    /// setting `revocation_sync_interval`), forever: the server spawns it
    /// beside housekeeping. A failed read is logged and retried at the next
    /// interval.
    pub async fn run_revocation_sync(&self, every: std::time::Duration) {
        loop {
            if let Err(e) = self.sync_revocations().await {
                tracing::warn!(error = %e, "revocation sync failed");
            }
            tokio::select! {
                () = crate::clock::wait(every) => {}
                () = self.inner.revocations.wakeup.notified() => {}
            }
        }
    }
}

/// Applies revocations read from the store to `denylist`: token ids until
/// they expire, sessions and accounts for `covers` (an access-token
/// lifetime and the leeway) from their revocation. Counts, and measures the
/// lag of, only those `denylist` did not hold yet.
fn apply(
    denylist: &Denylist,
    found: &Revocations,
    covers: Duration,
    now: OffsetDateTime,
) -> Applied {
    let mut applied = Applied::default();
    let lag = |at: OffsetDateTime| {
        metrics::histogram!("portcullis_revocation_sync_lag_seconds")
            .record((now - at).as_seconds_f64().max(0.0));
    };
    for &(jti, exp, at) in &found.tokens {
        if denylist.deny_token(jti, exp) {
            applied.tokens += 1;
            lag(at);
        }
    }
    for &(sid, at) in &found.sessions {
        if denylist.deny_session(sid, at + covers) {
            applied.sessions += 1;
            lag(at);
        }
    }
    for &(user, at) in &found.users {
        if denylist.deny_user(user, at, at + covers) {
            applied.users += 1;
            lag(at);
        }
    }
    for (kind, n) in [
        ("token", applied.tokens),
        ("session", applied.sessions),
        ("user", applied.users),
    ] {
        if n > 0 {
            metrics::counter!("portcullis_revocations_applied_total", "kind" => kind)
                .increment(n as u64);
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    const T: OffsetDateTime = time::macros::datetime!(2026-12-07 12:00 UTC);

    #[test]
    fn revocations_are_applied_once_each() {
        let denylist = Denylist::new();
        let (jti, sid, user) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let found = Revocations {
            tokens: vec![(jti, T + Duration::minutes(10), T)],
            sessions: vec![(sid, T + Duration::seconds(1))],
            users: vec![(user, T + Duration::seconds(2))],
        };
        assert_eq!(found.latest(), Some(T + Duration::seconds(2)));
        let covers = Duration::minutes(15);
        let first = apply(&denylist, &found, covers, T + Duration::seconds(3));
        assert_eq!(
            first,
            Applied {
                tokens: 1,
                sessions: 1,
                users: 1
            }
        );
        assert!(denylist.is_denied(jti, None));
        assert!(denylist.is_denied(Uuid::now_v7(), Some(sid)));
        // The account's tokens issued up to its deactivation, not after.
        let sub = user.to_string();
        assert!(denylist.is_user_denied(&sub, (T + Duration::seconds(2)).unix_timestamp()));
        assert!(!denylist.is_user_denied(&sub, (T + Duration::seconds(3)).unix_timestamp()));
        // The overlap reads them again: nothing new.
        let again = apply(&denylist, &found, covers, T + Duration::seconds(4));
        assert_eq!(again, Applied::default());
        // Each lasts as long as the tokens it covers.
        denylist.purge(T + Duration::minutes(11));
        assert!(!denylist.is_denied(jti, None));
        assert!(denylist.is_denied(Uuid::now_v7(), Some(sid)));
        denylist.purge(T + Duration::minutes(16));
        assert!(denylist.is_empty());
    }

    #[test]
    fn the_cursor_only_moves_forward() {
        let state = SyncState::default();
        assert_eq!(state.cursor(), None);
        state.advance(T);
        state.advance(T - Duration::seconds(3));
        assert_eq!(state.cursor(), Some(T));
        state.advance(T + Duration::seconds(1));
        assert_eq!(state.cursor(), Some(T + Duration::seconds(1)));
    }
}
