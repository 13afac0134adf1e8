//! Second factors: TOTP and backup codes; the login challenge that asks for
//! one after the password; and the recent authentication that changing
//! them requires.
//!
//! A login of a user with a confirmed factor stops after the password with
//! a challenge: a single-use `mfa_token` (256 random bits, stored as its
//! SHA-256 digest) that lives five minutes and is good only for the second
//! step. Five wrong codes end it, and every wrong code also counts as a
//! failed login of the account, so the account lockout bounds guessing
//! across challenges. A TOTP code is accepted once: the factor records the
//! last step used and a conditional update refuses that step or an earlier
//! one, so of two racing uses of one code exactly one wins.

mod backup;
mod otp;
mod totp;
mod webauthn;

pub use otp::{
    CodeSent, MAX_SENDS, METHOD_EMAIL, METHOD_SMS, OTP_TTL, OutgoingSms, RESEND_PAUSE, mask_email,
    mask_phone, parse_phone,
};
pub use webauthn::{CeremonyKind, PasskeyOptions, WebauthnCeremony};

use portcullis_crypto::{Verification, random_bytes, random_token, sha256};
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub use backup::BACKUP_CODE_COUNT;

use crate::accounts::{AMR_PASSWORD, RequestMeta};
use crate::app::Inner;
use crate::error::{Error, Result};
use crate::model::{Realm, User, new_id};
use crate::throttle;
use crate::tokens::Principal;

/// How long a login challenge (its `mfa_token`) lives.
pub const CHALLENGE_TTL: Duration = Duration::minutes(5);
/// Wrong codes after which a challenge ends.
pub const MAX_CHALLENGE_FAILURES: u32 = 5;
/// How recent an authentication must be to change the factors without
/// proving it again.
pub const RECENT_AUTH: Duration = Duration::minutes(5);
/// The login method of a backup code.
pub const METHOD_BACKUP_CODE: &str = "backup_code";
/// RFC 8176 `amr` value of a one-time password (TOTP, backup code).
pub const AMR_OTP: &str = "otp";
/// RFC 8176 `amr` value of a proof of possession of a key (WebAuthn).
pub const AMR_HWK: &str = "hwk";
/// RFC 8176 `amr` value of a login with more than one factor.
pub const AMR_MFA: &str = "mfa";
/// RFC 8176 `amr` value of a confirmation by text message (SMS OTP).
pub const AMR_SMS: &str = "sms";

/// What an invalid, expired, spent or misused `mfa_token` gets.
const INVALID_CHALLENGE: &str = "the mfa_token is invalid or has expired; log in again";
/// What a wrong second-factor code gets.
const INVALID_CODE: &str = "invalid code";
/// What a change of factors without a recent authentication gets.
const NEEDS_RECENT_AUTH: &str = "this change needs a recent authentication: send your password or a current code, or log in again";

/// The kind of a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorKind {
    /// Time-based one-time passwords from an authenticator app.
    Totp,
    /// A WebAuthn credential: a passkey or a security key.
    WebAuthn,
    /// One-time codes sent to the account's e-mail address.
    Email,
    /// One-time codes sent by SMS to a phone number.
    Sms,
}

impl FactorKind {
    /// The name used in the API, the database and as a login method.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::WebAuthn => "webauthn",
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "totp" => Some(Self::Totp),
            "webauthn" => Some(Self::WebAuthn),
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }

    /// RFC 8176 `amr` value of a login with this factor.
    pub fn amr(self) -> &'static str {
        match self {
            Self::Totp | Self::Email => AMR_OTP,
            Self::WebAuthn => AMR_HWK,
            Self::Sms => AMR_SMS,
        }
    }
}

/// A second factor of a user.
#[derive(Debug, Clone, PartialEq)]
pub struct MfaFactor {
    /// Id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Kind.
    pub kind: FactorKind,
    /// A name the user recognises (`Authenticator app`).
    pub name: String,
    /// The factor's secret (a TOTP seed), encrypted with the master key and
    /// bound to the factor's id.
    pub secret_enc: Option<Vec<u8>>,
    /// When enrolment was confirmed; an unconfirmed factor is not used at
    /// login.
    pub confirmed_at: Option<OffsetDateTime>,
    /// For TOTP: the last step accepted (a code is accepted once).
    pub last_step: Option<i64>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last successful use.
    pub last_used_at: Option<OffsetDateTime>,
    /// A WebAuthn factor's passkey (public key, credential id, signature
    /// counter) as webauthn-rs serialises it. Not secret.
    pub credential: Option<String>,
}

/// What a login challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// `POST /api/v1/auth/login`: tokens when completed.
    Api,
    /// The login page: a single sign-on session when completed.
    Browser,
    /// The confirmation of a new e-mail or SMS factor by its first code
    /// (never completes a login).
    Enrol,
}

