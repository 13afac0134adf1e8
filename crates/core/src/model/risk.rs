//! The records of adaptive security, as the storage ports speak them
//! ([`crate::risk`] is the service).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a session was last seen with: the baseline of the refresh checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// IP network.
    pub network: Option<String>,
    /// Browser family.
    pub ua_family: Option<String>,
    /// Operating system.
    pub os: Option<String>,
    /// Device fingerprint.
    pub fingerprint: String,
    /// GeoIP country.
    pub country: Option<String>,
    /// GeoIP location.
    pub location: Option<(f64, f64)>,
    /// SHA-256 of the canary cookie the session was given (browser logins).
    pub canary: Option<Vec<u8>>,
    /// Last use.
    #[serde(with = "time::serde::timestamp")]
    pub seen_at: OffsetDateTime,
    /// When a request from another device raised the session's risk (see
    /// [`crate::zero_trust`]): its sensitive operations then need a new
    /// authentication, on every instance.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::timestamp::option"
    )]
    pub risk_raised_at: Option<OffsetDateTime>,
}

/// A device a user has signed in with.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownDevice {
    /// Owning realm.
    pub realm_id: uuid::Uuid,
    /// The user.
    pub user_id: uuid::Uuid,
    /// Its fingerprint.
    pub fingerprint: String,
    /// `Firefox on Linux (desktop)`.
    pub description: String,
    /// First sign-in.
    pub first_seen_at: OffsetDateTime,
    /// Last sign-in.
    pub last_seen_at: OffsetDateTime,
    /// IP network of the last sign-in.
    pub last_network: Option<String>,
    /// GeoIP country of the last sign-in.
    pub country: Option<String>,
    /// GeoIP location of the last sign-in.
    pub location: Option<(f64, f64)>,
}

impl KnownDevice {
    /// The device's last sign-in as a baseline for the login checks.
    pub fn baseline(&self) -> Baseline {
        Baseline {
            network: self.last_network.clone(),
            ua_family: None,
            os: None,
            fingerprint: self.fingerprint.clone(),
            country: self.country.clone(),
            location: self.location,
            canary: None,
            seen_at: self.last_seen_at,
            risk_raised_at: None,
        }
    }
}

/// A realm's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskPolicy {
    /// Whether the checks run at all.
    pub enabled: bool,
    /// Score from which a second factor is asked for.
    pub step_up_at: u32,
    /// Score from which the login is refused, or the session ended.
    pub block_at: u32,
    /// Whether a login from a new device is mailed to the user.
    pub notify_new_device: bool,
    /// What a request from another device than its session's does (see
    /// [`crate::zero_trust`]); step up by default.
    #[serde(default)]
    pub on_device_mismatch: MismatchAction,
    /// Seconds since the session's authentication within which sensitive
    /// operations are allowed (default 300, 30 to 86,400).
    #[serde(default = "default_fresh_auth_max_age")]
    pub fresh_auth_max_age: u32,
}

/// The default of [`RiskPolicy::fresh_auth_max_age`]: five minutes.
pub const DEFAULT_FRESH_AUTH_MAX_AGE: u32 = 300;

fn default_fresh_auth_max_age() -> u32 {
    DEFAULT_FRESH_AUTH_MAX_AGE
}

/// What a realm does when a session's token comes from another device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchAction {
    /// Raise the session's risk: the request goes on, but sensitive
    /// operations need a fresh authentication or a step up.
    #[default]
    StepUp,
    /// End the session: the request and every later one are refused.
    EndSession,
}

impl MismatchAction {
    /// The wire name (`step_up`, `end_session`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StepUp => "step_up",
            Self::EndSession => "end_session",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "step_up" => Some(Self::StepUp),
            "end_session" => Some(Self::EndSession),
            _ => None,
        }
    }
}

impl Default for RiskPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            step_up_at: 40,
            block_at: 90,
            notify_new_device: true,
            on_device_mismatch: MismatchAction::StepUp,
            fresh_auth_max_age: DEFAULT_FRESH_AUTH_MAX_AGE,
        }
    }
}
