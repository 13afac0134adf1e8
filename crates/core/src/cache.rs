//! The layers of the caches (seed 000's "L1 → L2 → L3"): each instance's
//! memory, then with `PORTCULLIS_REDIS_URL` a cache shared by the instances
//! in Redis ([`SharedCache`]), then the database; and the counts of hits and
//! misses per cache and layer that `/metrics` shows.
//!
//! | cache | memory (L1) | Redis (L2) | invalidated |
//! |---|---|---|---|
//! | `authz_view` | the compiled view, rechecked against the revision every 100 ms | the realm's snapshot by revision, 5 minutes | never needed: an entry is the snapshot of one revision, which never changes |
//! | `client` | 5 seconds | – | on change, on every instance at once (notices) |
//! | `realm` | until changed | – | on change, on every instance at once (notices) |
//!
//! The shared layer holds only what cannot go stale: entries keyed by
//! something that changes whenever their content does (the authorization
//! revision). A reader that finds an entry it cannot use (another format, a
//! revision other than the key's, a value too large) treats it as a miss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

/// A cache that the instances of one deployment share (Redis with
/// `PORTCULLIS_REDIS_URL`). Best effort: a failing call is a miss, or a put
/// that did not happen, logged and counted by the implementation.
#[async_trait]
pub trait SharedCache: Send + Sync + 'static {
    /// The value stored under `key` in `cache`, if any.
    async fn get(&self, cache: &'static str, key: &str) -> Option<Vec<u8>>;
    /// Stores `value` under `key` in `cache` for `ttl`.
    async fn put(&self, cache: &'static str, key: &str, value: Vec<u8>, ttl: Duration);
}

/// The caches whose layers are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cache {
    /// Compiled authorization views, and snapshots in the shared layer.
    AuthzView = 0,
    /// OAuth clients by `client_id`.
    Client = 1,
    /// Realms by name.
    Realm = 2,
}

/// A layer of a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    /// This instance's memory (L1).
    Memory = 0,
    /// The instances' shared cache (L2).
    Shared = 1,
}

const CACHES: [(Cache, &str); 3] = [
    (Cache::AuthzView, "authz_view"),
    (Cache::Client, "client"),
    (Cache::Realm, "realm"),
];
const LAYERS: [(Layer, &str); 2] = [(Layer::Memory, "memory"), (Layer::Shared, "redis")];

/// Hits and misses per cache and layer, and reads that reached the
/// database: relaxed atomic counters, cheap on every request.
#[derive(Default)]
pub(crate) struct CacheStats {
    /// `[cache][layer][hit = 0, miss = 1]`.
    lookups: [[[AtomicU64; 2]; 2]; 3],
    /// `[cache]`: reads that went to the database.
    loads: [AtomicU64; 3],
}

impl CacheStats {
    /// Counts one lookup in a layer.
    pub(crate) fn lookup(&self, cache: Cache, layer: Layer, hit: bool) {
        let counter = self
            .lookups
            .get(cache as usize)
            .and_then(|c| c.get(layer as usize))
            .and_then(|l| l.get(usize::from(!hit)));
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one read from the database.
    pub(crate) fn load(&self, cache: Cache) {
        if let Some(counter) = self.loads.get(cache as usize) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hits and misses of one cache's layer.
    pub(crate) fn counts(&self, cache: Cache, layer: Layer) -> (u64, u64) {
        let pair = self
            .lookups
            .get(cache as usize)
            .and_then(|c| c.get(layer as usize));
        let read = |i: usize| {
            pair.and_then(|p| p.get(i))
                .map_or(0, |c| c.load(Ordering::Relaxed))
        };
        (read(0), read(1))
    }

    /// [`Self::counts`] by the names `/metrics` uses.
    pub(crate) fn counts_by_name(&self, cache: &str, layer: &str) -> Option<(u64, u64)> {
        let cache = CACHES.iter().find(|(_, n)| *n == cache)?.0;
        let layer = LAYERS.iter().find(|(_, n)| *n == layer)?.0;
        Some(self.counts(cache, layer))
    }

    /// Writes the counts to the metrics recorder, for a scrape:
    /// `portcullis_cache_lookups_total{cache, layer, result}`,
    /// `portcullis_cache_hit_ratio{cache, layer}` (since start; no lookup:
    /// not reported) and `portcullis_cache_loads_total{cache}`.
    pub(crate) fn publish(&self) {
        for (cache, cache_name) in CACHES {
            for (layer, layer_name) in LAYERS {
                let (hits, misses) = self.counts(cache, layer);
                metrics::counter!("portcullis_cache_lookups_total",
                    "cache" => cache_name, "layer" => layer_name, "result" => "hit")
                .absolute(hits);
                metrics::counter!("portcullis_cache_lookups_total",
                    "cache" => cache_name, "layer" => layer_name, "result" => "miss")
                .absolute(misses);
                let total = hits + misses;
                if total > 0 {
                    #[allow(clippy::cast_precision_loss)]
                    let ratio = hits as f64 / total as f64;
                    metrics::gauge!("portcullis_cache_hit_ratio",
                        "cache" => cache_name, "layer" => layer_name)
                    .set(ratio);
                }
            }
            let loads = self
                .loads
                .get(cache as usize)
                .map_or(0, |c| c.load(Ordering::Relaxed));
            metrics::counter!("portcullis_cache_loads_total", "cache" => cache_name)
                .absolute(loads);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_counted_per_cache_and_layer() {
        let stats = CacheStats::default();
        stats.lookup(Cache::AuthzView, Layer::Memory, true);
        stats.lookup(Cache::AuthzView, Layer::Memory, true);
        stats.lookup(Cache::AuthzView, Layer::Memory, false);
        stats.lookup(Cache::AuthzView, Layer::Shared, false);
        stats.lookup(Cache::Realm, Layer::Memory, false);
        assert_eq!(stats.counts(Cache::AuthzView, Layer::Memory), (2, 1));
        assert_eq!(stats.counts(Cache::AuthzView, Layer::Shared), (0, 1));
        assert_eq!(stats.counts(Cache::Realm, Layer::Memory), (0, 1));
        assert_eq!(stats.counts(Cache::Client, Layer::Memory), (0, 0));
    }
}
