//! A realm's rate-limit policy: the limiter groups, each with a window and
//! a quota per tier (anonymous callers, the roles of signed-in users, OAuth
//! clients, HMAC-signed services) and per client address, and the strike
//! rules that turn repeated refusals into blocks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, FieldError, Result};

/// The endpoint families limited separately (seed 002's limiter groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Password login and the second-factor and passkey steps that finish it.
    Login,
    /// Account registration.
    Registration,
    /// Everything that sends mail or SMS: password reset, verification,
    /// magic links, e-mail codes, e-mail change.
    Mail,
    /// The OAuth token endpoint.
    Token,
    /// Checks, token validation and introspection, for services.
    Service,
    /// The administrative API.
    Admin,
    /// Everything else, except discovery, JWKS and health (never limited).
    General,
}

impl Group {
    /// Every group, in a fixed order.
    pub const ALL: [Group; 7] = [
        Group::Login,
        Group::Registration,
        Group::Mail,
        Group::Token,
        Group::Service,
        Group::Admin,
        Group::General,
    ];

    /// The group's name, as in the policy document and the `RateLimit` headers.
    pub fn name(self) -> &'static str {
        match self {
            Group::Login => "login",
            Group::Registration => "registration",
            Group::Mail => "mail",
            Group::Token => "token",
            Group::Service => "service",
            Group::Admin => "admin",
            Group::General => "general",
        }
    }
}

/// The tier of a caller without credentials.
pub const ANONYMOUS: &str = "anonymous";
/// The tier of a signed-in user whose roles name no tier of their own.
pub const USER: &str = "user";
/// The tier of an OAuth client acting as itself.
pub const CLIENT: &str = "client";
/// The tier of an HMAC-signed service.
pub const SERVICE: &str = "service";
/// The tier of the default realm's administrators (the server's).
pub const SUPER_ADMIN: &str = "super-admin";

/// One group's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupLimits {
    /// Length of the sliding window, in seconds.
    pub window_seconds: u32,
    /// Requests one client address may make in a window, whoever signs them.
    pub per_ip: u32,
    /// Requests per window by tier: `anonymous` (keyed by address), `user`
    /// and role names (keyed by account; the highest quota among the
    /// account's roles applies), `client` (by client id), `service` (by
    /// service key). A tier missing here falls back to `user` for roles, and
    /// to `per_ip` otherwise.
    pub tiers: BTreeMap<String, u32>,
}

/// When refusals become blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrikeRules {
    /// Refusals (or script-like inputs) within `window_seconds` that block
    /// the caller.
    pub threshold: u32,
    /// The window strikes are counted in, in seconds.
    pub window_seconds: u32,
    /// Lengths of successive blocks of one caller, in seconds: the first
    /// block lasts the first, a second one within a day the second, and so
    /// on; the last repeats.
    pub block_seconds: Vec<u32>,
    /// Script-like input on public endpoints counts this many strikes
    /// (0: not at all).
    pub script_input_strikes: u32,
}

/// A realm's rate-limit policy. Realms without one use the server's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitPolicy {
    /// Whether requests are limited at all (blocks still apply when off).
    pub enabled: bool,
    /// Limits by group; every group must be present.
    pub groups: BTreeMap<Group, GroupLimits>,
    /// Strikes and blocks.
    pub strikes: StrikeRules,
}

/// A quota: `limit` requests in any `window_seconds` long stretch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed in a window.
    pub limit: u32,
    /// The window, in seconds.
    pub window_seconds: u32,
}

fn group(window_seconds: u32, per_ip: u32, tiers: &[(&str, u32)]) -> GroupLimits {
    GroupLimits {
        window_seconds,
        per_ip,
        tiers: tiers.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
    }
}

impl Default for RateLimitPolicy {
    /// Seed 000's quotas for the general group (anonymous 50, user 100,
    /// moderator 300, admin 500, super admin 1,000 per 15 minutes) and
    /// tighter or wider ones where an endpoint family calls for it.
    fn default() -> Self {
        let groups = [
            (Group::Login, group(900, 100, &[(ANONYMOUS, 30)])),
            (Group::Registration, group(3600, 20, &[(ANONYMOUS, 10)])),
            (Group::Mail, group(3600, 30, &[(ANONYMOUS, 10), (USER, 20)])),
            (
                Group::Token,
                group(60, 6_000, &[(ANONYMOUS, 600), (CLIENT, 3_000)]),
            ),
            (
                Group::Service,
                group(
                    60,
                    60_000,
                    &[
                        (ANONYMOUS, 6_000),
                        (USER, 600),
                        (CLIENT, 30_000),
                        (SERVICE, 60_000),
                    ],
                ),
            ),
            (
                Group::Admin,
                group(
                    900,
                    3_000,
                    &[
                        (USER, 100),
                        ("admin", 1_000),
                        ("realm-admin", 1_000),
                        (SUPER_ADMIN, 2_000),
                        (SERVICE, 2_000),
                    ],
                ),
            ),
            (
                Group::General,
                group(
                    900,
                    2_000,
                    &[
                        (ANONYMOUS, 50),
                        (USER, 100),
                        ("moderator", 300),
                        ("admin", 500),
                        ("realm-admin", 500),
                        (SUPER_ADMIN, 1_000),
                        (CLIENT, 1_000),
                        (SERVICE, 5_000),
                    ],
                ),
            ),
        ];
        Self {
            enabled: true,
            groups: groups.into_iter().collect(),
            strikes: StrikeRules {
                threshold: 20,
                window_seconds: 900,
                block_seconds: vec![60, 300, 1_800, 7_200, 86_400],
                script_input_strikes: 5,
            },
        }
    }
}

