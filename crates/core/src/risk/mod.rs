//! Adaptive security: a device fingerprint per request, a baseline per
//! session, and nine named checks on every login and every refresh whose
//! weights add up to a risk score. The realm's thresholds turn the score
//! into a decision: allow, step up (a second factor), or block (and, on a
//! refresh, end the session).
//!
//! The checks (weights in brackets; see `docs/api.md`):
//!
//! 1. `canary_mismatch` (50): the request carries a canary cookie other
//!    than the one its session was given.
//! 2. `network_change` (15): the IP network (/24 for IPv4, /48 for IPv6)
//!    differs from the session's.
//! 3. `country_change` (30): the GeoIP country differs from the session's
//!    (needs a GeoIP database).
//! 4. `impossible_travel` (60): the distance from the session's last
//!    location, over the time since, needs more than 900 km/h (needs a
//!    GeoIP database with locations).
//! 5. `user_agent_change` (40): the browser family or operating system
//!    changed mid-session.
//! 6. `fingerprint_mismatch` (20): the device fingerprint (browser family,
//!    operating system, device kind, preferred language) changed; on a
//!    login, a device the account has not used before.
//! 7. `long_idle` (20): a refresh after more than 3 days without use.
//! 8. `failure_burst` (30): three or more failed logins of the account in
//!    the lockout window just before this success.
//! 9. `parallel_networks` (50): the session was used from another network
//!    less than a minute ago (one token in two places at once).

pub(crate) mod service;

pub use crate::model::risk::{
    Baseline, DEFAULT_FRESH_AUTH_MAX_AGE, KnownDevice, MismatchAction, RiskPolicy,
};
use std::net::IpAddr;

pub use service::Risk;

use portcullis_crypto::sha256;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// Where an address is, when a GeoIP database says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Latitude and longitude in degrees.
    pub location: Option<(f64, f64)>,
}

/// A GeoIP database (MaxMind format); none is shipped.
pub trait GeoIp: Send + Sync {
    /// What the database knows of `ip`.
    fn lookup(&self, ip: IpAddr) -> GeoInfo;
}

/// What a request tells about its device and place.
#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    /// The IP network: `/24` of an IPv4 address, `/48` of an IPv6 one.
    pub network: Option<String>,
    /// Browser or client family without version (`Firefox`, `curl`).
    pub ua_family: Option<String>,
    /// Operating system (`Linux`, `iOS`).
    pub os: Option<String>,
    /// `desktop`, `mobile`, `tablet`, `bot` or `unknown`.
    pub device: &'static str,
    /// Preferred language (first of `Accept-Language`), lower case.
    pub language: Option<String>,
    /// GeoIP facts.
    pub geo: GeoInfo,
    /// SHA-256 of the canary cookie presented, if any.
    pub canary: Option<Vec<u8>>,
    /// SHA-256 (hex, 16 bytes) of family, OS, device kind and language.
    pub fingerprint: String,
    /// When.
    pub at: OffsetDateTime,
}

/// The IP network of an address: `/24` for IPv4, `/48` for IPv6.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let (a, b, c) = (
                s.first().copied().unwrap_or(0),
                s.get(1).copied().unwrap_or(0),
                s.get(2).copied().unwrap_or(0),
            );
            format!("{a:x}:{b:x}:{c:x}::/48")
        }
    }
}

/// The device kind a User-Agent suggests.
fn device_kind(ua: &str) -> &'static str {
    let lower = ua.to_ascii_lowercase();
    if lower.is_empty() {
        "unknown"
    } else if [
        "bot",
        "crawler",
        "spider",
        "curl/",
        "wget/",
        "python-requests",
        "go-http-client",
    ]
    .iter()
    .any(|t| lower.contains(t))
    {
        "bot"
    } else if lower.contains("ipad") || lower.contains("tablet") {
        "tablet"
    } else if lower.contains("mobile") || lower.contains("iphone") || lower.contains("android") {
        "mobile"
    } else {
        "desktop"
    }
}

