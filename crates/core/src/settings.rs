//! Settings the domain services need, validated by the server's config loader.

use portcullis_crypto::Argon2Params;
use time::Duration;

use crate::model::RealmName;

/// Limits on failed logins.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    /// Failures within `window` after which an account is locked (default 5).
    pub max_failures_per_account: u32,
    /// Failures within `window` after which a client IP is refused (default 50).
    pub max_failures_per_ip: u32,
    /// The sliding window (default 15 minutes).
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_ip: 50,
            window: Duration::minutes(15),
        }
    }
}

/// Domain settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL of the server, without a trailing slash (`https://id.example.com`).
    pub public_url: String,
    /// Name of the realm created at first start and served by the short paths.
    pub default_realm: RealmName,
    /// Access-token lifetime (default 15 minutes).
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime (default 7 days). Each rotation starts a new lifetime,
    /// bounded by the session's.
    pub refresh_token_ttl: Duration,
    /// Absolute session lifetime (default 30 days).
    pub session_ttl: Duration,
    /// Password hashing parameters.
    pub argon2: Argon2Params,
    /// Password hashes computed at once (default: the number of cores).
    pub hash_concurrency: usize,
    /// Failed-login limits.
    pub login: LoginLimits,
    /// How often an instance reads the revocations other instances made
    /// on the shared database (default 250 ms; see [`crate::revocation`]).
    pub revocation_sync_interval: std::time::Duration,
    /// Sessions whose zero-trust facts are kept in memory (default 100,000;
    /// a session not in memory is read from the store on its next request).
    pub session_cache_capacity: usize,
    /// The rate-limit policy of realms that have none of their own.
    pub rate_limits: crate::edge::RateLimitPolicy,
    /// Proxies whose `X-Forwarded-For` names the client (none: the
    /// socket's address is the client's).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether requests pass the edge defences (default true): the client
    /// address through trusted proxies, blocks, the rate limiters and their
    /// headers, and the verification of HMAC-signed requests. Off only to
    /// measure what the defences cost; never in production.
    pub edge_defences: bool,
    /// Lifetime of an organization's invitation link (default 7 days).
    pub org_invitation_ttl: Duration,
    /// How long a decided identity document's images are kept (default 30
    /// days; `PORTCULLIS_DOCUMENT_RETENTION_DAYS`).
    pub document_retention: Duration,
}

impl Settings {
    /// Defaults for a public URL, as `cargo run` uses them.
    pub fn with_public_url(public_url: impl Into<String>) -> Self {
        Self {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            default_realm: RealmName::from_static("main"),
            access_token_ttl: Duration::minutes(15),
            refresh_token_ttl: Duration::days(7),
            session_ttl: Duration::days(30),
            argon2: Argon2Params::default(),
            hash_concurrency: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            login: LoginLimits::default(),
            revocation_sync_interval: std::time::Duration::from_millis(250),
            session_cache_capacity: 100_000,
            rate_limits: crate::edge::RateLimitPolicy::default(),
            trusted_proxies: Vec::new(),
            edge_defences: true,
            org_invitation_ttl: Duration::days(7),
            document_retention: Duration::days(30),
        }
    }

    /// The issuer URL of a realm: `{public_url}/realms/{realm}`.
    pub fn issuer(&self, realm: &RealmName) -> String {
        format!("{}/realms/{}", self.public_url, realm)
    }
}