/// Longest window: a day.
const MAX_WINDOW: u32 = 86_400;
/// Longest block: a week.
const MAX_BLOCK: u32 = 7 * 86_400;
/// Most tiers per group.
const MAX_TIERS: usize = 64;

impl RateLimitPolicy {
    /// Every quota multiplied by `factor` (at least 1), for test and
    /// benchmark set-ups that must not be limited by accident.
    pub fn scaled(mut self, factor: u32) -> Self {
        for g in self.groups.values_mut() {
            g.per_ip = g.per_ip.saturating_mul(factor.max(1));
            for q in g.tiers.values_mut() {
                *q = q.saturating_mul(factor.max(1));
            }
        }
        self
    }

    /// Checks every field, naming each wrong one.
    pub fn validate(&self) -> Result<()> {
        let mut errors = Vec::new();
        for g in Group::ALL {
            if !self.groups.contains_key(&g) {
                errors.push(FieldError::new(
                    format!("groups.{}", g.name()),
                    "every limiter group must be given",
                ));
            }
        }
        for (g, limits) in &self.groups {
            let at = format!("groups.{}", g.name());
            if limits.window_seconds == 0 || limits.window_seconds > MAX_WINDOW {
                errors.push(FieldError::new(
                    format!("{at}.window_seconds"),
                    "must be between 1 and 86400",
                ));
            }
            if limits.per_ip == 0 {
                errors.push(FieldError::new(
                    format!("{at}.per_ip"),
                    "must be at least 1",
                ));
            }
            if limits.tiers.len() > MAX_TIERS {
                errors.push(FieldError::new(
                    format!("{at}.tiers"),
                    "at most 64 tiers per group",
                ));
            }
            for (name, quota) in &limits.tiers {
                if !valid_tier_name(name) {
                    errors.push(FieldError::new(
                        format!("{at}.tiers.{name}"),
                        "a tier is a role name: 1 to 64 letters, digits, '-', '_', '.' or ':'",
                    ));
                } else if *quota == 0 {
                    errors.push(FieldError::new(
                        format!("{at}.tiers.{name}"),
                        "must be at least 1",
                    ));
                }
            }
        }
        let s = &self.strikes;
        if s.threshold == 0 {
            errors.push(FieldError::new("strikes.threshold", "must be at least 1"));
        }
        if s.window_seconds == 0 || s.window_seconds > MAX_WINDOW {
            errors.push(FieldError::new(
                "strikes.window_seconds",
                "must be between 1 and 86400",
            ));
        }
        if s.block_seconds.is_empty() || s.block_seconds.len() > 16 {
            errors.push(FieldError::new(
                "strikes.block_seconds",
                "give 1 to 16 block lengths",
            ));
        }
        for (i, b) in s.block_seconds.iter().enumerate() {
            if *b == 0 || *b > MAX_BLOCK {
                errors.push(FieldError::new(
                    format!("strikes.block_seconds[{i}]"),
                    "must be between 1 and 604800",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }

    /// The quota of `tier` in `group`; for role tiers, the highest among
    /// `roles` that name one, else `user`'s.
    pub fn quota(&self, group: Group, tier: Tier<'_>) -> Quota {
        let Some(g) = self.groups.get(&group) else {
            return Quota {
                limit: u32::MAX,
                window_seconds: 1,
            };
        };
        let named = |name: &str| g.tiers.get(name).copied();
        let limit = match tier {
            Tier::Anonymous => named(ANONYMOUS),
            Tier::Client => named(CLIENT),
            Tier::Service => named(SERVICE),
            Tier::Roles(roles) => roles
                .iter()
                .filter_map(|r| named(r))
                .max()
                .or_else(|| named(USER)),
        }
        .unwrap_or(g.per_ip);
        Quota {
            limit,
            window_seconds: g.window_seconds,
        }
    }

    /// The quota of one client address in `group`.
    pub fn ip_quota(&self, group: Group) -> Quota {
        self.groups.get(&group).map_or(
            Quota {
                limit: u32::MAX,
                window_seconds: 1,
            },
            |g| Quota {
                limit: g.per_ip,
                window_seconds: g.window_seconds,
            },
        )
    }
}

/// Who a quota is for.
#[derive(Debug, Clone, Copy)]
pub enum Tier<'a> {
    /// No credentials.
    Anonymous,
    /// A signed-in user holding these roles.
    Roles(&'a [&'a str]),
    /// An OAuth client acting as itself.
    Client,
    /// An HMAC-signed service.
    Service,
}

fn valid_tier_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The quotas the edge looks up on every request that do not depend on
/// roles: per address, anonymous, client and service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fixed {
    /// One client address.
    Address,
    /// The `anonymous` tier.
    Anonymous,
    /// The `client` tier.
    Client,
    /// The `service` tier.
    Service,
}

/// A policy as the edge applies it: the document, and its fixed quotas
/// looked up once (a request then reads them from an array, not from the
/// document's maps). Derefs to the document.
#[derive(Debug)]
pub(crate) struct Compiled {
    policy: RateLimitPolicy,
    fixed: [[Quota; 4]; Group::ALL.len()],
}

impl Compiled {
    /// Compiles `policy`.
    pub(crate) fn new(policy: RateLimitPolicy) -> Self {
        let fixed = Group::ALL.map(|g| {
            [
                policy.ip_quota(g),
                policy.quota(g, Tier::Anonymous),
                policy.quota(g, Tier::Client),
                policy.quota(g, Tier::Service),
            ]
        });
        Self { policy, fixed }
    }

