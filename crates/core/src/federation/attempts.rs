//! Sign-ins in flight. Every step is a single-use attempt keyed by the
//! SHA-256 of its handle and bound to the browser that started it by the
//! SHA-256 of a cookie's secret (`binding`): a state from another browser,
//! a replayed callback or an expired attempt is refused. The upstream
//! `nonce` and PKCE verifier are HMACs of the state under the binding
//! secret, so the database holds nothing an attacker could replay.
//!
//! The exchange code of an API client is bound to the client's PKCE
//! challenge instead of a cookie.

use base64::Engine as _;
use portcullis_crypto::{constant_time_eq, hmac_sha256, random_token, sha256};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ATTEMPT_TTL, Federation, INVALID_ATTEMPT, IdentityProvider, UpstreamIdentity};
use crate::error::{Error, Result};
use crate::model::federation::FederationAttempt;
use crate::model::new_id;

/// How long an API client has to exchange its code.
const EXCHANGE_TTL: time::Duration = time::Duration::seconds(60);

/// What happens once the upstream sign-in is back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum Continuation {
    /// On with an authorization request of the realm's OpenID Provider:
    /// its form-encoded parameters.
    Authorize {
        /// The request's parameters, form-encoded.
        request: String,
    },
    /// An API client (SPA, mobile app) gets an exchange code at its
    /// registered redirect URI.
    Client {
        /// The client.
        client_id: String,
        /// One of its registered redirect URIs.
        redirect_uri: String,
        /// The client's `state`, echoed.
        state: Option<String>,
        /// The client's PKCE challenge (S256).
        code_challenge: String,
    },
    /// Links the upstream account to a signed-in user, then back to the
    /// client.
    Link {
        /// The signed-in user.
        user_id: Uuid,
        /// The client that asked.
        client_id: String,
        /// One of its registered redirect URIs.
        redirect_uri: String,
        /// The client's `state`, echoed.
        state: Option<String>,
    },
}

/// An attempt's step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Sent upstream; waiting for the callback.
    Started {
        /// What follows.
        next: Continuation,
    },
    /// Back from upstream; the user must prove the local account before it
    /// is linked.
    PendingLink {
        /// What follows.
        next: Continuation,
        /// The local account the upstream address matched.
        user_id: Uuid,
        /// Who the upstream said the user is.
        identity: UpstreamIdentity,
    },
    /// A pending link whose proof was mailed to the local account's
    /// address: the mailed link completes it, in the same browser.
    MailedLink {
        /// What follows.
        next: Continuation,
        /// The local account.
        user_id: Uuid,
        /// Who the upstream said the user is.
        identity: UpstreamIdentity,
    },
    /// Signed in for an API client, which exchanges the code for tokens.
    Exchange {
        /// The user.
        user_id: Uuid,
        /// The client the code is for.
        client_id: String,
        /// The upstream's `amr`.
        upstream_amr: Vec<String>,
    },
}

/// A started upstream sign-in.
#[derive(Debug)]
pub struct Begun {
    /// The `state` sent upstream.
    pub state: String,
    /// The secret of the browser's binding cookie (new, or the one it
    /// had).
    pub binding: SecretString,
    /// The nonce and PKCE verifier of this attempt.
    pub secrets: AttemptSecrets,
}

/// The values of one attempt derived from the binding secret.
#[derive(Debug)]
pub struct AttemptSecrets {
    /// The OpenID Connect `nonce`.
    pub nonce: String,
    /// The PKCE `code_verifier` (43 characters).
    pub pkce_verifier: SecretString,
}

