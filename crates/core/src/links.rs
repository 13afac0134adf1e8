//! Single-use links sent by e-mail for signing in (magic links) and for
//! changing an account's address.
//!
//! A link carries a token of 256 random bits; only a digest is stored, and
//! the token is spent by one conditional update (of two racing uses exactly
//! one wins). Links are built from the configured public URL, never from
//! request headers.
//!
//! **Magic links** are bound to the login attempt that asked for them: the
//! request answers with an opaque `attempt` secret (256 bits) that the
//! asking browser keeps, and the stored digest is an HMAC-SHA256 of the
//! link's token keyed with that secret. Completing the login needs both the
//! token from the mail and the attempt, so a link opened in another browser
//! (or forwarded) cannot complete it. The request answers the same, after
//! the same work, whether or not the address has an account; it is
//! rate-limited per address and per client IP, and the look-up and the
//! mail happen on a background task. A link lives ten minutes. The mailbox
//! is a single factor: the login's `amr` is `["otp"]` (RFC 8176 has no
//! e-mail value; a link holding a one-time secret is a one-time password),
//! and a user who must pass a second factor gets the MFA step, where
//! e-mail codes are not offered.
//!
//! **E-mail change**: the signed-in user (with a recent authentication)
//! asks for a new address; a confirmation link goes to the new address and
//! a notice to the old one; only the link switches the account, after
//! checking again that no other account took the address meanwhile. The
//! new address counts as verified. Sessions are kept: the change needed a
//! recent authentication, no credential changes, and the old address was
//! told (with the advice to change the password and end other sessions).

use std::sync::Arc;

use portcullis_crypto::{hmac_sha256, random_token, sha256};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use time::Duration;

use crate::accounts::{BrowserLogin, LoginOutcome, RequestMeta};
use crate::app::Inner;
use crate::audit::user_event as audit;
use crate::error::{Error, Result, StoreError};
use crate::mail::{EmailToken, EmailTokenPurpose, Mail, MailKind};
use crate::mfa::{ChallengePurpose, FirstStep, MfaRequired, Reauthentication};
use crate::model::{Email, Realm, User, new_id};
use crate::realms::ensure_enabled;
use crate::recovery::{
    addressee, invalid_token, live, live_token, presented_hash, spend_token, take,
    take_per_ip_and_address,
};
use crate::throttle;
use crate::tokens::Principal;

/// Lifetime of a magic link.
pub const MAGIC_LINK_TTL: Duration = Duration::minutes(10);
/// Magic links one address may be sent within the login window.
pub const MAGIC_LINK_MAX_PER_ADDRESS: u32 = 3;
/// Magic-link requests one client IP may make within the login window.
pub const MAGIC_LINK_MAX_PER_IP: u32 = 20;
/// Lifetime of an e-mail change's confirmation link.
pub const EMAIL_CHANGE_TTL: Duration = Duration::minutes(60);
/// E-mail changes a user may ask for within the login window.
pub const EMAIL_CHANGE_MAX: u32 = 3;
/// RFC 8176 `amr` value of a magic-link login (a one-time secret).
pub const AMR_MAGIC_LINK: &str = crate::mfa::AMR_OTP;

/// A magic link on its way (or not, for an unknown address: the answer is
/// the same).
#[derive(Debug)]
pub struct MagicLinkRequested {
    /// The attempt's secret: the browser that asked keeps it and presents
    /// it with the link's token.
    pub attempt: SecretString,
    /// Seconds the link lives.
    pub expires_in: u64,
}

/// The stored digest of a magic link's token, bound to its attempt.
fn magic_digest(attempt: &str, token: &str) -> Option<Vec<u8>> {
    let (a, t) = (attempt.trim(), token.trim());
    let plausible = |s: &str| !s.is_empty() && s.len() <= 128;
    (plausible(a) && plausible(t)).then(|| hmac_sha256(a.as_bytes(), t.as_bytes()).to_vec())
}

fn mail_values(user: &User, link: Option<String>, ttl: Option<Duration>) -> Map<String, Value> {
    let mut v = Map::new();
    if let Some(link) = link {
        v.insert("link".into(), link.into());
    }
    if let Some(ttl) = ttl {
        v.insert("expires_in_minutes".into(), ttl.whole_minutes().into());
    }
    v.insert(
        "name".into(),
        user.name.clone().map_or(Value::Null, Value::String),
    );
    v
}

