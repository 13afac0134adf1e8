//! Login: the password step with its lockout, rate limits and risk checks,
//! the second step, and passwordless logins with a passkey.

use portcullis_crypto::Verification;
use secrecy::SecretString;
use uuid::Uuid;

use super::{
    AMR_PASSWORD, Accounts, BrowserLogin, EMAIL_NOT_VERIFIED, INVALID_CREDENTIALS, IssuedTokens,
    LoginOutcome, RISK_BLOCKED, RequestMeta, count_login,
};
use crate::error::{Error, Result};
use crate::federation::{AMR_FEDERATED, IdentityProvider, UPSTREAM_MFA_AMR};
use crate::mfa::{ChallengePurpose, FirstStep, MfaRequired};
use crate::model::{Email, Realm, Session, User};
use crate::realms::ensure_enabled;
use crate::throttle;

impl Accounts<'_> {
    /// Logs in with email and password: tokens, or, for a user with a
    /// second factor, a challenge to complete with [`Self::complete_login`].
    pub async fn login(
        &self,
        realm: &Realm,
        email: &str,
        password: SecretString,
        meta: &RequestMeta,
    ) -> Result<LoginOutcome> {
        let purpose = ChallengePurpose::Api;
        let user = match self
            .pass_password(realm, email, password, meta, purpose)
            .await?
        {
            Ok(user) => user,
            Err(required) => return Ok(LoginOutcome::MfaRequired(required)),
        };
        let amr = vec![AMR_PASSWORD.to_owned()];
        let tokens = self.start_session(realm, user, amr, meta).await?;
        count_login("success");
        Ok(LoginOutcome::Tokens(Box::new(tokens)))
    }

    /// Completes a login's second step: the tokens, with `amr` naming both
    /// steps.
    pub async fn complete_login(
        &self,
        realm: &Realm,
        mfa_token: &str,
        method: &str,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<IssuedTokens> {
        ensure_enabled(realm)?;
        let step = self
            .mfa()
            .complete(realm, mfa_token, method, code, ChallengePurpose::Api, meta)
            .await?;
        let tokens = self
            .start_session_via(realm, step.user, step.amr, step.idp, meta)
            .await?;
        count_login("success");
        Ok(tokens)
    }

    /// Logs in with email and password in a browser: starts a single
    /// sign-on session whose secret goes into a cookie (only its digest is
    /// stored), or, for a user with a second factor, a challenge to
    /// complete with [`Self::complete_browser_login`]. No tokens: clients
    /// get theirs through the authorization endpoint.
    pub async fn login_browser(
        &self,
        realm: &Realm,
        email: &str,
        password: SecretString,
        meta: &RequestMeta,
    ) -> Result<BrowserLogin> {
        let purpose = ChallengePurpose::Browser;
        let user = match self
            .pass_password(realm, email, password, meta, purpose)
            .await?
        {
            Ok(user) => user,
            Err(required) => return Ok(BrowserLogin::MfaRequired(required)),
        };
        let (session, secret) = self
            .start_browser_session(realm, &user, vec![AMR_PASSWORD.to_owned()], meta)
            .await?;
        Ok(BrowserLogin::Session(Box::new(session), secret))
    }

    /// Completes a browser login's second step: the single sign-on session.
    pub async fn complete_browser_login(
        &self,
        realm: &Realm,
        mfa_token: &str,
        method: &str,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<(Session, SecretString)> {
        ensure_enabled(realm)?;
        let step = self
            .mfa()
            .complete(
                realm,
                mfa_token,
                method,
                code,
                ChallengePurpose::Browser,
                meta,
            )
            .await?;
        self.start_browser_session_via(realm, &step.user, step.amr, step.idp, meta)
            .await
    }

    /// A passwordless login with a passkey: the answer to a ceremony from
    /// [`crate::mfa::Mfa::start_passkey_login`]. The tokens, `amr` `hwk`
    /// and `mfa` (the passkey verified its user).
    pub async fn login_with_passkey(
        &self,
        realm: &Realm,
        ceremony_id: Uuid,
        credential: &serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<IssuedTokens> {
        ensure_enabled(realm)?;
        let step = self
            .mfa()
            .finish_passkey_login(realm, ceremony_id, credential)
            .await?;
        let tokens = self.start_session(realm, step.user, step.amr, meta).await?;
        count_login("success");
        Ok(tokens)
    }

    /// A passwordless login with a passkey on the login page: the single
    /// sign-on session.
    pub async fn browser_login_with_passkey(
        &self,
        realm: &Realm,
        ceremony_id: Uuid,
        credential: &serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<(Session, SecretString)> {
        ensure_enabled(realm)?;
        let step = self
            .mfa()
            .finish_passkey_login(realm, ceremony_id, credential)
            .await?;
        self.start_browser_session(realm, &step.user, step.amr, meta)
            .await
    }

    /// Signs in a user an upstream provider vouched for (the federation
    /// service resolved the account): the realm's rules as after a
    /// password (an active account, a verified address where required, the
    /// risk checks, the second factor), unless the provider is trusted for
    /// a second factor and the upstream did one. The tokens, `amr` `fed`
    /// (and `mfa` for a trusted upstream factor), the session naming the
    /// provider.
    pub async fn login_upstream(
        &self,
        realm: &Realm,
        user: User,
        provider: &IdentityProvider,
        upstream_amr: &[String],
        meta: &RequestMeta,
    ) -> Result<LoginOutcome> {
        let purpose = ChallengePurpose::Api;
        let amr = match self
            .pass_upstream(realm, &user, provider, upstream_amr, meta, purpose)
            .await?
        {
            Ok(amr) => amr,
            Err(required) => return Ok(LoginOutcome::MfaRequired(required)),
        };
        let idp = Some(provider.alias.clone());
        let tokens = self.start_session_via(realm, user, amr, idp, meta).await?;
        count_login("success");
        Ok(LoginOutcome::Tokens(Box::new(tokens)))
    }

    /// [`Self::login_upstream`] in a browser: the single sign-on session.
    pub async fn login_upstream_browser(
        &self,
        realm: &Realm,
        user: &User,
        provider: &IdentityProvider,
        upstream_amr: &[String],
        meta: &RequestMeta,
    ) -> Result<BrowserLogin> {
        let purpose = ChallengePurpose::Browser;
        let amr = match self
            .pass_upstream(realm, user, provider, upstream_amr, meta, purpose)
            .await?
        {
            Ok(amr) => amr,
            Err(required) => return Ok(BrowserLogin::MfaRequired(required)),
        };
        let idp = Some(provider.alias.clone());
        let (session, secret) = self
            .start_browser_session_via(realm, user, amr, idp, meta)
            .await?;
        Ok(BrowserLogin::Session(Box::new(session), secret))
    }

    async fn pass_upstream(
        &self,
        realm: &Realm,
        user: &User,
        provider: &IdentityProvider,
        upstream_amr: &[String],
        meta: &RequestMeta,
        purpose: ChallengePurpose,
    ) -> Result<std::result::Result<Vec<String>, MfaRequired>> {
        ensure_enabled(realm)?;
        if !user.active {
            count_login("inactive");
            return Err(Error::Forbidden("this account is deactivated"));
        }
        if realm.require_verified_email && !user.email_verified {
            count_login("unverified");
            return Err(Error::Forbidden(EMAIL_NOT_VERIFIED));
        }
        let step_up = self.assess_login(realm, user, 0, meta).await?;
        let upstream_mfa = provider.config.trust_upstream_mfa
            && upstream_amr
                .iter()
                .any(|a| UPSTREAM_MFA_AMR.contains(&a.as_str()));
        let mut amr = vec![AMR_FEDERATED.to_owned()];
        if upstream_mfa {
            // The upstream's factors, then `mfa`: `acr` counts two.
            amr.extend(
                upstream_amr
                    .iter()
                    .filter(|a| *a != crate::mfa::AMR_MFA && UPSTREAM_MFA_AMR.contains(&a.as_str()))
                    .cloned(),
            );
            amr.push(crate::mfa::AMR_MFA.to_owned());
        } else if let Some(required) = self
            .mfa()
            .challenge_for(
                realm,
                user,
                purpose,
                FirstStep::Upstream(&provider.alias),
                step_up,
            )
            .await?
        {
            count_login("mfa_required");
            return Ok(Err(required));
        }
        let mut updated = user.clone();
        updated.last_login_at = Some(self.i.clock.now());
        self.i.store.update_user(&updated).await?;
        crate::audit::event(
            self.i,
            realm.id,
            Some(user.id),
            "login.federated",
            format!("user:{}", user.id),
            serde_json::json!({
                "provider": provider.alias,
                "amr": amr,
                "ip": meta.ip,
            }),
        )
        .await;
        Ok(Ok(amr))
    }

    /// A password as a login's first step, for `purpose`: checks it (with
    /// the lockout and rate limits), runs the risk checks (a blocked login
    /// is refused) and decides whether a second factor is owed. The user
    /// who passed, their failed logins cleared; or the second step they
    /// still owe (counted as `mfa_required`).
    async fn pass_password(
        &self,
        realm: &Realm,
        email: &str,
        password: SecretString,
        meta: &RequestMeta,
        purpose: ChallengePurpose,
    ) -> Result<std::result::Result<User, MfaRequired>> {
        let (user, failures) = self.check_password(realm, email, password, meta).await?;
        let mfa = self.mfa();
        let step_up = self.assess_login(realm, &user, failures, meta).await?;
        if let Some(required) = mfa
            .challenge_for(realm, &user, purpose, FirstStep::Password, step_up)
            .await?
        {
            count_login("mfa_required");
            return Ok(Err(required));
        }
        if failures > 0 {
            self.clear_failures(realm, &user).await?;
        }
        Ok(Ok(user))
    }

    /// Checks an email and password, with the realm's lockout and rate
    /// limits, and records the login on the account. Returns the user and
    /// whether the account has failed logins on record, which a completed
    /// login clears (not a password alone: a second factor's failures count
    /// against the account too).
    pub(crate) async fn check_password(
        &self,
        realm: &Realm,
        email: &str,
        password: SecretString,
        meta: &RequestMeta,
    ) -> Result<(User, usize)> {
        ensure_enabled(realm)?;
        let i = self.i;
        let now = i.clock.now();
        let limits = &i.settings.login;
        let email = Email::parse(email).map_err(Error::from)?;
        let acct_key = throttle::account_key(&email.canonical());
        let ip_key = meta.ip.as_deref().map(throttle::ip_key);
        if let Some(k) = &ip_key {
            throttle::check(
                &*i.store,
                limits,
                realm.id,
                k,
                limits.max_failures_per_ip,
                now,
            )
            .await
            .inspect_err(|_| count_login("rate_limited"))?;
        }
        let recent_failures = throttle::check_account(&*i.store, limits, realm.id, &acct_key, now)
            .await
            .inspect_err(|_| count_login("locked"))?;

        let user = i.store.get_user_by_email(realm.id, &email).await?;
        let verified = match user.as_ref().and_then(|u| u.password_hash.clone()) {
            Some(phc) => i.passwords.verify(password.clone(), phc).await?,
            None => {
                i.passwords.dummy_verify(password.clone()).await?;
                Verification::Invalid
            }
        };
        let (Some(mut user), Verification::Valid { needs_rehash }) = (user, verified) else {
            i.store
                .record_login_failure(realm.id, &acct_key, now)
                .await?;
            if let Some(k) = &ip_key {
                i.store.record_login_failure(realm.id, k, now).await?;
            }
            count_login("failure");
            return Err(Error::NotAuthenticated(INVALID_CREDENTIALS));
        };
        if !user.active {
            count_login("inactive");
            return Err(Error::Forbidden("this account is deactivated"));
        }
        if realm.require_verified_email && !user.email_verified {
            count_login("unverified");
            return Err(Error::Forbidden(EMAIL_NOT_VERIFIED));
        }
        if needs_rehash {
            user.password_hash = Some(i.passwords.hash(password).await?);
        }
        user.last_login_at = Some(now);
        user.updated_at = if needs_rehash { now } else { user.updated_at };
        i.store.update_user(&user).await?;
        Ok((user, recent_failures))
    }

    /// The risk checks of a login whose password was right: a blocked
    /// login is refused; whether the realm asks for a second factor.
    pub(crate) async fn assess_login(
        &self,
        realm: &Realm,
        user: &User,
        failures: usize,
        meta: &RequestMeta,
    ) -> Result<bool> {
        let risk = self.risk();
        let (assessment, _) = risk
            .assess_login(realm, user, failures as u64, meta)
            .await?;
        match assessment.decision {
            crate::risk::Decision::Allow => Ok(false),
            crate::risk::Decision::StepUp => Ok(true),
            crate::risk::Decision::Block => {
                count_login("risk_blocked");
                Err(Error::Forbidden(RISK_BLOCKED))
            }
        }
    }

    /// Forgets an account's failed logins once a login is complete.
    pub(crate) async fn clear_failures(&self, realm: &Realm, user: &User) -> Result<()> {
        let key = throttle::account_key(&user.email.canonical());
        self.i.store.clear_login_failures(realm.id, &key).await?;
        Ok(())
    }
}
