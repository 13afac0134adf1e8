//! Federation: the identity providers a realm trusts upstream, the social
//! accounts that link users to them, and what an upstream sign-in does to
//! the realm's accounts.
//!
//! The upstream protocol (discovery, the authorization request, the code
//! exchange, ID-token validation, profiles) is `portcullis-oidc`'s; this
//! service owns the rest:
//!
//! - `admin`: the provider registry, guarded by `identity-providers:*`
//!   rights; secrets sealed with the master key and never shown.
//! - `validate`: the rules of a provider's settings.
//! - `attempts`: sign-ins in flight. An attempt is keyed by the digest of
//!   its `state`, bound to the browser that started it by the digest of a
//!   cookie's secret, single use and short-lived; the upstream `nonce` and
//!   the PKCE verifier are derived from the cookie's secret and the state,
//!   so the database holds neither.
//! - `sign_in`: accounts. A known (provider, subject) pair signs in; an
//!   unknown one whose address matches a local account is linked only when
//!   both sides verified the address and the provider allows automatic
//!   linking, otherwise the user must prove the local account first; no
//!   match creates an account when the provider allows sign-up. Claim
//!   mappers then set attributes, roles and groups.

mod admin;
mod attempts;
mod sign_in;
#[cfg(test)]
mod tests;
mod validate;

pub use crate::model::federation::{
    FederationAttempt, FieldMap, IdentityProvider, Mapper, ProviderConfig, ProviderKind,
    SocialAccount, UpstreamAuth,
};
pub use admin::NewProvider;
pub use attempts::{AttemptSecrets, Begun, Continuation, Step, secrets};
pub use sign_in::{Confirmed, LinkProof, LinkedAccount, Resolved, claim};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::app::Inner;

/// RFC 8176-style `amr` value of a sign-in through an upstream provider
/// (as Microsoft's tokens write it).
pub const AMR_FEDERATED: &str = "fed";

/// Upstream `amr` values that show a second factor was done upstream.
pub const UPSTREAM_MFA_AMR: &[&str] = &["mfa", "otp", "hwk", "swk", "sms", "fpt", "face"];

/// How long an upstream sign-in may take, from the redirect to the
/// callback, and how long a pending link waits for its proof.
pub const ATTEMPT_TTL: time::Duration = time::Duration::minutes(10);

/// The answer when a sign-in cannot be matched to its attempt.
pub const INVALID_ATTEMPT: &str =
    "this sign-in was not started in this browser, has expired or was already used: start again";

/// Who the upstream says the user is, after the protocol checked it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamIdentity {
    /// The upstream's stable id of the user.
    pub subject: String,
    /// The address the upstream gave.
    pub email: Option<String>,
    /// Whether the upstream says it verified the address.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
    /// Every claim or profile field, for the mappers.
    pub claims: serde_json::Value,
    /// The upstream's `amr`, if it sent one.
    pub amr: Vec<String>,
}

/// The federation service.
pub struct Federation<'a> {
    i: &'a Inner,
}

impl<'a> Federation<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    // The services Federation works with, built here and nowhere else in it.

    /// Collaborator: authz.
    fn authz(&self) -> crate::authz::Authz<'a> {
        crate::authz::Authz::new(self.i)
    }

    /// Collaborator: accounts.
    fn accounts(&self) -> crate::accounts::Accounts<'a> {
        crate::accounts::Accounts::new(self.i)
    }

    /// Collaborator: mfa (passkeys proving a pending link).
    fn mfa(&self) -> crate::mfa::Mfa<'a> {
        crate::mfa::Mfa::new(self.i)
    }

    /// The provider's secret in the clear (a client secret, or the PEM
    /// private key that signs one), for the upstream client.
    pub fn secret(&self, provider: &IdentityProvider) -> crate::Result<Option<SecretString>> {
        let Some(sealed) = &provider.secret else {
            return Ok(None);
        };
        let plain = self
            .i
            .master
            .decrypt(sealed, provider.id.as_bytes())
            .map_err(|_| crate::Error::Internal("idp-secret"))?;
        let text =
            String::from_utf8(plain.to_vec()).map_err(|_| crate::Error::Internal("idp-secret"))?;
        Ok(Some(SecretString::from(text)))
    }

    /// The realm's enabled providers, for the login page's buttons.
    pub async fn enabled(&self, realm_id: uuid::Uuid) -> crate::Result<Vec<IdentityProvider>> {
        let mut all = self.i.store.list_providers(realm_id).await?;
        all.retain(|p| p.enabled);
        Ok(all)
    }

    /// An enabled provider to sign in with; `NotFound` otherwise (a
    /// disabled provider is not told apart from a missing one).
    pub async fn for_sign_in(
        &self,
        realm_id: uuid::Uuid,
        alias: &str,
    ) -> crate::Result<IdentityProvider> {
        if alias.len() > validate::MAX_ALIAS {
            return Err(crate::Error::NotFound("identity provider"));
        }
        match self.i.store.get_provider(realm_id, alias).await? {
            Some(p) if p.enabled => Ok(p),
            _ => Err(crate::Error::NotFound("identity provider")),
        }
    }
}

fn count(event: &'static str, kind: ProviderKind) {
    metrics::counter!("portcullis_federation_total", "event" => event, "kind" => kind.as_str())
        .increment(1);
}
