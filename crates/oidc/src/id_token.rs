//! ID tokens (OpenID Connect Core §2) and the user claims released by scope
//! (§5.4), shared by the token and UserInfo endpoints.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::Portcullis;
use portcullis_core::clients::OAuthClient;
use portcullis_core::model::{Realm, Session, SigningAlgorithm, User};
use portcullis_core::orgs::claim::ORGANIZATION_SCOPE;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Digest as _;

use crate::OAuthError;

/// `typ` header of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

/// The claims scopes release (OpenID Connect Core §5.4).
pub const SCOPE_CLAIMS: [(&str, &[&str]); 4] = [
    (
        "profile",
        &[
            "name",
            "preferred_username",
            "updated_at",
            "locale",
            "zoneinfo",
            "given_name",
            "family_name",
            "picture",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("phone", &["phone_number", "phone_number_verified"]),
    ("address", &["address"]),
];

/// Claims of an ID token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience: the client.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The authorization request's nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Left half of the access token's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The browser session (for logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Authentication context class: `1` for one factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods (RFC 8176).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Authorized party: the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// The alias of the upstream identity provider the user signed in
    /// through, when they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// User claims released by the scopes.
    #[serde(flatten)]
    pub user: Map<String, Value>,
}

/// The `acr` of a session: `1` for one factor, `2` for more.
pub fn acr(amr: &[String]) -> String {
    let factors = amr.iter().filter(|m| m.as_str() != "mfa").count();
    if factors > 1 { "2" } else { "1" }.to_owned()
}

/// `at_hash`: the left half of the access token's hash with the hash of the
/// ID token's algorithm (SHA-512 for Ed25519), base64url.
pub fn at_hash(alg: SigningAlgorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlgorithm::EdDSA => sha2::Sha512::digest(access_token.as_bytes()).to_vec(),
        SigningAlgorithm::ES256 | SigningAlgorithm::RS256 => {
            sha2::Sha256::digest(access_token.as_bytes()).to_vec()
        }
    };
    let half = digest.get(..digest.len() / 2).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(half)
}

/// The user claims the scopes release, without `sub`: the account's own
/// (`name`, `preferred_username`, `updated_at`, `email`, `email_verified`)
/// and those its profile releases ([`portcullis_core::profile::Profiles::claims`]:
/// the realm's profile schema decides which field becomes which claim
/// under which scope; `picture` is the avatar's URL).
pub async fn user_claims(
    core: &Portcullis,
    user: &User,
    scopes: &[&str],
) -> Result<Map<String, Value>, portcullis_core::Error> {
    let mut out = Map::new();
    let has = |s: &str| scopes.contains(&s);
    if has("profile") {
        if let Some(name) = &user.name {
            out.insert("name".into(), Value::from(name.as_str()));
        }
        out.insert(
            "preferred_username".into(),
            Value::from(user.email.as_str()),
        );
        out.insert(
            "updated_at".into(),
            Value::from(user.updated_at.unix_timestamp()),
        );
    }
    if has("email") {
        out.insert("email".into(), Value::from(user.email.as_str()));
        out.insert("email_verified".into(), Value::from(user.email_verified));
    }
    if has(ORGANIZATION_SCOPE) {
        let claim = core.organizations().claim(user.realm_id, user.id).await?;
        out.insert(ORGANIZATION_SCOPE.into(), claim);
    }
    for (k, v) in core.profiles().claims(user, scopes).await? {
        out.entry(k).or_insert(v);
    }
    Ok(out)
}

/// What an ID token is issued for.
pub struct IdTokenInput<'a> {
    /// The client.
    pub client: &'a OAuthClient,
    /// The user.
    pub user: &'a User,
    /// The client session (its parent is the browser session, the `sid`).
    pub session: &'a Session,
    /// The granted scopes.
    pub scopes: &'a [&'a str],
    /// The request's nonce.
    pub nonce: Option<String>,
    /// The access token issued with it.
    pub access_token: &'a str,
}

/// Signs an ID token with the client's algorithm.
pub async fn issue(
    core: &Portcullis,
    realm: &Realm,
    input: IdTokenInput<'_>,
) -> Result<String, OAuthError> {
    let now = core.clock().now();
    let alg = input.client.id_token_alg;
    let ttl = input
        .client
        .access_token_ttl
        .map_or(core.settings().access_token_ttl, |s| {
            time::Duration::seconds(i64::from(s))
        });
    let session = input.session;
    let claims = IdClaims {
        iss: core.realms().issuer(realm),
        sub: input.user.id.to_string(),
        aud: input.client.client_id.clone(),
        exp: (now + ttl).unix_timestamp(),
        iat: now.unix_timestamp(),
        auth_time: session.auth_time.unix_timestamp(),
        nonce: input.nonce,
        at_hash: Some(at_hash(alg, input.access_token)),
        sid: Some(session.parent_id.unwrap_or(session.id).to_string()),
        acr: Some(acr(&session.amr)),
        amr: session.amr.clone(),
        azp: Some(input.client.client_id.clone()),
        idp: session.idp.clone(),
        user: user_claims(core, input.user, input.scopes).await?,
    };
    let key = core.keys().signer_for(realm, alg).await?;
    key.sign(&claims, ID_TOKEN_TYP)
        .map_err(|_| OAuthError::server_error())
}

/// The claims of an ID token this realm issued, checked for signature and
/// issuer but not expiry (an `id_token_hint` is usually expired).
pub async fn verify_hint(core: &Portcullis, realm: &Realm, token: &str) -> Option<IdClaims> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let header = portcullis_crypto::decode_header(token).ok()?;
    if header.typ.as_deref().is_some_and(|t| t != ID_TOKEN_TYP) {
        return None;
    }
    let key = core
        .keys()
        .verifier(realm, header.kid.as_deref()?)
        .await
        .ok()??;
    let claims: IdClaims = portcullis_crypto::verify(token, &key).ok()?;
    (claims.iss == core.realms().issuer(realm)).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_spec_example() {
        // OpenID Connect Core, Appendix A.4 (RS256).
        assert_eq!(
            at_hash(
                SigningAlgorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(SigningAlgorithm::EdDSA, "x").len(), 43);
    }

    #[test]
    fn acr_counts_factors() {
        assert_eq!(acr(&["pwd".to_owned()]), "1");
        assert_eq!(
            acr(&["pwd".to_owned(), "otp".to_owned(), "mfa".to_owned()]),
            "2"
        );
    }
}
