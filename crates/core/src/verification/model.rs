//! The records of verification as the storage port speaks them: a user's
//! phone verification and the identity documents users submit.

use time::OffsetDateTime;
use uuid::Uuid;

/// The kinds of identity document a user may submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    /// A passport.
    Passport,
    /// A national identity card.
    IdCard,
    /// A driving licence.
    DrivingLicence,
    /// A residence permit.
    ResidencePermit,
    /// Any other official document.
    Other,
}

impl DocumentType {
    /// Every kind, in the order the API lists them.
    pub const ALL: [Self; 5] = [
        Self::Passport,
        Self::IdCard,
        Self::DrivingLicence,
        Self::ResidencePermit,
        Self::Other,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passport => "passport",
            Self::IdCard => "id_card",
            Self::DrivingLicence => "driving_licence",
            Self::ResidencePermit => "residence_permit",
            Self::Other => "other",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Where a submitted document stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentStatus {
    /// Waiting for a decision.
    Pending,
    /// An administrator or the external verifier accepted it.
    Verified,
    /// An administrator or the external verifier refused it, with a reason.
    Rejected,
}

impl DocumentStatus {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verified => "verified",
            Self::Rejected => "rejected",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(Self::Pending),
            "verified" => Some(Self::Verified),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// One image of a document, sealed with the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedImage {
    /// `image/png` or `image/jpeg` (sniffed from the bytes).
    pub content_type: String,
    /// The image, encrypted and bound to its document and position.
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for SealedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedImage")
            .field("content_type", &self.content_type)
            .field("bytes", &self.sealed.len())
            .finish()
    }
}

/// An identity document a user submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityDocument {
    /// Id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user who submitted it.
    pub user_id: Uuid,
    /// Its kind.
    pub doc_type: DocumentType,
    /// The issuing country, ISO 3166-1 alpha-2.
    pub country: String,
    /// The document's number, encrypted with the master key.
    pub number_sealed: Vec<u8>,
    /// Where it stands.
    pub status: DocumentStatus,
    /// Why it was rejected (or a note on its acceptance).
    pub reason: Option<String>,
    /// Who decided: `user:<id>` (an administrator) or `webhook`.
    pub decided_by: Option<String>,
    /// When it was decided.
    pub decided_at: Option<OffsetDateTime>,
    /// Its images (none once the retention period deleted them).
    pub images: Vec<SealedImage>,
    /// How many images it was submitted with.
    pub image_count: u32,
    /// When the retention sweep deleted its images.
    pub images_deleted_at: Option<OffsetDateTime>,
    /// Submission time.
    pub created_at: OffsetDateTime,
}

/// A user's phone verification: the number being or having been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneVerification {
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The number, E.164.
    pub phone: String,
    /// The code challenge of the verification in progress (an
    /// [`MfaChallenge`](crate::model::mfa::MfaChallenge) of purpose
    /// `enrol` whose token digest is a MAC of this id).
    pub challenge_id: Option<Uuid>,
    /// When the number was verified; `None` while a code is pending.
    pub verified_at: Option<OffsetDateTime>,
    /// Last change.
    pub updated_at: OffsetDateTime,
}
