//! E-mail verification and password reset by single-use links.
//!
//! Link tokens are 256 random bits, stored as SHA-256 digests, bound to the
//! user and the address they were sent to, and spent with a conditional
//! update (of two racing uses exactly one wins). Links are built from the
//! configured public URL only, never from request headers.
//!
//! `forgot-password` answers the same, after the same work, whether the
//! address has an account or not: the request records its rate-limit
//! entries and hands the look-up and the mail to a background task.

use std::sync::Arc;

use portcullis_crypto::{random_token, sha256};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use time::Duration;
use uuid::Uuid;

use crate::accounts::RequestMeta;
use crate::app::Inner;
use crate::audit::user_event as audit;
use crate::error::{Error, Result};
use crate::mail::{EmailToken, EmailTokenPurpose, Mail, MailKind};
use crate::model::{Email, Realm, User, new_id};
use crate::passwords::check_new_password;
use crate::realms::ensure_enabled;
use crate::throttle;
use crate::tokens::Principal;

/// Lifetime of a verification link.
pub const VERIFY_TTL: Duration = Duration::hours(24);
/// Lifetime of a password-reset link.
pub const RESET_TTL: Duration = Duration::minutes(30);
/// Verification mails a user may ask for within the login window.
pub const RESEND_MAX: u32 = 3;
/// Reset mails one address may be sent within the login window.
pub const FORGOT_MAX_PER_ADDRESS: u32 = 3;
/// Reset requests one client IP may make within the login window.
pub const FORGOT_MAX_PER_IP: u32 = 20;
/// Longest token accepted (ours are 43 characters).
const MAX_TOKEN_LEN: usize = 128;
/// The one answer to a token that is unknown, spent, expired or stale.
const INVALID_TOKEN: &str = "is invalid, expired or already used";

pub(crate) fn invalid_token() -> Error {
    Error::input("token", INVALID_TOKEN)
}

/// The digest of a presented token, or `None` for one that cannot be ours.
pub(crate) fn presented_hash(token: &str) -> Option<[u8; 32]> {
    let t = token.trim();
    (!t.is_empty() && t.len() <= MAX_TOKEN_LEN).then(|| sha256(t.as_bytes()))
}

/// Counts one request against a rate-limit key (stored with the failed
/// logins, under its own `mail:` keys), refusing with 429 when the key is
/// over `max` within the login window.
pub(crate) async fn take(i: &Inner, realm_id: Uuid, key: &str, max: u32) -> Result<()> {
    let now = i.clock.now();
    throttle::check(&*i.store, &i.settings.login, realm_id, key, max, now).await?;
    i.store.record_login_failure(realm_id, key, now).await?;
    Ok(())
}

/// Counts a request for a mail to `email` (`kind` names the mail in the
/// keys) against its limits per client IP and per address.
pub(crate) async fn take_per_ip_and_address(
    i: &Inner,
    realm_id: Uuid,
    kind: &str,
    meta: &RequestMeta,
    email: &Email,
    (per_ip, per_address): (u32, u32),
) -> Result<()> {
    if let Some(ip) = &meta.ip {
        take(i, realm_id, &format!("mail:{kind}:ip:{ip}"), per_ip).await?;
    }
    let key = format!("mail:{kind}:acct:{}", email.canonical());
    take(i, realm_id, &key, per_address).await
}

/// The account a link was mailed to, while that address is still its own.
pub(crate) async fn addressee(
    i: &Inner,
    realm_id: Uuid,
    token: &EmailToken,
) -> Result<Option<User>> {
    let user = i.store.get_user(realm_id, token.user_id).await?;
    Ok(user.filter(|u| u.email.canonical() == token.email))
}

/// Whether the stored token of `purpose` with digest `hash` is unused and
/// unexpired.
pub(crate) async fn live(
    i: &Inner,
    realm: &Realm,
    purpose: EmailTokenPurpose,
    hash: &[u8],
) -> Result<bool> {
    ensure_enabled(realm)?;
    let now = i.clock.now();
    Ok(live_token(i, realm.id, purpose, hash, now).await?.is_some())
}

/// Spends the token of `purpose` with digest `hash` at `now`: the one
/// conditional update that decides between racing uses. The token, or
/// [`invalid_token`] when it was not live.
pub(crate) async fn spend_token(
    i: &Inner,
    realm_id: Uuid,
    purpose: EmailTokenPurpose,
    hash: &[u8],
    now: time::OffsetDateTime,
) -> Result<EmailToken> {
    let spent = i
        .store
        .consume_email_token(realm_id, purpose, hash, now)
        .await?;
    spent.ok_or_else(invalid_token)
}