/// The first language of an `Accept-Language` header, lower case.
fn preferred_language(accept_language: Option<&str>) -> Option<String> {
    accept_language
        .and_then(|l| l.split(',').next())
        .map(|l| {
            l.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|l| !l.is_empty() && l.len() <= 35)
}

/// SHA-256 (hex, 16 bytes) of family, OS, device kind and language.
fn fingerprint_of(
    ua_family: Option<&str>,
    os: Option<&str>,
    device: &str,
    language: Option<&str>,
) -> String {
    let digest = sha256(
        format!(
            "{}\u{1f}{}\u{1f}{device}\u{1f}{}",
            ua_family.unwrap_or(""),
            os.unwrap_or(""),
            language.unwrap_or("")
        )
        .as_bytes(),
    );
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The device fingerprint of a request (what [`Signals::fingerprint`]
/// holds), without the rest of the signals: what the zero-trust check
/// compares with its session's on every authenticated request.
pub fn device_fingerprint(user_agent: Option<&str>, accept_language: Option<&str>) -> String {
    let ua = user_agent.unwrap_or("").trim();
    let (ua_family, os) = crate::device::family_and_os(ua);
    fingerprint_of(
        ua_family.as_deref(),
        os.as_deref(),
        device_kind(ua),
        preferred_language(accept_language).as_deref(),
    )
}

impl Signals {
    /// The signals of a request.
    pub fn of(
        ip: Option<&str>,
        user_agent: Option<&str>,
        accept_language: Option<&str>,
        canary: Option<&str>,
        geo: Option<&dyn GeoIp>,
        at: OffsetDateTime,
    ) -> Self {
        let ip: Option<IpAddr> = ip.and_then(|i| i.parse().ok());
        let ua = user_agent.unwrap_or("").trim();
        let (ua_family, os) = crate::device::family_and_os(ua);
        let device = device_kind(ua);
        let language = preferred_language(accept_language);
        let geo = match (ip, geo) {
            (Some(ip), Some(db)) => db.lookup(ip),
            _ => GeoInfo::default(),
        };
        let fingerprint = fingerprint_of(
            ua_family.as_deref(),
            os.as_deref(),
            device,
            language.as_deref(),
        );
        Self {
            network: ip.map(network_of),
            ua_family,
            os,
            device,
            language,
            geo,
            canary: canary
                .filter(|c| !c.is_empty() && c.len() <= 128)
                .map(|c| sha256(c.as_bytes()).to_vec()),
            fingerprint,
            at,
        }
    }

    /// A short description for device lists (`Firefox on Linux (desktop)`).
    pub fn describe(&self) -> String {
        format!(
            "{} on {} ({})",
            self.ua_family.as_deref().unwrap_or("Unknown browser"),
            self.os.as_deref().unwrap_or("unknown system"),
            self.device
        )
    }
}

impl Baseline {
    /// The baseline a request sets (at login), with the canary it was given.
    pub fn from_signals(s: &Signals, canary: Option<Vec<u8>>) -> Self {
        Self {
            network: s.network.clone(),
            ua_family: s.ua_family.clone(),
            os: s.os.clone(),
            fingerprint: s.fingerprint.clone(),
            country: s.geo.country.clone(),
            location: s.geo.location,
            canary,
            seen_at: s.at,
            risk_raised_at: None,
        }
    }

    /// The baseline after a use with `s` (the session's canary and raised
    /// risk stay).
    pub fn updated(&self, s: &Signals) -> Self {
        Self {
            canary: self.canary.clone(),
            risk_raised_at: self.risk_raised_at,
            ..Self::from_signals(s, None)
        }
    }
}

/// One of the nine checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// A canary cookie other than the session's.
    CanaryMismatch,
    /// Another IP network.
    NetworkChange,
    /// Another country.
    CountryChange,
    /// Faster than 900 km/h since the last use.
    ImpossibleTravel,
    /// Another browser family or operating system mid-session.
    UserAgentChange,
    /// Another device fingerprint, or an unknown device at login.
    FingerprintMismatch,
    /// A refresh after more than 3 days without use.
    LongIdle,
    /// Failed logins just before this one.
    FailureBurst,
    /// Used from another network less than a minute ago.
    ParallelNetworks,
}

impl Check {
    /// The check's name (in audit records and the docs).
    pub fn name(self) -> &'static str {
        match self {
            Self::CanaryMismatch => "canary_mismatch",
            Self::NetworkChange => "network_change",
            Self::CountryChange => "country_change",
            Self::ImpossibleTravel => "impossible_travel",
            Self::UserAgentChange => "user_agent_change",
            Self::FingerprintMismatch => "fingerprint_mismatch",
            Self::LongIdle => "long_idle",
            Self::FailureBurst => "failure_burst",
            Self::ParallelNetworks => "parallel_networks",
        }
    }

    /// What it adds to the score.
    pub fn weight(self) -> u32 {
        match self {
            Self::CanaryMismatch | Self::ParallelNetworks => 50,
            Self::NetworkChange => 15,
            Self::CountryChange | Self::FailureBurst => 30,
            Self::ImpossibleTravel => 60,
            Self::UserAgentChange => 40,
            Self::FingerprintMismatch | Self::LongIdle => 20,
        }
    }
}

/// Speed above which travel is impossible, in km/h (faster than a
/// commercial flight, door to door).
pub const MAX_SPEED_KMH: f64 = 900.0;
/// Idle time after which a refresh is suspect.
pub const LONG_IDLE: Duration = Duration::days(3);
/// Failed logins before a success that count as a burst.
pub const FAILURE_BURST: u64 = 3;
/// How recent another network's use must be to count as parallel.
pub const PARALLEL_WINDOW: Duration = Duration::minutes(1);

/// What the score leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Go on.
    Allow,
    /// Ask for a second factor first.
    StepUp,
    /// Refuse (and on a refresh, end the session).
    Block,
}

