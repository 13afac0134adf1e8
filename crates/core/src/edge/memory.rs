//! The in-process [`EdgeState`]: limiter windows, strikes and blocks, and
//! single-use values in fixed-capacity tables, so that no stream of new
//! addresses can grow the process without bound.
//!
//! Each table is split in shards behind their own locks (held for a few
//! hundred nanoseconds, never across an `await`). Keys are hashed with a
//! per-process random key, so callers cannot aim at one shard. When a shard
//! is full, entries that no longer matter (idle windows, expired values)
//! are dropped first; if none are, limiter windows and strikes evict their
//! least recently used entry among a sample (the caller evicted starts again
//! from an empty window, as after a restart), and single-use values refuse
//! new ones (fail closed) until old ones expire.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::policy::{Quota, StrikeRules};
use super::unix_ms as ms;
use super::window::Window;
use super::{Block, BlockReason, Dimension, LimitKey, Limited, Subject};
use crate::ports::{EdgeState, LocalEdgeState};

const SHARDS: usize = 64;
/// Entries looked at to choose one to evict.
const EVICTION_SAMPLE: usize = 8;

/// How many entries each table may hold.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    /// Limiter windows (about 100 bytes each).
    pub windows: usize,
    /// Callers with strikes or blocks.
    pub strikes: usize,
    /// Single-use values (HMAC nonces, assertion ids).
    pub nonces: usize,
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            windows: 500_000,
            strikes: 100_000,
            nonces: 1_000_000,
        }
    }
}

/// The maps of a table: keys are already hashes with the process's secret
/// key (`MemoryEdgeState::hash`), so they are hashed again cheaply.
type Map<V> = HashMap<u64, V, foldhash::fast::FixedState>;

struct Table<V> {
    shards: Box<[Mutex<Map<V>>]>,
    per_shard: usize,
}

impl<V> Table<V> {
    fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// Runs `f` on the shard holding `hash`.
    fn with<R>(&self, hash: u64, f: impl FnOnce(&mut Map<V>, usize) -> R) -> R {
        match self.lock(self.index(hash)) {
            Some(mut map) => f(&mut map, self.per_shard),
            // Unreachable: the index is below the length.
            None => f(&mut Map::default(), self.per_shard),
        }
    }

    /// The shard of a hash.
    fn index(&self, hash: u64) -> usize {
        (hash as usize) % self.shards.len().max(1)
    }

    /// Locks one shard.
    fn lock(&self, index: usize) -> Option<std::sync::MutexGuard<'_, Map<V>>> {
        self.shards
            .get(index)
            .map(|m| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Runs `f` on one shard.
    fn with_index<R>(&self, index: usize, f: impl FnOnce(&mut Map<V>, usize) -> R) -> Option<R> {
        let mut map = self.lock(index)?;
        Some(f(&mut map, self.per_shard))
    }

    fn for_each(&self, mut f: impl FnMut(&mut Map<V>)) {
        for shard in self.shards.iter() {
            let mut map = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut map);
        }
    }

    fn len(&self) -> usize {
        let mut n = 0;
        self.for_each(|m| n += m.len());
        n
    }
}

/// Makes room for one more entry in a full shard: drops what `dead` says is
/// gone, else the sampled entry `age` says is oldest. False when nothing could go.
fn make_room<V>(
    map: &mut Map<V>,
    per_shard: usize,
    dead: impl Fn(&V) -> bool,
    age: Option<impl Fn(&V) -> i64>,
) -> bool {
    if map.len() < per_shard {
        return true;
    }
    map.retain(|_, v| !dead(v));
    if map.len() < per_shard {
        return true;
    }
    let Some(age) = age else {
        return false;
    };
    let victim = map
        .iter()
        .take(EVICTION_SAMPLE)
        .min_by_key(|(_, v)| age(v))
        .map(|(k, _)| *k);
    if let Some(k) = victim {
        map.remove(&k);
    }
    map.len() < per_shard
}

struct Strikes {
    realm_id: Uuid,
    /// Strikes counted since `since_ms`.
    count: u32,
    since_ms: i64,
    /// Blocks served so far (for escalation), forgotten a day after the last.
    level: u32,
    block: Option<Block>,
    last_ms: i64,
}

/// The in-process edge state of one instance.
pub struct MemoryEdgeState {
    hasher: foldhash::fast::RandomState,
    /// The latest end of any block made (milliseconds): before it, blocks
    /// are looked up; after it, there are none.
    blocks_until: AtomicI64,
    windows: Table<(Window, u32)>,
    strikes: Table<Strikes>,
    nonces: Table<i64>,
}

impl std::fmt::Debug for MemoryEdgeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEdgeState").finish_non_exhaustive()
    }
}

impl Default for MemoryEdgeState {
    fn default() -> Self {
        Self::with_capacity(Capacity::default())
    }
}

fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Escalation is forgotten this long after a caller's last block ended.
pub const LEVEL_MEMORY_MS: i64 = 86_400_000;

