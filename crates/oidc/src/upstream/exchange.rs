//! The protocol of one upstream sign-in: the authorization URL, the code
//! exchange, and who the answer says the user is.

use base64::Engine as _;
use openidconnect::core::{
    CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm, CoreTokenResponse,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeVerifier, RedirectUrl, SignatureVerificationError, TokenUrl,
};
use portcullis_core::Portcullis;
use portcullis_core::federation::{
    AttemptSecrets, IdentityProvider, UpstreamAuth, UpstreamIdentity,
};
use portcullis_core::model::Realm;
use secrecy::ExposeSecret as _;
use serde_json::Value;

use super::discovery::Known;
use super::presets::{IssuerCheck, Resolved};
use super::{Upstream, UpstreamError};

/// How far in the future an upstream's `iat` may be (clock skew).
const IAT_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// How old an ID token may be when it arrives.
const IAT_MAX_AGE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// The PKCE S256 challenge of a verifier.
pub(crate) fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(portcullis_crypto::sha256(verifier.as_bytes()))
}

fn alg(name: &str) -> Option<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as A;
    Some(match name {
        "RS256" => A::RsaSsaPkcs1V15Sha256,
        "RS384" => A::RsaSsaPkcs1V15Sha384,
        "RS512" => A::RsaSsaPkcs1V15Sha512,
        "PS256" => A::RsaSsaPssSha256,
        "PS384" => A::RsaSsaPssSha384,
        "PS512" => A::RsaSsaPssSha512,
        "ES256" => A::EcdsaP256Sha256,
        "ES384" => A::EcdsaP384Sha384,
        "ES512" => A::EcdsaP521Sha512,
        "EdDSA" => A::EdDsa,
        // Never `none`, never HMAC.
        _ => return None,
    })
}

fn bad(msg: impl Into<String>) -> UpstreamError {
    UpstreamError::BadResponse(msg.into())
}

fn invalid(msg: impl Into<String>) -> UpstreamError {
    UpstreamError::InvalidToken(msg.into())
}

/// The payload of a compact JWS, as JSON (read after the signature was
/// verified).
fn payload(jws: &str) -> Option<Value> {
    let body = jws.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || matches!(v, Some(Value::String(s)) if s == "true")
}

