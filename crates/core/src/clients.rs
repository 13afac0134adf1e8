//! OAuth 2.0 / OpenID Connect clients of a realm: the registry behind
//! `/api/v1/clients`. Secrets are server-generated 256-bit values stored as
//! SHA-256 digests (ARCHITECTURE.md: never a slow hash for them) and shown
//! once, when created or rotated.

use portcullis_crypto::SigningAlgorithm;
use portcullis_proto as proto;
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{Allowed, ClientsManage, ClientsRead};
use crate::app::Inner;
use crate::clock::Tick;
use crate::error::{Error, FieldError, Result};
use crate::model::new_id;

/// Most redirect (or post-logout redirect) URIs per client.
pub const MAX_URIS: usize = 32;
/// Longest redirect URI.
pub const MAX_URI_LEN: usize = 2000;
/// Most scopes per client.
pub const MAX_SCOPES: usize = 64;
/// Largest client JWKS, serialized.
pub const MAX_JWKS_BYTES: usize = 16 * 1024;
/// Most keys in a client JWKS.
pub const MAX_JWKS_KEYS: usize = 10;
/// Scopes of a client created without any.
pub const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Whether a client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// A server-side application: holds a secret or a private key.
    Confidential,
    /// A browser or native application: no secret; PKCE required.
    Public,
}

impl ClientType {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confidential" => Some(Self::Confidential),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
    /// The secret in the form body.
    ClientSecretPost,
    /// A JWT signed with a key of the client's registered JWKS (RFC 7523).
    PrivateKeyJwt,
    /// No authentication: public clients.
    None,
}

impl AuthMethod {
    /// The RFC 8414 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    /// Parses the RFC 8414 name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// Whether the method uses the client's secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// An OAuth grant a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    /// Authorization code (with PKCE).
    AuthorizationCode,
    /// Refresh token.
    RefreshToken,
    /// Client credentials: the client acts as its own subject.
    ClientCredentials,
}

impl GrantType {
    /// The RFC 6749 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    /// Parses the RFC 6749 name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthClient {
    /// Internal id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The OAuth `client_id`, unique in its realm.
    pub client_id: String,
    /// Name shown on the consent page.
    pub name: String,
    /// Confidential or public.
    pub client_type: ClientType,
    /// Token endpoint authentication.
    pub auth_method: AuthMethod,
    /// SHA-256 of the secret, for the secret-based methods.
    pub secret_hash: Option<Vec<u8>>,
    /// Exactly registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exactly registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed grants, sorted, without duplicates.
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
    /// ID token signing algorithm.
    pub id_token_alg: SigningAlgorithm,
    /// Public keys for `private_key_jwt`.
    pub jwks: Option<Value>,
    /// Access-token lifetime in seconds, when not the realm's.
    pub access_token_ttl: Option<u32>,
    /// Refresh-token lifetime in seconds, when not the realm's.
    pub refresh_token_ttl: Option<u32>,
    /// Whether users are asked to consent.
    pub require_consent: bool,
    /// Disabled clients get no tokens.
    pub enabled: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last update.
    pub updated_at: OffsetDateTime,
}

