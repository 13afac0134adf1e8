//! Accounts: registration, login with lockout, refresh-token rotation with
//! reuse detection, logout, password change, sessions, token validation.
//!
//! One module per seam: `register` creates accounts,
//! `holder` authenticates the holder of a refresh token without spending it,
//! `login` runs the first and second steps of a login, `sessions` starts
//! and ends sessions, `tokens` issues, rotates and checks tokens, and
//! `self_service` is what a signed-in user does with their own account.

mod holder;
mod login;
mod register;
mod self_service;
mod sessions;
#[cfg(test)]
mod tests;
mod tokens;
mod zero_trust;

pub use holder::{RefreshHolder, SessionInfo, rotate_in};
pub(crate) use register::{conflict_email, parse_name};
pub use tokens::{TokenRejection, Validation};

use secrecy::SecretString;

use crate::app::Inner;
use crate::mfa::MfaRequired;
use crate::model::Session;

/// RFC 8176 `amr` value of a password.
pub const AMR_PASSWORD: &str = "pwd";

/// The answer to a right password of an account whose address a realm
/// requires verified first.
pub const EMAIL_NOT_VERIFIED: &str = "this account's email address is not verified: open the link sent to it, or reset the password to get a new one";

/// The answer to a login the realm's risk policy blocks.
pub const RISK_BLOCKED: &str = "this sign-in was blocked by the realm's risk policy; try again later or contact your administrator";
/// The answer to a refresh the risk checks refused; the session is ended.
pub const RISK_SESSION_ENDED: &str =
    "this session was ended because its use looked unusual; log in again";

/// The one answer to a failed login, whatever failed.
pub const INVALID_CREDENTIALS: &str = "invalid email or password";

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// Client IP.
    pub ip: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Accept-Language header.
    pub accept_language: Option<String>,
    /// The `portcullis_canary` cookie, if the client sent one.
    pub canary: Option<String>,
}

/// A registration.
#[derive(Debug)]
pub struct NewAccount {
    /// Email as typed.
    pub email: String,
    /// Password.
    pub password: SecretString,
    /// Display name.
    pub name: Option<String>,
}

/// Tokens issued by login and refresh.
#[derive(Debug)]
pub struct IssuedTokens {
    /// Signed access token.
    pub access_token: String,
    /// Opaque refresh token (shown once; only its digest is stored).
    pub refresh_token: SecretString,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// The user with its roles, on login (a refresh does not read the
    /// account again).
    pub user: Option<crate::users::ManagedUser>,
    /// On login: how the user authenticated (RFC 8176: `pwd`, `otp`,
    /// `mfa`). Empty on refresh, which does not read the session.
    pub amr: Vec<String>,
    /// On login: the session's canary, for the `portcullis_canary` cookie.
    pub canary: Option<SecretString>,
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// The login is complete.
    Tokens(Box<IssuedTokens>),
    /// The user has a second factor: complete with
    /// [`Accounts::complete_login`].
    MfaRequired(MfaRequired),
}

/// What a correct password on the login page leads to.
#[derive(Debug)]
pub enum BrowserLogin {
    /// A single sign-on session and its cookie secret.
    Session(Box<Session>, SecretString),
    /// The user has a second factor: complete with
    /// [`Accounts::complete_browser_login`].
    MfaRequired(MfaRequired),
}

/// Account service.
pub struct Accounts<'a> {
    i: &'a Inner,
}

impl<'a> Accounts<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    // The services Accounts works with, built here and nowhere else in it.

    /// Collaborator: authz.
    fn authz(&self) -> crate::authz::Authz<'a> {
        crate::authz::Authz::new(self.i)
    }

    /// Collaborator: mfa.
    fn mfa(&self) -> crate::mfa::Mfa<'a> {
        crate::mfa::Mfa::new(self.i)
    }

    /// Collaborator: risk.
    fn risk(&self) -> crate::risk::Risk<'a> {
        crate::risk::Risk::new(self.i)
    }
}

fn count_login(result: &'static str) {
    metrics::counter!("portcullis_logins_total", "result" => result).increment(1);
}
