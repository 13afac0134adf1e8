//! Time as a parameter: every expiry, lockout and window in Portcullis reads the
//! time from a [`Clock`], so tests move a [`TestClock`] instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current instant, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Truncated to microseconds, the precision the store keeps, so a stored
    /// time reads back equal.
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct TestClock {
    /// Unix time in microseconds.
    micros: Arc<AtomicI64>,
}

impl TestClock {
    /// A test clock starting at the given instant.
    pub fn at(start: OffsetDateTime) -> Self {
        let micros = (start.unix_timestamp_nanos() / 1_000) as i64;
        Self {
            micros: Arc::new(AtomicI64::new(micros)),
        }
    }

    /// A test clock starting at the current wall-clock time (truncated to seconds).
    pub fn starting_now() -> Self {
        let now = SystemClock.now();
        Self::at(now.replace_nanosecond(0).unwrap_or(now))
    }

    /// Moves the clock forward (or backward, for a negative duration).
    pub fn advance(&self, by: Duration) {
        let micros = by.whole_microseconds() as i64;
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Sets the clock to an instant.
    pub fn set(&self, to: OffsetDateTime) {
        self.micros
            .store((to.unix_timestamp_nanos() / 1_000) as i64, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        let micros = i128::from(self.micros.load(Ordering::SeqCst));
        OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_moves_only_when_told() {
        let clock = TestClock::at(time::macros::datetime!(2026-01-01 00:00 UTC));
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::minutes(15));
        assert_eq!(clock.now() - t0, Duration::minutes(15));
        let shared = clock.clone();
        shared.advance(Duration::seconds(1));
        assert_eq!(clock.now() - t0, Duration::seconds(901));
    }
}
