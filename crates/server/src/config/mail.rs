//! Checks of the outgoing mail's settings (`smtp_url`, `smtp_from`).

use secrecy::SecretString;

use super::{ConfigError, SmtpUrl, err};

/// Checks an SMTP URL's shape without ever echoing it (it may hold a password).
pub(super) fn check_smtp_url(setting: &str, url: SecretString) -> Result<SmtpUrl, ConfigError> {
    use secrecy::ExposeSecret;
    let parsed = url::Url::parse(url.expose_secret()).map_err(|_| {
        err(
            setting,
            "is not a URL such as smtp://host:25 or smtps://user:pass@host",
        )
    })?;
    if !matches!(parsed.scheme(), "smtp" | "smtps") {
        return Err(err(setting, "must start with smtp:// or smtps://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(err(setting, "must name a host"));
    }
    if let Some(tls) = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned())
        && !matches!(tls.as_str(), "required" | "opportunistic")
    {
        return Err(err(setting, "tls= must be required or opportunistic"));
    }
    Ok(SmtpUrl(url))
}

/// Checks a From address: `addr@domain` or `Name <addr@domain>`, one line.
pub(super) fn check_mailbox(text: &str) -> Result<(), String> {
    let t = text.trim();
    let address = match (t.rfind('<'), t.ends_with('>')) {
        (Some(start), true) => t.get(start + 1..t.len() - 1).unwrap_or_default(),
        _ => t,
    };
    let ok = !t.contains(['\r', '\n'])
        && address
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        && !address.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{t}' is not a mail address such as noreply@example.com or Name <noreply@example.com>"
        ))
    }
}