/// The stored token of `purpose` with digest `hash`, if it is unused and
/// unexpired at `now`.
pub(crate) async fn live_token(
    i: &Inner,
    realm_id: Uuid,
    purpose: EmailTokenPurpose,
    hash: &[u8],
    now: time::OffsetDateTime,
) -> Result<Option<EmailToken>> {
    let found = i.store.get_email_token(realm_id, purpose, hash).await?;
    Ok(found.filter(|t| t.used_at.is_none() && t.expires_at > now))
}

/// A new token of `purpose` for a user, stored (only its digest), after
/// spending the user's older tokens of that purpose. Returns the token.
async fn issue_token(
    i: &Inner,
    realm: &Realm,
    user: &User,
    purpose: EmailTokenPurpose,
    ttl: Duration,
) -> Result<SecretString> {
    let now = i.clock.now();
    i.store
        .spend_email_tokens(realm.id, user.id, purpose, now)
        .await?;
    let token = random_token();
    i.store
        .insert_email_token(&EmailToken {
            id: new_id(),
            realm_id: realm.id,
            user_id: user.id,
            purpose,
            token_hash: sha256(token.as_bytes()).to_vec(),
            email: user.email.canonical(),
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
        })
        .await?;
    Ok(SecretString::from(token))
}

/// `{issuer}/{page}?token=...`, from the configured public URL.
fn link(i: &Inner, realm: &Realm, page: &str, token: &SecretString) -> String {
    format!(
        "{}/{page}?token={}",
        i.settings.issuer(&realm.name),
        token.expose_secret()
    )
}

fn values(user: &User, link: String, ttl: Duration) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert("link".into(), link.into());
    v.insert("expires_in_minutes".into(), ttl.whole_minutes().into());
    v.insert(
        "name".into(),
        user.name.clone().map_or(Value::Null, Value::String),
    );
    v
}

/// Queues a verification mail for a user (a new link; older ones stop working).
pub(crate) async fn send_verification(i: &Inner, realm: &Realm, user: &User) -> Result<()> {
    let token = issue_token(i, realm, user, EmailTokenPurpose::VerifyEmail, VERIFY_TTL).await?;
    let link = link(i, realm, "verify-email", &token);
    Mail::new(i)
        .enqueue(
            realm,
            MailKind::VerifyEmail,
            &user.email,
            values(user, link, VERIFY_TTL),
        )
        .await?;
    audit(
        i,
        realm.id,
        user.id,
        "user.email.verification.sent",
        json!({ "email": user.email.as_str() }),
    )
    .await;
    Ok(())
}

/// Verification and reset service.
pub struct Recovery<'a> {
    i: &'a Arc<Inner>,
}

impl<'a> Recovery<'a> {
    pub(crate) fn new(i: &'a Arc<Inner>) -> Self {
        Self { i }
    }

    // The services Recovery works with, built here and nowhere else in it.

