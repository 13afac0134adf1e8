//! Failed-login limits: an account is locked after N failures in a sliding
//! window, and a client IP is refused after M failures, each until enough
//! failures leave the window. Failures are stored, so limits hold across
//! restarts and across instances sharing a database.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ports::Store;
use crate::settings::LoginLimits;

/// Throttle key of an account.
pub fn account_key(canonical_email: &str) -> String {
    format!("acct:{canonical_email}")
}

/// Throttle key of a client IP.
pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Seconds until the failures in `window` drop below `max`, or `None` when
/// below it already. `failures` are oldest first, all within the window.
pub fn retry_after(
    failures: &[OffsetDateTime],
    max: u32,
    window: Duration,
    now: OffsetDateTime,
) -> Option<u64> {
    let max = max as usize;
    if max == 0 || failures.len() < max {
        return None;
    }
    // Unlock when all but (max - 1) failures have left the window: that is when the
    // failure at index len - max expires.
    let idx = failures.len() - max;
    let expires = *failures.get(idx)? + window;
    let secs = (expires - now).whole_seconds();
    Some(secs.max(1) as u64)
}

/// [`check`] against the account lockout: refuses with 429 while the
/// account keyed `acct_key` has too many recent failures; else their number.
pub async fn check_account(
    store: &dyn Store,
    limits: &LoginLimits,
    realm_id: Uuid,
    acct_key: &str,
    now: OffsetDateTime,
) -> Result<usize> {
    let max = limits.max_failures_per_account;
    check(store, limits, realm_id, acct_key, max, now).await
}

/// Refuses with 429 when a key is over its limit; otherwise returns how many
/// failures the key has in the window.
pub async fn check(
    store: &dyn Store,
    limits: &LoginLimits,
    realm_id: Uuid,
    key: &str,
    max: u32,
    now: OffsetDateTime,
) -> Result<usize> {
    let failures = store
        .login_failures_since(realm_id, key, now - limits.window)
        .await?;
    match retry_after(&failures, max, limits.window, now) {
        Some(retry_after) => Err(Error::RateLimited { retry_after }),
        None => Ok(failures.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_until_the_oldest_counted_failure_leaves_the_window() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let w = Duration::minutes(15);
        let fails: Vec<_> = (0..5).map(|i| t0 + Duration::minutes(i)).collect();
        assert_eq!(
            retry_after(fails.get(..4).unwrap(), 5, w, t0 + Duration::minutes(4)),
            None
        );
        // Five failures at minutes 0..4: locked until minute 15.
        assert_eq!(
            retry_after(&fails, 5, w, t0 + Duration::minutes(4)),
            Some(11 * 60)
        );
        assert_eq!(
            retry_after(&fails, 5, w, t0 + Duration::minutes(14)),
            Some(60)
        );
    }
}
