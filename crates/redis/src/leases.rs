//! What an instance holds of the shared edge state between round trips:
//! quota leases and the blocks it knows.
//!
//! **Leases.** A limiter's units are taken from its window in Redis ahead
//! of use, several at a time for a busy caller, and spent here without a
//! round trip. Units are counted in Redis when they are leased, in the
//! window's current slot, and are only spent within that slot: so no
//! stretch as long as the window ever admits more than the quota, among
//! all instances together, as with one request per round trip. A lease
//! doubles each time it runs out within a slot (1, 2, 4, ... units), up to
//! a sixteenth of the quota and at most [`MAX_LEASE`] (grants that arrive
//! together add up); a caller with a
//! small quota (a login limiter's 30) gets one unit at a time, every
//! request a round trip, exactly as before. Units leased and not spent by
//! the slot's end stay counted: a caller that stops in the middle of a
//! lease may be refused up to a sixteenth of its quota early on each
//! instance that held one.
//!
//! **Blocks.** The blocks this instance made, found in Redis, or read
//! after another instance announced one (a change notice), kept until they
//! end or are lifted: requests served from leases are checked against
//! them without a round trip.

use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use portcullis_core::edge::window::{Outcome, slot_ms};
use portcullis_core::edge::{Block, LimitKey, Limited, Quota, Subject};
use uuid::Uuid;

/// Most units one lease holds.
pub(crate) const MAX_LEASE: u32 = 8192;
const SHARDS: usize = 16;
/// Leases kept per shard before those of past slots are dropped.
const PER_SHARD: usize = 4096;

/// A limiter's units leased from Redis for one slot.
#[derive(Debug, Clone, Copy)]
struct Lease {
    slot: i64,
    quota: Quota,
    /// Units not spent yet.
    left: u32,
    /// Units of the last grant (the next one may double it).
    granted: u32,
    /// What the window had left for everyone else after the grant.
    shared_remaining: u32,
    /// When every unit counted at the grant has left the window (ms).
    reset_at_ms: i64,
}

/// A lease's unit spent, or where a request must go to Redis.
pub(crate) struct Leases {
    hasher: foldhash::fast::RandomState,
    shards: Vec<Mutex<HashMap<u64, Lease>>>,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases").finish_non_exhaustive()
    }
}

/// The slot of `now_ms` in a window of `window_seconds`.
fn slot_of(now_ms: i64, window_seconds: u32) -> i64 {
    now_ms.div_euclid(slot_ms(window_seconds))
}

