//! Identity documents: submitted by their user, decided by an
//! administrator or the external verifier, their images deleted after the
//! retention period.

use base64::Engine as _;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{DocumentStatus, DocumentType, IdentityDocument, SealedImage};
use super::{IdentityState, Verification, count};
use crate::error::{Error, FieldError, Result};
use crate::model::{User, new_id};
use crate::tokens::Principal;
use crate::users::RealmAdmin;

/// Largest image accepted, in bytes (decoded).
pub const MAX_IMAGE_BYTES: usize = 4 * 1024 * 1024;
/// Images a document carries at most.
pub const MAX_IMAGES: usize = 2;
/// Longest document number.
pub const MAX_NUMBER_LEN: usize = 64;
/// Longest reason of a decision.
pub const MAX_REASON_LEN: usize = 500;
/// Documents a user may submit within the login window.
pub const MAX_SUBMISSIONS: u32 = 5;

/// Every ISO 3166-1 alpha-2 code officially assigned, concatenated.
const COUNTRIES: &str = "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ\
CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFR\
GAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJP\
KEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMT\
MUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURW\
SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUG\
UMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW";

/// Whether `code` is an ISO 3166-1 alpha-2 code (upper case).
pub fn is_country(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && COUNTRIES.as_bytes().chunks(2).any(|c| c == code.as_bytes())
}

/// The media type of an image, sniffed from its first bytes: PNG or JPEG
/// only.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// A document as a user submits it.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// One of [`DocumentType::ALL`]'s names.
    pub doc_type: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// The document's number.
    pub number: String,
    /// One or two images, base64 (standard alphabet, padding optional).
    pub images: Vec<String>,
}

/// A document as its user or an administrator sees it (never the images).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentView {
    /// Id.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Kind.
    pub doc_type: DocumentType,
    /// Issuing country.
    pub country: String,
    /// The number: whole for administrators, its last four characters
    /// for the user.
    pub number: String,
    /// Where it stands.
    pub status: DocumentStatus,
    /// The decision's reason.
    pub reason: Option<String>,
    /// Who decided (`user:<id>`, `webhook`), for administrators.
    pub decided_by: Option<String>,
    /// When it was decided.
    pub decided_at: Option<OffsetDateTime>,
    /// Images submitted.
    pub image_count: u32,
    /// When the retention sweep deleted the images.
    pub images_deleted_at: Option<OffsetDateTime>,
    /// Submission time.
    pub created_at: OffsetDateTime,
}