/// Magic links and e-mail change.
pub struct Links<'a> {
    i: &'a Arc<Inner>,
}

impl<'a> Links<'a> {
    pub(crate) fn new(i: &'a Arc<Inner>) -> Self {
        Self { i }
    }

    // The services Links works with, built here and nowhere else in it.
    /// Collaborator: mfa.
    fn mfa(&self) -> crate::mfa::Mfa<'a> {
        crate::mfa::Mfa::new(self.i)
    }

    /// Collaborator: mail.
    fn mail(&self) -> crate::mail::Mail<'a> {
        crate::mail::Mail::new(self.i)
    }

    /// Collaborator: accounts.
    fn accounts(&self) -> crate::accounts::Accounts<'a> {
        crate::accounts::Accounts::new(self.i)
    }

    /// Asks for a magic link for `email`: when it has an active account, a
    /// link goes to it. The answer (an attempt secret) and the work done
    /// before answering are the same either way.
    pub async fn request_magic_link(
        &self,
        realm: &Arc<Realm>,
        email: &str,
        meta: &RequestMeta,
    ) -> Result<MagicLinkRequested> {
        ensure_enabled(realm)?;
        let i = &**self.i;
        let email = Email::parse(email)?;
        let limits = (MAGIC_LINK_MAX_PER_IP, MAGIC_LINK_MAX_PER_ADDRESS);
        take_per_ip_and_address(i, realm.id, "magic", meta, &email, limits).await?;
        let attempt = SecretString::from(random_token());
        let inner = self.i.clone();
        let realm = realm.clone();
        let bound = attempt.clone();
        tokio::spawn(async move {
            if let Err(e) = send_magic_link(&inner, &realm, &email, &bound).await {
                tracing::warn!(realm = %realm.name, error = %e, "could not queue a magic link");
            }
        });
        Ok(MagicLinkRequested {
            attempt,
            expires_in: MAGIC_LINK_TTL.whole_seconds().unsigned_abs(),
        })
    }

    /// Whether `token` is a live magic link of the attempt `attempt`.
    /// Spends nothing.
    pub async fn magic_link_is_live(
        &self,
        realm: &Realm,
        token: &str,
        attempt: &str,
    ) -> Result<bool> {
        let Some(hash) = magic_digest(attempt, token) else {
            return Ok(false);
        };
        live(self.i, realm, EmailTokenPurpose::MagicLink, &hash).await
    }

    /// Completes a magic-link login with the link's token and the attempt
    /// that asked for it: tokens (`amr` `["otp"]`), or the MFA step for a
    /// user who must pass a second factor (or whom the risk checks want
    /// one of). The account lockout applies.
    pub async fn magic_link_login(
        &self,
        realm: &Realm,
        token: &str,
        attempt: &str,
        meta: &RequestMeta,
    ) -> Result<LoginOutcome> {
        let purpose = ChallengePurpose::Api;
        let user = match self
            .pass_magic_link(realm, token, attempt, meta, purpose)
            .await?
        {
            Ok(user) => user,
            Err(required) => return Ok(LoginOutcome::MfaRequired(required)),
        };
        let tokens = self
            .accounts()
            .start_session(realm, user, vec![AMR_MAGIC_LINK.to_owned()], meta)
            .await?;
        Ok(LoginOutcome::Tokens(Box::new(tokens)))
    }

    /// [`Self::magic_link_login`] on the login pages: a single sign-on
    /// session, or the second step of the login form.
    pub async fn browser_magic_link_login(
        &self,
        realm: &Realm,
        token: &str,
        attempt: &str,
        meta: &RequestMeta,
    ) -> Result<BrowserLogin> {
        let purpose = ChallengePurpose::Browser;
        let user = match self
            .pass_magic_link(realm, token, attempt, meta, purpose)
            .await?
        {
            Ok(user) => user,
            Err(required) => return Ok(BrowserLogin::MfaRequired(required)),
        };
        let (session, secret) = self
            .accounts()
            .start_browser_session(realm, &user, vec![AMR_MAGIC_LINK.to_owned()], meta)
            .await?;
        Ok(BrowserLogin::Session(Box::new(session), secret))
    }

    /// A magic link as a login's first step: the user who passed it (their
    /// failed logins cleared), or the second step they still owe.
    async fn pass_magic_link(
        &self,
        realm: &Realm,
        token: &str,
        attempt: &str,
        meta: &RequestMeta,
        purpose: ChallengePurpose,
    ) -> Result<std::result::Result<User, MfaRequired>> {
        let (user, step_up) = self.take_magic_link(realm, token, attempt, meta).await?;
        let required = self
            .mfa()
            .challenge_for(realm, &user, purpose, FirstStep::MagicLink, step_up)
            .await?;
        if let Some(required) = required {
            return Ok(Err(required));
        }
        self.accounts().clear_failures(realm, &user).await?;
        Ok(Ok(user))
    }

    /// The first step of a magic-link login: spends the link and assesses
    /// the login's risk. The user, and whether the risk checks ask for a
    /// second factor (a blocked login is refused).
    async fn take_magic_link(
        &self,
        realm: &Realm,
        token: &str,
        attempt: &str,
        meta: &RequestMeta,
    ) -> Result<(User, bool)> {
        ensure_enabled(realm)?;
        let i = &**self.i;
        let hash = magic_digest(attempt, token).ok_or_else(invalid_token)?;
        let now = i.clock.now();
        let found = live_token(i, realm.id, EmailTokenPurpose::MagicLink, &hash, now)
            .await?
            .ok_or_else(invalid_token)?;
        let limits = &i.settings.login;
        let acct_key = throttle::account_key(&found.email);
        let failures = throttle::check_account(&*i.store, limits, realm.id, &acct_key, now).await?;
        spend_token(i, realm.id, EmailTokenPurpose::MagicLink, &hash, now).await?;
        let mut user = addressee(i, realm.id, &found)
            .await?
            .ok_or_else(invalid_token)?;
        if !user.active {
            return Err(Error::Forbidden("this account is deactivated"));
        }
        // Opening the link proved control of the address.
        user.email_verified = true;
        user.last_login_at = Some(now);
        user.updated_at = now;
        i.store.update_user(&user).await?;
        audit(
            i,
            realm.id,
            user.id,
            "auth.magic_link.used",
            json!({ "ip": meta.ip }),
        )
        .await;
        crate::orgs::domains::auto_join(i, &user).await;
        let step_up = self
            .accounts()
            .assess_login(realm, &user, failures, meta)
            .await?;
        Ok((user, step_up))
    }

    /// Asks to change the caller's address to `new_email` (needs a recent
    /// authentication): a confirmation link goes to the new address (older
    /// ones stop working) and a notice to the current one. Nothing changes
    /// until the link is used.
    pub async fn change_email(
        &self,
        who: &Principal,
        new_email: &str,
        proof: Reauthentication,
    ) -> Result<()> {
        let i = &**self.i;
        let realm = &who.realm;
        let user = self.mfa().require_recent_auth(who, proof).await?;
        let rename = |e: crate::FieldError| crate::FieldError::new("new_email", e.reason);
        let new = Email::parse(new_email).map_err(rename)?;
        if new.canonical() == user.email.canonical() {
            return Err(Error::field("new_email", "is the current address"));
        }
        crate::mail::signup::check(&new, realm.check_email_mx, i.mx.as_deref())
            .await
            .map_err(|e| Error::Validation(vec![rename(e)]))?;
        if i.store.get_user_by_email(realm.id, &new).await?.is_some() {
            return Err(Error::Conflict(
                "an account with this email address already exists".into(),
            ));
        }
        take(
            i,
            realm.id,
            &format!("mail:change:user:{}", user.id),
            EMAIL_CHANGE_MAX,
        )
        .await?;
        let now = i.clock.now();
        i.store
            .spend_email_tokens(realm.id, user.id, EmailTokenPurpose::EmailChange, now)
            .await?;
        let token = random_token();
        i.store
            .insert_email_token(&EmailToken {
                id: new_id(),
                realm_id: realm.id,
                user_id: user.id,
                purpose: EmailTokenPurpose::EmailChange,
                token_hash: sha256(token.as_bytes()).to_vec(),
                email: new.as_str().to_owned(),
                created_at: now,
                expires_at: now + EMAIL_CHANGE_TTL,
                used_at: None,
            })
            .await?;
        let link = format!(
            "{}/confirm-email-change?token={token}",
            i.settings.issuer(&realm.name)
        );
        let mut values = mail_values(&user, Some(link), Some(EMAIL_CHANGE_TTL));
        values.insert("new_email".into(), new.as_str().into());
        let mail = self.mail();
        mail.enqueue(realm, MailKind::EmailChange, &new, values)
            .await?;
        let mut notice = mail_values(&user, None, None);
        notice.insert("new_email".into(), new.as_str().into());
        mail.enqueue(realm, MailKind::EmailChangeNotice, &user.email, notice)
            .await?;
        audit(
            i,
            realm.id,
            user.id,
            "user.email.change_requested",
            json!({ "from": user.email.as_str(), "to": new.as_str() }),
        )
        .await;
        Ok(())
    }

    /// Switches an account to its new address with the token of the
    /// confirmation link, after checking that no other account took it
    /// meanwhile (409, the link stays usable). The address counts as
    /// verified; the user's other e-mail links stop working.
    pub async fn confirm_email_change(&self, realm: &Realm, token: &str) -> Result<User> {
        ensure_enabled(realm)?;
        let i = &**self.i;
        let hash = presented_hash(token).ok_or_else(invalid_token)?;
        let now = i.clock.now();
        let found = live_token(i, realm.id, EmailTokenPurpose::EmailChange, &hash, now)
            .await?
            .ok_or_else(invalid_token)?;
        let new = Email::parse(&found.email).map_err(|_| invalid_token())?;
        let taken = || {
            Error::Conflict(
                "another account uses this email address now; ask for the change again with another address"
                    .into(),
            )
        };
        if let Some(other) = i.store.get_user_by_email(realm.id, &new).await?
            && other.id != found.user_id
        {
            return Err(taken());
        }
        spend_token(i, realm.id, EmailTokenPurpose::EmailChange, &hash, now).await?;
        let mut user = i
            .store
            .get_user(realm.id, found.user_id)
            .await?
            .filter(|u| u.active)
            .ok_or_else(invalid_token)?;
        let old = user.email.clone();
        user.email = new;
        user.email_verified = true;
        user.updated_at = now;
        i.store.update_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(_) => taken(),
            other => other.into(),
        })?;
        for purpose in [
            EmailTokenPurpose::VerifyEmail,
            EmailTokenPurpose::PasswordReset,
            EmailTokenPurpose::MagicLink,
            EmailTokenPurpose::EmailChange,
        ] {
            i.store
                .spend_email_tokens(realm.id, user.id, purpose, now)
                .await?;
        }
        audit(
            i,
            realm.id,
            user.id,
            "user.email.changed",
            json!({ "from": old.as_str(), "to": user.email.as_str() }),
        )
        .await;
        crate::orgs::domains::auto_join(i, &user).await;
        Ok(user)
    }
}

