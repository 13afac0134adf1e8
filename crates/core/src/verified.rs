//! A bounded cache of access tokens whose signature has been verified, keyed by
//! the SHA-256 of the exact token text. A hit skips only the signature check:
//! issuer, expiry, denylist and realm state are still checked on every request.

use std::sync::Arc;

use dashmap::DashMap;
use uuid::Uuid;

use crate::tokens::AccessClaims;

/// Most tokens remembered at once.
const CAPACITY: usize = 100_000;

/// Verified tokens.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    map: DashMap<[u8; 32], (Uuid, Arc<AccessClaims>)>,
}

impl VerifiedTokens {
    /// The claims of a token of `realm_id` verified before, if remembered.
    pub fn get(&self, realm_id: Uuid, token: &str) -> Option<Arc<AccessClaims>> {
        let key = portcullis_crypto::sha256(token.as_bytes());
        let entry = self.map.get(&key)?;
        (entry.0 == realm_id).then(|| entry.1.clone())
    }

    /// Remembers a token whose signature verified with a key of `realm_id`.
    pub fn insert(&self, realm_id: Uuid, token: &str, claims: Arc<AccessClaims>, now_unix: i64) {
        if self.map.len() >= CAPACITY {
            self.map.retain(|_, (_, c)| c.exp > now_unix);
            if self.map.len() >= CAPACITY {
                self.map.clear();
            }
        }
        let key = portcullis_crypto::sha256(token.as_bytes());
        self.map.insert(key, (realm_id, claims));
    }

    /// Forgets a realm's tokens (its keys changed or it was deleted).
    pub fn forget_realm(&self, realm_id: Uuid) {
        self.map.retain(|_, (r, _)| *r != realm_id);
    }

    /// Forgets every verified token.
    pub fn clear(&self) {
        self.map.clear();
    }
}