    /// Collaborator: accounts.
    fn accounts(&self) -> crate::accounts::Accounts<'a> {
        crate::accounts::Accounts::new(self.i)
    }

    /// Whether `token` is a live link of `purpose` (e-mail verification,
    /// password reset or e-mail change): known, unused and unexpired.
    /// Spends nothing; the pages that serve the links ask before showing
    /// their form. Magic links are checked with
    /// [`crate::links::Links::magic_link_is_live`].
    pub async fn link_is_live(
        &self,
        realm: &Realm,
        purpose: EmailTokenPurpose,
        token: &str,
    ) -> Result<bool> {
        if purpose == EmailTokenPurpose::MagicLink {
            return Ok(false);
        }
        let Some(hash) = presented_hash(token) else {
            return Ok(false);
        };
        live(self.i, realm, purpose, &hash).await
    }

    /// Marks an address verified with the token of a verification link.
    pub async fn verify_email(&self, realm: &Realm, token: &str) -> Result<User> {
        ensure_enabled(realm)?;
        let i = &**self.i;
        let hash = presented_hash(token).ok_or_else(invalid_token)?;
        let now = i.clock.now();
        let spent = spend_token(i, realm.id, EmailTokenPurpose::VerifyEmail, &hash, now).await?;
        let mut user = addressee(i, realm.id, &spent)
            .await?
            .ok_or_else(invalid_token)?;
        if !user.email_verified {
            user.email_verified = true;
            user.updated_at = now;
            i.store.update_user(&user).await?;
        }
        audit(
            i,
            realm.id,
            user.id,
            "user.email.verify",
            json!({ "email": user.email.as_str() }),
        )
        .await;
        crate::orgs::domains::auto_join(i, &user).await;
        Ok(user)
    }

    /// Sends the caller a new verification link (rate-limited).
    pub async fn resend_verification(&self, who: &Principal) -> Result<()> {
        let i = &**self.i;
        let user = self.accounts().me(who).await?;
        if user.email_verified {
            return Err(Error::Conflict(
                "this email address is already verified".into(),
            ));
        }
        take(
            i,
            who.realm.id,
            &format!("mail:verify:user:{}", user.id),
            RESEND_MAX,
        )
        .await?;
        send_verification(i, &who.realm, &user).await
    }

    /// Starts a password reset: when `email` has an active account, a reset
    /// link goes to it. The answer (and the work done before answering) is
    /// the same either way; rate-limited per address and per client IP.
    pub async fn forgot_password(
        &self,
        realm: &Arc<Realm>,
        email: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        ensure_enabled(realm)?;
        let i = &**self.i;
        let email = Email::parse(email)?;
        let limits = (FORGOT_MAX_PER_IP, FORGOT_MAX_PER_ADDRESS);
        take_per_ip_and_address(i, realm.id, "reset", meta, &email, limits).await?;
        let inner = self.i.clone();
        let realm = realm.clone();
        tokio::spawn(async move {
            if let Err(e) = send_reset(&inner, &realm, &email).await {
                tracing::warn!(realm = %realm.name, error = %e, "could not queue a password-reset mail");
            }
        });
        Ok(())
    }

    /// Sets a new password with the token of a reset link: applies the
    /// password policy (before spending the token, so a refused password
    /// can be retried), spends the token and the user's other reset links,
    /// marks the address verified, and ends every session of the user.
    pub async fn reset_password(
        &self,
        realm: &Realm,
        token: &str,
        new_password: SecretString,
    ) -> Result<()> {
        ensure_enabled(realm)?;
        let i = &**self.i;
        let hash = presented_hash(token).ok_or_else(invalid_token)?;
        let now = i.clock.now();
        let found = live_token(i, realm.id, EmailTokenPurpose::PasswordReset, &hash, now)
            .await?
            .ok_or_else(invalid_token)?;
        let user = addressee(i, realm.id, &found)
            .await?
            .filter(|u| u.active)
            .ok_or_else(invalid_token)?;
        check_new_password(
            "new_password",
            new_password.expose_secret(),
            realm.password_min_length,
            Some(&user.email),
        )?;
        let password_hash = i.passwords.hash(new_password).await?;
        let now = i.clock.now();
        spend_token(i, realm.id, EmailTokenPurpose::PasswordReset, &hash, now).await?;
        // Re-read: the account may have changed while the password hashed.
        let mut user = addressee(i, realm.id, &found)
            .await?
            .filter(|u| u.active)
            .ok_or_else(invalid_token)?;
        user.password_hash = Some(password_hash);
        user.email_verified = true;
        user.updated_at = now;
        i.store.update_user(&user).await?;
        i.store
            .spend_email_tokens(realm.id, user.id, EmailTokenPurpose::PasswordReset, now)
            .await?;
        self.accounts().end_all_sessions(realm.id, user.id).await?;
        i.store
            .clear_login_failures(realm.id, &throttle::account_key(&user.email.canonical()))
            .await?;
        audit(
            i,
            realm.id,
            user.id,
            "user.password.reset",
            json!({ "sessions_ended": true }),
        )
        .await;
        crate::orgs::domains::auto_join(i, &user).await;
        Ok(())
    }
}

/// The background half of a reset request.
async fn send_reset(i: &Inner, realm: &Realm, email: &Email) -> Result<()> {
    let Some(user) = i.store.get_user_by_email(realm.id, email).await? else {
        return Ok(());
    };
    if !user.active {
        return Ok(());
    }
    let token = issue_token(i, realm, &user, EmailTokenPurpose::PasswordReset, RESET_TTL).await?;
    let link = link(i, realm, "reset-password", &token);
    Mail::new(i)
        .enqueue(
            realm,
            MailKind::PasswordReset,
            &user.email,
            values(&user, link, RESET_TTL),
        )
        .await?;
    audit(
        i,
        realm.id,
        user.id,
        "user.password.reset.request",
        json!({}),
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::presented_hash;

    #[test]
    fn only_plausible_tokens_are_looked_up() {
        assert!(presented_hash("").is_none());
        assert!(presented_hash("   ").is_none());
        assert!(presented_hash(&"a".repeat(129)).is_none());
        assert_eq!(presented_hash(" abc "), presented_hash("abc"));
    }
}
