//! One-time codes sent by e-mail or SMS: as a login's second step, and to
//! confirm a new e-mail or SMS factor.
//!
//! A code is six digits drawn uniformly (000000-999999, about 20 bits),
//! lives ten minutes and is never stored: a login challenge keeps an
//! HMAC-SHA256 of it keyed with the challenge's `mfa_token` (of which the
//! database holds only a SHA-256 digest), so the database alone cannot test
//! guesses; an enrolment keeps a MAC under the master key. The code is bound
//! to the challenge that asked for it and spent with it, by one conditional
//! update that also requires the digest: of two racing uses exactly one
//! wins, and a code replaced by a resend no longer works. Five wrong codes
//! end the challenge. A challenge gets at most [`MAX_SENDS`] codes, at least
//! [`RESEND_PAUSE`] apart; each one replaces the one before.
//!
//! SMS go through the [`SmsSender`](crate::ports::SmsSender) port, on a task
//! of their own: a slow or failing gateway never holds up a request, and a
//! failure is logged without the message.

use crate::model::mfa::OutgoingSms;
use std::sync::Arc;

use portcullis_crypto::{constant_time_eq, hmac_sha256, random_digits};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    ChallengeOtp, ChallengePurpose, FactorKind, INVALID_CHALLENGE, MAX_CHALLENGE_FAILURES, Mfa,
    MfaChallenge, MfaFactor, Reauthentication,
};
use crate::error::{Error, FieldError, Result};
use crate::mail::{MailKind, SendError};
use crate::model::{Realm, User, new_id};
use crate::tokens::Principal;

/// Digits of a code.
pub const OTP_DIGITS: usize = 6;
/// How long a code lives.
pub const OTP_TTL: Duration = Duration::minutes(10);
/// Codes one challenge may be sent.
pub const MAX_SENDS: u32 = 5;
/// Shortest pause between two codes of one challenge.
pub const RESEND_PAUSE: Duration = Duration::seconds(30);
/// Longest life of a challenge kept open by codes: resending never keeps a
/// login waiting longer than this after its first step.
pub const MAX_CODE_CHALLENGE_LIFE: Duration = Duration::minutes(20);
/// Enrolments (e-mail or SMS) a user may start within the login window.
pub const MAX_ENROLMENTS: u32 = 5;

/// The login method of an e-mail code.
pub const METHOD_EMAIL: &str = "email";
/// The login method of an SMS code.
pub const METHOD_SMS: &str = "sms";

const WRONG_CODE: &str = "is not the code that was sent";
const SMS_UNAVAILABLE: &str =
    "SMS is not available: no SMS gateway is configured (PORTCULLIS_SMS_WEBHOOK_URL)";

impl std::fmt::Debug for OutgoingSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The message holds the code.
        f.debug_struct("OutgoingSms")
            .field("to", &mask_phone(&self.to))
            .finish_non_exhaustive()
    }
}

/// Where a code went.
#[derive(Debug, Clone)]
pub struct CodeSent {
    /// The method (`email`, `sms`).
    pub method: &'static str,
    /// The destination, masked (`a***@example.com`, `+49*******78`).
    pub sent_to: String,
    /// Seconds the code lives.
    pub expires_in: u64,
    /// For an enrolment: the pending factor's id.
    pub factor_id: Option<Uuid>,
}

/// Whether `method` is a code sent by e-mail or SMS.
pub(crate) fn is_code_method(method: &str) -> bool {
    method == METHOD_EMAIL || method == METHOD_SMS
}

/// The digits of a typed code (spaces and dashes ignored), or `None` when
/// it cannot be one.
pub(crate) fn normalise(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (digits.len() == OTP_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The digest of a login code, keyed with the challenge's `mfa_token`.
fn login_digest(mfa_token: &str, method: &str, code: &str) -> Vec<u8> {
    hmac_sha256(
        mfa_token.as_bytes(),
        format!("portcullis/otp/v1:{method}:{code}").as_bytes(),
    )
    .to_vec()
}

/// A phone number in E.164 form: `+`, a country code not starting with 0,
/// 8 to 15 digits in all. Spaces, dots, dashes and parentheses are dropped.
pub fn parse_phone(input: &str) -> std::result::Result<String, FieldError> {
    let invalid = || {
        FieldError::new(
            "phone",
            "must be an international number in E.164 form, such as +4915112345678",
        )
    };
    let compact: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').ok_or_else(invalid)?;
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok { Ok(compact) } else { Err(invalid()) }
}

/// `a***@example.com`: the first character of the local part and the domain.
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// `+49*********78`: the first two and the last two digits.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return "+***".to_owned();
    }
    digits
        .iter()
        .enumerate()
        .fold(String::from("+"), |mut out, (i, c)| {
            out.push(if i < 2 || i + 2 >= digits.len() {
                *c
            } else {
                '*'
            });
            out
        })
}

