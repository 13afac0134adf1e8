//! The login challenge that asks for a second factor after the first
//! step, its completion, and the recent authentication that changing the
//! factors requires.
//!
//! A login of a user with a confirmed factor stops after the password with
//! a challenge: a single-use `mfa_token` (256 random bits, stored as its
//! SHA-256 digest) that lives five minutes and is good only for the second
//! step. Five wrong codes end it, and every wrong code also counts as a
//! failed login of the account, so the account lockout bounds guessing
//! across challenges. A TOTP code is accepted once: the factor records the
//! last step used and a conditional update refuses that step or an earlier
//! one, so of two racing uses of one code exactly one wins.

use crate::model::mfa::{ChallengePurpose, MfaChallenge};
use portcullis_crypto::{Verification, random_token, sha256};
use secrecy::SecretString;
use time::Duration;

use super::{
    AMR_MFA, AMR_OTP, AMR_SMS, FactorKind, INVALID_CHALLENGE, METHOD_BACKUP_CODE, METHOD_EMAIL,
    METHOD_SMS, Mfa, backup, otp,
};
use crate::accounts::{AMR_PASSWORD, RequestMeta};
use crate::error::{Error, Result};
use crate::model::{Realm, User, new_id};
use crate::throttle;
use crate::tokens::Principal;

/// How long a login challenge (its `mfa_token`) lives.
pub const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// Wrong codes after which a challenge ends.
pub const MAX_CHALLENGE_FAILURES: u32 = 5;

/// What a wrong second-factor code gets.
const INVALID_CODE: &str = "invalid code";

/// The answer to a first step that needs a second one.
#[derive(Debug)]
pub struct MfaRequired {
    /// Single-use token for the second step (shown once).
    pub mfa_token: SecretString,
    /// Methods the user can complete the login with.
    pub methods: Vec<String>,
    /// Seconds the token lives.
    pub expires_in: u64,
}

/// A completed second step.
#[derive(Debug)]
pub struct SecondStep {
    /// The user, active.
    pub user: User,
    /// RFC 8176 values of every step (`pwd`, `otp`, `mfa`).
    pub amr: Vec<String>,
    /// The identity provider of the first step, if it went upstream.
    pub idp: Option<String>,
}

/// What the first step of a login was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstStep<'a> {
    /// The password.
    Password,
    /// A magic link: the mailbox is the first factor, so e-mail codes
    /// cannot be the second.
    MagicLink,
    /// A sign-in through the upstream identity provider of this alias.
    Upstream(&'a str),
}

/// A proof of a recent authentication sent with a change of factors.
#[derive(Debug, Default)]
pub struct Reauthentication {
    /// The account's password.
    pub password: Option<SecretString>,
    /// A current TOTP code or an unused backup code.
    pub code: Option<String>,
}