impl Upstream {
    /// Where to send the browser: the provider's authorization endpoint
    /// with the state, the nonce (OpenID Providers), the PKCE S256
    /// challenge, the scopes, `prompt`, and `response_mode=form_post` for
    /// Apple.
    pub(crate) async fn authorization_url(
        &self,
        provider: &IdentityProvider,
        r: &Resolved,
        redirect_uri: &str,
        state: &str,
        secrets: &AttemptSecrets,
    ) -> Result<String, UpstreamError> {
        let endpoint = if r.kind.is_oidc() {
            self.known(provider, r)
                .await?
                .authorization_endpoint
                .clone()
        } else {
            r.authorization_endpoint
                .clone()
                .ok_or(UpstreamError::Misconfigured("no authorization endpoint"))?
        };
        let mut url = url::Url::parse(&endpoint)
            .map_err(|_| UpstreamError::Misconfigured("the authorization endpoint is not a URL"))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &provider.config.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &r.scopes.join(" "))
                .append_pair("state", state)
                .append_pair(
                    "code_challenge",
                    &s256(secrets.pkce_verifier.expose_secret()),
                )
                .append_pair("code_challenge_method", "S256");
            if r.kind.is_oidc() {
                q.append_pair("nonce", &secrets.nonce);
            }
            if r.form_post {
                q.append_pair("response_mode", "form_post");
            }
            if let Some(p) = &provider.config.prompt {
                q.append_pair("prompt", p);
            }
        }
        Ok(url.into())
    }

    /// Exchanges the code and reads who the user is.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn identity(
        &self,
        core: &Portcullis,
        realm: &Realm,
        provider: &IdentityProvider,
        r: &Resolved,
        redirect_uri: &str,
        code: &str,
        secrets: &AttemptSecrets,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let known = if r.kind.is_oidc() {
            Some(self.known(provider, r).await?)
        } else {
            None
        };
        let token_endpoint = match &known {
            Some(k) => k.token_endpoint.clone(),
            None => r
                .token_endpoint
                .clone()
                .ok_or(UpstreamError::Misconfigured("no token endpoint"))?,
        };
        let tokens = self
            .exchange(
                core,
                realm,
                provider,
                &token_endpoint,
                redirect_uri,
                code,
                secrets,
            )
            .await?;
        match known {
            Some(known) => {
                self.identity_of_id_token(provider, r, &known, &tokens, secrets)
                    .await
            }
            None => self.identity_of_profile(r, &tokens).await,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn exchange(
        &self,
        core: &Portcullis,
        realm: &Realm,
        provider: &IdentityProvider,
        token_endpoint: &str,
        redirect_uri: &str,
        code: &str,
        secrets: &AttemptSecrets,
    ) -> Result<CoreTokenResponse, UpstreamError> {
        let config = &provider.config;
        let misconfigured = |what| UpstreamError::Misconfigured(what);
        let secret = core
            .federation()
            .secret(provider)
            .map_err(|_| misconfigured("its secret cannot be read"))?;
        let issuer = IssuerUrl::new(token_endpoint.to_owned())
            .map_err(|_| misconfigured("the token endpoint is not a URL"))?;
        let client = CoreClient::new(
            ClientId::new(config.client_id.clone()),
            issuer,
            openidconnect::core::CoreJsonWebKeySet::new(Vec::new()),
        )
        .set_token_uri(
            TokenUrl::new(token_endpoint.to_owned())
                .map_err(|_| misconfigured("the token endpoint is not a URL"))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(redirect_uri.to_owned())
                .map_err(|_| misconfigured("the callback URL is not a URL"))?,
        );
        let mut extra: Vec<(&'static str, String)> = Vec::new();
        let client = match config.client_auth {
            UpstreamAuth::ClientSecretBasic | UpstreamAuth::ClientSecretPost => {
                let s = secret.ok_or(misconfigured("no client secret is stored"))?;
                let c = client.set_client_secret(ClientSecret::new(s.expose_secret().to_owned()));
                if config.client_auth == UpstreamAuth::ClientSecretPost {
                    c.set_auth_type(AuthType::RequestBody)
                } else {
                    c.set_auth_type(AuthType::BasicAuth)
                }
            }
            UpstreamAuth::SignedSecret => {
                let pem = secret.ok_or(misconfigured("no signing key is stored"))?;
                let jwt = self.signed_secret(provider, pem.expose_secret())?;
                client
                    .set_client_secret(ClientSecret::new(jwt))
                    .set_auth_type(AuthType::RequestBody)
            }
            UpstreamAuth::PrivateKeyJwt => {
                let assertion = self
                    .client_assertion(core, realm, provider, token_endpoint)
                    .await?;
                extra.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                ));
                extra.push(("client_assertion", assertion));
                client.set_auth_type(AuthType::RequestBody)
            }
        };
        let http = self.client();
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                secrets.pkce_verifier.expose_secret().to_owned(),
            ));
        for (name, value) in extra {
            request = request.add_extra_param(name, value);
        }
        request.request_async(&http).await.map_err(|e| {
            use openidconnect::RequestTokenError as E;
            match e {
                E::ServerResponse(err) => bad(format!(
                    "the token endpoint refused the code: {}",
                    err.error()
                )),
                E::Request(f) => bad(f.to_string()),
                E::Parse(_, _) => bad("the token endpoint did not answer a token"),
                E::Other(o) => bad(o),
            }
        })
    }

    /// Apple's client secret: an ES256 JWT signed with the uploaded key.
    fn signed_secret(
        &self,
        provider: &IdentityProvider,
        pem: &str,
    ) -> Result<String, UpstreamError> {
        let c = &provider.config;
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes())
            .map_err(|_| UpstreamError::Misconfigured("the signing key is not an EC key"))?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = c.key_id.clone();
        let now = self.clock.now().unix_timestamp();
        let aud = c
            .issuer
            .clone()
            .unwrap_or_else(|| super::presets::APPLE_ISSUER.to_owned());
        let claims = serde_json::json!({
            "iss": c.team_id,
            "iat": now,
            "exp": now + 300,
            "aud": aud,
            "sub": c.client_id,
        });
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|_| UpstreamError::Misconfigured("the signing key cannot sign"))
    }

    /// A `private_key_jwt` assertion signed with the realm's RS256 key
    /// (the upstream reads the realm's JWKS).
    async fn client_assertion(
        &self,
        core: &Portcullis,
        realm: &Realm,
        provider: &IdentityProvider,
        token_endpoint: &str,
    ) -> Result<String, UpstreamError> {
        let key = core
            .keys()
            .signer_for(realm, portcullis_crypto::SigningAlgorithm::RS256)
            .await
            .map_err(|_| UpstreamError::Misconfigured("the realm has no RS256 key"))?;
        let now = self.clock.now().unix_timestamp();
        let id = &provider.config.client_id;
        let claims = serde_json::json!({
            "iss": id,
            "sub": id,
            "aud": token_endpoint,
            "jti": portcullis_crypto::random_token(),
            "iat": now,
            "exp": now + 60,
        });
        key.sign(&claims, "JWT")
            .map_err(|_| UpstreamError::Misconfigured("the realm's key cannot sign"))
    }

    async fn identity_of_id_token(
        &self,
        provider: &IdentityProvider,
        r: &Resolved,
        known: &Known,
        tokens: &CoreTokenResponse,
        secrets: &AttemptSecrets,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let id_token = tokens
            .extra_fields()
            .id_token()
            .ok_or_else(|| bad("the token endpoint answered no ID token"))?;
        let mut claims = match self.verify(provider, r, known, id_token, secrets) {
            Err(VerifyError::UnknownKey) => {
                let fresh = self.refresh_keys(provider, known).await?;
                self.verify(provider, r, &fresh, id_token, secrets)
                    .map_err(VerifyError::into_upstream)?
            }
            other => other.map_err(VerifyError::into_upstream)?,
        };
        // An ID token without the address: ask UserInfo, for the same user.
        if claims.get("email").is_none()
            && let Some(url) = &known.userinfo_endpoint
            && let Ok(info) = self
                .get_json(url, Some(tokens.access_token().secret()))
                .await
            && info.get("sub") == claims.get("sub")
            && let (Value::Object(c), Value::Object(i)) = (&mut claims, info)
        {
            for (k, v) in i {
                c.entry(k).or_insert(v);
            }
        }
        Ok(identity_from(&claims, &r.field_map))
    }

    fn verify(
        &self,
        provider: &IdentityProvider,
        r: &Resolved,
        known: &Known,
        id_token: &CoreIdToken,
        secrets: &AttemptSecrets,
    ) -> Result<Value, VerifyError> {
        let (issuer, exact) = match &r.issuer {
            IssuerCheck::Exact(i) => (i.clone(), true),
            IssuerCheck::MicrosoftTenant { authority } => {
                (format!("{authority}/common/v2.0"), false)
            }
            IssuerCheck::MicrosoftDomain { .. } => match &known.issuer {
                Some(i) => (i.clone(), true),
                None => return Err(VerifyError::Other("no issuer".into())),
            },
            IssuerCheck::None => return Err(VerifyError::Other("no issuer".into())),
        };
        let issuer = IssuerUrl::new(issuer).map_err(|_| VerifyError::Other("bad issuer".into()))?;
        let clock = self.clock.clone();
        let now = move || {
            let t = clock.now();
            chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default()
        };
        let at = now.clone();
        let verifier: CoreIdTokenVerifier<'_> = CoreIdTokenVerifier::new_public_client(
            ClientId::new(provider.config.client_id.clone()),
            issuer,
            known.jwks.clone(),
        )
        .set_allowed_algs(r.allowed_algs.iter().filter_map(|a| alg(a)))
        .require_issuer_match(exact)
        .set_time_fn(now)
        .set_issue_time_verifier_fn(move |iat| {
            let now = at();
            if iat > now + IAT_SKEW {
                Err("the token was issued in the future".to_owned())
            } else if iat < now - IAT_MAX_AGE {
                Err("the token was issued too long ago".to_owned())
            } else {
                Ok(())
            }
        });
        id_token
            .claims(&verifier, &Nonce::new(secrets.nonce.clone()))
            .map_err(|e| match e {
                ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                ) => VerifyError::UnknownKey,
                other => VerifyError::Other(other.to_string()),
            })?;
        let claims = payload(&id_token.to_string())
            .ok_or_else(|| VerifyError::Other("the claims are not JSON".into()))?;
        // `azp`, when present, must be this client.
        if let Some(azp) = claims.get("azp")
            && azp.as_str() != Some(provider.config.client_id.as_str())
        {
            return Err(VerifyError::Other("azp names another client".into()));
        }
        if let IssuerCheck::MicrosoftTenant { authority } = &r.issuer {
            let tid = claims.get("tid").and_then(Value::as_str).unwrap_or("");
            let expected = format!("{authority}/{tid}/v2.0");
            if tid.is_empty() || claims.get("iss").and_then(Value::as_str) != Some(&expected) {
                return Err(VerifyError::Other(
                    "iss does not match the token's tenant".into(),
                ));
            }
            // `organizations` is work and school accounts only.
            if provider.config.tenant.as_deref() == Some("organizations")
                && tid == super::presets::MICROSOFT_CONSUMERS_TENANT
            {
                return Err(VerifyError::Other(
                    "a personal Microsoft account, and the provider takes work accounts only"
                        .into(),
                ));
            }
        }
        Ok(claims)
    }

    async fn identity_of_profile(
        &self,
        r: &Resolved,
        tokens: &CoreTokenResponse,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let access = tokens.access_token().secret();
        let url = r
            .userinfo_endpoint
            .as_deref()
            .ok_or(UpstreamError::Misconfigured("no profile URL"))?;
        let mut profile = self.get_json(url, Some(access)).await?;
        if !profile.is_object() {
            return Err(bad("the profile is not a JSON object"));
        }
        let mut identity = identity_from(&profile, &r.field_map);
        // GitHub: the primary verified address from the address list.
        if let Some(emails_url) = &r.emails_endpoint {
            let list = self.get_json(emails_url, Some(access)).await?;
            let entries = list.as_array().cloned().unwrap_or_default();
            let pick = entries
                .iter()
                .find(|e| truthy(e.get("primary")) && truthy(e.get("verified")))
                .or_else(|| entries.iter().find(|e| truthy(e.get("verified"))));
            if let Some(e) = pick.and_then(|e| e.get("email")).and_then(Value::as_str) {
                identity.email = Some(e.to_owned());
                identity.email_verified = true;
            }
            if let Value::Object(p) = &mut profile {
                p.insert("emails".to_owned(), Value::Array(entries));
            }
            identity.claims = profile;
        }
        // GitHub: the logins of the user's organizations, as `orgs`.
        if let Some(orgs_url) = &r.orgs_endpoint {
            let list = self.get_json(orgs_url, Some(access)).await?;
            let logins: Vec<Value> = list
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|o| o.get("login").cloned())
                        .filter(Value::is_string)
                        .collect()
                })
                .unwrap_or_default();
            if let Value::Object(c) = &mut identity.claims {
                c.insert("orgs".to_owned(), Value::Array(logins));
            }
        }
        if identity.name.is_none() {
            identity.name = text(identity.claims.get("login"));
        }
        Ok(identity)
    }
}

enum VerifyError {
    UnknownKey,
    Other(String),
}

impl VerifyError {
    fn into_upstream(self) -> UpstreamError {
        match self {
            Self::UnknownKey => invalid("it is signed with a key the provider does not publish"),
            Self::Other(m) => invalid(m),
        }
    }
}

/// The identity in `claims` through a field map.
fn identity_from(claims: &Value, map: &portcullis_core::federation::FieldMap) -> UpstreamIdentity {
    use portcullis_core::federation::claim;
    let read = |path: &Option<String>| path.as_deref().and_then(|p| text(claim(claims, p)));
    let amr = claims
        .get("amr")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    UpstreamIdentity {
        subject: read(&map.subject).unwrap_or_default(),
        email: read(&map.email),
        email_verified: map
            .email_verified
            .as_deref()
            .is_some_and(|p| truthy(claim(claims, p))),
        name: read(&map.name),
        picture: read(&map.picture),
        claims: claims.clone(),
        amr,
    }
}
