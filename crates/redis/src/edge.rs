//! [`EdgeState`] in Redis: every instance of a deployment counts against
//! the same limiter windows, sees the same strikes and blocks, and accepts
//! a single-use value once among them all.
//!
//! When Redis cannot be reached (or answers too late), limiters, strikes
//! and blocks fall back to this instance's own tables, so that the edge
//! keeps limiting, per instance, as without Redis; single-use values are
//! refused (fail closed: a signed request or an assertion may not be
//! replayed on another instance meanwhile).

use async_trait::async_trait;
use portcullis_core::edge::memory::{LEVEL_MEMORY_MS, MemoryEdgeState};
use portcullis_core::edge::window::Outcome;
use portcullis_core::edge::{
    Block, BlockReason, Dimension, LimitKey, Limited, Quota, Stopped, StrikeRules, Subject, unix_ms,
};
use portcullis_core::ports::{EdgeState, LocalEdgeState};
use redis::{Script, Value};
use time::OffsetDateTime;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::leases::{KnownBlocks, Leases};
use crate::{Redis, scripts};

/// The edge's shared state in Redis, with this instance's tables as the
/// fallback.
pub struct RedisEdgeState {
    redis: Redis,
    fallback: MemoryEdgeState,
    leases: Leases,
    known: KnownBlocks,
    admit: Script,
    strike: Script,
    blocks: Script,
    lift: Script,
}

impl std::fmt::Debug for RedisEdgeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEdgeState")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl RedisEdgeState {
    /// The edge state in `redis`.
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            fallback: MemoryEdgeState::default(),
            leases: Leases::new(),
            known: KnownBlocks::new(),
            admit: Script::new(scripts::ADMIT),
            strike: Script::new(scripts::STRIKE),
            blocks: Script::new(scripts::BLOCKS),
            lift: Script::new(scripts::LIFT),
        }
    }

    /// The strike key of a caller in a realm.
    fn strike_key(&self, realm_id: Uuid, subject: &Subject) -> String {
        self.redis.key(format_args!(
            "edge:strikes:{realm_id}:{}:{}",
            subject.kind(),
            subject.value()
        ))
    }

    /// The prefix of a realm's strike keys.
    fn strike_prefix(&self, realm_id: Uuid) -> String {
        self.redis.key(format_args!("edge:strikes:{realm_id}:"))
    }

    /// The set of a realm's live blocks.
    fn blocks_key(&self, realm_id: Uuid) -> String {
        self.redis.key(format_args!("edge:blocks:{realm_id}"))
    }

    /// The key leading from a block's id to its strike key.
    fn block_id_key(&self, id: Uuid) -> String {
        self.redis.key(format_args!("edge:block:{id}"))
    }

    /// The key of a limiter's window.
    fn window_key(&self, key: &LimitKey) -> String {
        let dimension = match key.dimension {
            Dimension::Address => "address",
            Dimension::Anonymous => "anonymous",
            Dimension::Principal => "principal",
        };
        self.redis.key(format_args!(
            "edge:window:{}:{}:{dimension}:{}:{}",
            key.realm_id,
            key.group.name(),
            key.subject.kind(),
            key.subject.value()
        ))
    }

    /// Spends a unit of every limiter's lease that has one: what was spent
    /// (local key, quota, state), and the limiters without a lease (their
    /// index in `limits` and local key).
    fn spend_leases(&self, limits: &[(LimitKey, Quota)], now_ms: i64) -> (Spent, Needed) {
        let (mut spent, mut needed) = (Spent::new(), Needed::new());
        for (i, (key, quota)) in limits.iter().enumerate() {
            let h = self.leases.key(key);
            match self.leases.spend(h, *quota, now_ms) {
                Some(l) => spent.push((h, *quota, l)),
                None => needed.push((i, h)),
            }
        }
        (spent, needed)
    }

    /// Gives back what [`Self::spend_leases`] spent for a request that
    /// goes no further.
    fn give_back(&self, spent: &[(u64, Quota, Limited)], now_ms: i64) {
        for (h, q, _) in spent {
            self.leases.give_back(*h, *q, now_ms);
        }
    }

    /// Runs a script; `None` (counted and logged) when Redis cannot answer.
    async fn run(
        &self,
        operation: &'static str,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Option<Value> {
        let mut invocation = script.prepare_invoke();
        for k in keys {
            invocation.key(k);
        }
        for a in args {
            invocation.arg(a);
        }
        let mut conn = self.redis.conn();
        let r = invocation
            .invoke_async::<Value>(&mut conn)
            .instrument(crate::span(operation))
            .await;
        self.redis.record(operation, r).ok()
    }
}

