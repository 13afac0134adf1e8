//! Edge defences: rate limits by endpoint family and by role, strikes that
//! turn repeated refusals into blocks admins can see and lift, and the
//! single-use values (HMAC nonces) services sign with.
//!
//! The state they share sits behind one port, [`crate::ports::EdgeState`]:
//! [`memory::MemoryEdgeState`] in process now, Redis behind the same trait
//! when several instances must share it. The http crate's edge middleware
//! calls [`Edge::admit`] for the client address before routing, and
//! [`Edge::admit_principal`] once a request's bearer token is verified, so
//! a request counts against every limiter it belongs to (its address, its
//! account or client) and must pass all of them (union pairing).
//!
//! - `policy`: a realm's limits by group and tier, and its strike rules.
//! - `window`: the sliding-window arithmetic (never more than the quota in
//!   any stretch as long as the window).
//! - `memory`: the in-process state, in bounded tables.
//! - `admin`: reading and lifting blocks, reading and setting policies.

pub mod admin;
pub mod memory;
pub mod policy;
pub mod window;

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::Inner;
use crate::tokens::Principal;
use policy::{Compiled, Fixed};
pub use policy::{Group, Quota, RateLimitPolicy, StrikeRules, Tier};

/// Who a limiter or a block is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Subject {
    /// A client address (an IPv6 address stands for its /64 network, which
    /// one customer usually holds whole).
    Ip(IpAddr),
    /// A user account.
    Account(Uuid),
    /// An OAuth client, by client id.
    Client(String),
    /// An HMAC service key, by id.
    ServiceKey(Uuid),
}

impl Subject {
    /// The subject of a client address: IPv4-mapped IPv6 addresses as IPv4,
    /// other IPv6 addresses as their /64 network.
    pub fn ip(addr: IpAddr) -> Self {
        Subject::Ip(network_of(addr))
    }

    /// The subject's kind: `ip`, `account`, `client` or `service_key`.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Ip(_) => "ip",
            Subject::Account(_) => "account",
            Subject::Client(_) => "client",
            Subject::ServiceKey(_) => "service_key",
        }
    }

    /// The subject's value: an address (an IPv6 one as its `/64`), an
    /// account, client or key id.
    pub fn value(&self) -> String {
        match self {
            Subject::Ip(IpAddr::V6(a)) => format!("{a}/64"),
            Subject::Ip(a) => a.to_string(),
            Subject::Account(id) | Subject::ServiceKey(id) => id.to_string(),
            Subject::Client(id) => id.clone(),
        }
    }

    /// The subject as text (`ip:192.0.2.1`, `account:…`), for logs.
    pub fn describe(&self) -> String {
        format!("{}:{}", self.kind(), self.value())
    }
}

/// The address a limiter counts for `addr`.
pub fn network_of(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(a) => IpAddr::V4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = a.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Which of a request's limiters a key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Every request from an address.
    Address,
    /// Requests without credentials, by address.
    Anonymous,
    /// Requests of one account, client or service key.
    Principal,
}

/// One limiter: a dimension of a group of a realm, for one subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LimitKey {
    /// The realm whose policy sets the quota.
    pub realm_id: Uuid,
    /// The endpoint family.
    pub group: Group,
    /// Which limiter.
    pub dimension: Dimension,
    /// Whose requests.
    pub subject: Subject,
}

/// The state of the tightest limiter a request passed, or of the one that
/// refused it: what the `RateLimit` headers and `Retry-After` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// The quota in force.
    pub quota: Quota,
    /// Requests still allowed now.
    pub remaining: u32,
    /// Seconds until a refused request would be allowed (0 when allowed).
    pub retry_after: u64,
    /// Seconds until the quota is whole again.
    pub reset: u64,
    pub(crate) slot: i64,
    allowed: bool,
}