impl OAuthClient {
    /// Whether `secret` is this client's secret (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.secret_hash.as_deref().is_some_and(|hash| {
            portcullis_crypto::constant_time_eq(hash, &portcullis_crypto::sha256(secret.as_bytes()))
        })
    }

    /// Gives the client a new secret (256 random bits; its SHA-256 is kept)
    /// and returns it, to be shown once.
    fn new_secret(&mut self) -> String {
        let secret = portcullis_crypto::random_token();
        self.secret_hash = Some(portcullis_crypto::sha256(secret.as_bytes()).to_vec());
        secret
    }

    /// Checks the rules that tie the fields together; field errors name the
    /// API's fields.
    fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let grants = &self.grant_types;
        if grants.is_empty() {
            errors.push(FieldError::new("grant_types", "must not be empty"));
        }
        if grants.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            errors.push(FieldError::new(
                "redirect_uris",
                "authorization_code needs at least one redirect URI",
            ));
        }
        if grants.contains(&GrantType::RefreshToken)
            && !grants.contains(&GrantType::AuthorizationCode)
        {
            errors.push(FieldError::new(
                "grant_types",
                "refresh_token needs authorization_code",
            ));
        }
        match self.client_type {
            ClientType::Public => {
                if self.auth_method != AuthMethod::None {
                    errors.push(FieldError::new(
                        "token_endpoint_auth_method",
                        "must be none for a public client",
                    ));
                }
                if grants.contains(&GrantType::ClientCredentials) {
                    errors.push(FieldError::new(
                        "grant_types",
                        "a public client cannot use client_credentials",
                    ));
                }
            }
            ClientType::Confidential => {
                if self.auth_method == AuthMethod::None {
                    errors.push(FieldError::new(
                        "token_endpoint_auth_method",
                        "a confidential client must authenticate",
                    ));
                }
            }
        }
        if self.auth_method == AuthMethod::PrivateKeyJwt && self.jwks.is_none() {
            errors.push(FieldError::new(
                "jwks",
                "private_key_jwt needs the client's public keys",
            ));
        }
        errors
    }
}

/// Validates a redirect URI (RFC 9700 §2.1, RFC 8252 §7): absolute, no
/// fragment, no user information; `https`, or `http` on a loopback host, or a
/// private-use scheme containing a dot (`com.example.app:/callback`).
pub fn check_redirect_uri(uri: &str) -> std::result::Result<(), &'static str> {
    if uri.is_empty() || uri.len() > MAX_URI_LEN {
        return Err("must be 1 to 2,000 characters");
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "must be an absolute URI")?;
    if parsed.fragment().is_some() {
        return Err("must not have a fragment");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry user information");
    }
    match parsed.scheme() {
        "https" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err("must name a host");
            }
        }
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if !loopback {
                return Err("http is allowed only on a loopback host; use https");
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => {
            return Err("this scheme is not allowed");
        }
        other => {
            if !other.contains('.') {
                return Err("a private-use scheme must contain a dot (com.example.app)");
            }
        }
    }
    Ok(())
}

/// Whether `s` is a scope token (RFC 6749 §3.3), at most 128 characters.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Validates a client JWKS: `{"keys": [...]}`, 1 to 10 public keys of type
/// `RSA`, `EC` or `OKP`, none holding private material, 16 KiB at most.
pub fn check_jwks(jwks: &Value) -> std::result::Result<(), String> {
    if serde_json::to_vec(jwks).map_or(usize::MAX, |v| v.len()) > MAX_JWKS_BYTES {
        return Err(format!("must be at most {MAX_JWKS_BYTES} bytes"));
    }
    let Some(object) = jwks.as_object() else {
        return Err("must be an object with a keys array".to_owned());
    };
    if let Some(other) = object.keys().find(|k| *k != "keys") {
        return Err(format!("unknown member {other}"));
    }
    let Some(keys) = object.get("keys").and_then(Value::as_array) else {
        return Err("must have a keys array".to_owned());
    };
    if keys.is_empty() || keys.len() > MAX_JWKS_KEYS {
        return Err(format!("must hold 1 to {MAX_JWKS_KEYS} keys"));
    }
    for (n, key) in keys.iter().enumerate() {
        let Some(key) = key.as_object() else {
            return Err(format!("keys[{n}] must be an object"));
        };
        let kty = key.get("kty").and_then(Value::as_str);
        let needed: &[&str] = match kty {
            Some("RSA") => &["n", "e"],
            Some("EC") => &["crv", "x", "y"],
            Some("OKP") => &["crv", "x"],
            _ => return Err(format!("keys[{n}].kty must be RSA, EC or OKP")),
        };
        if let Some(missing) = needed.iter().find(|m| {
            key.get(**m)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        }) {
            return Err(format!("keys[{n}] lacks {missing}"));
        }
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|private| key.contains_key(*private))
        {
            return Err(format!("keys[{n}] holds private key material"));
        }
    }
    Ok(())
}