impl ChallengePurpose {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Browser => "browser",
            Self::Enrol => "enrol",
        }
    }

    /// The purpose named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "api" => Some(Self::Api),
            "browser" => Some(Self::Browser),
            "enrol" => Some(Self::Enrol),
            _ => None,
        }
    }
}

/// A login waiting for its second factor.
#[derive(Debug, Clone, PartialEq)]
pub struct MfaChallenge {
    /// Id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user who passed the first step.
    pub user_id: Uuid,
    /// SHA-256 of the `mfa_token`.
    pub token_hash: Vec<u8>,
    /// What completing it yields.
    pub purpose: ChallengePurpose,
    /// The methods offered (`totp`, `backup_code`).
    pub methods: Vec<String>,
    /// RFC 8176 values of the steps passed so far (`pwd`).
    pub amr: Vec<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// End of validity.
    pub expires_at: OffsetDateTime,
    /// When it was completed or ended.
    pub consumed_at: Option<OffsetDateTime>,
    /// Wrong codes so far.
    pub failures: u32,
    /// The one-time code last sent for it (by e-mail or SMS), if any.
    pub otp: Option<ChallengeOtp>,
    /// How many codes were sent for it.
    pub otp_sends: u32,
    /// When the last code was sent.
    pub otp_sent_at: Option<OffsetDateTime>,
}

/// A one-time code sent for a challenge: only a keyed digest is stored
/// (keyed with something the database does not hold), never the code.
#[derive(Debug, Clone, PartialEq)]
pub struct ChallengeOtp {
    /// The method it was sent with (`email`, `sms`).
    pub method: String,
    /// The keyed digest of the code.
    pub code_hash: Vec<u8>,
    /// End of the code's validity.
    pub expires_at: OffsetDateTime,
}

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
}

/// A new TOTP enrolment, waiting for its first code.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// The factor's id.
    pub factor_id: Uuid,
    /// The secret in base32, for typing into an app.
    pub secret: SecretString,
    /// The `otpauth://` URI.
    pub otpauth_uri: SecretString,
    /// The URI as a QR code: an SVG `data:` URI.
    pub qr_code: SecretString,
}

/// A user's factors as they see them.
#[derive(Debug)]
pub struct MfaStatus {
    /// Confirmed factors (and pending ones, marked by `confirmed_at`).
    pub factors: Vec<MfaFactor>,
    /// Unused backup codes.
    pub backup_codes_remaining: u64,
    /// Where the e-mail and SMS factors send their codes, masked, by
    /// factor id.
    pub targets: Vec<(Uuid, String)>,
    /// Whether the realm requires a second factor of this user (one of the
    /// user's roles is in its `mfa_required_roles`), enrolled or not.
    pub required_by_role: bool,
}

/// What the first step of a login was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstStep {
    /// The password.
    Password,
    /// A magic link: the mailbox is the first factor, so e-mail codes
    /// cannot be the second.
    MagicLink,
}

/// A proof of a recent authentication sent with a change of factors.
#[derive(Debug, Default)]
pub struct Reauthentication {
    /// The account's password.
    pub password: Option<SecretString>,
    /// A current TOTP code or an unused backup code.
    pub code: Option<String>,
}

/// Second factors.
pub struct Mfa<'a> {
    i: &'a Inner,
}