impl Leases {
    pub(crate) fn new() -> Self {
        Self {
            hasher: foldhash::fast::RandomState::default(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The local key of a limiter.
    pub(crate) fn key(&self, k: &LimitKey) -> u64 {
        self.hasher
            .hash_one((k.realm_id, k.group, k.dimension, &k.subject))
    }

    fn with<R>(&self, h: u64, f: impl FnOnce(&mut HashMap<u64, Lease>) -> R) -> R {
        let shard = self
            .shards
            .get((h as usize) % SHARDS)
            .map(|m| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        match shard {
            Some(mut map) => f(&mut map),
            None => f(&mut HashMap::new()),
        }
    }

    /// Spends a unit of `h`'s lease, if it has one for `quota` in the slot
    /// of `now_ms`: the limiter's state as this instance knows it.
    pub(crate) fn spend(&self, h: u64, quota: Quota, now_ms: i64) -> Option<Limited> {
        let slot = slot_of(now_ms, quota.window_seconds);
        self.with(h, |map| {
            let lease = map.get_mut(&h)?;
            if lease.slot != slot || lease.quota != quota || lease.left == 0 {
                return None;
            }
            lease.left -= 1;
            Some(Limited::new(
                quota,
                Outcome {
                    allowed: true,
                    remaining: lease.shared_remaining.saturating_add(lease.left),
                    retry_after_ms: 0,
                    reset_ms: (lease.reset_at_ms - now_ms).max(0),
                    slot,
                },
            ))
        })
    }

    /// Gives back a unit spent by a request that was refused by another of
    /// its limiters.
    pub(crate) fn give_back(&self, h: u64, quota: Quota, now_ms: i64) {
        let slot = slot_of(now_ms, quota.window_seconds);
        self.with(h, |map| {
            if let Some(lease) = map.get_mut(&h)
                && lease.slot == slot
                && lease.quota == quota
            {
                lease.left = lease.left.saturating_add(1);
            }
        });
    }

    /// How many units to ask for `h`: double the last grant when it ran out
    /// within this slot, the last grant again in the next slot, else one;
    /// at most a sixteenth of the quota and [`MAX_LEASE`].
    pub(crate) fn want(&self, h: u64, quota: Quota, now_ms: i64) -> u32 {
        let slot = slot_of(now_ms, quota.window_seconds);
        let cap = (quota.limit / 16).clamp(1, MAX_LEASE);
        let base = self.with(h, |map| match map.get(&h) {
            Some(l) if l.quota == quota && l.slot == slot => l.granted.saturating_mul(2),
            Some(l) if l.quota == quota && l.slot + 1 == slot => l.granted,
            _ => 1,
        });
        base.clamp(1, cap)
    }

    /// Records a grant of `granted` units (one of them spent at once),
    /// added to what is left of a lease of the same slot (requests that
    /// found the lease empty at the same moment each bring a grant).
    pub(crate) fn grant(
        &self,
        h: u64,
        quota: Quota,
        granted: u32,
        shared_remaining: u32,
        slot: i64,
        reset_at_ms: i64,
    ) {
        self.with(h, |map| {
            if map.len() >= PER_SHARD && !map.contains_key(&h) {
                map.retain(|_, l| l.slot >= slot);
                if map.len() >= PER_SHARD {
                    // Dropping a lease only leaves its units counted.
                    map.clear();
                }
            }
            let left = match map.get(&h) {
                Some(l) if l.slot == slot && l.quota == quota => l.left,
                _ => 0,
            };
            map.insert(
                h,
                Lease {
                    slot,
                    quota,
                    left: left.saturating_add(granted.saturating_sub(1)),
                    granted,
                    shared_remaining,
                    reset_at_ms,
                },
            );
        });
    }
}

/// The blocks this instance knows, by realm and subject.
#[derive(Debug, Default)]
pub(crate) struct KnownBlocks {
    blocks: Mutex<HashMap<(Uuid, Subject), Block>>,
    /// The latest end of a block known (ms): after it, none is looked up.
    until: AtomicI64,
}

impl KnownBlocks {
    pub(crate) fn new() -> Self {
        Self {
            blocks: Mutex::default(),
            until: AtomicI64::new(i64::MIN),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, Subject), Block>> {
        self.blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live block of the first of `subjects` that has one.
    pub(crate) fn find(&self, realm_id: Uuid, subjects: &[Subject], now_ms: i64) -> Option<Block> {
        if now_ms >= self.until.load(Ordering::Relaxed) {
            return None;
        }
        let map = self.map();
        subjects.iter().find_map(|s| {
            map.get(&(realm_id, s.clone()))
                .filter(|b| portcullis_core::edge::unix_ms(b.until) > now_ms)
                .cloned()
        })
    }

    /// Remembers a block.
    pub(crate) fn learn(&self, block: &Block) {
        let until = portcullis_core::edge::unix_ms(block.until);
        let mut map = self.map();
        if map.len() >= 100_000 {
            map.clear();
        }
        map.insert((block.realm_id, block.subject.clone()), block.clone());
        self.until.fetch_max(until, Ordering::Relaxed);
    }

    /// Forgets a lifted block.
    pub(crate) fn forget(&self, realm_id: Uuid, id: Uuid) {
        self.map()
            .retain(|(r, _), b| !(*r == realm_id && b.id == id));
    }

    /// Replaces a realm's blocks with `live` (read from Redis).
    pub(crate) fn replace(&self, realm_id: Uuid, live: &[Block]) {
        {
            let mut map = self.map();
            map.retain(|(r, _), _| *r != realm_id);
        }
        for b in live {
            self.learn(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(limit: u32) -> Quota {
        Quota {
            limit,
            window_seconds: 60,
        }
    }

    #[test]
    fn leases_double_within_a_slot_and_are_spent_only_in_it() {
        let l = Leases::new();
        let q = quota(1_600);
        let t = 6_000 * 1_000; // the start of a slot of 6 s
        assert_eq!(l.want(7, q, t), 1);
        l.grant(7, q, 1, 100, slot_of(t, 60), t + 66_000);
        assert!(
            l.spend(7, q, t).is_none(),
            "the only unit went to the request"
        );
        assert_eq!(l.want(7, q, t), 2);
        l.grant(7, q, 2, 98, slot_of(t, 60), t + 66_000);
        assert!(l.spend(7, q, t + 10).is_some());
        assert!(l.spend(7, q, t + 20).is_none());
        assert_eq!(l.want(7, q, t), 4);
        l.grant(7, q, 100, 0, slot_of(t, 60), t + 66_000);
        // At most a sixteenth of the quota.
        assert_eq!(l.want(7, q, t), 100);
        // Not in the next slot; the next slot starts from the last grant.
        assert!(l.spend(7, q, t + 6_000).is_none());
        assert_eq!(l.want(7, q, t + 6_000), 100);
        assert_eq!(l.want(7, q, t + 12_000), 1);
        // Nor for another quota (a policy change).
        assert!(l.spend(7, quota(1_000), t + 30).is_none());
        // Small quotas: one unit at a time.
        assert_eq!(l.want(8, quota(30), t), 1);
        l.grant(8, quota(30), 1, 29, slot_of(t, 60), t + 66_000);
        assert_eq!(l.want(8, quota(30), t), 1);
    }

    #[test]
    fn grants_that_arrive_together_add_up() {
        let l = Leases::new();
        let q = quota(16_000);
        let t = 6_000 * 1_000;
        l.grant(3, q, 4, 100, slot_of(t, 60), t + 66_000);
        l.grant(3, q, 4, 96, slot_of(t, 60), t + 66_000);
        let spent = (0..10).filter(|_| l.spend(3, q, t).is_some()).count();
        assert_eq!(
            spent, 6,
            "two grants of four, one unit of each spent at once"
        );
        // A grant of another slot starts afresh.
        l.grant(3, q, 4, 92, slot_of(t, 60), t + 66_000);
        l.grant(3, q, 2, 90, slot_of(t + 6_000, 60), t + 72_000);
        assert!(l.spend(3, q, t + 6_000).is_some());
        assert!(l.spend(3, q, t + 6_000).is_none());
    }

    #[test]
    fn a_unit_given_back_is_spent_again() {
        let l = Leases::new();
        let q = quota(1_600);
        let t = 6_000 * 1_000;
        l.grant(1, q, 2, 10, slot_of(t, 60), t + 66_000);
        let spent = l.spend(1, q, t).unwrap();
        assert_eq!(spent.remaining, 10);
        assert!(l.spend(1, q, t).is_none());
        l.give_back(1, q, t);
        assert!(l.spend(1, q, t).is_some());
    }
}