impl Mfa<'_> {
    fn phone_aad(factor_id: Uuid) -> Vec<u8> {
        format!("mfa_factor_phone:{factor_id}").into_bytes()
    }

    /// The phone number of an SMS factor.
    pub(super) fn factor_phone(&self, factor: &MfaFactor) -> Result<String> {
        let blob = factor
            .secret_enc
            .as_deref()
            .ok_or(Error::Internal("sms factor"))?;
        let plain = self
            .i
            .keys
            .master()
            .decrypt(blob, &Self::phone_aad(factor.id))?;
        String::from_utf8(plain.to_vec()).map_err(|_| Error::Internal("sms factor"))
    }

    /// The masked destination of a factor's codes, for listings.
    pub(super) fn masked_target(&self, user: &User, factor: &MfaFactor) -> Option<String> {
        match factor.kind {
            FactorKind::Email => Some(mask_email(user.email.as_str())),
            FactorKind::Sms => self.factor_phone(factor).ok().map(|p| mask_phone(&p)),
            FactorKind::Totp | FactorKind::WebAuthn => None,
        }
    }

    /// Sends `code` to `user` by `method` (`to` is the phone number for SMS):
    /// e-mail through the outbox, SMS on a task of its own.
    async fn deliver(
        &self,
        realm: &Realm,
        user: &User,
        method: &str,
        phone: Option<&str>,
        code: &str,
        ttl: Duration,
    ) -> Result<String> {
        if method == METHOD_EMAIL {
            let mut values = Map::new();
            values.insert("code".into(), code.into());
            values.insert("expires_in_minutes".into(), ttl.whole_minutes().into());
            values.insert(
                "name".into(),
                user.name.clone().map_or(Value::Null, Value::String),
            );
            self.mail()
                .enqueue(realm, MailKind::EmailOtp, &user.email, values)
                .await?;
            return Ok(mask_email(user.email.as_str()));
        }
        let sender = self
            .i
            .sms
            .clone()
            .ok_or_else(|| Error::BadRequest(SMS_UNAVAILABLE.to_owned()))?;
        let to = phone.ok_or(Error::Internal("sms destination"))?.to_owned();
        let host = url::Url::parse(&self.i.settings.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        let mut message = format!(
            "{code} is your {} sign-in code. It expires in {} minutes.",
            realm.display_name,
            ttl.whole_minutes()
        );
        // The origin-bound line of the WebOTP API lets a browser fill it in.
        if let Some(host) = host {
            message.push_str(&format!("\n\n@{host} #{code}"));
        }
        let masked = mask_phone(&to);
        spawn_sms(sender, OutgoingSms { to, message }, realm.name.to_string());
        Ok(masked)
    }

    /// Sends a one-time code for a login's second step (`email` or `sms`,
    /// one of the challenge's methods), replacing any code sent before.
    /// Works for the API's and the login page's challenges.
    pub async fn send_code(
        &self,
        realm: &Realm,
        mfa_token: &str,
        method: &str,
    ) -> Result<CodeSent> {
        let challenge = match self
            .open_challenge(realm, mfa_token, ChallengePurpose::Api)
            .await
        {
            Ok(c) => c,
            Err(_) => {
                self.open_challenge(realm, mfa_token, ChallengePurpose::Browser)
                    .await?
            }
        };
        let method: &'static str = match method {
            METHOD_EMAIL => METHOD_EMAIL,
            METHOD_SMS => METHOD_SMS,
            _ => {
                return Err(Error::input(
                    "method",
                    "only email and sms send a code; the others need no challenge",
                ));
            }
        };
        if !challenge.methods.iter().any(|m| m == method) {
            return Err(Error::input(
                "method",
                format!("must be one of: {}", challenge.methods.join(", ")),
            ));
        }
        let user = self.active_user(realm, challenge.user_id).await?;
        let phone = match method {
            METHOD_SMS => {
                if self.i.sms.is_none() {
                    return Err(Error::BadRequest(SMS_UNAVAILABLE.to_owned()));
                }
                let factors = self.i.store.list_factors(realm.id, user.id).await?;
                let factor = factors
                    .iter()
                    .find(|f| f.kind == FactorKind::Sms && f.confirmed_at.is_some())
                    .ok_or_else(|| Error::input("method", "no phone number is enrolled"))?;
                Some(self.factor_phone(factor)?)
            }
            _ => None,
        };
        let now = self.i.clock.now();
        let code = random_digits(OTP_DIGITS);
        let code_expires = (now + OTP_TTL).min(challenge.created_at + MAX_CODE_CHALLENGE_LIFE);
        let otp = ChallengeOtp {
            method: method.to_owned(),
            code_hash: login_digest(mfa_token, method, &code),
            expires_at: code_expires,
        };
        let stored = self
            .i
            .store
            .set_challenge_otp(
                realm.id,
                challenge.id,
                &otp,
                challenge.expires_at.max(code_expires),
                now,
                now - RESEND_PAUSE,
                MAX_SENDS,
            )
            .await?;
        if !stored {
            return Err(self.refused_send(&challenge, now));
        }
        let ttl = code_expires - now;
        let sent_to = self
            .deliver(realm, &user, method, phone.as_deref(), &code, ttl)
            .await?;
        self.record(
            realm,
            &user,
            "mfa.code.sent",
            format!("user:{}", user.id),
            serde_json::json!({ "method": method, "purpose": "login", "to": sent_to }),
        )
        .await;
        Ok(CodeSent {
            method,
            sent_to,
            expires_in: ttl.whole_seconds().unsigned_abs(),
            factor_id: None,
        })
    }

    /// Why a code was not stored on a challenge read open just before.
    fn refused_send(&self, challenge: &MfaChallenge, now: OffsetDateTime) -> Error {
        if challenge.otp_sends >= MAX_SENDS {
            return Error::Conflict(
                "no more codes can be sent for this login; log in again".to_owned(),
            );
        }
        match challenge.otp_sent_at {
            Some(at) if at + RESEND_PAUSE > now => Error::RateLimited {
                retry_after: (at + RESEND_PAUSE - now)
                    .whole_seconds()
                    .max(1)
                    .unsigned_abs(),
            },
            // It was spent, ended or expired meanwhile.
            _ => Error::NotAuthenticated(INVALID_CHALLENGE),
        }
    }

    /// Checks a login code against a challenge; when right, spends the
    /// challenge with it (one conditional update). `Ok(false)` for a wrong,
    /// expired or replaced code; an error when a racing use spent it first.
    pub(super) async fn use_login_code(
        &self,
        realm: &Realm,
        challenge: &MfaChallenge,
        mfa_token: &str,
        method: &str,
        code: &str,
    ) -> Result<bool> {
        let now = self.i.clock.now();
        let (Some(otp), Some(code)) = (&challenge.otp, normalise(code)) else {
            return Ok(false);
        };
        let digest = login_digest(mfa_token, method, &code);
        if otp.method != method
            || otp.expires_at <= now
            || !constant_time_eq(&digest, &otp.code_hash)
        {
            return Ok(false);
        }
        if self
            .i
            .store
            .consume_challenge_otp(realm.id, challenge.id, &digest, now)
            .await?
        {
            Ok(true)
        } else {
            Err(Error::NotAuthenticated(INVALID_CHALLENGE))
        }
    }

    /// The token digest of a factor's enrolment challenge: a MAC of its id,
    /// which no client can turn into an `mfa_token`.
    fn enrolment_key(&self, factor_id: Uuid) -> Vec<u8> {
        self.i
            .keys
            .master()
            .mac("mfa_enrolment", factor_id.as_bytes())
            .to_vec()
    }

    fn enrolment_digest(&self, factor_id: Uuid, code: &str) -> Vec<u8> {
        let mut data = factor_id.as_bytes().to_vec();
        data.extend_from_slice(code.as_bytes());
        self.i
            .keys
            .master()
            .mac("mfa_enrolment_code", &data)
            .to_vec()
    }

    /// Starts enrolling the account's e-mail address as a factor: a code
    /// goes to it, to confirm with [`Self::confirm_code_factor`].
    pub async fn setup_email(&self, who: &Principal, proof: Reauthentication) -> Result<CodeSent> {
        let user = self.require_recent_auth(who, proof).await?;
        self.start_enrolment(who, &user, FactorKind::Email, None)
            .await
    }

    /// Starts enrolling a phone number (E.164) for SMS codes: a code goes to
    /// it, to confirm with [`Self::confirm_code_factor`].
    pub async fn setup_sms(
        &self,
        who: &Principal,
        proof: Reauthentication,
        phone: Option<&str>,
    ) -> Result<CodeSent> {
        if self.i.sms.is_none() {
            return Err(Error::BadRequest(SMS_UNAVAILABLE.to_owned()));
        }
        let phone = parse_phone(phone.unwrap_or_default())?;
        let user = self.require_recent_auth(who, proof).await?;
        self.start_enrolment(who, &user, FactorKind::Sms, Some(phone))
            .await
    }

    async fn start_enrolment(
        &self,
        who: &Principal,
        user: &User,
        kind: FactorKind,
        phone: Option<String>,
    ) -> Result<CodeSent> {
        let realm = &who.realm;
        let factors = self.i.store.list_factors(realm.id, user.id).await?;
        if factors
            .iter()
            .any(|f| f.kind == kind && f.confirmed_at.is_some())
        {
            return Err(Error::Conflict(format!(
                "{} codes are already enrolled; remove that method first",
                kind.as_str()
            )));
        }
        crate::recovery::take(
            self.i,
            realm.id,
            &format!("mfa:enrol:user:{}", user.id),
            MAX_ENROLMENTS,
        )
        .await?;
        for pending in factors.iter().filter(|f| f.kind == kind) {
            self.i
                .store
                .delete_factor(realm.id, user.id, pending.id)
                .await?;
        }
        let now = self.i.clock.now();
        let id = new_id();
        let secret_enc = match &phone {
            Some(p) => Some(
                self.i
                    .keys
                    .master()
                    .encrypt(p.as_bytes(), &Self::phone_aad(id))?,
            ),
            None => None,
        };
        let factor = MfaFactor {
            id,
            realm_id: realm.id,
            user_id: user.id,
            kind,
            name: match kind {
                FactorKind::Sms => "Text message".to_owned(),
                _ => "E-mail".to_owned(),
            },
            secret_enc,
            confirmed_at: None,
            last_step: None,
            created_at: now,
            last_used_at: None,
            credential: None,
        };
        self.i.store.insert_factor(&factor).await?;
        let code = random_digits(OTP_DIGITS);
        let challenge = MfaChallenge {
            id: new_id(),
            realm_id: realm.id,
            user_id: user.id,
            token_hash: self.enrolment_key(id),
            purpose: ChallengePurpose::Enrol,
            methods: vec![kind.as_str().to_owned()],
            amr: Vec::new(),
            created_at: now,
            expires_at: now + OTP_TTL,
            consumed_at: None,
            failures: 0,
            otp: Some(ChallengeOtp {
                method: kind.as_str().to_owned(),
                code_hash: self.enrolment_digest(id, &code),
                expires_at: now + OTP_TTL,
            }),
            otp_sends: 1,
            idp: None,
            otp_sent_at: Some(now),
        };
        self.i.store.insert_challenge(&challenge).await?;
        let sent_to = self
            .deliver(realm, user, kind.as_str(), phone.as_deref(), &code, OTP_TTL)
            .await?;
        self.audit(realm, user, "mfa.code_factor.enrolment_started", &factor)
            .await;
        Ok(CodeSent {
            method: match kind {
                FactorKind::Sms => METHOD_SMS,
                _ => METHOD_EMAIL,
            },
            sent_to,
            expires_in: OTP_TTL.whole_seconds().unsigned_abs(),
            factor_id: Some(id),
        })
    }

    /// Confirms the pending e-mail or SMS enrolment with the code sent to
    /// it. Five wrong codes end the enrolment. Confirming the e-mail factor
    /// also marks the address verified. Returns new backup codes when the
    /// user had none left (shown once).
    pub async fn confirm_code_factor(
        &self,
        who: &Principal,
        kind: FactorKind,
        code: &str,
    ) -> Result<Option<Vec<String>>> {
        let realm = &who.realm;
        let mut user = self.active_user(realm, who.user_id).await?;
        let factors = self.i.store.list_factors(realm.id, user.id).await?;
        let no_enrolment = || {
            Error::Conflict(format!(
                "no {} enrolment is pending; start one with POST /api/v1/mfa/setup",
                kind.as_str()
            ))
        };
        let pending = factors
            .iter()
            .find(|f| f.kind == kind && f.confirmed_at.is_none())
            .ok_or_else(no_enrolment)?;
        let now = self.i.clock.now();
        let challenge = self
            .i
            .store
            .find_challenge(realm.id, &self.enrolment_key(pending.id))
            .await?
            .filter(|c| {
                c.purpose == ChallengePurpose::Enrol
                    && c.user_id == user.id
                    && c.consumed_at.is_none()
                    && c.expires_at > now
            })
            .ok_or_else(no_enrolment)?;
        let digest = normalise(code).map(|c| self.enrolment_digest(pending.id, &c));
        let right = match (&challenge.otp, &digest) {
            (Some(otp), Some(d)) => otp.expires_at > now && constant_time_eq(d, &otp.code_hash),
            _ => false,
        };
        let spent = match (right, &digest) {
            (true, Some(d)) => {
                self.i
                    .store
                    .consume_challenge_otp(realm.id, challenge.id, d, now)
                    .await?
            }
            _ => false,
        };
        if !spent {
            if !right {
                self.i
                    .store
                    .fail_challenge(realm.id, challenge.id, MAX_CHALLENGE_FAILURES, now)
                    .await?;
                self.record(
                    realm,
                    &user,
                    "mfa.code_factor.confirm_failed",
                    format!("mfa_factor:{}", pending.id),
                    serde_json::json!({ "kind": kind.as_str() }),
                )
                .await;
            }
            return Err(Error::field("code", WRONG_CODE));
        }
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
        if kind == FactorKind::Email && !user.email_verified {
            // The code proved control of the address.
            user.email_verified = true;
            user.updated_at = now;
            self.i.store.update_user(&user).await?;
        }
        let event = match kind {
            FactorKind::Sms => "mfa.sms.enabled",
            _ => "mfa.email.enabled",
        };
        self.audit(realm, &user, event, pending).await;
        let codes = match self.i.store.count_backup_codes(realm.id, user.id).await? {
            0 => Some(self.replace_backup_codes(realm, &user).await?),
            _ => None,
        };
        Ok(codes)
    }
}