/// Validates a client id: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn check_client_id(id: &str) -> std::result::Result<(), &'static str> {
    if id.is_empty() || id.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("may hold only A-Z, a-z, 0-9, '.', '_' and '-'");
    }
    Ok(())
}

fn uris(field: &str, input: Vec<String>, errors: &mut Vec<FieldError>) -> Vec<String> {
    if input.len() > MAX_URIS {
        errors.push(FieldError::new(
            field,
            format!("must hold at most {MAX_URIS} URIs"),
        ));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(input.len());
    for (n, uri) in input.into_iter().enumerate() {
        match check_redirect_uri(&uri) {
            Ok(()) if !out.contains(&uri) => out.push(uri),
            Ok(()) => {}
            Err(reason) => errors.push(FieldError::new(format!("{field}[{n}]"), reason)),
        }
    }
    out
}

fn grants(input: Vec<String>, errors: &mut Vec<FieldError>) -> Vec<GrantType> {
    let mut out = Vec::new();
    for (n, g) in input.iter().enumerate() {
        match GrantType::parse(g) {
            Some(g) => out.push(g),
            None => errors.push(FieldError::new(
                format!("grant_types[{n}]"),
                "must be authorization_code, refresh_token or client_credentials",
            )),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn scopes(input: Vec<String>, errors: &mut Vec<FieldError>) -> Vec<String> {
    if input.len() > MAX_SCOPES {
        errors.push(FieldError::new(
            "scopes",
            format!("must hold at most {MAX_SCOPES} scopes"),
        ));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(input.len());
    for (n, s) in input.into_iter().enumerate() {
        if !is_scope_token(&s) {
            errors.push(FieldError::new(
                format!("scopes[{n}]"),
                "must be a scope token: printable ASCII without spaces, quotes or backslashes",
            ));
        } else if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn name(input: &str, errors: &mut Vec<FieldError>) -> String {
    let t = input.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "must be 1 to 100 characters, no control characters",
        ));
    }
    t.to_owned()
}

fn id_token_alg(input: &str, errors: &mut Vec<FieldError>) -> SigningAlgorithm {
    input.parse().unwrap_or_else(|_| {
        errors.push(FieldError::new(
            "id_token_signed_response_alg",
            "must be RS256, ES256 or EdDSA",
        ));
        SigningAlgorithm::RS256
    })
}

fn auth_method(input: &str, errors: &mut Vec<FieldError>) -> Option<AuthMethod> {
    let parsed = AuthMethod::parse(input);
    if parsed.is_none() {
        errors.push(FieldError::new(
            "token_endpoint_auth_method",
            "must be client_secret_basic, client_secret_post, private_key_jwt or none",
        ));
    }
    parsed
}

fn access_token_ttl(value: Option<u32>, errors: &mut Vec<FieldError>) {
    ttl("access_token_ttl", value, 60, 86_400, errors);
}

fn refresh_token_ttl(value: Option<u32>, errors: &mut Vec<FieldError>) {
    ttl("refresh_token_ttl", value, 300, 31_536_000, errors);
}

fn ttl(field: &str, value: Option<u32>, min: u32, max: u32, errors: &mut Vec<FieldError>) {
    if value.is_some_and(|v| !(min..=max).contains(&v)) {
        errors.push(FieldError::new(
            field,
            format!("must be between {min} and {max} seconds"),
        ));
    }
}

fn jwks(value: Option<Value>, errors: &mut Vec<FieldError>) -> Option<Value> {
    let value = value.filter(|v| !v.is_null())?;
    if let Err(reason) = check_jwks(&value) {
        errors.push(FieldError::new("jwks", reason));
    }
    Some(value)
}

fn finish(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// The API view of a client.
pub fn view(c: &OAuthClient) -> proto::ClientView {
    proto::ClientView {
        id: c.id,
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        client_type: c.client_type.as_str().to_owned(),
        token_endpoint_auth_method: c.auth_method.as_str().to_owned(),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        grant_types: c
            .grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        scopes: c.scopes.clone(),
        id_token_signed_response_alg: c.id_token_alg.as_str().to_owned(),
        jwks: c.jwks.clone(),
        access_token_ttl: c.access_token_ttl,
        refresh_token_ttl: c.refresh_token_ttl,
        require_consent: c.require_consent,
        enabled: c.enabled,
        has_secret: c.secret_hash.is_some(),
        service_account_id: c
            .grant_types
            .contains(&GrantType::ClientCredentials)
            .then_some(c.id),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// How long a cached client is trusted: a change made on this instance
/// applies at once, one made on another instance within this time.
const CLIENT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// Most clients cached per realm; beyond, the realm's cache starts over.
const CLIENT_CACHE_MAX: usize = 10_000;

/// Recently read clients by realm and `client_id`, so the token,
/// introspection and revocation endpoints need no database read per
/// request.
#[derive(Default)]
pub(crate) struct ClientCache(
    dashmap::DashMap<Uuid, dashmap::DashMap<String, (Arc<OAuthClient>, Tick)>>,
);

impl ClientCache {
    fn get(&self, realm_id: Uuid, client_id: &str, now: Tick) -> Option<Arc<OAuthClient>> {
        let realm = self.0.get(&realm_id)?;
        let entry = realm.get(client_id)?;
        let (client, at) = entry.value();
        (now.since(*at) < CLIENT_CACHE_TTL).then(|| client.clone())
    }

    fn put(&self, c: &Arc<OAuthClient>, now: Tick) {
        let realm = self.0.entry(c.realm_id).or_default();
        if realm.len() >= CLIENT_CACHE_MAX {
            realm.clear();
        }
        realm.insert(c.client_id.clone(), (c.clone(), now));
    }

    fn forget(&self, realm_id: Uuid, client_id: &str) {
        if let Some(realm) = self.0.get(&realm_id) {
            realm.remove(client_id);
        }
    }
}

/// The client registry of a realm.
pub struct Clients<'a> {
    i: &'a Inner,
}

impl<'a> Clients<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    /// The realm's clients, ordered by `client_id`.
    pub async fn list(&self, admin: &Allowed<ClientsRead>) -> Result<proto::ClientList> {
        let caller = &admin.caller();
        let items = self
            .i
            .store
            .list_clients(caller.who.realm.id)
            .await?
            .iter()
            .map(view)
            .collect();
        Ok(proto::ClientList { items })
    }

    /// One client by `client_id`.
    pub async fn get(
        &self,
        admin: &Allowed<ClientsRead>,
        client_id: &str,
    ) -> Result<proto::ClientView> {
        let caller = &admin.caller();
        Ok(view(&self.find(caller.who.realm.id, client_id).await?))
    }

    /// A client of a realm by `client_id`, to change it.
    pub async fn find(&self, realm_id: Uuid, client_id: &str) -> Result<OAuthClient> {
        Ok(OAuthClient::clone(
            &*self.find_shared(realm_id, client_id).await?,
        ))
    }

    /// A client of a realm by `client_id` (for the OAuth endpoints), from
    /// the cache when it was read in the last few seconds.
    pub async fn find_shared(&self, realm_id: Uuid, client_id: &str) -> Result<Arc<OAuthClient>> {
        if check_client_id(client_id).is_err() {
            return Err(Error::NotFound("client"));
        }
        let cache = &self.i.client_cache;
        if let Some(c) = cache.get(realm_id, client_id, self.i.clock.tick()) {
            return Ok(c);
        }
        let c = Arc::new(
            self.i
                .store
                .get_client(realm_id, client_id)
                .await?
                .ok_or(Error::NotFound("client"))?,
        );
        cache.put(&c, self.i.clock.tick());
        Ok(c)
    }

    /// Registers a client; a confidential client using a secret gets one,
    /// shown in this answer only.
    pub async fn create(
        &self,
        admin: &Allowed<ClientsManage>,
        input: proto::CreateClientRequest,
    ) -> Result<proto::ClientWithSecret> {
        let caller = &admin.caller();
        let mut errors = Vec::new();
        let client_id = match input.client_id {
            Some(id) => {
                if let Err(reason) = check_client_id(&id) {
                    errors.push(FieldError::new("client_id", reason));
                }
                id
            }
            None => new_id().simple().to_string(),
        };
        let client_type = match input.client_type.as_deref() {
            None => ClientType::Confidential,
            Some(t) => ClientType::parse(t).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    "client_type",
                    "must be confidential or public",
                ));
                ClientType::Confidential
            }),
        };
        let auth_method = match input.token_endpoint_auth_method.as_deref() {
            None if client_type == ClientType::Public => AuthMethod::None,
            None => AuthMethod::ClientSecretBasic,
            Some(m) => auth_method(m, &mut errors).unwrap_or(AuthMethod::ClientSecretBasic),
        };
        let redirect_uris = uris("redirect_uris", input.redirect_uris, &mut errors);
        let post_logout_redirect_uris = uris(
            "post_logout_redirect_uris",
            input.post_logout_redirect_uris,
            &mut errors,
        );
        let grant_types = match input.grant_types {
            Some(list) => grants(list, &mut errors),
            None if client_type == ClientType::Confidential && redirect_uris.is_empty() => {
                vec![GrantType::ClientCredentials]
            }
            None => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        };
        let scopes = scopes(
            input
                .scopes
                .unwrap_or_else(|| DEFAULT_SCOPES.map(str::to_owned).to_vec()),
            &mut errors,
        );
        let name = name(&input.name, &mut errors);
        let id_token_alg = id_token_alg(
            input
                .id_token_signed_response_alg
                .as_deref()
                .unwrap_or("RS256"),
            &mut errors,
        );
        access_token_ttl(input.access_token_ttl, &mut errors);
        refresh_token_ttl(input.refresh_token_ttl, &mut errors);
        let jwks = jwks(input.jwks, &mut errors);
        let now = self.i.clock.now();
        let mut client = OAuthClient {
            id: new_id(),
            realm_id: caller.who.realm.id,
            client_id,
            name,
            client_type,
            auth_method,
            secret_hash: None,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            id_token_alg,
            jwks,
            access_token_ttl: input.access_token_ttl,
            refresh_token_ttl: input.refresh_token_ttl,
            require_consent: input.require_consent.unwrap_or(false),
            enabled: input.enabled.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        if errors.is_empty() {
            errors = client.check();
        }
        finish(errors)?;
        let secret = client
            .auth_method
            .uses_secret()
            .then(|| client.new_secret());
        self.i.store.create_client(&client).await?;
        if let Err(e) = self.ensure_service_account(&client).await {
            let _ = self
                .i
                .store
                .delete_client(client.realm_id, client.id, now)
                .await;
            return Err(e);
        }
        Ok(proto::ClientWithSecret {
            client: view(&client),
            client_secret: secret,
        })
    }

    /// Changes the fields present in `input`. Switching to a secret-based
    /// method from one without a secret generates one, returned once.
    pub async fn update(
        &self,
        admin: &Allowed<ClientsManage>,
        client_id: &str,
        input: proto::UpdateClientRequest,
    ) -> Result<proto::ClientWithSecret> {
        let caller = &admin.caller();
        let mut c = self.find(caller.who.realm.id, client_id).await?;
        let mut errors = Vec::new();
        if let Some(n) = input.name {
            c.name = name(&n, &mut errors);
        }
        if let Some(m) = input.token_endpoint_auth_method
            && let Some(m) = auth_method(&m, &mut errors)
        {
            c.auth_method = m;
        }
        if let Some(list) = input.redirect_uris {
            c.redirect_uris = uris("redirect_uris", list, &mut errors);
        }
        if let Some(list) = input.post_logout_redirect_uris {
            c.post_logout_redirect_uris = uris("post_logout_redirect_uris", list, &mut errors);
        }
        if let Some(list) = input.grant_types {
            c.grant_types = grants(list, &mut errors);
        }
        if let Some(list) = input.scopes {
            c.scopes = scopes(list, &mut errors);
        }
        if let Some(alg) = input.id_token_signed_response_alg {
            c.id_token_alg = id_token_alg(&alg, &mut errors);
        }
        if let Some(keys) = input.jwks {
            c.jwks = jwks(keys, &mut errors);
        }
        if let Some(t) = input.access_token_ttl {
            access_token_ttl(t, &mut errors);
            c.access_token_ttl = t;
        }
        if let Some(t) = input.refresh_token_ttl {
            refresh_token_ttl(t, &mut errors);
            c.refresh_token_ttl = t;
        }
        if let Some(v) = input.require_consent {
            c.require_consent = v;
        }
        if let Some(v) = input.enabled {
            c.enabled = v;
        }
        if errors.is_empty() {
            errors = c.check();
        }
        finish(errors)?;
        let secret = match (c.auth_method.uses_secret(), c.secret_hash.is_some()) {
            (true, false) => Some(c.new_secret()),
            (true, true) => None,
            (false, _) => {
                c.secret_hash = None;
                None
            }
        };
        c.updated_at = self.i.clock.now();
        self.i.store.update_client(&c).await?;
        self.i.client_cache.forget(c.realm_id, &c.client_id);
        self.ensure_service_account(&c).await?;
        Ok(proto::ClientWithSecret {
            client: view(&c),
            client_secret: secret,
        })
    }

    /// Creates the service account of a client with the
    /// `client_credentials` grant, if it has none: a user without a
    /// password (so it cannot log in) whose id is the client's, listed among
    /// the realm's users as `sa-{id}@service-accounts.invalid`. Roles and
    /// permissions granted to it apply to the client's own tokens.
    async fn ensure_service_account(&self, c: &OAuthClient) -> Result<()> {
        if !c.grant_types.contains(&GrantType::ClientCredentials)
            || self.i.store.get_user(c.realm_id, c.id).await?.is_some()
        {
            return Ok(());
        }
        let now = self.i.clock.now();
        let email =
            crate::model::Email::parse(&format!("sa-{}@service-accounts.invalid", c.id.simple()))?;
        let name: String = format!("Service account of {}", c.name)
            .chars()
            .take(200)
            .collect();
        let user = crate::model::User {
            id: c.id,
            realm_id: c.realm_id,
            email,
            name: Some(name),
            password_hash: None,
            active: true,
            // A service account has no mailbox.
            email_verified: false,
            attributes: serde_json::Map::new(),
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        match self.i.store.create_user(&user).await {
            Ok(()) | Err(crate::StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a confidential client's secret; the old one stops working at
    /// once. The new secret is in this answer only.
    pub async fn rotate_secret(
        &self,
        admin: &Allowed<ClientsManage>,
        client_id: &str,
    ) -> Result<proto::ClientWithSecret> {
        let caller = &admin.caller();
        let mut c = self.find(caller.who.realm.id, client_id).await?;
        if !c.auth_method.uses_secret() {
            return Err(Error::Conflict(format!(
                "the client authenticates with {}, not a secret",
                c.auth_method.as_str()
            )));
        }
        let secret = c.new_secret();
        c.updated_at = self.i.clock.now();
        self.i.store.update_client(&c).await?;
        self.i.client_cache.forget(c.realm_id, &c.client_id);
        Ok(proto::ClientWithSecret {
            client: view(&c),
            client_secret: Some(secret),
        })
    }

    /// Deletes a client, ending the sessions and tokens it holds.
    pub async fn delete(&self, admin: &Allowed<ClientsManage>, client_id: &str) -> Result<()> {
        let caller = &admin.caller();
        let c = self.find(caller.who.realm.id, client_id).await?;
        let now = self.i.clock.now();
        let ended = self
            .i
            .store
            .delete_client(c.realm_id, c.id, now)
            .await?
            .ok_or(Error::NotFound("client"))?;
        self.i.client_cache.forget(c.realm_id, &c.client_id);
        let accounts = crate::accounts::Accounts::new(self.i);
        for sid in ended {
            accounts.deny_session(sid);
        }
        // Its service account, with the grants to it.
        self.i.store.delete_user(c.realm_id, c.id).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/relative",
            "app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "http://app.example.com/cb",
            "http://127.0.0.1.evil.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "myapp:/cb",
            "https://app.example.com/c b",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        assert!(check_redirect_uri(&format!("https://a.example/{}", "x".repeat(2000))).is_err());
    }

    #[test]
    fn scope_tokens() {
        for ok in ["openid", "read:docs", "https://api.example.com/x", "a!#[]~"] {
            assert!(is_scope_token(ok), "{ok}");
        }
        for bad in ["", "two words", "quote\"", "back\\slash", "tab\t", "é"] {
            assert!(!is_scope_token(bad), "{bad}");
        }
        assert!(!is_scope_token(&"s".repeat(129)));
    }

    #[test]
    fn jwks_shapes() {
        let rsa = json!({"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "1"});
        let ec = json!({"kty": "EC", "crv": "P-256", "x": "a", "y": "b"});
        let okp = json!({"kty": "OKP", "crv": "Ed25519", "x": "a"});
        assert_eq!(check_jwks(&json!({"keys": [rsa, ec, okp]})), Ok(()));
        for bad in [
            json!([]),
            json!({"keys": []}),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            json!({"keys": [{"kty": "RSA", "n": "x"}]}),
            json!({"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "d": "private"}]}),
            json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": ""}]}),
            json!({"keys": ["RSA"]}),
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "a"}], "extra": 1}),
            json!({"keys": vec![json!({"kty": "OKP", "crv": "Ed25519", "x": "a"}); 11]}),
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "a".repeat(17_000)}]}),
        ] {
            assert!(check_jwks(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_ids() {
        assert_eq!(check_client_id("web-app_1.prod"), Ok(()));
        for bad in ["", "a b", "é", "a/b", &"x".repeat(65)] {
            assert!(check_client_id(bad).is_err(), "{bad}");
        }
    }

    fn client() -> OAuthClient {
        OAuthClient {
            id: new_id(),
            realm_id: new_id(),
            client_id: "c".to_owned(),
            name: "C".to_owned(),
            client_type: ClientType::Confidential,
            auth_method: AuthMethod::ClientSecretBasic,
            secret_hash: Some(portcullis_crypto::sha256(b"s3cret").to_vec()),
            redirect_uris: vec!["https://a.example/cb".to_owned()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: vec!["openid".to_owned()],
            id_token_alg: SigningAlgorithm::RS256,
            jwks: None,
            access_token_ttl: None,
            refresh_token_ttl: None,
            require_consent: false,
            enabled: true,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn fields(c: &OAuthClient) -> Vec<String> {
        c.check().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn rules_between_fields() {
        assert!(fields(&client()).is_empty());
        let mut c = client();
        c.redirect_uris.clear();
        assert_eq!(fields(&c), ["redirect_uris"]);
        let mut c = client();
        c.grant_types = vec![GrantType::RefreshToken];
        assert_eq!(fields(&c), ["grant_types"]);
        let mut c = client();
        c.grant_types.clear();
        assert_eq!(fields(&c), ["grant_types"]);
        let mut c = client();
        c.client_type = ClientType::Public;
        c.grant_types.push(GrantType::ClientCredentials);
        assert_eq!(fields(&c), ["token_endpoint_auth_method", "grant_types"]);
        let mut c = client();
        c.auth_method = AuthMethod::None;
        assert_eq!(fields(&c), ["token_endpoint_auth_method"]);
        let mut c = client();
        c.auth_method = AuthMethod::PrivateKeyJwt;
        assert_eq!(fields(&c), ["jwks"]);
    }

    #[test]
    fn secrets_compare_by_digest() {
        let c = client();
        assert!(c.secret_matches("s3cret"));
        assert!(!c.secret_matches("s3cret "));
        assert!(!c.secret_matches(""));
        let mut c = client();
        c.secret_hash = None;
        assert!(!c.secret_matches("s3cret"));
    }
}
