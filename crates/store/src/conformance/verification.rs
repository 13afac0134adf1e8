//! Verification: phone verifications (conditional verify), identity
//! documents (decided once, images deleted once, the retention listing),
//! webhook secrets; the states as subject attributes with revision bumps;
//! isolation and cascades.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::model::new_id;
use portcullis_core::ports::Store;
use portcullis_core::verification::model::{
    DocumentStatus, DocumentType, IdentityDocument, PhoneVerification, SealedImage,
};
use serde_json::json;
use uuid::Uuid;

use super::{T0, at, realm, user};

fn document(realm_id: Uuid, user_id: Uuid, created: i64, images: usize) -> IdentityDocument {
    IdentityDocument {
        id: new_id(),
        realm_id,
        user_id,
        doc_type: DocumentType::IdCard,
        country: "FR".into(),
        number_sealed: vec![1, 2, 3],
        status: DocumentStatus::Pending,
        reason: None,
        decided_by: None,
        decided_at: None,
        images: (0..images)
            .map(|n| SealedImage {
                content_type: "image/png".into(),
                sealed: vec![n as u8; 16],
            })
            .collect(),
        image_count: images as u32,
        images_deleted_at: None,
        created_at: at(created),
    }
}

/// Phone verifications: stored, replaced, verified by one conditional
/// update (the right number and challenge, once), deleted; per realm;
/// a user of another realm is `NotFound`; they go with the user.
pub async fn verification_phone_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let globex = realm("globex");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&globex).await.unwrap();
    let ada = user(acme.id, "ada@example.com");
    store.create_user(&ada).await.unwrap();
    let challenge = new_id();
    let v = PhoneVerification {
        realm_id: acme.id,
        user_id: ada.id,
        phone: "+4915112345678".into(),
        challenge_id: Some(challenge),
        verified_at: None,
        updated_at: T0,
    };
    store.put_phone_verification(&v).await.unwrap();
    assert_eq!(
        store.get_phone_verification(acme.id, ada.id).await.unwrap(),
        Some(v.clone())
    );
    assert_eq!(
        store
            .get_phone_verification(globex.id, ada.id)
            .await
            .unwrap(),
        None
    );
    let stranger = PhoneVerification {
        realm_id: globex.id,
        ..v.clone()
    };
    assert!(matches!(
        store.put_phone_verification(&stranger).await,
        Err(StoreError::NotFound)
    ));
    let before = store.authz_revision(acme.id).await.unwrap();
    // Wrong number, wrong challenge, wrong realm: nothing.
    assert!(
        !store
            .mark_phone_verified(acme.id, ada.id, "+4915100000000", challenge, at(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_phone_verified(acme.id, ada.id, &v.phone, new_id(), at(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_phone_verified(globex.id, ada.id, &v.phone, challenge, at(1))
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_phone_verified(acme.id, ada.id, &v.phone, challenge, at(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_phone_verified(acme.id, ada.id, &v.phone, challenge, at(2))
            .await
            .unwrap()
    );
    assert!(store.authz_revision(acme.id).await.unwrap() > before);
    let got = store
        .get_phone_verification(acme.id, ada.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.verified_at, Some(at(1)));
    assert_eq!(got.challenge_id, None);
    let snap = store.authz_snapshot(acme.id).await.unwrap();
    let attrs = snap
        .subject_attributes
        .iter()
        .find(|(u, _)| *u == ada.id)
        .unwrap();
    assert_eq!(attrs.1.get("phone_number_verified"), Some(&json!(true)));
    // Replacing it starts over.
    store.put_phone_verification(&v).await.unwrap();
    assert_eq!(
        store
            .get_phone_verification(acme.id, ada.id)
            .await
            .unwrap()
            .unwrap()
            .verified_at,
        None
    );
    assert!(
        !store
            .delete_phone_verification(globex.id, ada.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_phone_verification(acme.id, ada.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_phone_verification(acme.id, ada.id)
            .await
            .unwrap()
    );
    store.put_phone_verification(&v).await.unwrap();
    store.delete_user(acme.id, ada.id).await.unwrap();
    assert_eq!(
        store.get_phone_verification(acme.id, ada.id).await.unwrap(),
        None
    );
}

/// Documents: round trip with images, newest first, per realm; decided
/// once; the newest one's status is the subject attribute; images past
/// retention listed and deleted once; they go with the user.
pub async fn verification_documents_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let globex = realm("globex");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&globex).await.unwrap();
    let ada = user(acme.id, "ada@example.com");
    store.create_user(&ada).await.unwrap();
    let old = document(acme.id, ada.id, 1, 2);
    let new = document(acme.id, ada.id, 2, 1);
    for d in [&old, &new] {
        store.insert_document(d).await.unwrap();
    }
    let stranger = store
        .insert_document(&document(globex.id, ada.id, 3, 1))
        .await;
    assert!(matches!(stranger, Err(StoreError::NotFound)));
    assert_eq!(
        store.get_document(acme.id, old.id).await.unwrap(),
        Some(old.clone())
    );
    assert_eq!(store.get_document(globex.id, old.id).await.unwrap(), None);
    let list = store.list_documents(acme.id, ada.id).await.unwrap();
    assert_eq!(list, vec![new.clone(), old.clone()]);
    assert!(
        store
            .list_documents(globex.id, ada.id)
            .await
            .unwrap()
            .is_empty()
    );

    let before = store.authz_revision(acme.id).await.unwrap();
    assert!(
        !store
            .decide_document(
                globex.id,
                old.id,
                DocumentStatus::Verified,
                None,
                "webhook",
                at(10)
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .decide_document(
                acme.id,
                old.id,
                DocumentStatus::Rejected,
                Some("blurred"),
                "webhook",
                at(10)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .decide_document(
                acme.id,
                old.id,
                DocumentStatus::Verified,
                None,
                "webhook",
                at(11)
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .decide_document(
                acme.id,
                new.id,
                DocumentStatus::Verified,
                None,
                "user:x",
                at(20)
            )
            .await
            .unwrap()
    );
    assert!(store.authz_revision(acme.id).await.unwrap() > before);
    let got = store.get_document(acme.id, old.id).await.unwrap().unwrap();
    assert_eq!(got.status, DocumentStatus::Rejected);
    assert_eq!(got.reason.as_deref(), Some("blurred"));
    assert_eq!(got.decided_by.as_deref(), Some("webhook"));
    assert_eq!(got.decided_at, Some(at(10)));
    let snap = store.authz_snapshot(acme.id).await.unwrap();
    let attrs = snap
        .subject_attributes
        .iter()
        .find(|(u, _)| *u == ada.id)
        .unwrap();
    assert_eq!(
        attrs.1.get("identity_verification"),
        Some(&json!("verified"))
    );
    assert_eq!(attrs.1.get("document_verified"), Some(&json!(true)));

    // Retention: only documents decided before the bound, with images.
    let due = store.documents_past_retention(at(15), 10).await.unwrap();
    assert_eq!(due, vec![(acme.id, old.id, ada.id)]);
    let due = store.documents_past_retention(at(30), 1).await.unwrap();
    assert_eq!(due, vec![(acme.id, old.id, ada.id)]);
    assert!(
        !store
            .delete_document_images(globex.id, old.id, at(40))
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_document_images(acme.id, old.id, at(40))
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_document_images(acme.id, old.id, at(41))
            .await
            .unwrap()
    );
    let got = store.get_document(acme.id, old.id).await.unwrap().unwrap();
    assert!(got.images.is_empty());
    assert_eq!(got.image_count, 2);
    assert_eq!(got.images_deleted_at, Some(at(40)));
    let due = store.documents_past_retention(at(30), 10).await.unwrap();
    assert_eq!(due, vec![(acme.id, new.id, ada.id)]);

    store.delete_user(acme.id, ada.id).await.unwrap();
    assert_eq!(store.get_document(acme.id, new.id).await.unwrap(), None);
}

/// Webhook secrets: stored, replaced, per realm; an unknown realm is
/// `NotFound`.
pub async fn verification_webhook_secrets<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    store.create_realm(&acme).await.unwrap();
    assert_eq!(store.get_webhook_secret(acme.id).await.unwrap(), None);
    store.put_webhook_secret(acme.id, b"one", T0).await.unwrap();
    store
        .put_webhook_secret(acme.id, b"two", at(1))
        .await
        .unwrap();
    assert_eq!(
        store.get_webhook_secret(acme.id).await.unwrap(),
        Some(b"two".to_vec())
    );
    assert!(matches!(
        store.put_webhook_secret(new_id(), b"x", T0).await,
        Err(StoreError::NotFound)
    ));
}