impl Limited {
    /// The state a window's outcome reports under `quota` (for the
    /// implementations of [`crate::ports::EdgeState`]).
    pub fn new(quota: Quota, o: window::Outcome) -> Self {
        let secs = |ms: i64| u64::try_from((ms + 999) / 1000).unwrap_or(0);
        Self {
            quota,
            remaining: o.remaining,
            retry_after: if o.allowed {
                0
            } else {
                secs(o.retry_after_ms).max(1)
            },
            reset: secs(o.reset_ms),
            slot: o.slot,
            allowed: o.allowed,
        }
    }

    /// Whether the request was counted.
    pub fn allowed(&self) -> bool {
        self.allowed
    }
}

/// Why a caller was blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    /// It kept hitting a rate limit.
    RateLimit,
    /// It sent script-like input to a public endpoint.
    ScriptInput,
}

impl BlockReason {
    /// The reason's name.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockReason::RateLimit => "rate_limit",
            BlockReason::ScriptInput => "script_input",
        }
    }
}

/// A caller refused everything until `until` (or until an admin lifts it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    /// Id, to lift it by.
    pub id: Uuid,
    /// The realm it applies in.
    pub realm_id: Uuid,
    /// Who is blocked.
    pub subject: Subject,
    /// Why.
    pub reason: BlockReason,
    /// Which block of this caller in a row (the first is 1); later ones last longer.
    pub level: u32,
    /// When it began.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// When it ends.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// Why a request was refused at the edge.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// A limiter is exhausted; a block may have begun because of it.
    Limited {
        /// The limiter that refused.
        limited: Limited,
        /// The group it belongs to.
        group: Group,
    },
    /// The caller is blocked.
    Blocked(Block),
    /// The caller's tier could not be read (the database is down): refused
    /// at once, as its own reads would be (fail closed).
    Unavailable,
}

impl Refusal {
    /// Seconds until the caller may try again.
    pub fn retry_after(&self, now: OffsetDateTime) -> u64 {
        match self {
            Refusal::Limited { limited, .. } => limited.retry_after,
            Refusal::Unavailable => 1,
            Refusal::Blocked(b) => u64::try_from((b.until - now).whole_seconds())
                .unwrap_or(0)
                .max(1),
        }
    }
}

/// Why [`crate::ports::EdgeState::admit`] stopped a request.
#[derive(Debug, Clone)]
pub enum Stopped {
    /// One of its subjects is blocked.
    Blocked(Block),
    /// The first of its limiters that is exhausted (nothing was counted).
    Limited(Limited),
}

/// What the edge knows of a request before it is routed.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    /// The realm the path addresses.
    pub realm_id: Uuid,
    /// The endpoint family.
    pub group: Group,
    /// The client's address.
    pub ip: IpAddr,
    /// Whether the request carries no credentials (no bearer token, no
    /// signature, no client authentication).
    pub anonymous: bool,
    /// The client id of HTTP Basic client authentication, when given.
    pub client_id: Option<&'a str>,
}

/// How long a realm's policy is trusted before it is read again, in
/// milliseconds (changes through this instance are seen at once).
const POLICY_TTL_MS: i64 = 5_000;

/// Whether a policy read at `read_ms` is still trusted at `now_ms` (a
/// wall-clock step either way reads it again).
fn fresh(now_ms: i64, read_ms: i64) -> bool {
    (0..POLICY_TTL_MS).contains(&now_ms.saturating_sub(read_ms))
}

/// A time in Unix milliseconds (rounded down). Not through
/// `unix_timestamp_nanos`: a 128-bit division costs more than the rest of
/// a limiter's look-up.
pub fn unix_ms(t: time::OffsetDateTime) -> i64 {
    t.unix_timestamp()
        .saturating_mul(1000)
        .saturating_add(i64::from(t.millisecond()))
}

/// Numbers the [`EdgeParts`] of the instances of one process (tests run
/// many), for the threads' [`RECENT`] policies.
static NEXT_PARTS: AtomicU64 = AtomicU64::new(1);

/// The policy a thread applied last.
struct Recent {
    parts: u64,
    generation: u64,
    realm_id: Uuid,
    read_ms: i64,
    policy: Arc<Compiled>,
}

