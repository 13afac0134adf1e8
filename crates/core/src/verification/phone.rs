//! Phone verification: a code by SMS proves the user receives texts at a
//! number; the number then becomes the profile's verified `phone_number`.
//! See the module above for how it relates to SMS second factors.

use portcullis_crypto::{constant_time_eq, random_digits};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::PhoneVerification;
use super::{Verification, count};
use crate::error::{Error, FieldError, Result};
use crate::mfa::{
    ChallengeOtp, ChallengePurpose, MAX_CHALLENGE_FAILURES, MAX_CODE_CHALLENGE_LIFE,
    MAX_ENROLMENTS, MAX_SENDS, METHOD_SMS, MfaChallenge, OTP_DIGITS, OTP_TTL, RESEND_PAUSE,
    mask_phone, normalise_code, parse_phone, spawn_sms,
};
use crate::model::mfa::OutgoingSms;
use crate::model::{User, new_id};
use crate::tokens::Principal;
use crate::users::RealmAdmin;

const SMS_UNAVAILABLE: &str = "phone verification is not available: no SMS gateway is configured (PORTCULLIS_SMS_WEBHOOK_URL)";
const WRONG_CODE: &str = "is not the code that was sent";
const NOTHING_PENDING: &str =
    "no phone verification is pending; start one with POST /api/v1/auth/me/phone";

/// A user's phone verification as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneStatus {
    /// The number being or having been verified, masked
    /// (`+49*********78`); `None` when there is none.
    pub phone: Option<String>,
    /// Whether it is verified.
    pub verified: bool,
    /// When it was verified.
    pub verified_at: Option<OffsetDateTime>,
    /// Seconds the code sent last lives, after a send.
    pub expires_in: Option<u64>,
}

impl PhoneStatus {
    fn of(v: Option<&PhoneVerification>) -> Self {
        Self {
            phone: v.map(|v| mask_phone(&v.phone)),
            verified: v.is_some_and(|v| v.verified_at.is_some()),
            verified_at: v.and_then(|v| v.verified_at),
            expires_in: None,
        }
    }
}

