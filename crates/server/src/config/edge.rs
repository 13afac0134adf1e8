//! The edge's settings: trusted proxies, the default rate-limit policy,
//! and the switch of the edge defences as a whole.

use std::path::Path;

use ipnet::IpNet;
use portcullis_core::Settings;
use portcullis_core::edge::RateLimitPolicy;

use super::{ConfigError, err};

/// Most trusted proxy networks.
const MAX_PROXIES: usize = 64;
/// Largest policy file read.
const MAX_POLICY_BYTES: u64 = 64 * 1024;

/// The edge's settings as written, taken from the raw configuration.
#[derive(Debug, Default)]
pub(super) struct RawEdge {
    pub(super) trusted_proxies: Option<String>,
    pub(super) rate_limits: Option<String>,
    pub(super) rate_limits_file: Option<std::path::PathBuf>,
    pub(super) edge_defences: Option<String>,
}

/// Validates the edge's settings (`trusted_proxies`, `rate_limits_file`,
/// `rate_limits`, `edge_defences`) into `settings`; `n` names a setting as
/// the operator wrote it.
pub(super) fn apply(
    raw: RawEdge,
    settings: &mut Settings,
    n: impl Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if let Some(t) = raw.trusted_proxies {
        settings.trusted_proxies = trusted_proxies(&t).map_err(|r| err(n("trusted_proxies"), r))?;
    }
    if let Some(f) = raw.rate_limits_file {
        settings.rate_limits = policy_file(&f).map_err(|r| err(n("rate_limits_file"), r))?;
    }
    if let Some(t) = raw.rate_limits {
        settings.rate_limits.enabled &= switch(&t).map_err(|r| err(n("rate_limits"), r))?;
    }
    // Off only to measure what the defences cost; never in production.
    if let Some(t) = raw.edge_defences {
        settings.edge_defences = switch(&t).map_err(|r| err(n("edge_defences"), r))?;
    }
    Ok(())
}

/// `10.0.0.0/8, 192.0.2.7, ::1`: networks in CIDR notation, or single
/// addresses, separated by commas or spaces.
pub(super) fn trusted_proxies(text: &str) -> Result<Vec<IpNet>, String> {
    let mut out = Vec::new();
    for item in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let net = item
            .parse::<IpNet>()
            .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| {
                format!("'{item}' is not an address or a CIDR network such as 10.0.0.0/8")
            })?;
        out.push(net.trunc());
    }
    if out.len() > MAX_PROXIES {
        return Err(format!("at most {MAX_PROXIES} networks"));
    }
    Ok(out)
}

/// `on` (the default) or `off`.
pub(super) fn switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        other => Err(format!("'{other}' is neither on nor off")),
    }
}

/// A rate-limit policy from a JSON file (the document of
/// `PUT /api/v1/security/rate-limits`), checked field by field.
pub(super) fn policy_file(path: &Path) -> Result<RateLimitPolicy, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_POLICY_BYTES {
        return Err(format!("{} is larger than 64 KiB", path.display()));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let policy: RateLimitPolicy = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a rate-limit policy: {e}", path.display()))?;
    if let Err(portcullis_core::Error::Validation(errors)) = policy.validate() {
        let list: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.reason))
            .collect();
        return Err(format!("{}: {}", path.display(), list.join("; ")));
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(raw: RawEdge) -> Result<Settings, ConfigError> {
        let mut settings = Settings::with_public_url("http://127.0.0.1:8080");
        apply(raw, &mut settings, |k| {
            format!("PORTCULLIS_{}", k.to_uppercase())
        })?;
        Ok(settings)
    }

    #[test]
    fn edge_defences_switch() {
        // On unless switched off.
        assert!(applied(RawEdge::default()).unwrap().edge_defences);
        for (text, on) in [
            ("on", true),
            ("off", false),
            (" OFF ", false),
            ("true", true),
        ] {
            let raw = RawEdge {
                edge_defences: Some(text.to_owned()),
                ..RawEdge::default()
            };
            assert_eq!(applied(raw).unwrap().edge_defences, on, "{text}");
        }
        let raw = RawEdge {
            edge_defences: Some("sometimes".to_owned()),
            ..RawEdge::default()
        };
        let e = applied(raw).unwrap_err();
        assert_eq!(e.setting, "PORTCULLIS_EDGE_DEFENCES");
        assert!(e.reason.contains("sometimes"), "{e}");
        // Through the environment, as the benchmark sets it; the other
        // edge settings are kept.
        let env = [
            ("PORTCULLIS_EDGE_DEFENCES", "off"),
            ("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/8"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let c = super::super::Config::load(None, env).unwrap();
        assert!(!c.settings.edge_defences);
        assert_eq!(c.settings.trusted_proxies.len(), 1);
        assert!(c.settings.rate_limits.enabled);
    }

    #[test]
    fn proxies() {
        let nets = trusted_proxies("10.0.0.0/8, 192.0.2.7 ::1,,").unwrap();
        let text: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]);
        // Host bits are dropped.
        assert_eq!(
            trusted_proxies("10.1.2.3/8").unwrap()[0].to_string(),
            "10.0.0.0/8"
        );
        assert!(
            trusted_proxies("10.0.0.0/33")
                .unwrap_err()
                .contains("10.0.0.0/33")
        );
        assert!(trusted_proxies("proxy.example.com").is_err());
        assert!(trusted_proxies("").unwrap().is_empty());
    }

    #[test]
    fn policy_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        let p = RateLimitPolicy {
            enabled: false,
            ..RateLimitPolicy::default()
        };
        std::fs::write(&good, serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(policy_file(&good).unwrap(), p);
        let bad = dir.path().join("bad.json");
        let mut v = serde_json::to_value(&p).unwrap();
        v["groups"]["login"]["per_ip"] = 0.into();
        std::fs::write(&bad, v.to_string()).unwrap();
        assert!(
            policy_file(&bad)
                .unwrap_err()
                .contains("groups.login.per_ip")
        );
        let typo = dir.path().join("typo.json");
        v["groups"]["login"]["per_iq"] = 1.into();
        std::fs::write(&typo, v.to_string()).unwrap();
        assert!(policy_file(&typo).unwrap_err().contains("per_iq"));
    }
}
