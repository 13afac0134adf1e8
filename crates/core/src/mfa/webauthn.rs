//! WebAuthn (passkeys and security keys) with `webauthn-rs`: registration,
//! use as a second factor, and passwordless login with discoverable
//! credentials.
//!
//! The relying party is the server's public URL: its host is the RP id and
//! its origin the only origin accepted, so WebAuthn needs a public URL with
//! a domain name (`http://localhost:8080` in development), never an IP
//! address. User verification is required, so a passkey alone is two
//! factors (`amr` `hwk`, `mfa`). Every ceremony's server half (its
//! challenge) is stored and taken once: a response is accepted for one
//! ceremony only, within five minutes.

use crate::model::mfa::{CeremonyKind, WebauthnCeremony};
use portcullis_crypto::sha256;
use serde_json::Value;
use time::Duration;
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

use super::{
    AMR_HWK, AMR_MFA, ChallengePurpose, FactorKind, Mfa, MfaChallenge, MfaFactor, Reauthentication,
    SecondStep,
};
use crate::error::{Error, Result};
use crate::model::{Realm, User, new_id};
use crate::tokens::Principal;

/// How long a ceremony waits for the browser's answer.
pub const CEREMONY_TTL: Duration = Duration::minutes(5);
/// Longest name of a credential.
const MAX_NAME: usize = 64;

/// Options for `navigator.credentials.create()` or `.get()`, and the
/// ceremony to finish with the answer.
#[derive(Debug)]
pub struct PasskeyOptions {
    /// The ceremony.
    pub ceremony_id: Uuid,
    /// `{publicKey: {...}}`, binary values in base64url.
    pub options: Value,
}

const UNKNOWN_CEREMONY: &str = "is unknown, used or expired; start again";
const NOT_ACCEPTED: &str = "the passkey was not accepted";

fn parse_passkey(f: &MfaFactor) -> Option<Passkey> {
    f.credential
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
}

fn internal(what: &'static str) -> impl FnOnce(serde_json::Error) -> Error {
    move |e| {
        tracing::error!(error = %e, what, "WebAuthn state");
        Error::Internal("webauthn")
    }
}