impl MemoryEdgeState {
    /// Tables of the given sizes.
    pub fn with_capacity(capacity: Capacity) -> Self {
        Self {
            hasher: foldhash::fast::RandomState::default(),
            blocks_until: AtomicI64::new(i64::MIN),
            windows: Table::new(capacity.windows),
            strikes: Table::new(capacity.strikes),
            nonces: Table::new(capacity.nonces),
        }
    }

    fn hash(&self, v: impl Hash) -> u64 {
        self.hasher.hash_one(v)
    }

    /// Entries held: limiter windows, callers with strikes, single-use values.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.windows.len(), self.strikes.len(), self.nonces.len())
    }

    /// The key of a limiter's window, and the hash that picks its shard:
    /// the same for every dimension of one caller, so that the limiters of
    /// one request mostly share a lock.
    fn window_key(&self, key: &LimitKey) -> (u64, u64) {
        let base = self.hash((key.realm_id, key.group, &key.subject));
        let salt: u64 = match key.dimension {
            Dimension::Address => 0,
            Dimension::Anonymous => 0x9e37_79b9_7f4a_7c15,
            Dimension::Principal => 0xc2b2_ae3d_27d4_eb4f,
        };
        (base, base ^ salt)
    }

    fn refund(&self, shard: usize, key: u64, slot: i64) {
        self.windows.with_index(shard, |map, _| {
            if let Some((w, _)) = map.get_mut(&key) {
                w.refund(slot);
            }
        });
    }
}

/// A locked shard of limiter windows.
type WindowGuard<'a> = std::sync::MutexGuard<'a, Map<(Window, u32)>>;

/// Counts a request in the window `key` of a locked shard.
fn take_in(
    map: &mut Map<(Window, u32)>,
    per_shard: usize,
    key: u64,
    quota: Quota,
    now_ms: i64,
) -> Limited {
    if let Some((w, secs)) = map.get_mut(&key) {
        if *secs != quota.window_seconds {
            // The policy changed the window: start afresh.
            *w = Window::new(now_ms, quota.window_seconds);
            *secs = quota.window_seconds;
        }
        return Limited::new(quota, w.take(now_ms, quota.limit, quota.window_seconds));
    }
    let dead = |(w, secs): &(Window, u32)| w.is_idle(now_ms, *secs);
    let age = |(w, secs): &(Window, u32)| w.newest_ms(*secs);
    make_room(map, per_shard, dead, Some(age));
    let (w, _) = map.entry(key).or_insert_with(|| {
        (
            Window::new(now_ms, quota.window_seconds),
            quota.window_seconds,
        )
    });
    Limited::new(quota, w.take(now_ms, quota.limit, quota.window_seconds))
}

#[async_trait]
impl EdgeState for MemoryEdgeState {
    async fn take(
        &self,
        limits: &[(LimitKey, Quota)],
        now: OffsetDateTime,
    ) -> Result<Option<Limited>, Limited> {
        self.take_now(limits, now)
    }

    async fn strike(
        &self,
        realm_id: Uuid,
        subject: &Subject,
        strikes: u32,
        reason: BlockReason,
        rules: &StrikeRules,
        now: OffsetDateTime,
    ) -> Option<Block> {
        let now_ms = ms(now);
        let h = self.hash((realm_id, subject));
        let window_ms = i64::from(rules.window_seconds) * 1000;
        self.strikes.with(h, |map, per_shard| {
            if !map.contains_key(&h) {
                let dead = |s: &Strikes| {
                    s.block.as_ref().is_none_or(|b| ms(b.until) <= now_ms)
                        && now_ms - s.last_ms > window_ms.max(LEVEL_MEMORY_MS)
                };
                let age = |s: &Strikes| s.last_ms;
                make_room(map, per_shard, dead, Some(age));
            }
            let s = map.entry(h).or_insert_with(|| Strikes {
                realm_id,
                count: 0,
                since_ms: now_ms,
                level: 0,
                block: None,
                last_ms: now_ms,
            });
            if s.block.as_ref().is_some_and(|b| ms(b.until) > now_ms) {
                // Already blocked: strikes during a block do not stack.
                return None;
            }
            if now_ms - s.last_ms > LEVEL_MEMORY_MS {
                s.level = 0;
            }
            if now_ms - s.since_ms > window_ms {
                s.count = 0;
                s.since_ms = now_ms;
            }
            s.count = s.count.saturating_add(strikes);
            s.last_ms = now_ms;
            if s.count < rules.threshold {
                return None;
            }
            let lengths = &rules.block_seconds;
            let secs = lengths
                .get(s.level as usize)
                .or(lengths.last())
                .copied()
                .unwrap_or(60);
            s.level = s.level.saturating_add(1);
            s.count = 0;
            s.since_ms = now_ms;
            let until_ms = now_ms + i64::from(secs) * 1000;
            s.last_ms = until_ms;
            let block = Block {
                id: Uuid::now_v7(),
                realm_id,
                subject: subject.clone(),
                reason,
                level: s.level,
                since: now,
                until: at_ms(until_ms),
            };
            s.block = Some(block.clone());
            self.blocks_until.fetch_max(until_ms, Ordering::Relaxed);
            Some(block)
        })
    }