/// The checks that fired, their score and the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Checks that fired, in order.
    pub fired: Vec<Check>,
    /// Sum of their weights (at most 100).
    pub score: u32,
    /// The decision under the realm's policy.
    pub decision: Decision,
}

impl Assessment {
    fn of(fired: Vec<Check>, policy: &RiskPolicy) -> Self {
        let score = fired.iter().map(|c| c.weight()).sum::<u32>().min(100);
        let decision = if !policy.enabled || fired.is_empty() {
            Decision::Allow
        } else if score >= policy.block_at {
            Decision::Block
        } else if score >= policy.step_up_at {
            Decision::StepUp
        } else {
            Decision::Allow
        };
        Self {
            fired,
            score,
            decision,
        }
    }

    /// The fired checks' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.fired.iter().map(|c| c.name()).collect()
    }
}

/// Great-circle distance in km.
fn distance_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().atan2((1.0 - a).sqrt())
}

fn differs(a: Option<&String>, b: Option<&String>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a != b)
}

/// The checks of a refresh against its session's baseline.
pub fn assess_refresh(base: &Baseline, now: &Signals, policy: &RiskPolicy) -> Assessment {
    let mut fired = Vec::new();
    if let (Some(given), Some(shown)) = (&base.canary, &now.canary)
        && !portcullis_crypto::constant_time_eq(given, shown)
    {
        fired.push(Check::CanaryMismatch);
    }
    let network_changed = differs(base.network.as_ref(), now.network.as_ref());
    if network_changed {
        fired.push(Check::NetworkChange);
    }
    if differs(base.country.as_ref(), now.geo.country.as_ref()) {
        fired.push(Check::CountryChange);
    }
    let elapsed = now.at - base.seen_at;
    if let (Some(from), Some(to)) = (base.location, now.geo.location) {
        let hours = (elapsed.whole_seconds().max(1) as f64) / 3600.0;
        let km = distance_km(from, to);
        if km > 100.0 && km / hours > MAX_SPEED_KMH {
            fired.push(Check::ImpossibleTravel);
        }
    }
    if differs(base.ua_family.as_ref(), now.ua_family.as_ref())
        || differs(base.os.as_ref(), now.os.as_ref())
    {
        fired.push(Check::UserAgentChange);
    }
    if base.fingerprint != now.fingerprint {
        fired.push(Check::FingerprintMismatch);
    }
    if elapsed > LONG_IDLE {
        fired.push(Check::LongIdle);
    }
    if network_changed && elapsed < PARALLEL_WINDOW {
        fired.push(Check::ParallelNetworks);
    }
    Assessment::of(fired, policy)
}

