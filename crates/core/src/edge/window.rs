//! The limiter's arithmetic: a sliding window kept as a ring of [`SLOTS`]
//! + 1 counters, each a tenth of the window wide.
//!
//! A request is allowed when the counters of every slot that overlaps the
//! last window hold fewer than the quota. The oldest of those slots is
//! counted whole, even the part of it older than the window, so the count is
//! never below the true number of requests in the window: **no stretch of
//! time as long as the window ever sees more than the quota allowed**, at any
//! request rate, in 56 bytes per caller. (A fixed window lets twice the
//! quota through around its edge; a token bucket or GCRA lets a burst of the
//! quota through and then refills it during the same window.) The price is
//! that a refused caller may wait up to one slot (a tenth of the window)
//! longer than the exact answer would make it.

/// Slots per window.
pub const SLOTS: i64 = 10;
const RING: usize = SLOTS as usize + 1;

/// One caller's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Index of the newest slot counted (time / slot width).
    newest: i64,
    /// Counts by slot index modulo the ring's length.
    counts: [u32; RING],
}

/// What one try against a window found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the request was counted.
    pub allowed: bool,
    /// Requests still allowed now.
    pub remaining: u32,
    /// Milliseconds until a refused request would be allowed (0 when allowed).
    pub retry_after_ms: i64,
    /// Milliseconds until every request counted now has left the window.
    pub reset_ms: i64,
    /// The slot a counted request went to, for [`Window::refund`].
    pub slot: i64,
}

/// Width of a slot of a `window_seconds` window, in milliseconds.
pub fn slot_ms(window_seconds: u32) -> i64 {
    (i64::from(window_seconds) * 1000 + SLOTS - 1) / SLOTS
}

impl Window {
    /// An empty window at `now_ms`.
    pub fn new(now_ms: i64, window_seconds: u32) -> Self {
        Self {
            newest: now_ms.div_euclid(slot_ms(window_seconds)),
            counts: [0; RING],
        }
    }

    fn index(slot: i64) -> usize {
        slot.rem_euclid(RING as i64) as usize
    }

    fn count(&self, slot: i64) -> u32 {
        self.counts.get(Self::index(slot)).copied().unwrap_or(0)
    }

    fn set(&mut self, slot: i64, value: u32) {
        if let Some(c) = self.counts.get_mut(Self::index(slot)) {
            *c = value;
        }
    }

    /// Moves the ring forward to `slot`, clearing the slots it skips.
    fn advance(&mut self, slot: i64) {
        if slot <= self.newest {
            return;
        }
        if slot - self.newest >= RING as i64 {
            self.counts = [0; RING];
        } else {
            for s in self.newest + 1..=slot {
                self.set(s, 0);
            }
        }
        self.newest = slot;
    }

    /// Requests counted in the window ending at the newest slot.
    fn total(&self) -> u64 {
        self.counts.iter().map(|c| u64::from(*c)).sum()
    }

    /// When the newest slot counted began, in milliseconds (how recently
    /// the caller was seen, for eviction).
    pub fn newest_ms(&self, window_seconds: u32) -> i64 {
        self.newest.saturating_mul(slot_ms(window_seconds))
    }

    /// Whether nothing counted is still in the window at `now_ms`: such a
    /// window is the same as none and may be forgotten.
    pub fn is_idle(&self, now_ms: i64, window_seconds: u32) -> bool {
        now_ms.div_euclid(slot_ms(window_seconds)) - self.newest >= RING as i64 || self.total() == 0
    }