impl Mfa<'_> {
    /// The relying party of the server's public URL.
    fn relying_party(&self, realm: &Realm) -> Result<Webauthn> {
        let unusable = || {
            Error::BadRequest(
                "WebAuthn needs the server's public URL to name a host (such as localhost), \
                 not an IP address"
                    .to_owned(),
            )
        };
        let url = Url::parse(&self.i.settings.public_url).map_err(|_| unusable())?;
        let host = url.domain().ok_or_else(unusable)?.to_owned();
        let origin = Url::parse(&url.origin().ascii_serialization()).map_err(|_| unusable())?;
        WebauthnBuilder::new(&host, &origin)
            .map(|b| b.rp_name(&realm.display_name))
            .and_then(WebauthnBuilder::build)
            .map_err(|_| unusable())
    }

    async fn store_ceremony(
        &self,
        realm: &Realm,
        user_id: Option<Uuid>,
        challenge_id: Option<Uuid>,
        kind: CeremonyKind,
        state: String,
    ) -> Result<Uuid> {
        let now = self.i.clock.now();
        let ceremony = WebauthnCeremony {
            id: new_id(),
            realm_id: realm.id,
            user_id,
            challenge_id,
            kind,
            state,
            created_at: now,
            expires_at: now + CEREMONY_TTL,
        };
        self.i.store.insert_ceremony(&ceremony).await?;
        Ok(ceremony.id)
    }

    /// Takes the open ceremony `id` of `kind`.
    async fn take(&self, realm: &Realm, id: Uuid, kind: CeremonyKind) -> Result<WebauthnCeremony> {
        let now = self.i.clock.now();
        match self.i.store.take_ceremony(realm.id, id).await? {
            Some(c) if c.kind == kind && c.expires_at > now => Ok(c),
            _ => Err(Error::input("ceremony_id", UNKNOWN_CEREMONY)),
        }
    }

    async fn passkeys(&self, realm: &Realm, user_id: Uuid) -> Result<Vec<(MfaFactor, Passkey)>> {
        Ok(self
            .i
            .store
            .list_factors(realm.id, user_id)
            .await?
            .into_iter()
            .filter(|f| f.kind == FactorKind::WebAuthn)
            .filter_map(|f| parse_passkey(&f).map(|p| (f, p)))
            .collect())
    }

    /// Starts registering a passkey or security key for the caller (needs a
    /// recent authentication). The options go to
    /// `navigator.credentials.create()`.
    pub async fn start_webauthn_registration(
        &self,
        who: &Principal,
        proof: Reauthentication,
    ) -> Result<PasskeyOptions> {
        let user = self.require_recent_auth(who, proof).await?;
        let realm = &who.realm;
        let rp = self.relying_party(realm)?;
        let existing = self.passkeys(realm, user.id).await?;
        let exclude = existing.iter().map(|(_, p)| p.cred_id().clone()).collect();
        let display = user.name.clone().unwrap_or_else(|| user.email.to_string());
        let (ccr, registration) = rp
            .start_passkey_registration(user.id, user.email.as_str(), &display, Some(exclude))
            .map_err(|e| {
                tracing::error!(error = %e, "WebAuthn registration start");
                Error::Internal("webauthn")
            })?;
        let mut options = serde_json::to_value(&ccr).map_err(internal("options"))?;
        // Ask for a discoverable credential, so it can sign in without a
        // password; an authenticator that cannot still registers.
        if let Some(sel) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            sel.insert("residentKey".to_owned(), Value::from("preferred"));
        }
        let state = serde_json::to_string(&registration).map_err(internal("registration"))?;
        let ceremony_id = self
            .store_ceremony(realm, Some(user.id), None, CeremonyKind::Register, state)
            .await?;
        Ok(PasskeyOptions {
            ceremony_id,
            options,
        })
    }

    /// Finishes a registration with the browser's answer: the new factor,
    /// and backup codes when the user had none (shown once).
    pub async fn finish_webauthn_registration(
        &self,
        who: &Principal,
        ceremony_id: Uuid,
        name: Option<&str>,
        credential: &Value,
    ) -> Result<(MfaFactor, Option<Vec<String>>)> {
        let realm = &who.realm;
        let name = match name.map(str::trim) {
            None | Some("") => "Passkey".to_owned(),
            Some(n) if n.chars().count() > MAX_NAME || n.chars().any(char::is_control) => {
                return Err(Error::field(
                    "name",
                    format!("must be at most {MAX_NAME} characters, without control characters"),
                ));
            }
            Some(n) => n.to_owned(),
        };
        let response: RegisterPublicKeyCredential = serde_json::from_value(credential.clone())
            .map_err(|_| Error::input("credential", "is not a WebAuthn registration response"))?;
        let ceremony = self
            .take(realm, ceremony_id, CeremonyKind::Register)
            .await?;
        if ceremony.user_id != Some(who.user_id) {
            return Err(Error::input("ceremony_id", UNKNOWN_CEREMONY));
        }
        let user = self.active_user(realm, who.user_id).await?;
        let registration: PasskeyRegistration =
            serde_json::from_str(&ceremony.state).map_err(internal("registration"))?;
        let passkey = self
            .relying_party(realm)?
            .finish_passkey_registration(&response, &registration)
            .map_err(|e| {
                tracing::info!(error = %e, "WebAuthn registration refused");
                Error::input("credential", "was not accepted by the WebAuthn checks")
            })?;
        let existing = self.passkeys(realm, user.id).await?;
        if existing
            .iter()
            .any(|(_, p)| p.cred_id() == passkey.cred_id())
        {
            return Err(Error::Conflict(
                "this credential is already registered".to_owned(),
            ));
        }
        let now = self.i.clock.now();
        let factor = MfaFactor {
            id: new_id(),
            realm_id: realm.id,
            user_id: user.id,
            kind: FactorKind::WebAuthn,
            name,
            secret_enc: None,
            confirmed_at: Some(now),
            last_step: None,
            created_at: now,
            last_used_at: None,
            credential: Some(serde_json::to_string(&passkey).map_err(internal("passkey"))?),
        };
        self.i.store.insert_factor(&factor).await?;
        self.audit(realm, &user, "mfa.webauthn.registered", &factor)
            .await;
        let codes = match self.i.store.count_backup_codes(realm.id, user.id).await? {
            0 => Some(self.replace_backup_codes(realm, &user).await?),
            _ => None,
        };
        Ok((factor, codes))
    }

    /// Options for the WebAuthn second step of an open login challenge.
    pub async fn webauthn_login_options(
        &self,
        realm: &Realm,
        mfa_token: &str,
        purpose: ChallengePurpose,
    ) -> Result<Value> {
        let challenge = self.open_challenge(realm, mfa_token, purpose).await?;
        if !challenge
            .methods
            .iter()
            .any(|m| m == FactorKind::WebAuthn.as_str())
        {
            return Err(Error::input(
                "method",
                format!("must be one of: {}", challenge.methods.join(", ")),
            ));
        }
        let passkeys: Vec<Passkey> = self
            .passkeys(realm, challenge.user_id)
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let (rcr, state) = self
            .relying_party(realm)?
            .start_passkey_authentication(&passkeys)
            .map_err(|e| {
                tracing::error!(error = %e, "WebAuthn authentication start");
                Error::Internal("webauthn")
            })?;
        let state = serde_json::to_string(&state).map_err(internal("authentication"))?;
        self.store_ceremony(
            realm,
            Some(challenge.user_id),
            Some(challenge.id),
            CeremonyKind::Authenticate,
            state,
        )
        .await?;
        serde_json::to_value(&rcr).map_err(internal("options"))
    }

    /// Checks a WebAuthn answer (JSON) for the challenge's ceremony; whether
    /// it proves one of the user's credentials (whose counter is then
    /// stored).
    pub(super) async fn check_webauthn(
        &self,
        realm: &Realm,
        user: &User,
        challenge: &MfaChallenge,
        answer: &str,
    ) -> Result<bool> {
        let Ok(response) = serde_json::from_str::<PublicKeyCredential>(answer) else {
            return Ok(false);
        };
        let now = self.i.clock.now();
        let ceremony = match self
            .i
            .store
            .take_challenge_ceremony(realm.id, challenge.id)
            .await?
        {
            Some(c) if c.kind == CeremonyKind::Authenticate && c.expires_at > now => c,
            _ => return Ok(false),
        };
        let state: PasskeyAuthentication =
            serde_json::from_str(&ceremony.state).map_err(internal("authentication"))?;
        let rp = self.relying_party(realm)?;
        let result = match rp.finish_passkey_authentication(&response, &state) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(error = %e, "WebAuthn assertion refused");
                return Ok(false);
            }
        };
        for (factor, mut passkey) in self.passkeys(realm, user.id).await? {
            if passkey.cred_id() == result.cred_id() {
                passkey.update_credential(&result);
                let stored = serde_json::to_string(&passkey).map_err(internal("passkey"))?;
                self.i
                    .store
                    .update_factor_credential(realm.id, factor.id, &stored, now)
                    .await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Starts a passwordless login: options for `navigator.credentials.get()`
    /// that let the authenticator choose a discoverable credential.
    pub async fn start_passkey_login(&self, realm: &Realm) -> Result<PasskeyOptions> {
        let rp = self.relying_party(realm)?;
        let (rcr, state) = rp.start_discoverable_authentication().map_err(|e| {
            tracing::error!(error = %e, "WebAuthn discoverable start");
            Error::Internal("webauthn")
        })?;
        let mut options = serde_json::to_value(&rcr).map_err(internal("options"))?;
        // A button starts it, not the browser's autofill.
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        let state = serde_json::to_string(&state).map_err(internal("discoverable"))?;
        let ceremony_id = self
            .store_ceremony(realm, None, None, CeremonyKind::Discoverable, state)
            .await?;
        Ok(PasskeyOptions {
            ceremony_id,
            options,
        })
    }

    /// Finishes a passwordless login: the user whose credential answered.
    pub(crate) async fn finish_passkey_login(
        &self,
        realm: &Realm,
        ceremony_id: Uuid,
        credential: &Value,
    ) -> Result<SecondStep> {
        let response: PublicKeyCredential = serde_json::from_value(credential.clone())
            .map_err(|_| Error::input("credential", "is not a WebAuthn assertion"))?;
        let ceremony = self
            .take(realm, ceremony_id, CeremonyKind::Discoverable)
            .await?;
        let rp = self.relying_party(realm)?;
        let (user_id, cred_id) = rp
            .identify_discoverable_authentication(&response)
            .map_err(|_| Error::NotAuthenticated(NOT_ACCEPTED))?;
        let cred_id = cred_id.to_vec();
        let user = match self.i.store.get_user(realm.id, user_id).await? {
            Some(u) if u.active => u,
            Some(_) => return Err(Error::Forbidden("this account is deactivated")),
            None => return Err(Error::NotAuthenticated(NOT_ACCEPTED)),
        };
        if realm.require_verified_email && !user.email_verified {
            return Err(Error::Forbidden(crate::accounts::EMAIL_NOT_VERIFIED));
        }
        let Some((factor, mut passkey)) = self
            .passkeys(realm, user.id)
            .await?
            .into_iter()
            .find(|(_, p)| p.cred_id().as_slice() == cred_id.as_slice())
        else {
            return Err(Error::NotAuthenticated(NOT_ACCEPTED));
        };
        let state: DiscoverableAuthentication =
            serde_json::from_str(&ceremony.state).map_err(internal("discoverable"))?;
        let result = rp
            .finish_discoverable_authentication_v2(&response, state, &passkey)
            .map_err(|e| {
                tracing::info!(error = %e, "WebAuthn passwordless assertion refused");
                Error::NotAuthenticated(NOT_ACCEPTED)
            })?;
        passkey.update_credential(&result);
        let now = self.i.clock.now();
        let stored = serde_json::to_string(&passkey).map_err(internal("passkey"))?;
        self.i
            .store
            .update_factor_credential(realm.id, factor.id, &stored, now)
            .await?;
        let detail = serde_json::json!({ "method": "passkey", "credential": hex_id(&cred_id) });
        self.record(
            realm,
            &user,
            "mfa.passkey_login.succeeded",
            format!("user:{}", user.id),
            detail,
        )
        .await;
        Ok(SecondStep {
            user,
            amr: vec![AMR_HWK.to_owned(), AMR_MFA.to_owned()],
            idp: None,
        })
    }
}

/// A short, stable name of a credential id for the audit log.
fn hex_id(id: &[u8]) -> String {
    sha256(id)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}
