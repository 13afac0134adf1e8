//! Signup checks on an address's domain: disposable (throw-away) mail
//! providers are refused, and, when a realm asks for it, domains that
//! receive no mail (no MX record).
//!
//! The list of disposable domains is `disposable_domains.txt` beside this
//! file, compiled in: the blocklist of the disposable-email-domains project
//! (<https://github.com/disposable-email-domains/disposable-email-domains>,
//! `disposable_email_blocklist.conf`, dedicated to the public domain under
//! CC0 1.0), as published in its PyPI mirror `disposable-email-domains`
//! 0.0.293 (MIT), one lower-case domain per line, unedited. To update it,
//! replace the file with a newer release of that list.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::error::FieldError;
use crate::mail::MxAnswer;
use crate::model::Email;
use crate::ports::MxResolver;

static LIST: &str = include_str!("disposable_domains.txt");

static DISPOSABLE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    LIST.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Number of domains on the compiled-in list.
pub fn disposable_domain_count() -> usize {
    DISPOSABLE.len()
}

/// Whether a domain, or a domain it belongs to (`x.mailinator.com`), is a
/// disposable mail provider.
pub fn is_disposable(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut rest = domain.as_str();
    loop {
        if DISPOSABLE.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => return false,
        }
    }
}

/// The domain of an address (after the last `@`).
pub fn domain_of(email: &Email) -> &str {
    email.as_str().rsplit('@').next().unwrap_or_default()
}

/// Refuses a disposable address, and with `check_mx` one whose domain DNS
/// says receives no mail. A DNS failure (no definite answer) lets the
/// address through.
pub async fn check(
    email: &Email,
    check_mx: bool,
    resolver: Option<&dyn MxResolver>,
) -> Result<(), FieldError> {
    let domain = domain_of(email);
    if is_disposable(domain) {
        return Err(FieldError::new(
            "email",
            "uses a disposable email provider; use a permanent address",
        ));
    }
    if check_mx && let Some(resolver) = resolver {
        match resolver.mail_domain(domain).await {
            MxAnswer::NoMail => {
                return Err(FieldError::new(
                    "email",
                    "has a domain that receives no email (no MX record)",
                ));
            }
            MxAnswer::Accepts => {}
            MxAnswer::Unknown => {
                tracing::debug!(
                    domain,
                    "MX look-up gave no definite answer; accepting the address"
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_list_is_compiled_in() {
        assert!(disposable_domain_count() > 5_000);
        for d in [
            "mailinator.com",
            "guerrillamail.com",
            "10minutemail.com",
            "yopmail.com",
        ] {
            assert!(is_disposable(d), "{d}");
        }
        assert!(is_disposable("Inbox.Mailinator.COM."));
        for d in [
            "gmail.com",
            "example.com",
            "com",
            "",
            "protonmail.com",
            "mailinator.com.evil.org",
        ] {
            assert!(!is_disposable(d), "{d}");
        }
    }
}
