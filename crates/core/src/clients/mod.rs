//! OAuth 2.0 / OpenID Connect clients of a realm: the registry behind
//! `/api/v1/clients`. Secrets are server-generated 256-bit values stored as
//! SHA-256 digests (ARCHITECTURE.md: never a slow hash for them) and shown
//! once, when created or rotated.

mod cache;
#[cfg(test)]
mod tests;
mod validate;

use portcullis_proto as proto;
use secrecy::SecretString;
use std::sync::Arc;
use uuid::Uuid;

use crate::access::{Allowed, ClientsManage, ClientsRead};
use crate::app::Inner;
use crate::error::{Error, FieldError, Result};
use crate::model::new_id;
use validate::{
    access_token_ttl, auth_method, finish, grants, id_token_alg, jwks, link_uri, name,
    refresh_token_ttl, scopes, uris,
};

pub use crate::model::client::{AuthMethod, ClientLinks, ClientType, GrantType, OAuthClient};
pub(crate) use cache::ClientCache;
pub use validate::{check_client_id, check_jwks, check_redirect_uri, is_scope_token};

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

impl OAuthClient {
    /// Gives the client a new secret (256 random bits; its SHA-256 is kept)
    /// and returns it, to be shown once.
    fn new_secret(&mut self) -> SecretString {
        let secret = portcullis_crypto::random_token();
        self.secret_hash = Some(portcullis_crypto::sha256(secret.as_bytes()).to_vec());
        SecretString::from(secret)
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

/// A client as registered or changed, with the secret this change gave
/// it, if any: to be shown once, as only its digest is stored.
#[derive(Debug)]
pub struct RegisteredClient {
    /// The client.
    pub client: OAuthClient,
    /// Its new secret, when this change generated one.
    pub secret: Option<SecretString>,
}

/// The client registry of a realm.
pub struct Clients<'a> {
    i: &'a Inner,
}

impl<'a> Clients<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    // The services Clients works with, built here and nowhere else in it.

    /// Collaborator: accounts.
    fn accounts(&self) -> crate::accounts::Accounts<'a> {
        crate::accounts::Accounts::new(self.i)
    }

    /// The realm's clients, ordered by `client_id`.
    pub async fn list(&self, admin: &Allowed<ClientsRead>) -> Result<Vec<OAuthClient>> {
        let caller = &admin.caller();
        Ok(self.i.store.list_clients(caller.realm.id).await?)
    }

    /// One client by `client_id`.
    pub async fn get(&self, admin: &Allowed<ClientsRead>, client_id: &str) -> Result<OAuthClient> {
        let caller = &admin.caller();
        self.find(caller.realm.id, client_id).await
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
        use crate::cache::{Cache, Layer};
        let cache = &self.i.client_cache;
        let stats = &self.i.cache_stats;
        if let Some(c) = cache.get(realm_id, client_id, self.i.clock.tick()) {
            stats.lookup(Cache::Client, Layer::Memory, true);
            return Ok(c);
        }
        stats.lookup(Cache::Client, Layer::Memory, false);
        stats.load(Cache::Client);
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
    ) -> Result<RegisteredClient> {
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
        let links = crate::model::client::ClientLinks {
            logo_uri: link_uri("logo_uri", input.logo_uri, &mut errors),
            policy_uri: link_uri("policy_uri", input.policy_uri, &mut errors),
            tos_uri: link_uri("tos_uri", input.tos_uri, &mut errors),
        };
        let now = self.i.clock.now();
        let mut client = OAuthClient {
            id: new_id(),
            realm_id: caller.realm.id,
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
            links,
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
        Ok(RegisteredClient { client, secret })
    }

    /// Changes the fields present in `input`. Switching to a secret-based
    /// method from one without a secret generates one, returned once.
    pub async fn update(
        &self,
        admin: &Allowed<ClientsManage>,
        client_id: &str,
        input: proto::UpdateClientRequest,
    ) -> Result<RegisteredClient> {
        let caller = &admin.caller();
        let mut c = self.find(caller.realm.id, client_id).await?;
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
        if let Some(u) = input.logo_uri {
            c.links.logo_uri = link_uri("logo_uri", u, &mut errors);
        }
        if let Some(u) = input.policy_uri {
            c.links.policy_uri = link_uri("policy_uri", u, &mut errors);
        }
        if let Some(u) = input.tos_uri {
            c.links.tos_uri = link_uri("tos_uri", u, &mut errors);
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
        self.i.announce(crate::notices::Notice::Client {
            realm_id: c.realm_id,
            client_id: c.client_id.clone(),
        });
        self.ensure_service_account(&c).await?;
        Ok(RegisteredClient { client: c, secret })
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
        crate::users::ensure_service_account(
            self.i,
            c.realm_id,
            c.id,
            &format!("sa-{}@service-accounts.invalid", c.id.simple()),
            &format!("Service account of {}", c.name),
            self.i.clock.now(),
        )
        .await
    }

    /// Replaces a confidential client's secret; the old one stops working at
    /// once. The new secret is in this answer only.
    pub async fn rotate_secret(
        &self,
        admin: &Allowed<ClientsManage>,
        client_id: &str,
    ) -> Result<RegisteredClient> {
        let caller = &admin.caller();
        let mut c = self.find(caller.realm.id, client_id).await?;
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
        self.i.announce(crate::notices::Notice::Client {
            realm_id: c.realm_id,
            client_id: c.client_id.clone(),
        });
        Ok(RegisteredClient {
            client: c,
            secret: Some(secret),
        })
    }

    /// Deletes a client, ending the sessions and tokens it holds.
    pub async fn delete(&self, admin: &Allowed<ClientsManage>, client_id: &str) -> Result<()> {
        let caller = &admin.caller();
        let c = self.find(caller.realm.id, client_id).await?;
        let now = self.i.clock.now();
        let ended = self
            .i
            .store
            .delete_client(c.realm_id, c.id, now)
            .await?
            .ok_or(Error::NotFound("client"))?;
        self.i.client_cache.forget(c.realm_id, &c.client_id);
        self.i.announce(crate::notices::Notice::Client {
            realm_id: c.realm_id,
            client_id: c.client_id.clone(),
        });
        let accounts = self.accounts();
        for sid in ended {
            accounts.deny_session(sid);
        }
        // Its service account, with the grants to it.
        self.i.store.delete_user(c.realm_id, c.id).await?;
        Ok(())
    }
}