thread_local! {
    /// The policy this thread applied last: most of the requests a thread
    /// serves address one realm, and reading it here touches no memory the
    /// other threads write (a shared map's lock and an `Arc`'s count move
    /// between the cores on every request).
    static RECENT: RefCell<Option<Recent>> = const { RefCell::new(None) };
}

/// What the edge keeps in core.
pub(crate) struct EdgeParts {
    pub(crate) state: Arc<dyn crate::ports::EdgeState>,
    /// Each realm's policy, with when it was read (Unix milliseconds).
    policies: Arc<DashMap<Uuid, (Arc<Compiled>, i64), foldhash::fast::RandomState>>,
    /// This instance's number (from [`NEXT_PARTS`]).
    id: u64,
    /// Bumped when a cached policy is forgotten: a thread's [`RECENT`]
    /// policy counts while its number and generation are current.
    generation: AtomicU64,
    /// Service keys with their secrets opened, by id.
    keys: DashMap<Uuid, Arc<crate::service_keys::OpenKey>>,
}

/// Most service keys kept open at once (beyond it the cache starts over).
const KEY_CACHE: usize = 10_000;

impl EdgeParts {
    pub(crate) fn new(state: Arc<dyn crate::ports::EdgeState>) -> Self {
        Self {
            state,
            policies: Arc::default(),
            id: NEXT_PARTS.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            keys: DashMap::new(),
        }
    }

    pub(crate) fn cached_key(&self, id: Uuid) -> Option<Arc<crate::service_keys::OpenKey>> {
        self.keys.get(&id).map(|k| k.clone())
    }

    pub(crate) fn cache_key(&self, id: Uuid, key: Arc<crate::service_keys::OpenKey>) {
        if self.keys.len() >= KEY_CACHE {
            self.keys.clear();
        }
        self.keys.insert(id, key);
    }

    pub(crate) fn forget_key(&self, id: Uuid) {
        self.keys.remove(&id);
    }

