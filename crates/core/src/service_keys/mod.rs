//! Service keys: HMAC-SHA256 keys with which services sign their requests
//! (seed 002's inter-service authentication).
//!
//! A key belongs to a realm and has a service account, a user without a
//! password whose id is the key's id: roles and permissions granted to
//! that user are the key's. Its secret (256 random bits, shown once) is
//! sealed with the master key; a rotation keeps the previous secret valid
//! for an overlap; a revoked or expired key signs nothing.
//!
//! - `signature`: the canonical string and the request checks.
//! - this module: the administration (`service-keys:read:all` /
//!   `service-keys:manage:all`) and [`ServiceKeys::authenticate`].

pub mod signature;

use std::sync::Arc;

use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::access::{Allowed, ServiceKeysManage, ServiceKeysRead};
use crate::app::Inner;
use crate::clock::Tick;
use crate::error::{Error, FieldError, Result};
use crate::model::Realm;
use crate::tokens::{AccessClaims, Principal};
pub use signature::SignedRequest;

/// A stored service key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceKey {
    /// Id: the `X-Portcullis-Key` of its requests, and its service account's id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// Name, unique in the realm.
    pub name: String,
    /// The secret, sealed with the master key (the key's id as associated data).
    pub secret: Vec<u8>,
    /// The secret before the last rotation, sealed, valid until `previous_until`.
    pub previous_secret: Option<Vec<u8>>,
    /// End of the rotation's overlap.
    pub previous_until: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// When the key stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// When it last signed a request (to the minute).
    pub last_used_at: Option<OffsetDateTime>,
}

impl ServiceKey {
    /// `active`, `expired` or `revoked` at `now`.
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

/// A key just made or rotated, with its secret (shown this once).
#[derive(Debug)]
pub struct IssuedKey {
    /// The key.
    pub key: ServiceKey,
    /// The secret to sign with.
    pub secret: SecretString,
}

/// What a new key needs.
#[derive(Debug, Clone)]
pub struct NewServiceKey {
    /// Name, unique in the realm (1 to 100 characters, no control characters).
    pub name: String,
    /// When it stops working, if ever (at most ten years ahead).
    pub expires_at: Option<OffsetDateTime>,
}

/// How long a key read from the store is trusted (a revocation through
/// this instance applies at once; through another, within this).
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest rotation overlap: a week.
pub const MAX_OVERLAP: Duration = Duration::days(7);
/// Most keys a realm lists at once.
const LIST_LIMIT: u64 = 1_000;

/// A key with its secrets opened, cached for signed requests.
pub struct OpenKey {
    key: ServiceKey,
    secrets: Vec<Zeroizing<String>>,
    read_at: Tick,
}

/// The service keys of a realm.
pub struct ServiceKeys<'a> {
    i: &'a Inner,
}

