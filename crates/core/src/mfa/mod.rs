//! Second factors: TOTP, WebAuthn, e-mail and SMS codes and backup codes,
//! their enrolment and removal, and a user's MFA status. The login
//! challenge that asks for one after the first step, and the recent
//! authentication that changing them requires, are in `challenge`.

mod backup;
mod challenge;
mod otp;
mod totp;
mod webauthn;

pub(crate) use challenge::FirstStep;
pub use challenge::{
    CHALLENGE_TTL, MAX_CHALLENGE_FAILURES, MfaRequired, Reauthentication, SecondStep,
};

pub use otp::{
    CodeSent, MAX_SENDS, METHOD_EMAIL, METHOD_SMS, OTP_TTL, RESEND_PAUSE, mask_email, mask_phone,
    parse_phone,
};
pub(crate) use otp::{
    MAX_CODE_CHALLENGE_LIFE, MAX_ENROLMENTS, OTP_DIGITS, normalise as normalise_code, spawn_sms,
};
pub use webauthn::PasskeyOptions;

pub use crate::model::mfa::{
    AMR_HWK, AMR_MFA, AMR_OTP, AMR_SMS, CeremonyKind, ChallengeOtp, ChallengePurpose, FactorKind,
    MfaChallenge, MfaFactor, OutgoingSms, WebauthnCeremony,
};
use portcullis_crypto::random_bytes;
use secrecy::SecretString;
use uuid::Uuid;

pub use backup::BACKUP_CODE_COUNT;

use crate::app::Inner;
use crate::error::{Error, Result};
use crate::model::{Realm, User, new_id};
use crate::tokens::Principal;

/// The login method of a backup code.
pub const METHOD_BACKUP_CODE: &str = "backup_code";
/// What an invalid, expired, spent or misused `mfa_token` gets.
const INVALID_CHALLENGE: &str = "the mfa_token is invalid or has expired; log in again";

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

/// Second factors.
pub struct Mfa<'a> {
    i: &'a Inner,
}

impl<'a> Mfa<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    // The services Mfa works with, built here and nowhere else in it.

    /// Collaborator: accounts.
    fn accounts(&self) -> crate::accounts::Accounts<'a> {
        crate::accounts::Accounts::new(self.i)
    }

    /// Collaborator: authz.
    fn authz(&self) -> crate::authz::Authz<'a> {
        crate::authz::Authz::new(self.i)
    }

    /// Collaborator: mail.
    fn mail(&self) -> crate::mail::Mail<'a> {
        crate::mail::Mail::new(self.i)
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
        let held = self.authz().role_names(realm.id, user_id).await?;
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
