//! The records of second factors and login challenges, as the storage and
//! SMS ports speak them ([`crate::mfa`] is the service).

use time::OffsetDateTime;
use uuid::Uuid;

/// RFC 8176 `amr` value of a one-time password (TOTP, backup code).
pub const AMR_OTP: &str = "otp";

/// RFC 8176 `amr` value of a proof of possession of a key (WebAuthn).
pub const AMR_HWK: &str = "hwk";

/// RFC 8176 `amr` value of a login with more than one factor.
pub const AMR_MFA: &str = "mfa";

/// RFC 8176 `amr` value of a confirmation by text message (SMS OTP).
pub const AMR_SMS: &str = "sms";

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
    /// The alias of the identity provider of the first step, when the
    /// login went upstream (the session records it).
    pub idp: Option<String>,
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

/// The server half of a WebAuthn ceremony in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct WebauthnCeremony {
    /// Id (handed to the browser as `ceremony_id`).
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user, when known.
    pub user_id: Option<Uuid>,
    /// For a second factor: the login challenge.
    pub challenge_id: Option<Uuid>,
    /// Kind.
    pub kind: CeremonyKind,
    /// webauthn-rs's state (holds the challenge), JSON.
    pub state: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// End of validity.
    pub expires_at: OffsetDateTime,
}

/// A text message ready for an [`SmsSender`](crate::ports::SmsSender).
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    /// The recipient, in E.164 form (`+4915112345678`).
    pub to: String,
    /// The text (holds the code).
    pub message: String,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registering a credential for a signed-in user.
    Register,
    /// A second factor of a login challenge.
    Authenticate,
    /// A passwordless login with a discoverable credential.
    Discoverable,
}

impl CeremonyKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authenticate => "authenticate",
            Self::Discoverable => "discoverable",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "register" => Some(Self::Register),
            "authenticate" => Some(Self::Authenticate),
            "discoverable" => Some(Self::Discoverable),
            _ => None,
        }
    }
}
