//! Revocations across instances: every instance that shares a database
//! reads, at a sub-second interval, the revocations recorded since its
//! cursor (revoked access-token ids, ended sessions, deactivated accounts)
//! and applies them to its in-memory [`crate::denylist::Denylist`]. A
//! logout, a revoked session or a deactivated account on one instance is
//! then refused by every other within one interval plus a query, without
//! Redis and without a database read per request.
//!
//! The cursor is the latest revocation time read so far; each read starts
//! [`OVERLAP`] before it, so a revocation committed late (a slow
//! transaction) or stamped by an instance whose clock is a little behind
//! is still seen. Applying a revocation twice changes nothing.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::app::Portcullis;
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
}

impl SyncState {
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
        let applied = self.apply_revocations(&found, now);
        if let Some(latest) = found.latest() {
            i.revocations.advance(latest);
        } else if i.revocations.cursor().is_none() {
            i.revocations.advance(since + OVERLAP);
        }
        metrics::gauge!("portcullis_revocation_sync_last_success_seconds")
            .set(now.unix_timestamp() as f64);
        Ok(applied)
    }

    fn apply_revocations(&self, found: &Revocations, now: OffsetDateTime) -> Applied {
        let i = &self.inner;
        let covers = i.settings.access_token_ttl + LEEWAY;
        let mut applied = Applied::default();
        let lag = |at: OffsetDateTime| {
            metrics::histogram!("portcullis_revocation_sync_lag_seconds")
                .record((now - at).as_seconds_f64().max(0.0));
        };
        for &(jti, exp, at) in &found.tokens {
            if i.denylist.deny_token(jti, exp) {
                applied.tokens += 1;
                lag(at);
            }
        }
        for &(sid, at) in &found.sessions {
            if i.denylist.deny_session(sid, at + covers) {
                applied.sessions += 1;
                lag(at);
            }
        }
        for &(user, at) in &found.users {
            if i.denylist.deny_user(user, at, at + covers) {
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

    /// Reads the revocations of other instances every `every` (the
    /// setting `revocation_sync_interval`), forever: the server spawns it
    /// beside housekeeping. A failed read is logged and retried at the next
    /// interval.
    pub async fn run_revocation_sync(&self, every: std::time::Duration) {
        loop {
            if let Err(e) = self.sync_revocations().await {
                tracing::warn!(error = %e, "revocation sync failed");
            }
            crate::clock::wait(every).await;
        }
    }
}
