//! Time as a parameter: every expiry, lockout and window in Portcullis reads the
//! time from a [`Clock`], so tests move a [`TestClock`] instead of sleeping.
//!
//! This module is the only place that reads the system's clocks or sleeps:
//! `clippy.toml` bans `OffsetDateTime::now_utc`, `SystemTime::now`,
//! `Instant::now`, `thread::sleep` and `tokio::time::sleep` everywhere else.
//! Decisions read [`Clock::now`]; the ages of cached values read
//! [`Clock::tick`]; latencies for metrics use a [`Stopwatch`]; waiting for
//! other tasks (a worker's idle pause, a retry's back-off) goes through
//! [`wait`].
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current instant, in UTC.
    fn now(&self) -> OffsetDateTime;

    /// A reading on the clock's monotonic scale, for the ages of cached
    /// values: the system clock's never goes back (a wall-clock step does
    /// not move it); a test clock's moves with [`Clock::now`].
    fn tick(&self) -> Tick;
}

/// A reading of [`Clock::tick`]: microseconds on the clock's own scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tick(i64);

impl Tick {
    /// The time from `earlier` to this reading (zero if `earlier` is later).
    pub fn since(self, earlier: Tick) -> std::time::Duration {
        std::time::Duration::from_micros(u64::try_from(self.0 - earlier.0).unwrap_or(0))
    }
}

/// Real elapsed time, for latency metrics and logs; never for decisions,
/// which read a [`Clock`].
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring now.
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// The real time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> std::time::Duration {
        self.0.elapsed()
    }
}

/// Waits `duration` in real time, for other tasks or processes (an idle
/// worker's pause, a retry's back-off, a racing request): the one place
/// Portcullis sleeps. Never a way to let a [`Clock`]'s time pass: tests move
/// a [`TestClock`] instead.
pub async fn wait(duration: std::time::Duration) {
    tokio::time::sleep(duration).await;
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

    fn tick(&self) -> Tick {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        Tick(i64::try_from(origin.elapsed().as_micros()).unwrap_or(i64::MAX))
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

    fn tick(&self) -> Tick {
        Tick(self.micros.load(Ordering::SeqCst))
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

    #[test]
    fn ticks_measure_ages_on_the_clocks_scale() {
        let clock = TestClock::at(time::macros::datetime!(2026-01-01 00:00 UTC));
        let t0 = clock.tick();
        clock.advance(Duration::seconds(2));
        assert_eq!(clock.tick().since(t0), std::time::Duration::from_secs(2));
        assert_eq!(t0.since(clock.tick()), std::time::Duration::ZERO);
        let system = SystemClock;
        let s0 = system.tick();
        assert!(system.tick() >= s0);
    }
}