    /// Forgets every cached policy and service key.
    pub(crate) fn forget_all(&self) {
        self.keys.clear();
        self.policies.clear();
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Forgets a realm's cached policy (it was changed here).
    pub(crate) fn forget_policy(&self, realm_id: Uuid) {
        self.policies.remove(&realm_id);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// The quotas of a group the edge applies before it knows who calls.
#[derive(Debug, Clone, Copy)]
struct EdgeQuotas {
    address: Quota,
    anonymous: Quota,
    client: Quota,
}

impl EdgeQuotas {
    fn of(policy: &Compiled, group: Group) -> Self {
        Self {
            address: policy.fixed(group, Fixed::Address),
            anonymous: policy.fixed(group, Fixed::Anonymous),
            client: policy.fixed(group, Fixed::Client),
        }
    }
}

/// A realm's policy as the store has it (the server's default when the realm
/// has none); `None`, logged, when the store cannot be read.
async fn read_policy(
    store: &dyn crate::ports::Store,
    realm_id: Uuid,
    default: RateLimitPolicy,
) -> Option<Arc<Compiled>> {
    match store.get_rate_limit_policy(realm_id).await {
        Ok(Some(p)) => Some(Arc::new(Compiled::new(p))),
        Ok(None) => Some(Arc::new(Compiled::new(default))),
        Err(e) => {
            tracing::warn!(error = %e, "could not read a rate-limit policy");
            None
        }
    }
}

/// The edge defences of one realm-addressed request.
pub struct Edge<'a> {
    i: &'a Inner,
}

impl<'a> Edge<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    /// The realm's policy when it is cached and fresh at `now_ms` (the
    /// request's own reading of the clock: a clock read costs as much as
    /// the rest of the fast path).
    fn cached_policy(&self, realm_id: Uuid, now_ms: i64) -> Option<Arc<Compiled>> {
        let e = self.i.edge.policies.get(&realm_id)?;
        fresh(now_ms, e.1).then(|| e.0.clone())
    }

    /// `f` of the realm's policy when it is cached and fresh at `now_ms`,
    /// read from this thread's [`RECENT`] policy when that is the realm's.
    fn with_cached_policy<R>(
        &self,
        realm_id: Uuid,
        now_ms: i64,
        f: impl FnOnce(&Compiled) -> R,
    ) -> Option<R> {
        let parts = &self.i.edge;
        let generation = parts.generation.load(Ordering::Acquire);
        RECENT.with_borrow_mut(|recent| {
            if let Some(r) = recent.as_ref().filter(|r| {
                r.parts == parts.id
                    && r.generation == generation
                    && r.realm_id == realm_id
                    && fresh(now_ms, r.read_ms)
            }) {
                return Some(f(&r.policy));
            }
            let e = parts.policies.get(&realm_id)?;
            if !fresh(now_ms, e.1) {
                return None;
            }
            let out = f(&e.0);
            *recent = Some(Recent {
                parts: parts.id,
                generation,
                realm_id,
                read_ms: e.1,
                policy: e.0.clone(),
            });
            Some(out)
        })
    }

    /// The policy in force in a realm: its own, or the server's default.
    pub(crate) async fn policy(&self, realm_id: Uuid) -> Arc<Compiled> {
        let now = unix_ms(self.i.clock.now());
        if let Some(p) = self.cached_policy(realm_id, now) {
            return p;
        }
        let policies = &self.i.edge.policies;
        let default = &self.i.settings.rate_limits;
        // Known but old: limit with it at once and read it again in the
        // background (marked fresh meanwhile, so one request reads it), so
        // that no request waits for the store here; when the database is
        // down, a request's own reads fail fast, and this one no slower.
        let known = policies.get(&realm_id).map(|e| e.0.clone());
        if let Some(known) = known {
            policies.insert(realm_id, (known.clone(), now));
            let (store, policies, default) =
                (self.i.store.clone(), policies.clone(), default.clone());
            tokio::spawn(async move {
                if let Some(policy) = read_policy(&*store, realm_id, default).await {
                    policies.insert(realm_id, (policy, now));
                }
            });
            return known;
        }
        // A realm's first request waits for its policy (the default when
        // the store cannot say).
        let policy = read_policy(&*self.i.store, realm_id, default.clone())
            .await
            .unwrap_or_else(|| Arc::new(Compiled::new(default.clone())));
        policies.insert(realm_id, (policy.clone(), now));
        policy
    }

    /// Admits a request by its address (and its Basic client id): refused
    /// while the address or client is blocked, or when a limiter of its
    /// group is exhausted. Returns the tightest limiter it passed.
    pub async fn admit(&self, a: &Admission<'_>) -> Result<Option<Limited>, Refusal> {
        let now = self.i.clock.now();
        let (subjects, ip) = Self::subjects(a);
        let policy = self.policy(a.realm_id).await;
        let checked = subjects.clone();
        let limits = if policy.enabled {
            Self::limits(a, subjects, EdgeQuotas::of(&policy, a.group))
        } else {
            SmallVec::new()
        };
        let admitted = self
            .i
            .edge
            .state
            .admit(a.realm_id, &checked, &limits, now)
            .await;
        self.admitted(a.realm_id, a.group, admitted, &policy, ip)
            .await
    }

    /// [`Edge::admit`] without waiting, when everything it needs is at hand:
    /// the realm's policy cached and the state in this process. `None`
    /// when it is not, and when a limiter refuses (the caller then takes
    /// [`Edge::admit`], which counts the strike).
    pub fn try_admit_now(&self, a: &Admission<'_>) -> Option<Result<Option<Limited>, Refusal>> {
        let local = self.i.edge.state.local()?;
        let now = self.i.clock.now();
        let (enabled, quotas) = self.with_cached_policy(a.realm_id, unix_ms(now), |p| {
            (p.enabled, EdgeQuotas::of(p, a.group))
        })?;
        let (subjects, _) = Self::subjects(a);
        if let Some(b) = local.blocked_now(a.realm_id, &subjects, now) {
            return Some(Err(Refusal::Blocked(b)));
        }
        if !enabled {
            return Some(Ok(None));
        }
        let limits = Self::limits(a, subjects, quotas);
        local.take_now(&limits, now).ok().map(Ok)
    }

    /// The address, and the Basic client id when given.
    fn subjects(a: &Admission<'_>) -> (SmallVec<[Subject; 2]>, Subject) {
        let ip = Subject::ip(a.ip);
        let mut subjects = SmallVec::new();
        subjects.push(ip.clone());
        subjects.extend(a.client_id.map(|c| Subject::Client(c.to_owned())));
        (subjects, ip)
    }

    /// The limiters of a request at the edge: its address, anonymous, client.
    fn limits(
        a: &Admission<'_>,
        subjects: SmallVec<[Subject; 2]>,
        quotas: EdgeQuotas,
    ) -> SmallVec<[(LimitKey, Quota); 3]> {
        let key = |dimension, subject: Subject| LimitKey {
            realm_id: a.realm_id,
            group: a.group,
            dimension,
            subject,
        };
        let mut limits = SmallVec::new();
        // The subjects move into their keys: a client id is not copied again.
        for subject in subjects {
            match subject {
                Subject::Ip(_) if a.anonymous => {
                    limits.push((key(Dimension::Address, subject.clone()), quotas.address));
                    limits.push((key(Dimension::Anonymous, subject), quotas.anonymous));
                }
                Subject::Ip(_) => limits.push((key(Dimension::Address, subject), quotas.address)),
                _ => limits.push((key(Dimension::Principal, subject), quotas.client)),
            }
        }
        limits
    }

    /// Admits an authenticated request by its principal: the account's
    /// quota is the highest among its roles' tiers (the default realm's
    /// `realm-admin` counts as `super-admin`); a client acting as itself
    /// gets the `client` tier.
    pub async fn admit_principal(
        &self,
        group: Group,
        who: &Principal,
    ) -> Result<Option<Limited>, Refusal> {
        let now = self.i.clock.now();
        let realm_id = who.realm.id;
        let (subject, tier_roles, tier) = if let Some(key) = who.service_key {
            (Subject::ServiceKey(key), Vec::new(), Some(Fixed::Service))
        } else if who.claims.is_client_own() {
            let id = who.claims.client_id.clone().unwrap_or_default();
            (Subject::Client(id), Vec::new(), Some(Fixed::Client))
        } else {
            let Some(mut roles) = self.i.store_authz_roles(realm_id, who.user_id).await else {
                return Err(Refusal::Unavailable);
            };
            if who.realm.name == self.i.settings.default_realm
                && roles
                    .iter()
                    .any(|r| r == portcullis_policy::builtin::REALM_ADMIN)
            {
                roles.push(policy::SUPER_ADMIN.to_owned());
            }
            (Subject::Account(who.user_id), roles, None)
        };
        let state = &self.i.edge.state;
        let local = state.local();
        let subjects = std::slice::from_ref(&subject);
        if let Some(b) = local.and_then(|l| l.blocked_now(realm_id, subjects, now)) {
            return Err(Refusal::Blocked(b));
        }
        let quota_of = |policy: &Compiled| {
            let quota = match tier {
                Some(fixed) => policy.fixed(group, fixed),
                None => {
                    let roles: Vec<&str> = tier_roles.iter().map(String::as_str).collect();
                    policy.quota(group, Tier::Roles(&roles))
                }
            };
            (policy.enabled, quota)
        };
        let (enabled, quota) = match self.with_cached_policy(realm_id, unix_ms(now), quota_of) {
            Some(found) => found,
            None => quota_of(&*self.policy(realm_id).await),
        };
        let limits = [(
            LimitKey {
                realm_id,
                group,
                dimension: Dimension::Principal,
                subject: subject.clone(),
            },
            quota,
        )];
        let limits = if enabled { &limits[..] } else { &[] };
        let admitted = match local {
            // In process, an allowed request is counted without waiting; a
            // refusal (counted nowhere) is taken again below, to count its
            // strike.
            Some(local) => match local.take_now(limits, now) {
                Ok(tightest) => return Ok(tightest),
                Err(_) => state.take(limits, now).await.map_err(Stopped::Limited),
            },
            // Behind a round trip, the block and the limiter in one.
            None => state.admit(realm_id, subjects, limits, now).await,
        };
        let policy = self.policy(realm_id).await;
        self.admitted(realm_id, group, admitted, &policy, subject)
            .await
    }

    /// The refusal of a request [`crate::ports::EdgeState::admit`] stopped;
    /// a limiter's refusal counts a strike against `striker`.
    async fn admitted(
        &self,
        realm_id: Uuid,
        group: Group,
        admitted: Result<Option<Limited>, Stopped>,
        policy: &RateLimitPolicy,
        striker: Subject,
    ) -> Result<Option<Limited>, Refusal> {
        match admitted {
            Ok(tightest) => Ok(tightest),
            Err(Stopped::Blocked(b)) => Err(Refusal::Blocked(b)),
            Err(Stopped::Limited(limited)) => {
                metrics::counter!("portcullis_rate_limited_total", "group" => group.name())
                    .increment(1);
                self.strike(realm_id, &striker, 1, BlockReason::RateLimit, policy)
                    .await;
                Err(Refusal::Limited { limited, group })
            }
        }
    }

    /// Counts strikes against a caller; a block that begins is counted,
    /// logged and audited.
    async fn strike(
        &self,
        realm_id: Uuid,
        subject: &Subject,
        strikes: u32,
        reason: BlockReason,
        policy: &RateLimitPolicy,
    ) -> Option<Block> {
        let now = self.i.clock.now();
        let block = self
            .i
            .edge
            .state
            .strike(realm_id, subject, strikes, reason, &policy.strikes, now)
            .await?;
        metrics::counter!("portcullis_blocks_total", "reason" => reason.as_str()).increment(1);
        tracing::warn!(
            subject = %subject.describe(),
            reason = reason.as_str(),
            level = block.level,
            until = %block.until,
            "caller blocked"
        );
        crate::audit::event(
            self.i,
            realm_id,
            None,
            "edge.block",
            format!("block:{}", block.id),
            serde_json::to_value(&block).unwrap_or_default(),
        )
        .await;
        self.i.announce(crate::notices::Notice::Blocks { realm_id });
        Some(block)
    }

    /// Counts script-like input from `ip` (on a public endpoint) as the
    /// realm's policy says; returns the block that begins, if any.
    pub async fn strike_script_input(&self, realm_id: Uuid, ip: IpAddr) -> Option<Block> {
        let policy = self.policy(realm_id).await;
        let strikes = policy.strikes.script_input_strikes;
        if strikes == 0 {
            return None;
        }
        self.strike(
            realm_id,
            &Subject::ip(ip),
            strikes,
            BlockReason::ScriptInput,
            &policy,
        )
        .await
    }

    /// Records `key` until `until` (an HMAC nonce, an assertion id); false
    /// when it was used already, or the table is full (fail closed).
    pub async fn first_use(&self, key: &str, until: OffsetDateTime) -> bool {
        let now = self.i.clock.now();
        self.i.edge.state.first_use(key, until, now).await
    }
}

impl Inner {
    /// The role names a user holds now, from the compiled view (`None`
    /// when the view cannot be read: the user tier applies).
    async fn store_authz_roles(&self, realm_id: Uuid, user: Uuid) -> Option<Vec<String>> {
        crate::authz::Authz::new(self)
            .tier_role_names(realm_id, user)
            .await
            .ok()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn milliseconds_round_down_on_both_sides_of_the_epoch() {
        for nanos in [
            0i128,
            1,
            999_999,
            1_000_000,
            1_796_639_043_123_456_789,
            -1,
            -999_999,
            -1_000_000,
            -1_000_001,
        ] {
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            assert_eq!(
                i128::from(super::unix_ms(t)),
                nanos.div_euclid(1_000_000),
                "{nanos}"
            );
        }
    }
}