/// The nonce and PKCE verifier of the attempt `state` in the browser
/// holding `binding`.
pub fn secrets(binding: &str, state: &str) -> AttemptSecrets {
    let b64 = |label: &str| {
        let mac = hmac_sha256(binding.as_bytes(), format!("{label}:{state}").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
    };
    AttemptSecrets {
        nonce: b64("nonce"),
        pkce_verifier: SecretString::from(b64("pkce")),
    }
}

fn usable_binding(binding: Option<&str>) -> Option<&str> {
    binding.filter(|b| {
        (32..=128).contains(&b.len())
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    })
}

/// Whether an attempt is `provider`'s and was started in the browser
/// holding `binding` (compared in constant time).
fn belongs(
    attempt: &FederationAttempt,
    provider: &IdentityProvider,
    binding: Option<&str>,
) -> bool {
    let bound = usable_binding(binding)
        .is_some_and(|b| constant_time_eq(&sha256(b.as_bytes()), &attempt.binding_hash));
    attempt.provider_id == provider.id && bound
}

impl Federation<'_> {
    /// Starts an upstream sign-in through `provider`; `binding` is the
    /// browser's binding cookie, if it has one.
    pub async fn begin(
        &self,
        provider: &IdentityProvider,
        next: Continuation,
        binding: Option<&str>,
    ) -> Result<Begun> {
        let binding = match usable_binding(binding) {
            Some(b) => b.to_owned(),
            None => random_token(),
        };
        let state = random_token();
        self.insert(
            provider,
            &state,
            sha256(binding.as_bytes()),
            Step::Started { next },
            ATTEMPT_TTL,
        )
        .await?;
        let secrets = secrets(&binding, &state);
        super::count("started", provider.kind);
        Ok(Begun {
            state,
            binding: SecretString::from(binding),
            secrets,
        })
    }

    async fn insert(
        &self,
        provider: &IdentityProvider,
        handle: &str,
        binding_hash: [u8; 32],
        step: Step,
        ttl: time::Duration,
    ) -> Result<()> {
        let now = self.i.clock.now();
        let attempt = FederationAttempt {
            id: new_id(),
            realm_id: provider.realm_id,
            provider_id: provider.id,
            token_hash: sha256(handle.as_bytes()).to_vec(),
            binding_hash: binding_hash.to_vec(),
            payload: serde_json::to_value(&step).map_err(|_| Error::Internal("idp-attempt"))?,
            created_at: now,
            expires_at: now + ttl,
        };
        self.i.store.insert_federation_attempt(&attempt).await?;
        Ok(())
    }

    /// Takes the attempt `handle` of `provider` in the browser holding
    /// `binding`: its step, once. Anything else (unknown, expired, spent,
    /// another provider's, another browser's) is one 400.
    pub async fn take(
        &self,
        provider: &IdentityProvider,
        handle: &str,
        binding: Option<&str>,
    ) -> Result<Step> {
        let invalid = || Error::BadRequest(INVALID_ATTEMPT.to_owned());
        if handle.is_empty() || handle.len() > 128 {
            return Err(invalid());
        }
        let now = self.i.clock.now();
        let Some(attempt) = self
            .i
            .store
            .take_federation_attempt(provider.realm_id, &sha256(handle.as_bytes()), now)
            .await?
        else {
            super::count("attempt_invalid", provider.kind);
            return Err(invalid());
        };
        if !belongs(&attempt, provider, binding) {
            super::count("attempt_foreign", provider.kind);
            return Err(invalid());
        }
        serde_json::from_value(attempt.payload).map_err(|_| Error::Internal("idp-attempt"))
    }

    /// The step of the attempt `handle` of `provider` in the browser
    /// holding `binding`, without taking it: for a page that must know
    /// where its form leads. `None` for anything [`Self::take`] refuses.
    pub async fn peek(
        &self,
        provider: &IdentityProvider,
        handle: &str,
        binding: Option<&str>,
    ) -> Result<Option<Step>> {
        if handle.is_empty() || handle.len() > 128 {
            return Ok(None);
        }
        let now = self.i.clock.now();
        let Some(attempt) = self
            .i
            .store
            .peek_federation_attempt(provider.realm_id, &sha256(handle.as_bytes()), now)
            .await?
        else {
            return Ok(None);
        };
        if !belongs(&attempt, provider, binding) {
            return Ok(None);
        }
        Ok(serde_json::from_value(attempt.payload).ok())
    }

    /// Holds an upstream identity until the user proves the local account
    /// `user_id`; the handle goes to the confirmation form.
    pub async fn hold_for_link(
        &self,
        provider: &IdentityProvider,
        binding: &str,
        next: Continuation,
        user_id: Uuid,
        identity: UpstreamIdentity,
    ) -> Result<SecretString> {
        let handle = random_token();
        let step = Step::PendingLink {
            next,
            user_id,
            identity,
        };
        self.insert(
            provider,
            &handle,
            sha256(binding.as_bytes()),
            step,
            ATTEMPT_TTL,
        )
        .await?;
        Ok(SecretString::from(handle))
    }

    /// Mails the proof of a pending link to the local account's address:
    /// the pending link is spent, and a link that completes it (once, in
    /// this browser, within [`ATTEMPT_TTL`]) goes to the account's address.
    /// Answers the address it went to.
    pub async fn mail_link_proof(
        &self,
        realm: &crate::model::Realm,
        provider: &IdentityProvider,
        handle: &str,
        binding: Option<&str>,
    ) -> Result<String> {
        let Step::PendingLink {
            next,
            user_id,
            identity,
        } = self.take(provider, handle, binding).await?
        else {
            return Err(Error::BadRequest(INVALID_ATTEMPT.to_owned()));
        };
        let user = self
            .i
            .store
            .get_user(realm.id, user_id)
            .await?
            .filter(|u| u.active)
            .ok_or(Error::NotFound("user"))?;
        let token = random_token();
        let binding = usable_binding(binding).unwrap_or_default();
        let step = Step::MailedLink {
            next,
            user_id,
            identity,
        };
        self.insert(
            provider,
            &token,
            sha256(binding.as_bytes()),
            step,
            ATTEMPT_TTL,
        )
        .await?;
        let link = format!(
            "{}/login/social/mailed?provider={}&token={token}",
            self.i.settings.issuer(&realm.name),
            provider.alias
        );
        let mut values = serde_json::Map::new();
        values.insert("link".into(), link.into());
        values.insert(
            "expires_in_minutes".into(),
            ATTEMPT_TTL.whole_minutes().into(),
        );
        values.insert("provider".into(), provider.label().into());
        values.insert(
            "name".into(),
            user.name
                .clone()
                .map_or(serde_json::Value::Null, Into::into),
        );
        crate::mail::Mail::new(self.i)
            .enqueue(
                realm,
                crate::model::mail::MailKind::LinkAccount,
                &user.email,
                values,
            )
            .await?;
        Ok(user.email.as_str().to_owned())
    }

    /// An exchange code for an API client whose user signed in: bound to
    /// the client's PKCE challenge, single use, 60 seconds.
    pub async fn issue_exchange(
        &self,
        provider: &IdentityProvider,
        code_challenge: &str,
        user_id: Uuid,
        client_id: &str,
        upstream_amr: Vec<String>,
    ) -> Result<SecretString> {
        let code = random_token();
        let step = Step::Exchange {
            user_id,
            client_id: client_id.to_owned(),
            upstream_amr,
        };
        self.insert(
            provider,
            &code,
            sha256(code_challenge.as_bytes()),
            step,
            EXCHANGE_TTL,
        )
        .await?;
        Ok(SecretString::from(code))
    }

    /// Redeems an exchange code with the PKCE verifier: the user, the
    /// provider and the upstream `amr`. The code is spent whatever the
    /// outcome.
    pub async fn redeem_exchange(
        &self,
        realm_id: Uuid,
        code: &str,
        code_verifier: &SecretString,
        client_id: &str,
    ) -> Result<(Uuid, IdentityProvider, Vec<String>)> {
        const INVALID: &str = "the code is invalid, expired, already used, or was issued to another client or for another code_verifier";
        let invalid = || Error::BadRequest(INVALID.to_owned());
        if code.is_empty() || code.len() > 128 {
            return Err(invalid());
        }
        let now = self.i.clock.now();
        let attempt = self
            .i
            .store
            .take_federation_attempt(realm_id, &sha256(code.as_bytes()), now)
            .await?
            .ok_or_else(invalid)?;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha256(code_verifier.expose_secret().as_bytes()));
        if !constant_time_eq(&sha256(challenge.as_bytes()), &attempt.binding_hash) {
            return Err(invalid());
        }
        let step: Step =
            serde_json::from_value(attempt.payload).map_err(|_| Error::Internal("idp-attempt"))?;
        let Step::Exchange {
            user_id,
            client_id: issued_to,
            upstream_amr,
        } = step
        else {
            return Err(invalid());
        };
        if !constant_time_eq(issued_to.as_bytes(), client_id.as_bytes()) {
            return Err(invalid());
        }
        let provider = self
            .i
            .store
            .list_providers(realm_id)
            .await?
            .into_iter()
            .find(|p| p.id == attempt.provider_id)
            .ok_or_else(invalid)?;
        Ok((user_id, provider, upstream_amr))
    }

    /// An API client's exchange code for the answer of a login: tokens,
    /// or the second step the user still owes (the realm's MFA rules and
    /// risk checks apply as after a password).
    pub async fn exchange(
        &self,
        realm: &crate::model::Realm,
        code: &str,
        code_verifier: &SecretString,
        client_id: &str,
        meta: &crate::accounts::RequestMeta,
    ) -> Result<crate::accounts::LoginOutcome> {
        crate::realms::ensure_enabled(realm)?;
        let (user_id, provider, upstream_amr) = self
            .redeem_exchange(realm.id, code, code_verifier, client_id)
            .await?;
        let user = self
            .i
            .store
            .get_user(realm.id, user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        self.accounts()
            .login_upstream(realm, user, &provider, &upstream_amr, meta)
            .await
    }
}