/// One decrypted image, for an administrator.
#[derive(Clone)]
pub struct DocumentImage {
    /// `image/png` or `image/jpeg`.
    pub content_type: String,
    /// The image.
    pub bytes: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for DocumentImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentImage")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A decision's input, from an administrator or the webhook.
#[derive(Debug, Clone)]
pub struct Decision {
    /// `verified` or `rejected`.
    pub status: String,
    /// Why (required to reject).
    pub reason: Option<String>,
}

/// The checked form of [`Decision`].
pub(super) fn parse_decision(d: &Decision) -> Result<(DocumentStatus, Option<String>)> {
    let mut errors = Vec::new();
    let status = match DocumentStatus::parse(&d.status) {
        Some(s @ (DocumentStatus::Verified | DocumentStatus::Rejected)) => Some(s),
        _ => {
            errors.push(FieldError::new("status", "must be verified or rejected"));
            None
        }
    };
    let reason = d
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    match &reason {
        Some(r) if r.chars().count() > MAX_REASON_LEN || r.chars().any(char::is_control) => {
            errors.push(FieldError::new(
                "reason",
                format!("must be at most {MAX_REASON_LEN} characters, without control characters"),
            ));
        }
        None if status == Some(DocumentStatus::Rejected) => {
            errors.push(FieldError::new(
                "reason",
                "is required to reject a document",
            ));
        }
        _ => {}
    }
    match status {
        Some(s) if errors.is_empty() => Ok((s, reason)),
        _ => Err(Error::Validation(errors)),
    }
}

/// The checked parts of a [`NewDocument`]: kind, country, number, images
/// (media type and bytes). Every wrong field is named.
#[allow(clippy::type_complexity)]
pub(super) fn check_new(
    input: &NewDocument,
) -> Result<(DocumentType, String, String, Vec<(&'static str, Vec<u8>)>)> {
    let mut errors = Vec::new();
    let names: Vec<&str> = DocumentType::ALL.iter().map(|t| t.as_str()).collect();
    let doc_type = DocumentType::parse(&input.doc_type);
    if doc_type.is_none() {
        errors.push(FieldError::new(
            "type",
            format!("must be one of: {}", names.join(", ")),
        ));
    }
    let country = input.country.trim().to_ascii_uppercase();
    if !is_country(&country) {
        errors.push(FieldError::new(
            "country",
            "must be an ISO 3166-1 alpha-2 country code, such as DE or GB",
        ));
    }
    let number: String = input
        .number
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    if number.is_empty()
        || number.len() > MAX_NUMBER_LEN
        || !number.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        errors.push(FieldError::new(
            "number",
            format!("must be 1 to {MAX_NUMBER_LEN} letters and digits (spaces and dashes ignored)"),
        ));
    }
    if input.images.is_empty() || input.images.len() > MAX_IMAGES {
        errors.push(FieldError::new(
            "images",
            format!("must hold 1 to {MAX_IMAGES} images"),
        ));
    }
    let mut images = Vec::new();
    for (n, text) in input.images.iter().take(MAX_IMAGES).enumerate() {
        let field = format!("images[{n}]");
        // A quick bound before decoding: base64 is 4/3 of the bytes.
        if text.len() / 4 * 3 > MAX_IMAGE_BYTES + 3 {
            errors.push(FieldError::new(
                field,
                format!("is too large: at most {MAX_IMAGE_BYTES} bytes"),
            ));
            continue;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim()));
        let Ok(bytes) = decoded else {
            errors.push(FieldError::new(field, "must be base64"));
            continue;
        };
        if bytes.len() > MAX_IMAGE_BYTES {
            errors.push(FieldError::new(
                field,
                format!("is too large: at most {MAX_IMAGE_BYTES} bytes"),
            ));
            continue;
        }
        match sniff_image(&bytes) {
            Some(t) => images.push((t, bytes)),
            None => errors.push(FieldError::new(field, "must be a PNG or JPEG image")),
        }
    }
    match doc_type {
        Some(t) if errors.is_empty() => Ok((t, country, number, images)),
        _ => Err(Error::Validation(errors)),
    }
}

fn number_aad(id: Uuid) -> Vec<u8> {
    format!("identity_document_number:{id}").into_bytes()
}

fn image_aad(id: Uuid, n: usize) -> Vec<u8> {
    format!("identity_document_image:{id}:{n}").into_bytes()
}

/// The last four characters of a number, the rest masked.
fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let keep = chars.len().min(4);
    let shown: String = chars.iter().skip(chars.len() - keep).collect();
    format!("{}{shown}", "*".repeat(chars.len() - keep))
}

