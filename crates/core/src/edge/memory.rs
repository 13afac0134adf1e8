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
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::policy::{Quota, StrikeRules};
use super::window::Window;
use super::{Block, BlockReason, LimitKey, Limited, Subject};
use crate::ports::EdgeState;

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

struct Table<V> {
    shards: Box<[Mutex<HashMap<u64, V>>]>,
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
    fn with<R>(&self, hash: u64, f: impl FnOnce(&mut HashMap<u64, V>, usize) -> R) -> R {
        let i = (hash as usize) % self.shards.len().max(1);
        let Some(shard) = self.shards.get(i) else {
            // Unreachable: `i` is below the length.
            return f(&mut HashMap::new(), self.per_shard);
        };
        let mut map = shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut map, self.per_shard)
    }

    fn for_each(&self, mut f: impl FnMut(&mut HashMap<u64, V>)) {
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
    map: &mut HashMap<u64, V>,
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
    hasher: RandomState,
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

fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Escalation is forgotten this long after a caller's last block ended.
const LEVEL_MEMORY_MS: i64 = 86_400_000;

impl MemoryEdgeState {
    /// Tables of the given sizes.
    pub fn with_capacity(capacity: Capacity) -> Self {
        Self {
            hasher: RandomState::new(),
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

    fn take_one(&self, key: &LimitKey, quota: Quota, now_ms: i64) -> (u64, Limited) {
        let h = self.hash(key);
        let outcome = self.windows.with(h, |map, per_shard| {
            if !map.contains_key(&h) {
                let dead = |(w, secs): &(Window, u32)| w.is_idle(now_ms, *secs);
                let age = |(w, secs): &(Window, u32)| w.newest_ms(*secs);
                make_room(map, per_shard, dead, Some(age));
            }
            let (w, secs) = map.entry(h).or_insert_with(|| {
                (
                    Window::new(now_ms, quota.window_seconds),
                    quota.window_seconds,
                )
            });
            if *secs != quota.window_seconds {
                // The policy changed the window: start afresh.
                *w = Window::new(now_ms, quota.window_seconds);
                *secs = quota.window_seconds;
            }
            w.take(now_ms, quota.limit, quota.window_seconds)
        });
        (h, Limited::new(quota, outcome))
    }

    fn refund(&self, hash: u64, slot: i64) {
        self.windows.with(hash, |map, _| {
            if let Some((w, _)) = map.get_mut(&hash) {
                w.refund(slot);
            }
        });
    }
}

#[async_trait]
impl EdgeState for MemoryEdgeState {
    async fn take(
        &self,
        limits: &[(LimitKey, Quota)],
        now: OffsetDateTime,
    ) -> Result<Option<Limited>, Limited> {
        let now_ms = ms(now);
        let mut taken: Vec<(u64, i64)> = Vec::with_capacity(limits.len());
        let mut tightest: Option<Limited> = None;
        for (key, quota) in limits {
            let (h, l) = self.take_one(key, *quota, now_ms);
            if !l.allowed() {
                for (h, slot) in taken {
                    self.refund(h, slot);
                }
                return Err(l);
            }
            taken.push((h, l.slot));
            if tightest.is_none_or(|t| l.remaining < t.remaining) {
                tightest = Some(l);
            }
        }
        Ok(tightest)
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
            Some(block)
        })
    }

    async fn blocked(
        &self,
        realm_id: Uuid,
        subjects: &[Subject],
        now: OffsetDateTime,
    ) -> Option<Block> {
        let now_ms = ms(now);
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

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
