//! URLs holding secrets, hidden when printed: the database's and the
//! SMTP server's.

use std::fmt;

use secrecy::SecretString;

use super::ConfigError;
use super::mail::check_smtp_url;

/// A database URL whose `Debug` and `Display` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub(super) String);

impl DatabaseUrl {
    /// The full URL, password included: pass it to the driver, never to a log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether this is a SQLite URL.
    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                f.write_str(u.as_str())
            }
            _ => f.write_str(&self.0),
        }
    }
}

/// An SMTP URL whose `Debug` and `Display` hide the password.
#[derive(Clone)]
pub struct SmtpUrl(pub(super) SecretString);

impl SmtpUrl {
    /// Checks and wraps a URL (as the `smtp_url` setting does).
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        check_smtp_url("smtp_url", SecretString::from(url.to_owned()))
    }

    /// The full URL, password included: pass it to the transport, never to a log.
    pub fn expose(&self) -> &str {
        use secrecy::ExposeSecret;
        self.0.expose_secret()
    }
}

/// Writes a URL with its password, if any, as `***`.
pub(crate) fn write_redacted(f: &mut fmt::Formatter<'_>, url: &str) -> fmt::Result {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            f.write_str(u.as_str())
        }
        // A URL the url crate does not read (a Sentinel URL's host list):
        // whatever stands before its last `@` is hidden.
        Err(_) => match url.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((_, host)) => write!(f, "{scheme}://***@{host}"),
                None => f.write_str(url),
            },
            None => f.write_str("(invalid URL)"),
        },
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_redacted(f, self.expose())
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpUrl({self})")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}