/// Lease units spent for a request: the limiter's local key, quota, state.
type Spent = smallvec::SmallVec<[(u64, Quota, Limited); 3]>;
/// Limiters of a request without a lease: index in its limits, local key.
type Needed = smallvec::SmallVec<[(usize, u64); 3]>;

/// The limiter with the fewest requests left.
fn tightest(all: impl Iterator<Item = Limited>) -> Option<Limited> {
    all.min_by_key(|l| l.remaining)
}

/// An integer of a script's answer.
fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// A string of a script's answer.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// The items of a script's array answer.
fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) => items,
        _ => &[],
    }
}

fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A block from its fields: id, subject (JSON), reason, level, since and
/// until (Unix milliseconds).
fn block(realm_id: Uuid, fields: &[Value]) -> Option<Block> {
    let mut f = fields.iter();
    let id = Uuid::parse_str(&text(f.next())?).ok()?;
    let subject: Subject = serde_json::from_str(&text(f.next())?).ok()?;
    let reason: BlockReason =
        serde_json::from_value(serde_json::Value::String(text(f.next())?)).ok()?;
    let level = u32::try_from(int(f.next())?).ok()?;
    let since = at_ms(int(f.next())?);
    let until = at_ms(int(f.next())?);
    Some(Block {
        id,
        realm_id,
        subject,
        reason,
        level,
        since,
        until,
    })
}

#[async_trait]
impl EdgeState for RedisEdgeState {
    async fn take(
        &self,
        limits: &[(LimitKey, Quota)],
        now: OffsetDateTime,
    ) -> Result<Option<Limited>, Limited> {
        let realm_id = limits.first().map(|(k, _)| k.realm_id).unwrap_or_default();
        match self.admit(realm_id, &[], limits, now).await {
            Ok(tightest) => Ok(tightest),
            Err(Stopped::Limited(l)) => Err(l),
            // Unreachable: no subject was looked up.
            Err(Stopped::Blocked(_)) => Ok(None),
        }
    }