impl<'a> ServiceKeys<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    fn seal(&self, id: Uuid, secret: &str) -> Result<Vec<u8>> {
        self.i
            .master
            .encrypt(secret.as_bytes(), id.as_bytes())
            .map_err(|_| Error::Internal("service-key-seal"))
    }

    fn open(&self, id: Uuid, sealed: &[u8]) -> Result<Zeroizing<String>> {
        let plain = self
            .i
            .master
            .decrypt(sealed, id.as_bytes())
            .map_err(|_| Error::Internal("service-key-open"))?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| Error::Internal("service-key-open"))
    }

    fn new_secret() -> SecretString {
        SecretString::from(format!(
            "pcsk_{}",
            portcullis_crypto::random::random_token()
        ))
    }

    /// The realm's keys, by name.
    pub async fn list(&self, admin: &Allowed<ServiceKeysRead>) -> Result<Vec<ServiceKey>> {
        Ok(self
            .i
            .store
            .list_service_keys(admin.realm().id, LIST_LIMIT)
            .await?)
    }

    /// One key.
    pub async fn get(&self, admin: &Allowed<ServiceKeysRead>, id: Uuid) -> Result<ServiceKey> {
        self.find(admin.realm().id, id).await
    }

    async fn find(&self, realm_id: Uuid, id: Uuid) -> Result<ServiceKey> {
        self.i
            .store
            .get_service_key(realm_id, id)
            .await?
            .ok_or(Error::NotFound("service key"))
    }

    /// Makes a key and its service account; the secret is in the answer only.
    pub async fn create(
        &self,
        admin: &Allowed<ServiceKeysManage>,
        new: NewServiceKey,
    ) -> Result<IssuedKey> {
        let realm_id = admin.realm().id;
        let now = self.i.clock.now();
        let mut errors = Vec::new();
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "name",
                "must be 1 to 100 characters without control characters",
            ));
        } else if let Err(e) = crate::text::plain("name", &name) {
            errors.push(e);
        }
        if let Some(e) = new.expires_at
            && (e <= now || e > now + Duration::days(3_653))
        {
            errors.push(FieldError::new(
                "expires_at",
                "must be in the future and at most ten years ahead",
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let id = crate::model::new_id();
        let secret = Self::new_secret();
        let key = ServiceKey {
            id,
            realm_id,
            name,
            secret: self.seal(id, secret.expose_secret())?,
            previous_secret: None,
            previous_until: None,
            created_at: now,
            updated_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        self.i
            .store
            .create_service_key(&key)
            .await
            .map_err(|e| match e {
                crate::StoreError::Conflict(_) => {
                    Error::Conflict("a service key of that name exists".into())
                }
                e => e.into(),
            })?;
        self.ensure_account(&key).await?;
        self.audit(admin, "service_key.create", &key).await;
        Ok(IssuedKey { key, secret })
    }

    /// The key's service account: a user without a password whose id is the key's.
    async fn ensure_account(&self, key: &ServiceKey) -> Result<()> {
        crate::users::ensure_service_account(
            self.i,
            key.realm_id,
            key.id,
            &format!("sk-{}@service-keys.invalid", key.id.simple()),
            &format!("Service key {}", key.name),
            key.created_at,
        )
        .await
    }

    /// Gives a key a new secret; the old one keeps working for `overlap`
    /// (at most a week; zero ends it at once).
    pub async fn rotate(
        &self,
        admin: &Allowed<ServiceKeysManage>,
        id: Uuid,
        overlap: Duration,
    ) -> Result<IssuedKey> {
        if overlap.is_negative() || overlap > MAX_OVERLAP {
            return Err(Error::field(
                "overlap_seconds",
                "must be between 0 and 604800",
            ));
        }
        let mut key = self.find(admin.realm().id, id).await?;
        let now = self.i.clock.now();
        if key.status(now) != "active" {
            return Err(Error::Conflict(format!(
                "the key is {}; make a new one",
                key.status(now)
            )));
        }
        let secret = Self::new_secret();
        key.previous_secret = (overlap > Duration::ZERO).then(|| key.secret.clone());
        key.previous_until = (overlap > Duration::ZERO).then_some(now + overlap);
        key.secret = self.seal(id, secret.expose_secret())?;
        key.updated_at = now;
        self.i.store.update_service_key(&key).await?;
        self.i.edge.forget_key(id);
        self.i.announce(crate::notices::Notice::ServiceKey { id });
        self.audit(admin, "service_key.rotate", &key).await;
        Ok(IssuedKey { key, secret })
    }

    /// Revokes a key: it signs nothing from now on (kept for the record).
    pub async fn revoke(&self, admin: &Allowed<ServiceKeysManage>, id: Uuid) -> Result<ServiceKey> {
        let mut key = self.find(admin.realm().id, id).await?;
        if key.revoked_at.is_none() {
            let now = self.i.clock.now();
            key.revoked_at = Some(now);
            key.previous_secret = None;
            key.previous_until = None;
            key.updated_at = now;
            self.i.store.update_service_key(&key).await?;
            self.i.edge.forget_key(id);
            self.i.announce(crate::notices::Notice::ServiceKey { id });
            self.audit(admin, "service_key.revoke", &key).await;
        }
        Ok(key)
    }

    /// Deletes a key and its service account, with the grants to it.
    pub async fn delete(&self, admin: &Allowed<ServiceKeysManage>, id: Uuid) -> Result<()> {
        let realm_id = admin.realm().id;
        let key = self.find(realm_id, id).await?;
        self.i.store.delete_service_key(realm_id, id).await?;
        self.i.edge.forget_key(id);
        self.i.announce(crate::notices::Notice::ServiceKey { id });
        self.i.store.delete_user(realm_id, id).await?;
        self.audit(admin, "service_key.delete", &key).await;
        Ok(())
    }

    async fn audit<R: crate::access::Right>(
        &self,
        admin: &Allowed<R>,
        action: &str,
        k: &ServiceKey,
    ) {
        let detail = serde_json::json!({
            "name": k.name,
            "expires_at": k.expires_at.map(|t| t.unix_timestamp()),
            "previous_until": k.previous_until.map(|t| t.unix_timestamp()),
            "revoked": k.revoked_at.is_some(),
        });
        crate::audit::event(
            self.i,
            k.realm_id,
            admin.caller(),
            action,
            format!("service_key:{}", k.id),
            detail,
        )
        .await;
    }

    /// The key, with its secrets opened, from the cache or the store.
    async fn open_key(&self, realm_id: Uuid, id: Uuid) -> Result<Option<Arc<OpenKey>>> {
        let now = self.i.clock.tick();
        if let Some(k) = self.i.edge.cached_key(id)
            && now.since(k.read_at) < CACHE_TTL
            && k.key.realm_id == realm_id
        {
            return Ok(Some(k));
        }
        let Some(key) = self.i.store.get_service_key(realm_id, id).await? else {
            return Ok(None);
        };
        let mut secrets = vec![self.open(id, &key.secret)?];
        if let Some(prev) = &key.previous_secret {
            secrets.push(self.open(id, prev)?);
        }
        let open = Arc::new(OpenKey {
            key,
            secrets,
            read_at: now,
        });
        self.i.edge.cache_key(id, open.clone());
        Ok(Some(open))
    }

    /// The principal of a signed request to `realm`, or 401: a bad
    /// signature, a timestamp more than 300 s away, a nonce seen within
    /// that window, a body that does not match its hash, an unknown,
    /// revoked or expired key, or a deactivated service account.
    pub async fn authenticate(
        &self,
        realm: Arc<Realm>,
        r: &SignedRequest<'_>,
    ) -> Result<Principal> {
        let result = self.verify(realm, r).await;
        let label = if result.is_ok() { "success" } else { "failure" };
        metrics::counter!("portcullis_service_key_requests_total", "result" => label).increment(1);
        result
    }

    async fn verify(&self, realm: Arc<Realm>, r: &SignedRequest<'_>) -> Result<Principal> {
        const BAD: Error = Error::NotAuthenticated("invalid request signature");
        let now = self.i.clock.now();
        let ts = signature::check_request(r, now.unix_timestamp())?;
        let id: Uuid = r.key_id.parse().map_err(|_| BAD)?;
        let Some(open) = self.open_key(realm.id, id).await? else {
            // As slow as a known key: sign once anyway.
            let _ = signature::signed_by_any(r, &["unknown key"]);
            return Err(BAD);
        };
        let key = &open.key;
        let previous_valid = key.previous_until.is_some_and(|u| u > now);
        let secrets: Vec<&str> = open
            .secrets
            .iter()
            .enumerate()
            .filter(|(i, _)| *i == 0 || previous_valid)
            .map(|(_, s)| s.as_str())
            .collect();
        let signed = signature::signed_by_any(r, &secrets);
        if !signed || key.status(now) != "active" {
            return Err(BAD);
        }
        // Remembered for as long as the timestamp would be accepted.
        let until = OffsetDateTime::from_unix_timestamp(ts + signature::MAX_SKEW_SECONDS + 1)
            .unwrap_or(now);
        let nonce_key = format!("hmac:{id}:{}", r.nonce);
        if !crate::edge::Edge::new(self.i)
            .first_use(&nonce_key, until)
            .await
        {
            return Err(Error::NotAuthenticated(
                "X-Portcullis-Nonce was used already",
            ));
        }
        let account = self.i.store.get_user(realm.id, id).await?;
        if !account.is_some_and(|u| u.active) {
            return Err(BAD);
        }
        if key
            .last_used_at
            .is_none_or(|t| now - t > Duration::minutes(1))
        {
            self.i.edge.forget_key(id);
            if let Err(e) = self.i.store.touch_service_key(realm.id, id, now).await {
                tracing::warn!(error = %e, "could not record a service key's use");
            }
        }
        let issuer = self.i.settings.issuer(&realm.name);
        let at = now.unix_timestamp();
        Ok(Principal {
            realm,
            user_id: id,
            session_id: None,
            claims: Arc::new(AccessClaims {
                iss: issuer.clone(),
                sub: id.to_string(),
                aud: issuer,
                exp: at + signature::MAX_SKEW_SECONDS,
                iat: at,
                jti: crate::model::new_id(),
                sid: None,
                scope: None,
                roles: None,
                client_id: None,
                organization: None,
            }),
            service_key: Some(id),
            elevated_risk: false,
        })
    }
}

/// Base64 of a sealed secret, as the store keeps it.
pub fn sealed_to_text(sealed: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sealed)
}

/// A sealed secret from the store's text.
pub fn sealed_from_text(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}