impl Verification<'_> {
    fn view(&self, doc: &IdentityDocument, admin: bool) -> Result<DocumentView> {
        let plain = self
            .i
            .keys
            .master()
            .decrypt(&doc.number_sealed, &number_aad(doc.id))?;
        let number =
            String::from_utf8(plain.to_vec()).map_err(|_| Error::Internal("document number"))?;
        Ok(DocumentView {
            id: doc.id,
            user_id: doc.user_id,
            doc_type: doc.doc_type,
            country: doc.country.clone(),
            number: if admin { number } else { mask_number(&number) },
            status: doc.status,
            reason: doc.reason.clone(),
            decided_by: admin.then(|| doc.decided_by.clone()).flatten(),
            decided_at: doc.decided_at,
            image_count: doc.image_count,
            images_deleted_at: doc.images_deleted_at,
            created_at: doc.created_at,
        })
    }

    /// Submits a document for the caller. One document waits for a
    /// decision at a time.
    pub async fn submit_document(
        &self,
        who: &Principal,
        input: NewDocument,
    ) -> Result<DocumentView> {
        let (doc_type, country, number, images) = check_new(&input)?;
        let user = self.active(who).await?;
        let realm_id = user.realm_id;
        let existing = self.i.store.list_documents(realm_id, user.id).await?;
        if existing.iter().any(|d| d.status == DocumentStatus::Pending) {
            return Err(Error::Conflict(
                "a document is already waiting for a decision".to_owned(),
            ));
        }
        crate::recovery::take(
            self.i,
            realm_id,
            &format!("verification:document:user:{}", user.id),
            MAX_SUBMISSIONS,
        )
        .await?;
        let id = new_id();
        let master = self.i.keys.master();
        let mut sealed = Vec::with_capacity(images.len());
        for (n, (content_type, bytes)) in images.iter().enumerate() {
            sealed.push(SealedImage {
                content_type: (*content_type).to_owned(),
                sealed: master.encrypt(bytes, &image_aad(id, n))?,
            });
        }
        let doc = IdentityDocument {
            id,
            realm_id,
            user_id: user.id,
            doc_type,
            country,
            number_sealed: master.encrypt(number.as_bytes(), &number_aad(id))?,
            status: DocumentStatus::Pending,
            reason: None,
            decided_by: None,
            decided_at: None,
            image_count: u32::try_from(sealed.len()).unwrap_or(0),
            images: sealed,
            images_deleted_at: None,
            created_at: self.i.clock.now(),
        };
        self.i.store.insert_document(&doc).await?;
        self.changed(realm_id);
        count("document", "submitted");
        self.audit_document(&user, None, "verification.document.submitted", &doc)
            .await;
        self.view(&doc, false)
    }

    /// The caller's documents, newest first, and its state.
    pub async fn own_documents(
        &self,
        who: &Principal,
    ) -> Result<(IdentityState, Vec<DocumentView>)> {
        let user = self.active(who).await?;
        let docs = self.i.store.list_documents(user.realm_id, user.id).await?;
        let views = docs
            .iter()
            .map(|d| self.view(d, false))
            .collect::<Result<Vec<_>>>()?;
        Ok((IdentityState::of(docs.first()), views))
    }

    /// A user's documents, newest first, and its state, for an
    /// administrator.
    pub async fn user_documents(
        &self,
        admin: &RealmAdmin,
        user_id: Uuid,
    ) -> Result<(IdentityState, Vec<DocumentView>)> {
        let user = self.user_of(admin.realm_id(), user_id).await?;
        let docs = self.i.store.list_documents(user.realm_id, user.id).await?;
        let views = docs
            .iter()
            .map(|d| self.view(d, true))
            .collect::<Result<Vec<_>>>()?;
        Ok((IdentityState::of(docs.first()), views))
    }

    /// Image `n` (from 1) of a user's document, decrypted, for an
    /// administrator. Reading it is audited.
    pub async fn document_image(
        &self,
        admin: &RealmAdmin,
        user_id: Uuid,
        doc_id: Uuid,
        n: usize,
    ) -> Result<DocumentImage> {
        let user = self.user_of(admin.realm_id(), user_id).await?;
        let doc = self
            .i
            .store
            .get_document(user.realm_id, doc_id)
            .await?
            .filter(|d| d.user_id == user.id)
            .ok_or(Error::NotFound("document"))?;
        let index = n.checked_sub(1).ok_or(Error::NotFound("document image"))?;
        let image = doc
            .images
            .get(index)
            .ok_or(Error::NotFound("document image"))?;
        let bytes = self
            .i
            .keys
            .master()
            .decrypt(&image.sealed, &image_aad(doc.id, index))?;
        crate::audit::event(
            self.i,
            user.realm_id,
            admin.actor(),
            "verification.document.image_read",
            format!("user:{}", user.id),
            serde_json::json!({ "document_id": doc.id, "image": n }),
        )
        .await;
        Ok(DocumentImage {
            content_type: image.content_type.clone(),
            bytes: zeroize::Zeroizing::new(bytes.to_vec()),
        })
    }

    /// An administrator's decision on a user's pending document.
    pub async fn decide_as_admin(
        &self,
        admin: &RealmAdmin,
        user_id: Uuid,
        doc_id: Uuid,
        decision: &Decision,
    ) -> Result<DocumentView> {
        admin.writable()?;
        let (status, reason) = parse_decision(decision)?;
        let user = self.user_of(admin.realm_id(), user_id).await?;
        let doc = self
            .i
            .store
            .get_document(user.realm_id, doc_id)
            .await?
            .filter(|d| d.user_id == user.id)
            .ok_or(Error::NotFound("document"))?;
        let by = format!("user:{}", admin.user_id());
        self.decide(&user, doc, status, reason, &by, Some(admin.actor()))
            .await
    }

    /// Records a decision on `doc` (pending) by `by`.
    pub(super) async fn decide(
        &self,
        user: &User,
        doc: IdentityDocument,
        status: DocumentStatus,
        reason: Option<String>,
        by: &str,
        actor: Option<crate::audit::Actor>,
    ) -> Result<DocumentView> {
        let now = self.i.clock.now();
        if !self
            .i
            .store
            .decide_document(doc.realm_id, doc.id, status, reason.as_deref(), by, now)
            .await?
        {
            return Err(Error::Conflict(
                "the document was decided already".to_owned(),
            ));
        }
        self.changed(doc.realm_id);
        let decided = IdentityDocument {
            status,
            reason,
            decided_by: Some(by.to_owned()),
            decided_at: Some(now),
            ..doc
        };
        let action = match status {
            DocumentStatus::Verified => "verification.document.verified",
            _ => "verification.document.rejected",
        };
        count("document", status.as_str());
        self.audit_document(user, actor, action, &decided).await;
        self.view(&decided, true)
    }

    pub(super) async fn user_of(&self, realm_id: Uuid, user_id: Uuid) -> Result<User> {
        self.i
            .store
            .get_user(realm_id, user_id)
            .await?
            .ok_or(Error::NotFound("user"))
    }

    async fn audit_document(
        &self,
        user: &User,
        actor: Option<crate::audit::Actor>,
        action: &str,
        doc: &IdentityDocument,
    ) {
        let actor = actor.unwrap_or_else(|| crate::audit::Actor::from(Some(user.id)));
        crate::audit::event(
            self.i,
            user.realm_id,
            actor,
            action,
            format!("user:{}", user.id),
            serde_json::json!({
                "document_id": doc.id,
                "type": doc.doc_type.as_str(),
                "country": doc.country,
                "status": doc.status.as_str(),
                "reason": doc.reason,
                "decided_by": doc.decided_by,
                "images": doc.image_count,
            }),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_iso_3166_alpha_2() {
        assert_eq!(COUNTRIES.len(), 249 * 2);
        for ok in ["DE", "GB", "US", "FR", "JP", "ZW", "AX"] {
            assert!(is_country(ok), "{ok}");
        }
        for bad in ["UK", "EU", "XX", "de", "D", "DEU", "", "Ü1"] {
            assert!(!is_country(bad), "{bad}");
        }
    }

    #[test]
    fn images_are_sniffed() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"%PDF-1.7"), None);
        assert_eq!(sniff_image(b"GIF89a"), None);
        assert_eq!(sniff_image(b""), None);
    }

    #[test]
    fn new_documents_name_every_wrong_field() {
        let bad = NewDocument {
            doc_type: "library_card".into(),
            country: "XX".into(),
            number: "no/slashes".into(),
            images: vec!["%%%".into(), "JVBERi0xLjcK".into(), "x".into()],
        };
        let Err(Error::Validation(errors)) = check_new(&bad) else {
            panic!("accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "type",
                "country",
                "number",
                "images",
                "images[0]",
                "images[1]"
            ]
        );
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\n....");
        let ok = NewDocument {
            doc_type: "passport".into(),
            country: "de".into(),
            number: "c01x-00t47".into(),
            images: vec![png],
        };
        let (t, c, n, images) = check_new(&ok).unwrap();
        assert_eq!(
            (t, c.as_str(), n.as_str()),
            (DocumentType::Passport, "DE", "C01X00T47")
        );
        assert_eq!(images.len(), 1);
    }

    #[test]
    fn decisions_need_a_reason_to_reject() {
        let d = |s: &str, r: Option<&str>| Decision {
            status: s.into(),
            reason: r.map(str::to_owned),
        };
        assert!(parse_decision(&d("verified", None)).is_ok());
        assert!(parse_decision(&d("rejected", Some("blurred"))).is_ok());
        assert!(parse_decision(&d("rejected", Some("  "))).is_err());
        assert!(parse_decision(&d("pending", None)).is_err());
        assert_eq!(mask_number("C01X00T47"), "*****0T47");
        assert_eq!(mask_number("AB"), "AB");
    }
}
