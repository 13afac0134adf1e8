//! Each realm's signing keys: generated, stored encrypted with the master key,
//! cached decrypted in memory, rotated with overlap, published as a JWK set.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use portcullis_crypto::{MasterKey, SigningAlgorithm, SigningKey, VerifyingKey};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::model::{Realm, StoredSigningKey};
use crate::ports::Store;

/// Minimum time between two reloads of a realm's keys caused by an unknown `kid`
/// (a forged token must not be able to make every request hit the database).
const RELOAD_COOLDOWN: Duration = Duration::seconds(5);

#[derive(Debug)]
struct RealmKeys {
    /// The newest active key of each algorithm.
    signers: HashMap<SigningAlgorithm, SigningKey>,
    verifiers: HashMap<String, VerifyingKey>,
    jwks: Value,
    loaded_at: OffsetDateTime,
}

/// Why [`Keys::check_master_key`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterKeyMismatch {
    /// A realm's key does not open with this master key.
    #[error(
        "the master key cannot open the signing key {kid} of realm {realm}: this instance was \
         started with another master key than the one that sealed the database's keys. Every \
         instance of one deployment must share PORTCULLIS_MASTER_KEY (or the same master.key \
         file); see docs/operations.md"
    )]
    Sealed {
        /// The realm's name.
        realm: String,
        /// The key's id.
        kid: String,
    },
    /// The keys could not be read.
    #[error("cannot read the signing keys to check the master key: {0}")]
    Store(String),
}

/// The key ring of every realm.
pub struct Keys {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    clock: SharedClock,
    cache: DashMap<Uuid, Arc<RealmKeys>>,
}

fn aad(realm_id: Uuid, kid: &str) -> Vec<u8> {
    let mut v = realm_id.as_bytes().to_vec();
    v.extend_from_slice(kid.as_bytes());
    v
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("cached_realms", &self.cache.len())
            .finish()
    }
}

/// A new key of `alg` for a realm, its private half encrypted with the
/// master key.
fn generate(
    master: &MasterKey,
    realm_id: Uuid,
    alg: SigningAlgorithm,
    now: OffsetDateTime,
) -> Result<StoredSigningKey> {
    let generated = portcullis_crypto::generate_signing_key(alg)?;
    let private_key_enc =
        master.encrypt(&generated.private_pkcs8_der, &aad(realm_id, &generated.kid))?;
    Ok(StoredSigningKey {
        kid: generated.kid,
        realm_id,
        alg: generated.alg,
        private_key_enc,
        public_jwk: generated.public_jwk.to_string(),
        created_at: now,
        active: true,
        retire_after: None,
    })
}

impl Keys {
    /// A key ring over the store.
    pub fn new(store: Arc<dyn Store>, master: Arc<MasterKey>, clock: SharedClock) -> Self {
        Self {
            store,
            master,
            clock,
            cache: DashMap::new(),
        }
    }

    /// A new key of `alg` for a realm, generated on a blocking thread (RSA
    /// generation takes tens to hundreds of milliseconds).
    async fn new_stored_key(
        &self,
        realm_id: Uuid,
        alg: SigningAlgorithm,
    ) -> Result<StoredSigningKey> {
        let master = self.master.clone();
        let now = self.clock.now();
        tokio::task::spawn_blocking(move || generate(&master, realm_id, alg, now))
            .await
            .map_err(|_| Error::Internal("key generation"))?
    }

    /// Gives a realm an active key for its algorithm if it has none.
    pub async fn ensure(&self, realm: &Realm) -> Result<()> {
        let keys = self.store.list_signing_keys(realm.id).await?;
        if !keys.iter().any(|k| k.active && k.alg == realm.signing_alg) {
            let key = self.new_stored_key(realm.id, realm.signing_alg).await?;
            if keys.is_empty() {
                self.store.insert_signing_key(&key).await?;
            } else {
                let retire = self.clock.now() + Duration::days(1);
                self.store.rotate_signing_key(&key, retire).await?;
            }
            self.cache.remove(&realm.id);
        }
        Ok(())
    }

    /// Gives a new realm an active key for every algorithm it advertises: its
    /// own (access tokens) and every ID-token algorithm of discovery, so a
    /// relying party that caches the JWK set at start knows every `kid`.
    pub async fn ensure_every_algorithm(&self, realm: &Realm) -> Result<()> {
        self.ensure(realm).await?;
        let stored = self.store.list_signing_keys(realm.id).await?;
        for alg in SigningAlgorithm::ALL {
            self.add_key_unless_usable(realm.id, alg, &stored).await?;
        }
        self.cache.remove(&realm.id);
        Ok(())
    }

    /// Stores a new active key for `alg` unless `stored` (the realm's keys)
    /// holds one that is active and not retiring.
    async fn add_key_unless_usable(
        &self,
        realm_id: Uuid,
        alg: SigningAlgorithm,
        stored: &[StoredSigningKey],
    ) -> Result<()> {
        let now = self.clock.now();
        let usable = |k: &StoredSigningKey| {
            k.active && k.alg == alg && k.retire_after.is_none_or(|t| t > now)
        };
        if !stored.iter().any(usable) {
            let key = self.new_stored_key(realm_id, alg).await?;
            self.store.insert_signing_key(&key).await?;
        }
        Ok(())
    }