/// The checks of a login: against the account's last login (when there is
/// one), its known devices and its recent failures.
pub fn assess_login(
    last: Option<&Baseline>,
    known_device: bool,
    has_devices: bool,
    recent_failures: u64,
    now: &Signals,
    policy: &RiskPolicy,
) -> Assessment {
    let mut fired = Vec::new();
    if let Some(last) = last {
        if differs(last.country.as_ref(), now.geo.country.as_ref()) {
            fired.push(Check::CountryChange);
        }
        if let (Some(from), Some(to)) = (last.location, now.geo.location) {
            let hours = ((now.at - last.seen_at).whole_seconds().max(1) as f64) / 3600.0;
            let km = distance_km(from, to);
            if km > 100.0 && km / hours > MAX_SPEED_KMH {
                fired.push(Check::ImpossibleTravel);
            }
        }
    }
    // The first device of an account is not suspect.
    if has_devices && !known_device {
        fired.push(Check::FingerprintMismatch);
    }
    if recent_failures >= FAILURE_BURST {
        fired.push(Check::FailureBurst);
    }
    Assessment::of(fired, policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2026-11-24 12:00 UTC);
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

    struct Fixed(GeoInfo);
    impl GeoIp for Fixed {
        fn lookup(&self, _: IpAddr) -> GeoInfo {
            self.0.clone()
        }
    }

    fn at(ip: &str, ua: &str, lang: &str, geo: Option<GeoInfo>, t: OffsetDateTime) -> Signals {
        let db = geo.map(Fixed);
        Signals::of(
            Some(ip),
            Some(ua),
            Some(lang),
            None,
            db.as_ref().map(|d| d as &dyn GeoIp),
            t,
        )
    }

    fn paris() -> GeoInfo {
        GeoInfo {
            country: Some("FR".into()),
            asn: Some(3215),
            location: Some((48.86, 2.35)),
        }
    }

    fn sydney() -> GeoInfo {
        GeoInfo {
            country: Some("AU".into()),
            asn: Some(1221),
            location: Some((-33.87, 151.21)),
        }
    }

    #[test]
    fn the_per_request_fingerprint_is_the_signals_one() {
        for (ua, lang) in [
            (Some(FIREFOX), Some("en-GB,en;q=0.8")),
            (Some(SAFARI_IOS), Some("de")),
            (Some("curl/8.5.0"), None),
            (None, None),
        ] {
            let s = Signals::of(
                Some("192.0.2.1"),
                ua,
                lang,
                None,
                None,
                OffsetDateTime::UNIX_EPOCH,
            );
            assert_eq!(device_fingerprint(ua, lang), s.fingerprint, "{ua:?}");
        }
        assert_ne!(
            device_fingerprint(Some(FIREFOX), Some("en")),
            device_fingerprint(Some(SAFARI_IOS), Some("en"))
        );
        assert_ne!(
            device_fingerprint(Some(FIREFOX), Some("en")),
            device_fingerprint(Some(FIREFOX), Some("fr"))
        );
        // Another version of the same browser is the same device.
        assert_eq!(
            device_fingerprint(Some(FIREFOX), Some("en")),
            device_fingerprint(Some(&FIREFOX.replace("120.0", "121.0")), Some("en"))
        );
    }

    #[test]
    fn networks_and_fingerprints() {
        assert_eq!(
            network_of("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            network_of("2001:db8:1234:5678::1".parse().unwrap()),
            "2001:db8:1234::/48"
        );
        let a = at("203.0.113.7", FIREFOX, "en-GB,en;q=0.8", None, T);
        assert_eq!(a.ua_family.as_deref(), Some("Firefox"));
        assert_eq!(a.os.as_deref(), Some("Linux"));
        assert_eq!(
            (a.device, a.language.as_deref()),
            ("desktop", Some("en-gb"))
        );
        // The same device on another network keeps its fingerprint.
        let b = at("198.51.100.9", FIREFOX, "en-GB", None, T);
        assert_eq!(a.fingerprint, b.fingerprint);
        let c = at("203.0.113.7", SAFARI_IOS, "en-GB", None, T);
        assert_eq!(c.device, "mobile");
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_eq!(a.describe(), "Firefox on Linux (desktop)");
    }

    #[test]
    fn a_quiet_refresh_is_allowed() {
        let s = at("203.0.113.7", FIREFOX, "en", Some(paris()), T);
        let base = Baseline::from_signals(&s, None);
        let later = at(
            "203.0.113.9",
            FIREFOX,
            "en",
            Some(paris()),
            T + Duration::hours(1),
        );
        let a = assess_refresh(&base, &later, &RiskPolicy::default());
        assert_eq!(
            (a.fired.as_slice(), a.score, a.decision),
            (&[][..], 0, Decision::Allow)
        );
    }

    #[test]
    fn each_refresh_check_fires_on_its_own_signal() {
        let policy = RiskPolicy::default();
        let s = at("203.0.113.7", FIREFOX, "en", Some(paris()), T);
        let base = Baseline::from_signals(&s, Some(sha256(b"canary").to_vec()));
        let hour = T + Duration::hours(1);
        let cases: Vec<(Signals, Vec<Check>)> = vec![
            (
                at("198.51.100.1", FIREFOX, "en", Some(paris()), hour),
                vec![Check::NetworkChange],
            ),
            (
                at(
                    "198.51.100.1",
                    FIREFOX,
                    "en",
                    Some(paris()),
                    T + Duration::seconds(20),
                ),
                vec![Check::NetworkChange, Check::ParallelNetworks],
            ),
            (
                at(
                    "203.0.113.7",
                    FIREFOX,
                    "en",
                    Some(GeoInfo {
                        location: None,
                        ..sydney()
                    }),
                    hour,
                ),
                vec![Check::CountryChange],
            ),
            (
                at("203.0.113.7", FIREFOX, "en", Some(sydney()), hour),
                vec![Check::CountryChange, Check::ImpossibleTravel],
            ),
            (
                at("203.0.113.7", SAFARI_IOS, "en", Some(paris()), hour),
                vec![Check::UserAgentChange, Check::FingerprintMismatch],
            ),
            (
                at("203.0.113.7", FIREFOX, "de", Some(paris()), hour),
                vec![Check::FingerprintMismatch],
            ),
            (
                at(
                    "203.0.113.7",
                    FIREFOX,
                    "en",
                    Some(paris()),
                    T + Duration::days(8),
                ),
                vec![Check::LongIdle],
            ),
        ];
        for (signals, expected) in cases {
            assert_eq!(
                assess_refresh(&base, &signals, &policy).fired,
                expected,
                "{signals:?}"
            );
        }
        // Sydney a day later is a long flight, not an impossible one.
        let day = at(
            "203.0.113.7",
            FIREFOX,
            "en",
            Some(sydney()),
            T + Duration::hours(30),
        );
        assert_eq!(
            assess_refresh(&base, &day, &policy).fired,
            vec![Check::CountryChange]
        );
        // A canary other than the session's.
        let mut odd = at("203.0.113.7", FIREFOX, "en", Some(paris()), hour);
        odd.canary = Some(sha256(b"other").to_vec());
        assert_eq!(
            assess_refresh(&base, &odd, &policy).fired,
            vec![Check::CanaryMismatch]
        );
        odd.canary = Some(sha256(b"canary").to_vec());
        assert!(assess_refresh(&base, &odd, &policy).fired.is_empty());
    }

    #[test]
    fn scores_meet_the_thresholds() {
        let policy = RiskPolicy::default();
        let s = at("203.0.113.7", FIREFOX, "en", Some(paris()), T);
        let base = Baseline::from_signals(&s, None);
        let hour = T + Duration::hours(1);
        // A network change alone is allowed (15 < 40).
        let a = assess_refresh(
            &base,
            &at("198.51.100.1", FIREFOX, "en", Some(paris()), hour),
            &policy,
        );
        assert_eq!((a.score, a.decision), (15, Decision::Allow));
        // Another browser mid-session: 40 + 20, a step up.
        let a = assess_refresh(
            &base,
            &at("203.0.113.7", SAFARI_IOS, "en", Some(paris()), hour),
            &policy,
        );
        assert_eq!((a.score, a.decision), (60, Decision::StepUp));
        assert_eq!(a.names(), vec!["user_agent_change", "fingerprint_mismatch"]);
        // Sydney within the hour on another device: blocked (capped at 100).
        let a = assess_refresh(
            &base,
            &at("198.51.100.1", SAFARI_IOS, "en", Some(sydney()), hour),
            &policy,
        );
        assert_eq!((a.score, a.decision), (100, Decision::Block));
        // A realm that turned the checks off allows everything.
        let off = RiskPolicy {
            enabled: false,
            ..policy
        };
        assert_eq!(
            assess_refresh(
                &base,
                &at("198.51.100.1", SAFARI_IOS, "en", Some(sydney()), hour),
                &off
            )
            .decision,
            Decision::Allow
        );
    }

    #[test]
    fn login_checks() {
        let policy = RiskPolicy::default();
        let s = at("203.0.113.7", FIREFOX, "en", Some(paris()), T);
        let last = Baseline::from_signals(&s, None);
        let now = at(
            "203.0.113.7",
            FIREFOX,
            "en",
            Some(paris()),
            T + Duration::hours(2),
        );
        assert!(
            assess_login(Some(&last), true, true, 0, &now, &policy)
                .fired
                .is_empty()
        );
        // The first device of an account is fine; a new one later is noted.
        assert!(
            assess_login(None, false, false, 0, &now, &policy)
                .fired
                .is_empty()
        );
        let a = assess_login(Some(&last), false, true, 0, &now, &policy);
        assert_eq!(
            (a.names(), a.decision),
            (vec!["fingerprint_mismatch"], Decision::Allow)
        );
        let a = assess_login(Some(&last), false, true, 4, &now, &policy);
        assert_eq!((a.score, a.decision), (50, Decision::StepUp));
        let far = at(
            "203.0.113.7",
            FIREFOX,
            "en",
            Some(sydney()),
            T + Duration::hours(2),
        );
        let a = assess_login(Some(&last), true, true, 0, &far, &policy);
        assert_eq!(a.names(), vec!["country_change", "impossible_travel"]);
        assert_eq!(a.decision, Decision::Block);
    }
}