/// The background half of a magic-link request.
async fn send_magic_link(
    i: &Inner,
    realm: &Realm,
    email: &Email,
    attempt: &SecretString,
) -> Result<()> {
    let Some(user) = i.store.get_user_by_email(realm.id, email).await? else {
        return Ok(());
    };
    if !user.active {
        return Ok(());
    }
    let token = random_token();
    let hash =
        magic_digest(attempt.expose_secret(), &token).ok_or(Error::Internal("magic link"))?;
    let now = i.clock.now();
    // Older links stay valid: each is bound to its own attempt.
    i.store
        .insert_email_token(&EmailToken {
            id: new_id(),
            realm_id: realm.id,
            user_id: user.id,
            purpose: EmailTokenPurpose::MagicLink,
            token_hash: hash,
            email: user.email.canonical(),
            created_at: now,
            expires_at: now + MAGIC_LINK_TTL,
            used_at: None,
        })
        .await?;
    let link = format!(
        "{}/magic-link?token={token}",
        i.settings.issuer(&realm.name)
    );
    Mail::new(i)
        .enqueue(
            realm,
            MailKind::MagicLink,
            &user.email,
            mail_values(&user, Some(link), Some(MAGIC_LINK_TTL)),
        )
        .await?;
    audit(i, realm.id, user.id, "auth.magic_link.sent", json!({})).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::magic_digest;

    #[test]
    fn a_link_is_bound_to_its_attempt() {
        let d = magic_digest("attempt-a", "token").unwrap();
        assert_eq!(magic_digest(" attempt-a ", "token"), Some(d.clone()));
        assert_ne!(magic_digest("attempt-b", "token"), Some(d.clone()));
        assert_ne!(magic_digest("attempt-a", "token2"), Some(d));
        assert_eq!(magic_digest("", "token"), None);
        assert_eq!(magic_digest("a", &"t".repeat(129)), None);
    }
}