    async fn admit(
        &self,
        realm_id: Uuid,
        subjects: &[Subject],
        limits: &[(LimitKey, Quota)],
        now: OffsetDateTime,
    ) -> Result<Option<Limited>, Stopped> {
        let now_ms = unix_ms(now);
        if let Some(b) = self.known.find(realm_id, subjects, now_ms) {
            return Err(Stopped::Blocked(b));
        }
        // Limiters with a lease spend it here; the others go to Redis.
        let (spent, needed) = self.spend_leases(limits, now_ms);
        if needed.is_empty() && !limits.is_empty() {
            return Ok(tightest(spent.iter().map(|(_, _, l)| *l)));
        }
        let give_back = |spent: &[(u64, Quota, Limited)]| self.give_back(spent, now_ms);
        let mut keys: Vec<String> = subjects
            .iter()
            .map(|s| self.strike_key(realm_id, s))
            .collect();
        let mut args = vec![now_ms.to_string(), subjects.len().to_string()];
        for (i, h) in &needed {
            let Some((key, q)) = limits.get(*i) else {
                continue;
            };
            keys.push(self.window_key(key));
            args.push(q.limit.to_string());
            args.push(q.window_seconds.max(1).to_string());
            args.push(self.leases.want(*h, *q, now_ms).to_string());
        }
        let Some(answer) = self.run("edge_admit", &self.admit, &keys, &args).await else {
            give_back(&spent);
            return self.fallback.admit(realm_id, subjects, limits, now).await;
        };
        let answer = items(&answer);
        let (kind, rest) = match answer.split_first() {
            Some((kind, rest)) => (int(Some(kind)), rest),
            None => (None, answer),
        };
        match kind {
            Some(1) => {
                give_back(&spent);
                match block(realm_id, rest) {
                    Some(b) => {
                        self.known.learn(&b);
                        Err(Stopped::Blocked(b))
                    }
                    None => Ok(None),
                }
            }
            Some(2) => {
                give_back(&spent);
                let [index, retry, reset, slot] =
                    [0, 1, 2, 3].map(|i| int(rest.get(i)).unwrap_or(0));
                let quota = usize::try_from(index - 1)
                    .ok()
                    .and_then(|n| needed.get(n))
                    .and_then(|(i, _)| limits.get(*i))
                    .map_or(
                        Quota {
                            limit: 0,
                            window_seconds: 1,
                        },
                        |(_, q)| *q,
                    );
                Err(Stopped::Limited(Limited::new(
                    quota,
                    Outcome {
                        allowed: false,
                        remaining: 0,
                        retry_after_ms: retry,
                        reset_ms: reset,
                        slot,
                    },
                )))
            }
            _ => {
                let mut all: Vec<Limited> = spent.iter().map(|(_, _, l)| *l).collect();
                for (n, (i, h)) in needed.iter().enumerate() {
                    let Some((_, quota)) = limits.get(*i) else {
                        continue;
                    };
                    let at = |k: usize| int(rest.get(n * 4 + k)).unwrap_or(0);
                    let (granted, remaining, reset, slot) = (at(0), at(1), at(2), at(3));
                    let granted = u32::try_from(granted).unwrap_or(1).max(1);
                    let remaining = u32::try_from(remaining).unwrap_or(0);
                    self.leases
                        .grant(*h, *quota, granted, remaining, slot, now_ms + reset);
                    all.push(Limited::new(
                        *quota,
                        Outcome {
                            allowed: true,
                            remaining: remaining.saturating_add(granted - 1),
                            retry_after_ms: 0,
                            reset_ms: reset,
                            slot,
                        },
                    ));
                }
                Ok(tightest(all.into_iter()))
            }
        }
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
        let now_ms = unix_ms(now);
        let id = Uuid::now_v7();
        let keys = [
            self.strike_key(realm_id, subject),
            self.blocks_key(realm_id),
            self.block_id_key(id),
        ];
        let mut args = vec![
            now_ms.to_string(),
            strikes.to_string(),
            rules.threshold.to_string(),
            (i64::from(rules.window_seconds) * 1000).to_string(),
            LEVEL_MEMORY_MS.to_string(),
            id.to_string(),
            serde_json::to_string(subject).unwrap_or_default(),
            reason.as_str().to_owned(),
        ];
        args.extend(rules.block_seconds.iter().map(u32::to_string));
        let Some(answer) = self.run("edge_strike", &self.strike, &keys, &args).await else {
            return self
                .fallback
                .strike(realm_id, subject, strikes, reason, rules, now)
                .await;
        };
        let answer = items(&answer);
        if int(answer.first()) != Some(1) {
            return None;
        }
        let block = Block {
            id,
            realm_id,
            subject: subject.clone(),
            reason,
            level: u32::try_from(int(answer.get(1))?).ok()?,
            since: now,
            until: at_ms(int(answer.get(2))?),
        };
        self.known.learn(&block);
        Some(block)
    }

