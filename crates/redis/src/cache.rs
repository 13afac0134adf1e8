//! [`RedisCache`]: the cache the instances share (the L2 layer of
//! `portcullis_core::cache`), plain `GET` and `SET ... PX` under
//! `portcullis:cache:{cache}:{key}`.

use std::time::Duration;

use async_trait::async_trait;
use portcullis_core::cache::SharedCache;
use tracing::Instrument as _;

use crate::Redis;

/// Values larger than this are neither stored nor read back.
pub const MAX_VALUE: usize = 64 * 1024 * 1024;

/// The instances' shared cache in Redis. A call that fails is a miss (or a
/// put that did not happen), counted and logged like every Redis failure.
#[derive(Debug, Clone)]
pub struct RedisCache {
    redis: Redis,
}

impl RedisCache {
    /// The shared cache on `redis`.
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn key(&self, cache: &str, key: &str) -> String {
        self.redis.key(format_args!("cache:{cache}:{key}"))
    }
}

#[async_trait]
impl SharedCache for RedisCache {
    async fn get(&self, cache: &'static str, key: &str) -> Option<Vec<u8>> {
        let mut conn = self.redis.conn();
        let value: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GET")
            .arg(self.key(cache, key))
            .query_async(&mut conn)
            .instrument(crate::span("cache_get"))
            .await;
        self.redis
            .record("cache_get", value)
            .ok()
            .flatten()
            .filter(|v| v.len() <= MAX_VALUE)
    }

    async fn put(&self, cache: &'static str, key: &str, value: Vec<u8>, ttl: Duration) {
        if value.len() > MAX_VALUE {
            return;
        }
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.redis.conn();
        let done: redis::RedisResult<()> = redis::cmd("SET")
            .arg(self.key(cache, key))
            .arg(value)
            .arg("PX")
            .arg(ms)
            .query_async(&mut conn)
            .instrument(crate::span("cache_put"))
            .await;
        let _ = self.redis.record("cache_put", done);
    }
}