    /// Counts one request at `now_ms` when fewer than `limit` are in the window.
    pub fn take(&mut self, now_ms: i64, limit: u32, window_seconds: u32) -> Outcome {
        let width = slot_ms(window_seconds);
        let slot = now_ms.div_euclid(width);
        // A clock that went back counts into the newest slot.
        let slot = slot.max(self.newest);
        self.advance(slot);
        let total = self.total();
        let reset_ms = (slot + RING as i64) * width - now_ms;
        if total < u64::from(limit) {
            self.set(slot, self.count(slot).saturating_add(1));
            let remaining = u64::from(limit) - total - 1;
            return Outcome {
                allowed: true,
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                retry_after_ms: 0,
                reset_ms,
                slot,
            };
        }
        // Refused: wait until enough of the oldest slots have left.
        let mut left = total;
        let mut wait_slots = 0;
        for k in 0..RING as i64 {
            let oldest = slot - SLOTS + k;
            left -= u64::from(self.count(oldest));
            wait_slots = k + 1;
            if left < u64::from(limit) {
                break;
            }
        }
        Outcome {
            allowed: false,
            remaining: 0,
            retry_after_ms: ((slot + wait_slots) * width - now_ms).max(1),
            reset_ms,
            slot,
        }
    }

    /// Takes back a request counted at `slot` (another limiter of the same
    /// request refused it).
    pub fn refund(&mut self, slot: i64) {
        if slot <= self.newest && self.newest - slot < RING as i64 {
            self.set(slot, self.count(slot).saturating_sub(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `requests` (ms offsets, sorted) through a window and returns the
    /// times of the allowed ones.
    fn allowed(requests: &[i64], limit: u32, window_s: u32) -> Vec<i64> {
        let mut w = Window::new(requests.first().copied().unwrap_or(0), window_s);
        requests
            .iter()
            .copied()
            .filter(|t| w.take(*t, limit, window_s).allowed)
            .collect()
    }

    /// The most allowed requests in any stretch of `window_ms`.
    fn densest(times: &[i64], window_ms: i64) -> usize {
        (0..times.len())
            .map(|i| {
                times
                    .iter()
                    .skip(i)
                    .take_while(|t| **t < times[i] + window_ms)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_burst_gets_the_quota_and_no_more() {
        let mut w = Window::new(0, 60);
        for i in 0..5u32 {
            let o = w.take(1_000, 5, 60);
            assert!(o.allowed);
            assert_eq!(o.remaining, 4 - i);
        }
        let refused = w.take(1_000, 5, 60);
        assert!(!refused.allowed);
        // The slot holding all five leaves the window one window later (the
        // slot ends at 6 s; 66 s - 1 s = 65 s).
        assert_eq!(refused.retry_after_ms, 65_000);
        assert!(!w.take(65_999, 5, 60).allowed);
        assert!(w.take(66_000, 5, 60).allowed);
    }

    #[test]
    fn no_window_ever_holds_more_than_the_quota_at_any_rate() {
        // Every 10 ms, 50 ms, 1 s and 7 s over ten minutes against 30 per minute,
        // and the fixed-window attack: a burst just before and just after a
        // minute's edge.
        for step in [10, 50, 1_000, 7_000] {
            let requests: Vec<i64> = (0..600_000 / step).map(|i| i * step).collect();
            let ok = allowed(&requests, 30, 60);
            assert!(densest(&ok, 60_000) <= 30, "step {step}");
            // And the limiter still lets a steady caller through.
            let wanted = requests.len().min(30 * 9);
            assert!(ok.len() >= wanted, "step {step}: {}", ok.len());
        }
        let mut edge: Vec<i64> = (0..40).map(|i| 59_900 + i).collect();
        edge.extend((0..40).map(|i| 60_000 + i));
        let ok = allowed(&edge, 30, 60);
        assert_eq!(ok.len(), 30);
    }

    #[test]
    fn a_refund_gives_the_request_back_and_idle_windows_are_forgettable() {
        let mut w = Window::new(0, 10);
        let o = w.take(0, 1, 10);
        assert!(o.allowed);
        assert!(!w.take(10, 1, 10).allowed);
        w.refund(o.slot);
        assert!(w.take(20, 1, 10).allowed);
        assert!(!w.is_idle(5_000, 10));
        assert!(w.is_idle(11_000, 10));
    }

    #[test]
    fn a_clock_going_back_does_not_reopen_the_window() {
        let mut w = Window::new(0, 60);
        assert!(w.take(30_000, 1, 60).allowed);
        assert!(!w.take(1_000, 1, 60).allowed);
    }
}