    /// The quota of `group` for `tier`: what [`RateLimitPolicy::ip_quota`]
    /// and [`RateLimitPolicy::quota`] say.
    pub(crate) fn fixed(&self, group: Group, tier: Fixed) -> Quota {
        let [login, registration, mail, token, service, admin, general] = &self.fixed;
        let [address, anonymous, client, signed] = match group {
            Group::Login => login,
            Group::Registration => registration,
            Group::Mail => mail,
            Group::Token => token,
            Group::Service => service,
            Group::Admin => admin,
            Group::General => general,
        };
        *match tier {
            Fixed::Address => address,
            Fixed::Anonymous => anonymous,
            Fixed::Client => client,
            Fixed::Service => signed,
        }
    }
}

impl std::ops::Deref for Compiled {
    type Target = RateLimitPolicy;

    fn deref(&self) -> &RateLimitPolicy {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_follows_seed_000() {
        let p = RateLimitPolicy::default();
        p.validate().unwrap();
        let q = |t| p.quota(Group::General, t).limit;
        assert_eq!(q(Tier::Anonymous), 50);
        assert_eq!(q(Tier::Roles(&["user"])), 100);
        assert_eq!(q(Tier::Roles(&["user", "moderator"])), 300);
        assert_eq!(q(Tier::Roles(&["admin"])), 500);
        assert_eq!(q(Tier::Roles(&[SUPER_ADMIN, "user"])), 1_000);
        // A role without a tier of its own gets the user's.
        assert_eq!(q(Tier::Roles(&["auditor"])), 100);
        assert_eq!(p.quota(Group::General, Tier::Anonymous).window_seconds, 900);
    }

    #[test]
    fn validation_names_every_wrong_field() {
        let mut p = RateLimitPolicy::default();
        p.groups.remove(&Group::Mail);
        if let Some(g) = p.groups.get_mut(&Group::Login) {
            g.window_seconds = 0;
            g.tiers.insert("bad name!".into(), 3);
            g.tiers.insert("user".into(), 0);
        }
        p.strikes.block_seconds = vec![60, 0];
        let Err(Error::Validation(errors)) = p.validate() else {
            panic!("accepted");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "groups.mail",
                "groups.login.window_seconds",
                "groups.login.tiers.bad name!",
                "groups.login.tiers.user",
                "strikes.block_seconds[1]",
            ]
        );
    }

    #[test]
    fn compiled_quotas_are_the_documents() {
        let mut policy = RateLimitPolicy::default();
        if let Some(g) = policy.groups.get_mut(&Group::Token) {
            g.tiers.remove(CLIENT);
        }
        let compiled = Compiled::new(policy.clone());
        for g in Group::ALL {
            assert_eq!(compiled.fixed(g, Fixed::Address), policy.ip_quota(g));
            for (fixed, tier) in [
                (Fixed::Anonymous, Tier::Anonymous),
                (Fixed::Client, Tier::Client),
                (Fixed::Service, Tier::Service),
            ] {
                assert_eq!(compiled.fixed(g, fixed), policy.quota(g, tier), "{g:?}");
            }
        }
        // A missing tier falls back to the address's quota.
        assert_eq!(
            compiled.fixed(Group::Token, Fixed::Client).limit,
            policy.groups[&Group::Token].per_ip
        );
        assert!(compiled.enabled);
    }

    #[test]
    fn scaling_multiplies_every_quota() {
        let p = RateLimitPolicy::default().scaled(10);
        assert_eq!(p.quota(Group::General, Tier::Anonymous).limit, 500);
        assert_eq!(p.ip_quota(Group::Login).limit, 1_000);
    }
}