    /// Adds a new current key for the realm's algorithm, and for every other
    /// algorithm the realm has an active key of (ID tokens); the previous ones
    /// stay published and verifying until `overlap` has passed (the longest
    /// lifetime of tokens they signed). Returns the new key id of the realm's
    /// algorithm.
    pub async fn rotate(&self, realm: &Realm, overlap: Duration) -> Result<String> {
        let key = self.new_stored_key(realm.id, realm.signing_alg).await?;
        let kid = key.kid.clone();
        let retire = self.clock.now() + overlap;
        let mut others: Vec<SigningAlgorithm> = self
            .store
            .list_signing_keys(realm.id)
            .await?
            .iter()
            .filter(|k| k.active && k.alg != realm.signing_alg)
            .map(|k| k.alg)
            .collect();
        others.sort_by_key(|a| a.as_str());
        others.dedup();
        self.store.rotate_signing_key(&key, retire).await?;
        for alg in others {
            let key = self.new_stored_key(realm.id, alg).await?;
            self.store.rotate_signing_key(&key, retire).await?;
        }
        self.cache.remove(&realm.id);
        Ok(kid)
    }

    /// Whether this instance's master key opens the signing keys already in
    /// the database: one active key of each realm is decrypted. `Err`
    /// names the first realm and key it cannot open: the instance was
    /// started with another master key than the one the database's keys
    /// were sealed with, and would answer every token with 401 and every
    /// sign-in with 500. A fresh database (no keys yet) passes.
    pub async fn check_master_key(&self) -> std::result::Result<(), MasterKeyMismatch> {
        let store_failed = |e: crate::error::StoreError| MasterKeyMismatch::Store(e.to_string());
        for realm in self.store.list_realms().await.map_err(store_failed)? {
            let keys = self
                .store
                .list_signing_keys(realm.id)
                .await
                .map_err(store_failed)?;
            let Some(key) = keys.iter().find(|k| k.active) else {
                continue;
            };
            if self
                .master
                .decrypt(&key.private_key_enc, &aad(realm.id, &key.kid))
                .is_err()
            {
                return Err(MasterKeyMismatch::Sealed {
                    realm: realm.name.to_string(),
                    kid: key.kid.clone(),
                });
            }
        }
        Ok(())
    }

    /// The master key, for other secrets stored encrypted.
    pub(crate) fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Forgets a realm's cached keys (after a change by another instance or a delete).
    pub fn invalidate(&self, realm_id: Uuid) {
        self.cache.remove(&realm_id);
    }

    /// Forgets every realm's cached keys.
    pub fn invalidate_all(&self) {
        self.cache.clear();
    }

    async fn load(&self, realm: &Realm) -> Result<Arc<RealmKeys>> {
        let now = self.clock.now();
        let stored = self.store.list_signing_keys(realm.id).await?;
        let mut signers = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        for k in stored {
            if k.retire_after.is_some_and(|t| t <= now) {
                continue;
            }
            let jwk: Value = serde_json::from_str(&k.public_jwk).map_err(|e| {
                tracing::error!(kid = %k.kid, error = %e, "stored public JWK is not JSON");
                Error::Internal("signing key")
            })?;
            if k.active && !signers.contains_key(&k.alg) {
                let der = self
                    .master
                    .decrypt(&k.private_key_enc, &aad(realm.id, &k.kid))?;
                signers.insert(k.alg, SigningKey::from_pkcs8(k.alg, &der)?);
            }
            verifiers.insert(k.kid.clone(), VerifyingKey::from_jwk(&jwk)?);
            published.push(jwk);
        }
        let keys = Arc::new(RealmKeys {
            signers,
            verifiers,
            jwks: json!({ "keys": published }),
            loaded_at: now,
        });
        self.cache.insert(realm.id, keys.clone());
        Ok(keys)
    }

    async fn get(&self, realm: &Realm) -> Result<Arc<RealmKeys>> {
        match self.cache.get(&realm.id) {
            Some(k) => Ok(k.clone()),
            None => self.load(realm).await,
        }
    }

    /// The key new tokens of a realm are signed with.
    pub async fn signer(&self, realm: &Realm) -> Result<SigningKey> {
        if let Some(s) = self.get(realm).await?.signers.get(&realm.signing_alg) {
            return Ok(s.clone());
        }
        self.ensure(realm).await?;
        self.load(realm)
            .await?
            .signers
            .get(&realm.signing_alg)
            .cloned()
            .ok_or(Error::Internal("no signing key"))
    }

    /// A realm's key for `alg`, generated (and published) the first time one
    /// is asked for: ID tokens are RS256 by default whatever the realm signs
    /// its access tokens with, and a client may ask for ES256 or EdDSA.
    /// [`Keys::rotate`] rotates these with the realm's own key.
    pub async fn signer_for(&self, realm: &Realm, alg: SigningAlgorithm) -> Result<SigningKey> {
        if alg == realm.signing_alg {
            return self.signer(realm).await;
        }
        if let Some(s) = self.get(realm).await?.signers.get(&alg) {
            return Ok(s.clone());
        }
        let stored = self.store.list_signing_keys(realm.id).await?;
        self.add_key_unless_usable(realm.id, alg, &stored).await?;
        self.load(realm)
            .await?
            .signers
            .get(&alg)
            .cloned()
            .ok_or(Error::Internal("no signing key"))
    }

    /// The key that verifies a `kid` of a realm, reloading once (rate-limited)
    /// when the kid is unknown, so keys rotated by another instance are found.
    pub async fn verifier(&self, realm: &Realm, kid: &str) -> Result<Option<VerifyingKey>> {
        let keys = self.get(realm).await?;
        if let Some(v) = keys.verifiers.get(kid) {
            return Ok(Some(v.clone()));
        }
        if self.clock.now() - keys.loaded_at < RELOAD_COOLDOWN {
            return Ok(None);
        }
        Ok(self.load(realm).await?.verifiers.get(kid).cloned())
    }

    /// The realm's published JWK set.
    pub async fn jwks(&self, realm: &Realm) -> Result<Value> {
        Ok(self.get(realm).await?.jwks.clone())
    }
}