impl Mfa<'_> {
    /// After a correct first step: a challenge when the user has a
    /// confirmed factor, holds a role the realm requires MFA for, or when
    /// the risk checks ask for a step up (`step_up`), else `None` (the
    /// login is complete). A user who must pass a second factor
    /// but has none enrolled is offered a code by e-mail to the account's
    /// address. After a magic link, e-mail codes are not offered (the
    /// mailbox was the first factor); when nothing else is left the login
    /// is refused.
    pub(crate) async fn challenge_for(
        &self,
        realm: &Realm,
        user: &User,
        purpose: ChallengePurpose,
        first: FirstStep<'_>,
        step_up: bool,
    ) -> Result<Option<MfaRequired>> {
        let factors = self.i.store.list_factors(realm.id, user.id).await?;
        let mut methods: Vec<String> = Vec::new();
        for f in factors.iter().filter(|f| f.confirmed_at.is_some()) {
            let m = f.kind.as_str().to_owned();
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        // A second factor is asked for when one is enrolled, when the realm
        // requires it of one of the user's roles, or when the risk checks
        // want it for this login (a step up).
        let required =
            step_up || !methods.is_empty() || self.required_by_role(realm, user.id).await?;
        if !required {
            return Ok(None);
        }
        if !methods.is_empty() && self.i.store.count_backup_codes(realm.id, user.id).await? > 0 {
            methods.push(METHOD_BACKUP_CODE.to_owned());
        }
        if methods.is_empty() {
            // Required (by role or a step up) with nothing enrolled: the account's address
            // (verified, or in a realm that does not require verification,
            // as the first step already checked) gets a code.
            methods.push(METHOD_EMAIL.to_owned());
        }
        let first_amr = match first {
            FirstStep::Password => AMR_PASSWORD,
            FirstStep::Upstream(_) => crate::federation::AMR_FEDERATED,
            FirstStep::MagicLink => {
                methods.retain(|m| m != METHOD_EMAIL);
                if methods.is_empty() {
                    return Err(Error::Forbidden(
                        "this account needs a second factor other than e-mail: sign in with the password",
                    ));
                }
                AMR_OTP
            }
        };
        let token = random_token();
        let now = self.i.clock.now();
        let challenge = MfaChallenge {
            id: new_id(),
            realm_id: realm.id,
            user_id: user.id,
            token_hash: sha256(token.as_bytes()).to_vec(),
            purpose,
            methods: methods.clone(),
            amr: vec![first_amr.to_owned()],
            created_at: now,
            expires_at: now + CHALLENGE_TTL,
            consumed_at: None,
            failures: 0,
            otp: None,
            otp_sends: 0,
            otp_sent_at: None,
            idp: match first {
                FirstStep::Upstream(alias) => Some(alias.to_owned()),
                _ => None,
            },
        };
        self.i.store.insert_challenge(&challenge).await?;
        Ok(Some(MfaRequired {
            mfa_token: SecretString::from(token),
            methods,
            expires_in: CHALLENGE_TTL.whole_seconds().unsigned_abs(),
        }))
    }

    /// The open challenge of `mfa_token` for `purpose`, if any.
    pub(super) async fn open_challenge(
        &self,
        realm: &Realm,
        mfa_token: &str,
        purpose: ChallengePurpose,
    ) -> Result<MfaChallenge> {
        if mfa_token.is_empty() || mfa_token.len() > 128 {
            return Err(Error::NotAuthenticated(INVALID_CHALLENGE));
        }
        let now = self.i.clock.now();
        let found = self
            .i
            .store
            .find_challenge(realm.id, &sha256(mfa_token.as_bytes()))
            .await?;
        match found {
            Some(c) if c.consumed_at.is_none() && c.expires_at > now && c.purpose == purpose => {
                Ok(c)
            }
            _ => Err(Error::NotAuthenticated(INVALID_CHALLENGE)),
        }
    }

    /// The methods a challenge offers (for the login page's second step).
    pub async fn challenge_methods(
        &self,
        realm: &Realm,
        mfa_token: &str,
        purpose: ChallengePurpose,
    ) -> Result<Vec<String>> {
        Ok(self
            .open_challenge(realm, mfa_token, purpose)
            .await?
            .methods)
    }

    /// Completes a login's second step with `method` and `code`. The
    /// challenge is spent on success; a wrong code counts against it and
    /// against the account.
    pub(crate) async fn complete(
        &self,
        realm: &Realm,
        mfa_token: &str,
        method: &str,
        code: &str,
        purpose: ChallengePurpose,
        meta: &RequestMeta,
    ) -> Result<SecondStep> {
        let challenge = self.open_challenge(realm, mfa_token, purpose).await?;
        if !challenge.methods.iter().any(|m| m == method) {
            return Err(Error::input(
                "method",
                format!("must be one of: {}", challenge.methods.join(", ")),
            ));
        }
        let user = self.active_user(realm, challenge.user_id).await?;
        let now = self.i.clock.now();
        let limits = &self.i.settings.login;
        let acct_key = throttle::account_key(&user.email.canonical());
        throttle::check_account(&*self.i.store, limits, realm.id, &acct_key, now).await?;
        let checked = if otp::is_code_method(method) {
            // Checked and spent in one step: the challenge is spent below
            // only for the other methods.
            self.use_login_code(realm, &challenge, mfa_token, method, code)
                .await?
                .then_some(match method {
                    METHOD_SMS => AMR_SMS,
                    _ => AMR_OTP,
                })
        } else {
            self.check_code(realm, &user, method, code, Some(&challenge))
                .await?
        };
        let amr = match checked {
            Some(amr) => amr,
            None => {
                self.i
                    .store
                    .fail_challenge(realm.id, challenge.id, MAX_CHALLENGE_FAILURES, now)
                    .await?;
                self.i
                    .store
                    .record_login_failure(realm.id, &acct_key, now)
                    .await?;
                if let Some(ip) = meta.ip.as_deref() {
                    self.i
                        .store
                        .record_login_failure(realm.id, &throttle::ip_key(ip), now)
                        .await?;
                }
                self.record(
                    realm,
                    &user,
                    "mfa.verify.failed",
                    format!("user:{}", user.id),
                    serde_json::json!({ "method": method }),
                )
                .await;
                return Err(Error::NotAuthenticated(INVALID_CODE));
            }
        };
        if !otp::is_code_method(method)
            && !self
                .i
                .store
                .consume_challenge(realm.id, challenge.id, now)
                .await?
        {
            return Err(Error::NotAuthenticated(INVALID_CHALLENGE));
        }
        self.accounts().clear_failures(realm, &user).await?;
        let mut all = challenge.amr;
        if !all.iter().any(|a| a == amr) {
            all.push(amr.to_owned());
        }
        all.push(AMR_MFA.to_owned());
        self.record(
            realm,
            &user,
            "mfa.verify.succeeded",
            format!("user:{}", user.id),
            serde_json::json!({ "method": method }),
        )
        .await;
        Ok(SecondStep {
            user,
            amr: all,
            idp: challenge.idp,
        })
    }

    /// Checks a code of `method` (for WebAuthn, the browser's answer to
    /// the challenge's ceremony); its `amr` value when right.
    async fn check_code(
        &self,
        realm: &Realm,
        user: &User,
        method: &str,
        code: &str,
        challenge: Option<&MfaChallenge>,
    ) -> Result<Option<&'static str>> {
        if method == METHOD_BACKUP_CODE {
            let Some(digest) = backup::digest(code) else {
                return Ok(None);
            };
            let used = self
                .i
                .store
                .consume_backup_code(realm.id, user.id, &digest, self.i.clock.now())
                .await?;
            return Ok(used.then_some(AMR_OTP));
        }
        match FactorKind::parse(method) {
            Some(FactorKind::Totp) => {
                let factors = self.i.store.list_factors(realm.id, user.id).await?;
                for f in factors
                    .iter()
                    .filter(|f| f.kind == FactorKind::Totp && f.confirmed_at.is_some())
                {
                    if self.accept_totp(realm, user, f, code).await? {
                        return Ok(Some(FactorKind::Totp.amr()));
                    }
                }
                Ok(None)
            }
            Some(FactorKind::WebAuthn) => match challenge {
                Some(c) if self.check_webauthn(realm, user, c, code).await? => {
                    Ok(Some(FactorKind::WebAuthn.amr()))
                }
                _ => Ok(None),
            },
            // Codes sent by e-mail or SMS belong to a challenge (see
            // `use_login_code`); they do not prove a recent authentication.
            Some(FactorKind::Email | FactorKind::Sms) | None => Ok(None),
        }
    }

    /// The caller's account, after checking they authenticated recently: in
    /// this request (`proof`), or when their session began.
    pub(crate) async fn require_recent_auth(
        &self,
        who: &Principal,
        proof: Reauthentication,
    ) -> Result<User> {
        let realm = &who.realm;
        let user = self.active_user(realm, who.user_id).await?;
        let now = self.i.clock.now();
        if let Some(password) = proof.password {
            let limits = &self.i.settings.login;
            let acct_key = throttle::account_key(&user.email.canonical());
            throttle::check_account(&*self.i.store, limits, realm.id, &acct_key, now).await?;
            let valid = match user.password_hash.clone() {
                Some(phc) => self.i.passwords.verify(password, phc).await?,
                None => Verification::Invalid,
            };
            if matches!(valid, Verification::Valid { .. }) {
                return Ok(user);
            }
            self.i
                .store
                .record_login_failure(realm.id, &acct_key, now)
                .await?;
            return Err(Error::NotAuthenticated("invalid password"));
        }
        if let Some(code) = proof.code {
            let confirmed = self.i.store.list_factors(realm.id, user.id).await?;
            let mut methods: Vec<&str> = confirmed
                .iter()
                .filter(|f| f.confirmed_at.is_some())
                .map(|f| f.kind.as_str())
                .collect();
            methods.push(METHOD_BACKUP_CODE);
            for method in methods {
                if self
                    .check_code(realm, &user, method, &code, None)
                    .await?
                    .is_some()
                {
                    return Ok(user);
                }
            }
            return Err(Error::NotAuthenticated(INVALID_CODE));
        }
        // No proof in the request: the session's own authentication must
        // be fresh (and its risk not raised).
        crate::access::Access::new(self.i).fresh(who).await?;
        Ok(user)
    }
}
