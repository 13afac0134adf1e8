//! What the profile service stores: a realm's schema versions, each user's
//! profile document, avatar and preferences.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Document, ProfileSchema};

/// A version of a realm's profile schema, as stored. Every version is kept
/// (documents written under an old one are migrated from it); the realm's
/// schema is its greatest version.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSchema {
    /// The realm.
    pub realm_id: Uuid,
    /// The schema (its `version` is the key).
    pub schema: ProfileSchema,
    /// When it was stored.
    pub updated_at: OffsetDateTime,
}

/// A user's profile document, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProfile {
    /// The realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The document (field name to value, and `_archived`).
    pub document: Document,
    /// The schema version it was written under or migrated to.
    pub schema_version: u32,
    /// Bumped on every write: writes are conditional on the revision read,
    /// so a racing write or migration is never overwritten.
    pub revision: u64,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A user's avatar: a sanitised PNG.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredAvatar {
    /// The realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The PNG file.
    pub png: Vec<u8>,
    /// SHA-256 of `png` (the entity tag).
    pub sha256: [u8; 32],
    /// Last change.
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for StoredAvatar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAvatar")
            .field("user_id", &self.user_id)
            .field("bytes", &self.png.len())
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

impl StoredAvatar {
    /// A strong entity tag: the digest in hex, quoted.
    pub fn etag(&self) -> String {
        etag(&self.sha256)
    }
}

/// A strong entity tag of a digest: its hex, quoted.
pub fn etag(sha256: &[u8; 32]) -> String {
    let mut s = String::with_capacity(66);
    s.push('"');
    for b in sha256 {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('"');
    s
}

/// A user's preferences (seed 003): language, time zone and notification
/// choices.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Preferences {
    /// The realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// A BCP 47 language tag.
    pub locale: Option<String>,
    /// An IANA time zone name.
    pub time_zone: Option<String>,
    /// Notification choices: channel or topic name to on/off.
    pub notifications: Map<String, Value>,
    /// Last change.
    pub updated_at: Option<OffsetDateTime>,
}