    async fn blocked(
        &self,
        realm_id: Uuid,
        subjects: &[Subject],
        now: OffsetDateTime,
    ) -> Option<Block> {
        self.blocked_now(realm_id, subjects, now)
    }

    async fn blocks(&self, realm_id: Uuid, now: OffsetDateTime) -> Vec<Block> {
        let now_ms = ms(now);
        let mut out = Vec::new();
        self.strikes.for_each(|map| {
            out.extend(
                map.values()
                    .filter(|s| s.realm_id == realm_id)
                    .filter_map(|s| s.block.as_ref())
                    .filter(|b| ms(b.until) > now_ms)
                    .cloned(),
            );
        });
        out.sort_by_key(|b| std::cmp::Reverse(b.since));
        out
    }

    async fn lift(&self, realm_id: Uuid, id: Uuid) -> Option<Block> {
        let mut lifted = None;
        self.strikes.for_each(|map| {
            if lifted.is_some() {
                return;
            }
            for s in map.values_mut() {
                if s.realm_id == realm_id && s.block.as_ref().is_some_and(|b| b.id == id) {
                    lifted = s.block.take();
                    s.count = 0;
                    return;
                }
            }
        });
        lifted
    }

    async fn first_use(&self, key: &str, until: OffsetDateTime, now: OffsetDateTime) -> bool {
        let now_ms = ms(now);
        let h = self.hash(key);
        self.nonces.with(h, |map, per_shard| {
            match map.get(&h) {
                Some(exp) if *exp > now_ms => return false,
                Some(_) => {}
                None => {
                    let dead = |exp: &i64| *exp <= now_ms;
                    if !make_room(map, per_shard, dead, None::<fn(&i64) -> i64>) {
                        return false;
                    }
                }
            }
            map.insert(h, ms(until));
            true
        })
    }

    fn local(&self) -> Option<&dyn LocalEdgeState> {
        Some(self)
    }

    async fn purge(&self, now: OffsetDateTime) {
        let now_ms = ms(now);
        self.windows
            .for_each(|m| m.retain(|_, (w, secs)| !w.is_idle(now_ms, *secs)));
        self.strikes.for_each(|m| {
            m.retain(|_, s| {
                s.block.as_ref().is_some_and(|b| ms(b.until) > now_ms)
                    || now_ms - s.last_ms <= LEVEL_MEMORY_MS
            })
        });
        self.nonces.for_each(|m| m.retain(|_, exp| *exp > now_ms));
    }
}

impl LocalEdgeState for MemoryEdgeState {
    fn take_now(
        &self,
        limits: &[(LimitKey, Quota)],
        now: OffsetDateTime,
    ) -> Result<Option<Limited>, Limited> {
        let now_ms = ms(now);
        let mut taken: [(usize, u64, i64); 4] = [(0, 0, 0); 4];
        let mut n = 0;
        let mut tightest: Option<Limited> = None;
        // One lock held at a time, kept while the next limiter is in the
        // same shard.
        let mut held: Option<(usize, WindowGuard<'_>)> = None;
        for (key, quota) in limits {
            let (base, k) = self.window_key(key);
            let shard = self.windows.index(base);
            if held.as_ref().is_none_or(|(i, _)| *i != shard) {
                // Never two locks at once: release before taking the next.
                drop(held.take());
                held = self.windows.lock(shard).map(|g| (shard, g));
            }
            let Some((_, map)) = held.as_mut() else {
                continue;
            };
            let l = take_in(map, self.windows.per_shard, k, *quota, now_ms);
            if !l.allowed() {
                drop(held);
                for (shard, k, slot) in taken.iter().take(n) {
                    self.refund(*shard, *k, *slot);
                }
                return Err(l);
            }
            if let Some(t) = taken.get_mut(n) {
                *t = (shard, k, l.slot);
                n += 1;
            }
            if tightest.is_none_or(|t| l.remaining < t.remaining) {
                tightest = Some(l);
            }
        }
        Ok(tightest)
    }

    fn blocked_now(
        &self,
        realm_id: Uuid,
        subjects: &[Subject],
        now: OffsetDateTime,
    ) -> Option<Block> {
        let now_ms = ms(now);
        // No block anywhere lasts past this: nothing to look up (the common case).
        if now_ms >= self.blocks_until.load(Ordering::Relaxed) {
            return None;
        }
        subjects.iter().find_map(|subject| {
            let h = self.hash((realm_id, subject));
            self.strikes.with(h, |map, _| {
                map.get(&h)
                    .and_then(|s| s.block.as_ref())
                    .filter(|b| ms(b.until) > now_ms)
                    .cloned()
            })
        })
    }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