    async fn blocked(
        &self,
        realm_id: Uuid,
        subjects: &[Subject],
        now: OffsetDateTime,
    ) -> Option<Block> {
        self.admit(realm_id, subjects, &[], now)
            .await
            .err()
            .and_then(|s| match s {
                Stopped::Blocked(b) => Some(b),
                Stopped::Limited(_) => None,
            })
    }

    async fn blocks(&self, realm_id: Uuid, now: OffsetDateTime) -> Vec<Block> {
        let keys = [self.blocks_key(realm_id)];
        let args = [unix_ms(now).to_string()];
        let Some(answer) = self.run("edge_blocks", &self.blocks, &keys, &args).await else {
            return self.fallback.blocks(realm_id, now).await;
        };
        let mut out: Vec<Block> = items(&answer)
            .chunks(6)
            .filter_map(|fields| block(realm_id, fields))
            .collect();
        out.sort_by_key(|b| std::cmp::Reverse(b.since));
        self.known.replace(realm_id, &out);
        out
    }

    async fn refresh_blocks(&self, realm_id: Uuid, now: OffsetDateTime) {
        self.blocks(realm_id, now).await;
    }

    async fn lift(&self, realm_id: Uuid, id: Uuid) -> Option<Block> {
        // A block ends at its own time; "now" only has to be before it.
        let keys = [self.block_id_key(id), self.blocks_key(realm_id)];
        let args = [
            i64::MIN.to_string(),
            id.to_string(),
            self.strike_prefix(realm_id),
        ];
        let Some(answer) = self.run("edge_lift", &self.lift, &keys, &args).await else {
            return self.fallback.lift(realm_id, id).await;
        };
        let fields = items(&answer);
        if fields.is_empty() {
            return None;
        }
        let mut with_id = vec![Value::BulkString(id.to_string().into_bytes())];
        with_id.extend(fields.iter().cloned());
        self.known.forget(realm_id, id);
        block(realm_id, &with_id)
    }

    async fn first_use(&self, key: &str, until: OffsetDateTime, now: OffsetDateTime) -> bool {
        let ttl_ms = (unix_ms(until) - unix_ms(now)).max(1);
        let key = self.redis.key(format_args!("edge:once:{key}"));
        let mut conn = self.redis.conn();
        let set: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut conn)
            .await;
        // Unanswered: refused (fail closed).
        matches!(self.redis.record("edge_first_use", set), Ok(Some(_)))
    }

    fn local(&self) -> Option<&dyn LocalEdgeState> {
        Some(self)
    }

    async fn purge(&self, now: OffsetDateTime) {
        // Redis forgets by itself (every key has a time to live); the
        // fallback's tables are purged like the in-process state's.
        self.fallback.purge(now).await;
    }
}

/// The requests this instance can answer without a round trip: those whose
/// every limiter has a lease, checked against the blocks it knows.
impl LocalEdgeState for RedisEdgeState {
    fn blocked_now(
        &self,
        realm_id: Uuid,
        subjects: &[Subject],
        now: OffsetDateTime,
    ) -> Option<Block> {
        self.known.find(realm_id, subjects, unix_ms(now))
    }

    /// `Err` when a limiter has no lease here (not a refusal: the caller
    /// then asks [`EdgeState::take`], which goes to Redis).
    fn take_now(
        &self,
        limits: &[(LimitKey, Quota)],
        now: OffsetDateTime,
    ) -> Result<Option<Limited>, Limited> {
        let now_ms = unix_ms(now);
        let (spent, needed) = self.spend_leases(limits, now_ms);
        let Some((i, _)) = needed.first() else {
            return Ok(tightest(spent.iter().map(|(_, _, l)| *l)));
        };
        self.give_back(&spent, now_ms);
        let quota = limits.get(*i).map_or(
            Quota {
                limit: 0,
                window_seconds: 1,
            },
            |(_, q)| *q,
        );
        Err(Limited::new(
            quota,
            Outcome {
                allowed: false,
                remaining: 0,
                retry_after_ms: 0,
                reset_ms: 0,
                slot: 0,
            },
        ))
    }
}
