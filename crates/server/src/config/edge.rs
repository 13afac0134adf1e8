//! The edge's settings: trusted proxies and the default rate-limit policy.

use std::path::Path;

use ipnet::IpNet;
use portcullis_core::edge::RateLimitPolicy;

/// Most trusted proxy networks.
const MAX_PROXIES: usize = 64;
/// Largest policy file read.
const MAX_POLICY_BYTES: u64 = 64 * 1024;

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