impl<'a> Mfa<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    fn aad(factor_id: Uuid) -> Vec<u8> {
        format!("mfa_factor:{factor_id}").into_bytes()
    }

    /// The user's factors and how many backup codes remain.
    pub async fn status(&self, realm: &Realm, user_id: Uuid) -> Result<MfaStatus> {
        let user = self
            .i
            .store
            .get_user(realm.id, user_id)
            .await?
            .ok_or(Error::NotAuthenticated("account no longer exists"))?;
        let factors = self.i.store.list_factors(realm.id, user_id).await?;
        let backup_codes_remaining = self.i.store.count_backup_codes(realm.id, user_id).await?;
        let targets = factors
            .iter()
            .filter_map(|f| self.masked_target(&user, f).map(|t| (f.id, t)))
            .collect();
        let required_by_role = self.required_by_role(realm, user_id).await?;
        Ok(MfaStatus {
            factors,
            backup_codes_remaining,
            targets,
            required_by_role,
        })
    }

    /// Whether one of the user's roles is among the realm's MFA-required roles.
    pub(crate) async fn required_by_role(&self, realm: &Realm, user_id: Uuid) -> Result<bool> {
        if realm.mfa_required_roles.is_empty() {
            return Ok(false);
        }
        let held = crate::authz::Authz::new(self.i)
            .role_names(realm.id, user_id)
            .await?;
        Ok(held.iter().any(|r| realm.mfa_required_roles.contains(r)))
    }

    /// Starts a TOTP enrolment: a new secret, shown once, used only once a
    /// first code confirms it. A pending enrolment is replaced; a user has at
    /// most one confirmed TOTP factor.
    pub async fn enable_totp(
        &self,
        who: &Principal,
        proof: Reauthentication,
    ) -> Result<TotpEnrolment> {
        let user = self.require_recent_auth(who, proof).await?;
        let realm = &who.realm;
        let factors = self.i.store.list_factors(realm.id, user.id).await?;
        if factors
            .iter()
            .any(|f| f.kind == FactorKind::Totp && f.confirmed_at.is_some())
        {
            return Err(Error::Conflict(
                "an authenticator app is already enrolled; disable it first".to_owned(),
            ));
        }
        for pending in factors.iter().filter(|f| f.kind == FactorKind::Totp) {
            self.i
                .store
                .delete_factor(realm.id, user.id, pending.id)
                .await?;
        }
        let secret = zeroize::Zeroizing::new(random_bytes::<{ totp::SECRET_LEN }>());
        let generator = totp::totp(secret.as_slice(), &realm.display_name, user.email.as_str())?;
        let uri = totp::otpauth_uri(&generator)?;
        let now = self.i.clock.now();
        let id = new_id();
        let factor = MfaFactor {
            id,
            realm_id: realm.id,
            user_id: user.id,
            kind: FactorKind::Totp,
            name: "Authenticator app".to_owned(),
            secret_enc: Some(
                self.i
                    .keys
                    .master()
                    .encrypt(secret.as_slice(), &Self::aad(id))?,
            ),
            confirmed_at: None,
            last_step: None,
            created_at: now,
            last_used_at: None,
            credential: None,
        };
        self.i.store.insert_factor(&factor).await?;
        self.audit(realm, &user, "mfa.totp.enrolment_started", &factor)
            .await;
        Ok(TotpEnrolment {
            factor_id: id,
            secret: SecretString::from(generator.secret().to_base32()),
            qr_code: SecretString::from(totp::qr_data_uri(&uri)?),
            otpauth_uri: SecretString::from(uri),
        })
    }

    /// Confirms the pending TOTP enrolment with a first code. Returns new
    /// backup codes when the user had none left (shown once).
    pub async fn confirm_totp(&self, who: &Principal, code: &str) -> Result<Option<Vec<String>>> {
        let realm = &who.realm;
        let user = self.active_user(realm, who.user_id).await?;
        let factors = self.i.store.list_factors(realm.id, user.id).await?;
        let Some(pending) = factors
            .iter()
            .find(|f| f.kind == FactorKind::Totp && f.confirmed_at.is_none())
        else {
            return Err(Error::Conflict(
                "no authenticator app enrolment is pending; enable one first".to_owned(),
            ));
        };
        if !self.accept_totp(realm, &user, pending, code).await? {
            return Err(Error::field(
                "code",
                "is not the current code of the authenticator app",
            ));
        }
        let now = self.i.clock.now();
        if !self
            .i
            .store
            .confirm_factor(realm.id, user.id, pending.id, now)
            .await?
        {
            return Err(Error::Conflict(
                "the enrolment changed meanwhile".to_owned(),
            ));
        }
        self.audit(realm, &user, "mfa.totp.enabled", pending).await;
        let codes = match self.i.store.count_backup_codes(realm.id, user.id).await? {
            0 => Some(self.replace_backup_codes(realm, &user).await?),
            _ => None,
        };
        Ok(codes)
    }

    /// Removes the user's TOTP factor (confirmed or pending).
    pub async fn disable_totp(&self, who: &Principal, proof: Reauthentication) -> Result<()> {
        let user = self.require_recent_auth(who, proof).await?;
        let realm = &who.realm;
        let factors = self.i.store.list_factors(realm.id, user.id).await?;
        let totps: Vec<&MfaFactor> = factors
            .iter()
            .filter(|f| f.kind == FactorKind::Totp)
            .collect();
        if totps.is_empty() {
            return Err(Error::NotFound("authenticator app"));
        }
        for f in totps {
            self.remove(realm, &user, f).await?;
        }
        Ok(())
    }

    /// Removes one factor of the user.
    pub async fn delete_factor(
        &self,
        who: &Principal,
        id: Uuid,
        proof: Reauthentication,
    ) -> Result<()> {
        let user = self.require_recent_auth(who, proof).await?;
        let realm = &who.realm;
        let factors = self.i.store.list_factors(realm.id, user.id).await?;
        let factor = factors
            .iter()
            .find(|f| f.id == id)
            .ok_or(Error::NotFound("MFA method"))?;
        self.remove(realm, &user, factor).await
    }

    async fn remove(&self, realm: &Realm, user: &User, factor: &MfaFactor) -> Result<()> {
        self.i
            .store
            .delete_factor(realm.id, user.id, factor.id)
            .await?;
        self.audit(realm, user, "mfa.factor.removed", factor).await;
        // Backup codes back up the factors: with none confirmed left, they go too.
        let left = self.i.store.list_factors(realm.id, user.id).await?;
        if !left.iter().any(|f| f.confirmed_at.is_some()) {
            self.i
                .store
                .replace_backup_codes(realm.id, user.id, &[], self.i.clock.now())
                .await?;
        }
        Ok(())
    }

    /// Replaces every backup code with ten new ones (shown once). Needs a
    /// confirmed factor and a recent authentication.
    pub async fn regenerate_backup_codes(
        &self,
        who: &Principal,
        proof: Reauthentication,
    ) -> Result<Vec<String>> {
        let user = self.require_recent_auth(who, proof).await?;
        let realm = &who.realm;
        let factors = self.i.store.list_factors(realm.id, user.id).await?;
        if !factors.iter().any(|f| f.confirmed_at.is_some()) {
            return Err(Error::Conflict(
                "backup codes need a second factor; enrol one first".to_owned(),
            ));
        }
        self.replace_backup_codes(realm, &user).await
    }

    async fn replace_backup_codes(&self, realm: &Realm, user: &User) -> Result<Vec<String>> {
        let codes: Vec<String> = (0..BACKUP_CODE_COUNT).map(|_| backup::generate()).collect();
        let digests: Vec<Vec<u8>> = codes.iter().filter_map(|c| backup::digest(c)).collect();
        self.i
            .store
            .replace_backup_codes(realm.id, user.id, &digests, self.i.clock.now())
            .await?;
        self.record(
            realm,
            user,
            "mfa.backup_codes.generated",
            format!("user:{}", user.id),
            serde_json::json!({ "count": codes.len() }),
        )
        .await;
        Ok(codes)
    }

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
        first: FirstStep,
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
        };
        self.i.store.insert_challenge(&challenge).await?;
        Ok(Some(MfaRequired {
            mfa_token: SecretString::from(token),
            methods,
            expires_in: CHALLENGE_TTL.whole_seconds().unsigned_abs(),
        }))
    }

    /// The open challenge of `mfa_token` for `purpose`, if any.
    async fn open_challenge(
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
        crate::accounts::Accounts::new(self.i)
            .clear_failures(realm, &user)
            .await?;
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
        Ok(SecondStep { user, amr: all })
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

    /// Whether `code` is a current code of the TOTP factor not used before;
    /// records its step when it is.
    async fn accept_totp(
        &self,
        realm: &Realm,
        user: &User,
        factor: &MfaFactor,
        code: &str,
    ) -> Result<bool> {
        let Some(blob) = factor.secret_enc.as_deref() else {
            return Ok(false);
        };
        let secret = self.i.keys.master().decrypt(blob, &Self::aad(factor.id))?;
        let generator = totp::totp(&secret, &realm.display_name, user.email.as_str())?;
        let now = self.i.clock.now();
        let Some(step) = totp::matching_step(&generator, code, now.unix_timestamp()) else {
            return Ok(false);
        };
        Ok(self
            .i
            .store
            .use_totp_step(realm.id, factor.id, step, now)
            .await?)
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
        let session = match who.session_id {
            Some(sid) => self.i.store.get_session(realm.id, sid).await?,
            None => None,
        };
        match session {
            Some(s) if s.revoked_at.is_none() && s.auth_time + RECENT_AUTH >= now => Ok(user),
            _ => Err(Error::Forbidden(NEEDS_RECENT_AUTH)),
        }
    }

    async fn active_user(&self, realm: &Realm, user_id: Uuid) -> Result<User> {
        match self.i.store.get_user(realm.id, user_id).await? {
            Some(u) if u.active => Ok(u),
            Some(_) => Err(Error::Forbidden("this account is deactivated")),
            None => Err(Error::NotAuthenticated(INVALID_CHALLENGE)),
        }
    }

    async fn audit(&self, realm: &Realm, user: &User, action: &'static str, factor: &MfaFactor) {
        let detail = serde_json::json!({ "kind": factor.kind.as_str() });
        self.record(
            realm,
            user,
            action,
            format!("mfa_factor:{}", factor.id),
            detail,
        )
        .await;
    }

    async fn record(
        &self,
        realm: &Realm,
        user: &User,
        action: &'static str,
        target: String,
        detail: serde_json::Value,
    ) {
        crate::audit::event(self.i, realm.id, Some(user.id), action, target, detail).await;
    }
}
