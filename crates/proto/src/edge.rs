//! Bodies of `/api/v1/security/*`: a realm's rate-limit policy and the
//! callers blocked in it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// One limiter group's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupLimitsDoc {
    /// Length of the sliding window, in seconds (1 to 86400).
    pub window_seconds: u32,
    /// Requests one client address may make in a window, whoever signs them.
    pub per_ip: u32,
    /// Requests per window by tier: `anonymous` (by address), `user` and
    /// role names (by account: the highest among the account's roles),
    /// `client` (by client id), `service` (by service key).
    pub tiers: BTreeMap<String, u32>,
}

/// When refusals become blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StrikeRulesDoc {
    /// Strikes within the window that block the caller.
    pub threshold: u32,
    /// The window strikes are counted in, in seconds.
    pub window_seconds: u32,
    /// Lengths of successive blocks, in seconds; the last repeats.
    pub block_seconds: Vec<u32>,
    /// Strikes one script-like input on a public endpoint counts (0: none).
    pub script_input_strikes: u32,
}

/// A realm's rate-limit policy. Groups: `login`, `registration`, `mail`,
/// `token`, `service`, `admin`, `general`; all must be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitPolicyDoc {
    /// Whether requests are limited (blocks apply either way).
    pub enabled: bool,
    /// Limits by group.
    pub groups: BTreeMap<String, GroupLimitsDoc>,
    /// Strikes and blocks.
    pub strikes: StrikeRulesDoc,
}

/// The policy in force in a realm.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RateLimitPolicyView {
    /// True when the realm has no policy of its own and the server's default applies.
    pub is_default: bool,
    /// The policy.
    pub policy: RateLimitPolicyDoc,
}

/// A blocked caller.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    /// Id, to lift the block by.
    pub id: Uuid,
    /// What is blocked: `ip`, `account`, `client` or `service_key`.
    pub kind: String,
    /// The address (an IPv6 /64 network), account id, client id or key id.
    pub subject: String,
    /// Why: `rate_limit` or `script_input`.
    pub reason: String,
    /// Which block of this caller in a row; later ones last longer.
    pub level: u32,
    /// When it began.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// When it ends unless lifted.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}