/// Sends an SMS on a task of its own; a failure is logged without the
/// message (the sender retries transient failures itself).
pub(crate) fn spawn_sms(sender: Arc<dyn crate::ports::SmsSender>, sms: OutgoingSms, realm: String) {
    tokio::spawn(async move {
        match sender.send(&sms).await {
            Ok(()) => {
                metrics::counter!("portcullis_sms_total", "result" => "sent").increment(1);
            }
            Err(SendError { message, permanent }) => {
                metrics::counter!("portcullis_sms_total", "result" => "failed").increment(1);
                tracing::warn!(realm = %realm, to = %mask_phone(&sms.to), error = %message, permanent, "could not send an SMS code");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_must_be_e164() {
        assert_eq!(parse_phone("+49 151 1234-5678").unwrap(), "+4915112345678");
        assert_eq!(parse_phone(" +1 (415) 555.2671 ").unwrap(), "+14155552671");
        for bad in [
            "",
            "4915112345678",
            "+0151123456",
            "+1234567",
            "+1234567890123456",
            "+49 151 abc",
            "++4915112345678",
            "+49\u{0660}151123456",
        ] {
            assert!(parse_phone(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn destinations_are_masked() {
        assert_eq!(mask_email("ada@example.com"), "a***@example.com");
        assert_eq!(mask_email("x@a.io"), "x***@a.io");
        assert_eq!(mask_phone("+4915112345678"), "+49*********78");
        assert_eq!(mask_phone("+12"), "+***");
    }

    #[test]
    fn codes_are_six_digits_typed_loosely() {
        assert_eq!(normalise(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(normalise("123-456").as_deref(), Some("123456"));
        for bad in ["12345", "1234567", "12345a", "", "١٢٣٤٥٦"] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn login_digests_depend_on_token_method_and_code() {
        let d = login_digest("token", "email", "123456");
        assert_eq!(d, login_digest("token", "email", "123456"));
        assert_ne!(d, login_digest("token2", "email", "123456"));
        assert_ne!(d, login_digest("token", "sms", "123456"));
        assert_ne!(d, login_digest("token", "email", "123457"));
    }
}
