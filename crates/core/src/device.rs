//! A compact user-agent summary for session lists (`Firefox 120 on Linux`).
//!
//! Deliberately small: family and major version of the common browsers and
//! HTTP clients, and the operating system. Full device fingerprinting
//! (device kind, language, GeoIP) is in [`crate::risk`].

/// Parses a User-Agent header into `Family Major on OS`, or `None` when empty.
pub fn describe_user_agent(ua: &str) -> Option<String> {
    let ua = ua.trim();
    if ua.is_empty() {
        return None;
    }
    let family = browser(ua);
    let os = os(ua);
    Some(match (family, os) {
        (Some(f), Some(o)) => format!("{f} on {o}"),
        (Some(f), None) => f,
        (None, Some(o)) => format!("Unknown browser on {o}"),
        (None, None) => "Unknown".to_owned(),
    })
}

/// The browser or client family and the operating system, without
/// versions (`Firefox`, `Linux`): what a device fingerprint compares.
pub fn family_and_os(ua: &str) -> (Option<String>, Option<String>) {
    let strip = |s: String| -> String {
        match s.rsplit_once(' ') {
            Some((name, v)) if v.chars().all(|c| c.is_ascii_digit()) => name.to_owned(),
            _ => s,
        }
    };
    (browser(ua).map(strip), os(ua).map(strip))
}

fn version_after(ua: &str, token: &str) -> Option<String> {
    let start = ua.find(token)? + token.len();
    let rest = ua.get(start..)?;
    let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!major.is_empty()).then_some(major)
}

fn named(name: &str, ua: &str, token: &str) -> String {
    match version_after(ua, token) {
        Some(v) => format!("{name} {v}"),
        None => name.to_owned(),
    }
}

fn browser(ua: &str) -> Option<String> {
    // Order matters: many browsers also claim to be Chrome and Safari.
    const CLIENTS: &[(&str, &str)] = &[
        ("curl/", "curl"),
        ("Wget/", "Wget"),
        ("python-requests/", "Python Requests"),
        ("okhttp/", "OkHttp"),
        ("PostmanRuntime/", "Postman"),
        ("node-fetch", "node-fetch"),
        ("undici", "Node.js"),
        ("reqwest", "reqwest"),
        ("Go-http-client/", "Go HTTP client"),
    ];
    for (token, name) in CLIENTS {
        if ua.contains(token) {
            return Some(named(name, ua, token));
        }
    }
    if ua.contains("Edg/") {
        return Some(named("Edge", ua, "Edg/"));
    }
    if ua.contains("OPR/") {
        return Some(named("Opera", ua, "OPR/"));
    }
    if ua.contains("SamsungBrowser/") {
        return Some(named("Samsung Internet", ua, "SamsungBrowser/"));
    }
    if ua.contains("Firefox/") {
        return Some(named("Firefox", ua, "Firefox/"));
    }
    if ua.contains("HeadlessChrome/") {
        return Some(named("Headless Chrome", ua, "HeadlessChrome/"));
    }
    if ua.contains("Chromium/") {
        return Some(named("Chromium", ua, "Chromium/"));
    }
    if ua.contains("Chrome/") {
        return Some(named("Chrome", ua, "Chrome/"));
    }
    if ua.contains("CriOS/") {
        return Some(named("Chrome", ua, "CriOS/"));
    }
    if ua.contains("Safari/") && ua.contains("Version/") {
        return Some(named("Safari", ua, "Version/"));
    }
    None
}

fn os(ua: &str) -> Option<String> {
    if ua.contains("Android") {
        return Some(named("Android", ua, "Android "));
    }
    if ua.contains("iPhone") || ua.contains("iPad") {
        return Some("iOS".to_owned());
    }
    if ua.contains("Windows NT") {
        return Some("Windows".to_owned());
    }
    if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        return Some("macOS".to_owned());
    }
    if ua.contains("CrOS") {
        return Some("ChromeOS".to_owned());
    }
    if ua.contains("Linux") || ua.contains("X11") {
        return Some("Linux".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::describe_user_agent as d;

    #[test]
    fn common_agents() {
        assert_eq!(
            d("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0").as_deref(),
            Some("Firefox 120 on Linux")
        );
        assert_eq!(
            d("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51").as_deref(),
            Some("Edge 124 on Windows")
        );
        assert_eq!(
            d("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1").as_deref(),
            Some("Safari 17 on iOS")
        );
        assert_eq!(d("curl/8.5.0").as_deref(), Some("curl 8"));
        assert_eq!(d("").as_deref(), None);
        assert_eq!(d("???").as_deref(), Some("Unknown"));
    }
}