impl Verification<'_> {
    /// The digest of the challenge of verification `challenge_id`: a MAC no
    /// client can turn into an `mfa_token`.
    fn phone_key(&self, challenge_id: Uuid) -> Vec<u8> {
        self.i
            .keys
            .master()
            .mac("phone_verification", challenge_id.as_bytes())
            .to_vec()
    }

    /// The stored form of a code: a MAC under the master key, bound to the
    /// challenge and the number.
    fn phone_digest(&self, challenge_id: Uuid, phone: &str, code: &str) -> Vec<u8> {
        let mut data = challenge_id.as_bytes().to_vec();
        data.extend_from_slice(phone.as_bytes());
        data.push(0);
        data.extend_from_slice(code.as_bytes());
        self.i
            .keys
            .master()
            .mac("phone_verification_code", &data)
            .to_vec()
    }

    pub(super) async fn active(&self, who: &Principal) -> Result<User> {
        match self.i.store.get_user(who.realm.id, who.user_id).await? {
            Some(u) if u.active => Ok(u),
            _ => Err(Error::NotAuthenticated("account no longer active")),
        }
    }

    /// The caller's phone verification.
    pub async fn phone_status(&self, who: &Principal) -> Result<PhoneStatus> {
        let user = self.active(who).await?;
        let v = self
            .i
            .store
            .get_phone_verification(user.realm_id, user.id)
            .await?;
        Ok(PhoneStatus::of(v.as_ref()))
    }

    /// Sends a code to `phone` (E.164) to verify it. Asking again for the
    /// same number resends (at most [`MAX_SENDS`] codes, [`RESEND_PAUSE`]
    /// apart); another number starts over, ending any verification of the
    /// one before.
    pub async fn start_phone(&self, who: &Principal, phone: &str) -> Result<PhoneStatus> {
        let Some(sender) = self.i.sms.clone() else {
            return Err(Error::Conflict(SMS_UNAVAILABLE.to_owned()));
        };
        let phone = parse_phone(phone)
            .map_err(|e| Error::Validation(vec![FieldError::new("phone_number", e.reason)]))?;
        let user = self.active(who).await?;
        let realm = &who.realm;
        let now = self.i.clock.now();
        let current = self
            .i
            .store
            .get_phone_verification(realm.id, user.id)
            .await?;
        let same = current.as_ref().filter(|v| v.phone == phone);
        if same.is_some_and(|v| v.verified_at.is_some()) {
            return Err(Error::Conflict(
                "this phone number is verified already".to_owned(),
            ));
        }
        let code = random_digits(OTP_DIGITS);
        let open = match same.and_then(|v| v.challenge_id) {
            Some(id) => self.open_challenge(&user, id, now).await?,
            None => None,
        };
        let (challenge_id, expires_in) = match open {
            Some(challenge) => {
                // A resend: the same challenge, a new code.
                let code_expires =
                    (now + OTP_TTL).min(challenge.created_at + MAX_CODE_CHALLENGE_LIFE);
                let otp = ChallengeOtp {
                    method: METHOD_SMS.to_owned(),
                    code_hash: self.phone_digest(challenge.id, &phone, &code),
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
                    return Err(refused_send(&challenge, now));
                }
                (challenge.id, code_expires - now)
            }
            None => {
                crate::recovery::take(
                    self.i,
                    realm.id,
                    &format!("phone:verify:user:{}", user.id),
                    MAX_ENROLMENTS,
                )
                .await?;
                let id = new_id();
                let expires = now + OTP_TTL;
                self.i
                    .store
                    .put_phone_verification(&PhoneVerification {
                        realm_id: realm.id,
                        user_id: user.id,
                        phone: phone.clone(),
                        challenge_id: Some(id),
                        verified_at: None,
                        updated_at: now,
                    })
                    .await?;
                self.i
                    .store
                    .insert_challenge(&MfaChallenge {
                        id,
                        realm_id: realm.id,
                        user_id: user.id,
                        token_hash: self.phone_key(id),
                        purpose: ChallengePurpose::Enrol,
                        methods: vec![METHOD_SMS.to_owned()],
                        amr: Vec::new(),
                        created_at: now,
                        expires_at: expires,
                        consumed_at: None,
                        failures: 0,
                        otp: Some(ChallengeOtp {
                            method: METHOD_SMS.to_owned(),
                            code_hash: self.phone_digest(id, &phone, &code),
                            expires_at: expires,
                        }),
                        otp_sends: 1,
                        idp: None,
                        otp_sent_at: Some(now),
                    })
                    .await?;
                if let Some(before) = current.as_ref().filter(|v| v.verified_at.is_some()) {
                    self.record(
                        &user,
                        None,
                        "verification.phone.reset",
                        serde_json::json!({ "phone": mask_phone(&before.phone), "why": "changed" }),
                    )
                    .await;
                }
                self.changed(realm.id);
                (id, OTP_TTL)
            }
        };
        let message = format!(
            "{code} is your {} phone verification code. It expires in {} minutes.",
            realm.display_name,
            expires_in.whole_minutes().max(1)
        );
        spawn_sms(
            sender,
            OutgoingSms {
                to: phone.clone(),
                message,
            },
            realm.name.to_string(),
        );
        count("phone", "code_sent");
        self.record(
            &user,
            None,
            "verification.phone.code_sent",
            serde_json::json!({ "phone": mask_phone(&phone), "challenge_id": challenge_id }),
        )
        .await;
        Ok(PhoneStatus {
            phone: Some(mask_phone(&phone)),
            verified: false,
            verified_at: None,
            expires_in: Some(expires_in.whole_seconds().unsigned_abs()),
        })
    }

    /// The open challenge `id` of `user`'s phone verification.
    async fn open_challenge(
        &self,
        user: &User,
        id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<MfaChallenge>> {
        Ok(self
            .i
            .store
            .find_challenge(user.realm_id, &self.phone_key(id))
            .await?
            .filter(|c| {
                c.id == id
                    && c.purpose == ChallengePurpose::Enrol
                    && c.user_id == user.id
                    && c.consumed_at.is_none()
                    && c.expires_at > now
            }))
    }

    /// Proves the pending number with the code sent to it: the number is
    /// then verified and becomes the profile's `phone_number`. Five wrong
    /// codes end the verification; a code works once.
    pub async fn verify_phone(&self, who: &Principal, code: &str) -> Result<PhoneStatus> {
        let user = self.active(who).await?;
        let realm_id = user.realm_id;
        let now = self.i.clock.now();
        let pending = self
            .i
            .store
            .get_phone_verification(realm_id, user.id)
            .await?
            .filter(|v| v.verified_at.is_none());
        let (Some(pending), Some(challenge_id)) = (
            pending.as_ref(),
            pending.as_ref().and_then(|v| v.challenge_id),
        ) else {
            return Err(Error::Conflict(NOTHING_PENDING.to_owned()));
        };
        let challenge = self
            .open_challenge(&user, challenge_id, now)
            .await?
            .ok_or_else(|| Error::Conflict(NOTHING_PENDING.to_owned()))?;
        let digest =
            normalise_code(code).map(|c| self.phone_digest(challenge_id, &pending.phone, &c));
        let right = match (&challenge.otp, &digest) {
            (Some(otp), Some(d)) => otp.expires_at > now && constant_time_eq(d, &otp.code_hash),
            _ => false,
        };
        let spent = match (right, &digest) {
            (true, Some(d)) => {
                self.i
                    .store
                    .consume_challenge_otp(realm_id, challenge.id, d, now)
                    .await?
            }
            _ => false,
        };
        if !spent {
            if !right {
                self.i
                    .store
                    .fail_challenge(realm_id, challenge.id, MAX_CHALLENGE_FAILURES, now)
                    .await?;
                count("phone", "wrong_code");
                self.record(
                    &user,
                    None,
                    "verification.phone.verify_failed",
                    serde_json::json!({ "phone": mask_phone(&pending.phone) }),
                )
                .await;
            }
            return Err(Error::field("code", WRONG_CODE));
        }
        if !self
            .i
            .store
            .mark_phone_verified(realm_id, user.id, &pending.phone, challenge_id, now)
            .await?
        {
            return Err(Error::Conflict(
                "the phone verification changed meanwhile".to_owned(),
            ));
        }
        self.changed(realm_id);
        self.profiles()
            .set_verified_phone(&user, &pending.phone)
            .await?;
        count("phone", "verified");
        self.record(
            &user,
            None,
            "verification.phone.verified",
            serde_json::json!({ "phone": mask_phone(&pending.phone) }),
        )
        .await;
        let mut done = pending.clone();
        done.verified_at = Some(now);
        Ok(PhoneStatus::of(Some(&done)))
    }

    /// Ends a user's phone verification (an administrator's reset).
    pub async fn reset_phone(&self, admin: &RealmAdmin, user_id: Uuid) -> Result<()> {
        admin.writable()?;
        let realm_id = admin.realm_id();
        let user = self
            .i
            .store
            .get_user(realm_id, user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let Some(before) = self
            .i
            .store
            .get_phone_verification(realm_id, user.id)
            .await?
        else {
            return Err(Error::NotFound("phone verification"));
        };
        self.i
            .store
            .delete_phone_verification(realm_id, user.id)
            .await?;
        self.changed(realm_id);
        count("phone", "reset");
        self.record(
            &user,
            Some(admin.actor()),
            "verification.phone.reset",
            serde_json::json!({ "phone": mask_phone(&before.phone), "why": "administrator" }),
        )
        .await;
        Ok(())
    }

    /// A profile write set the user's `phone_number` to `phone`: a
    /// verification of another number ends.
    pub(crate) async fn profile_phone_changed(
        &self,
        user: &User,
        actor: crate::audit::Actor,
        phone: Option<&str>,
    ) -> Result<()> {
        let Some(current) = self
            .i
            .store
            .get_phone_verification(user.realm_id, user.id)
            .await?
        else {
            return Ok(());
        };
        if phone == Some(current.phone.as_str()) {
            return Ok(());
        }
        self.i
            .store
            .delete_phone_verification(user.realm_id, user.id)
            .await?;
        self.changed(user.realm_id);
        count("phone", "reset");
        self.record(
            user,
            Some(actor),
            "verification.phone.reset",
            serde_json::json!({ "phone": mask_phone(&current.phone), "why": "profile_changed" }),
        )
        .await;
        Ok(())
    }

    async fn record(
        &self,
        user: &User,
        actor: Option<crate::audit::Actor>,
        action: &str,
        detail: serde_json::Value,
    ) {
        let actor = actor.unwrap_or_else(|| crate::audit::Actor::from(Some(user.id)));
        crate::audit::event(
            self.i,
            user.realm_id,
            actor,
            action,
            format!("user:{}", user.id),
            detail,
        )
        .await;
    }
}

/// Why a code was not stored on a challenge read open just before.
fn refused_send(challenge: &MfaChallenge, now: OffsetDateTime) -> Error {
    if challenge.otp_sends >= MAX_SENDS {
        return Error::Conflict(
            "no more codes can be sent for this number; wait until the verification expires"
                .to_owned(),
        );
    }
    match challenge.otp_sent_at {
        Some(at) if at + RESEND_PAUSE > now => Error::RateLimited {
            retry_after: (at + RESEND_PAUSE - now)
                .whole_seconds()
                .max(1)
                .unsigned_abs(),
        },
        _ => Error::Conflict("the verification ended meanwhile; start again".to_owned()),
    }
}
