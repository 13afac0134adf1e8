//! Profiles: schema versions, documents (conditional writes), avatars,
//! preferences, a user's audit records; isolation and cascades.

use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::model::{AuditRecord, new_id};
use portcullis_core::ports::Store;
use portcullis_core::profile::model::{Preferences, StoredAvatar, StoredProfile};
use portcullis_core::profile::{FieldKind, ProfileField, ProfileSchema};
use serde_json::json;
use uuid::Uuid;

use super::{T0, at, realm, user};

fn schema(version: u32, field: &str) -> ProfileSchema {
    let mut s = ProfileSchema {
        version,
        ..ProfileSchema::default()
    };
    s.fields.push(ProfileField::new(field, FieldKind::string()));
    s
}

fn profile(realm_id: Uuid, user_id: Uuid, version: u32, revision: u64) -> StoredProfile {
    let mut document = serde_json::Map::new();
    document.insert("given_name".into(), json!("Ada"));
    document.insert("_archived".into(), json!({"0": {"nickname": "ada"}}));
    StoredProfile {
        realm_id,
        user_id,
        document,
        schema_version: version,
        revision,
        updated_at: at(revision as i64),
    }
}

fn avatar(realm_id: Uuid, user_id: Uuid, byte: u8) -> StoredAvatar {
    StoredAvatar {
        realm_id,
        user_id,
        png: vec![0x89, b'P', b'N', b'G', byte],
        sha256: [byte; 32],
        updated_at: at(i64::from(byte)),
    }
}

fn prefs(realm_id: Uuid, user_id: Uuid, locale: &str) -> Preferences {
    let mut notifications = serde_json::Map::new();
    notifications.insert("security".into(), json!(true));
    notifications.insert("newsletter".into(), json!(false));
    Preferences {
        realm_id,
        user_id,
        locale: Some(locale.to_owned()),
        time_zone: Some("Europe/Paris".to_owned()),
        notifications,
        updated_at: Some(T0),
    }
}

/// Schema versions: stored, read latest or by version, a version not
/// greater than the latest is `Stale`, per realm.
pub async fn profile_schema_versions<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let other = realm("other");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&other).await.unwrap();
    assert!(
        store
            .get_profile_schema(acme.id, None)
            .await
            .unwrap()
            .is_none()
    );
    store
        .put_profile_schema(acme.id, &schema(1, "nickname"), T0)
        .await
        .unwrap();
    let got = store
        .get_profile_schema(acme.id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.schema, schema(1, "nickname"));
    assert_eq!(got.updated_at, T0);
    assert!(matches!(
        store
            .put_profile_schema(acme.id, &schema(1, "other"), at(1))
            .await,
        Err(StoreError::Stale)
    ));
    store
        .put_profile_schema(acme.id, &schema(3, "team"), at(2))
        .await
        .unwrap();
    assert!(matches!(
        store
            .put_profile_schema(acme.id, &schema(2, "x"), at(3))
            .await,
        Err(StoreError::Stale)
    ));
    let latest = store
        .get_profile_schema(acme.id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.schema.version, 3);
    let first = store
        .get_profile_schema(acme.id, Some(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.schema, schema(1, "nickname"));
    assert!(
        store
            .get_profile_schema(acme.id, Some(2))
            .await
            .unwrap()
            .is_none()
    );
    // Another realm sees nothing, and may store its own version 1.
    assert!(
        store
            .get_profile_schema(other.id, None)
            .await
            .unwrap()
            .is_none()
    );
    store
        .put_profile_schema(other.id, &schema(1, "x"), T0)
        .await
        .unwrap();
    assert!(matches!(
        store
            .put_profile_schema(Uuid::nil(), &schema(1, "x"), T0)
            .await,
        Err(StoreError::NotFound)
    ));
}

/// Documents round-trip; writes are conditional on the revision; a user of
/// another realm is `NotFound`; the migration batches page by user id.
pub async fn profile_documents_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let other = realm("other");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&other).await.unwrap();
    let ada = user(acme.id, "ada@example.com");
    let bob = user(acme.id, "bob@example.com");
    let eve = user(other.id, "eve@example.com");
    for u in [&ada, &bob, &eve] {
        store.create_user(u).await.unwrap();
    }
    assert!(store.get_profile(acme.id, ada.id).await.unwrap().is_none());
    let first = profile(acme.id, ada.id, 0, 1);
    assert!(store.save_profile(&first, 0).await.unwrap());
    assert_eq!(
        store.get_profile(acme.id, ada.id).await.unwrap(),
        Some(first.clone())
    );
    // A second insert, or a write from a stale revision, changes nothing.
    assert!(
        !store
            .save_profile(&profile(acme.id, ada.id, 0, 1), 0)
            .await
            .unwrap()
    );
    let mut second = profile(acme.id, ada.id, 2, 2);
    second
        .document
        .insert("family_name".into(), json!("Lovelace"));
    assert!(store.save_profile(&second, 1).await.unwrap());
    assert!(
        !store
            .save_profile(&profile(acme.id, ada.id, 2, 2), 1)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_profile(acme.id, ada.id).await.unwrap(),
        Some(second.clone())
    );
    // Isolation: not through another realm, and not written there.
    assert!(store.get_profile(other.id, ada.id).await.unwrap().is_none());
    assert!(matches!(
        store
            .save_profile(&profile(other.id, ada.id, 0, 1), 0)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.save_profile(&profile(acme.id, eve.id, 0, 1), 0).await,
        Err(StoreError::NotFound)
    ));
    // Batches below a version, by user id.
    assert!(
        store
            .save_profile(&profile(acme.id, bob.id, 1, 1), 0)
            .await
            .unwrap()
    );
    assert!(
        store
            .save_profile(&profile(other.id, eve.id, 0, 1), 0)
            .await
            .unwrap()
    );
    let below3 = store
        .profiles_below_version(acme.id, 3, None, 10)
        .await
        .unwrap();
    let mut ids = vec![ada.id, bob.id];
    ids.sort();
    assert_eq!(below3.iter().map(|p| p.user_id).collect::<Vec<_>>(), ids);
    let page = store
        .profiles_below_version(acme.id, 3, None, 1)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    let rest = store
        .profiles_below_version(acme.id, 3, Some(page[0].user_id), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_ne!(rest[0].user_id, page[0].user_id);
    let below2 = store
        .profiles_below_version(acme.id, 2, None, 10)
        .await
        .unwrap();
    assert_eq!(
        below2.iter().map(|p| p.user_id).collect::<Vec<_>>(),
        vec![bob.id]
    );
}

/// Avatars and preferences: stored, replaced, read (the digest without the
/// bytes), deleted; per realm.
pub async fn profile_avatars_and_preferences<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let other = realm("other");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&other).await.unwrap();
    let ada = user(acme.id, "ada@example.com");
    store.create_user(&ada).await.unwrap();
    assert!(store.get_avatar(acme.id, ada.id).await.unwrap().is_none());
    store.put_avatar(&avatar(acme.id, ada.id, 1)).await.unwrap();
    store.put_avatar(&avatar(acme.id, ada.id, 2)).await.unwrap();
    assert_eq!(
        store.get_avatar(acme.id, ada.id).await.unwrap(),
        Some(avatar(acme.id, ada.id, 2))
    );
    assert_eq!(
        store.avatar_digest(acme.id, ada.id).await.unwrap(),
        Some(([2; 32], at(2)))
    );
    assert!(store.get_avatar(other.id, ada.id).await.unwrap().is_none());
    assert!(
        store
            .avatar_digest(other.id, ada.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.put_avatar(&avatar(other.id, ada.id, 3)).await,
        Err(StoreError::NotFound)
    ));
    assert!(!store.delete_avatar(other.id, ada.id).await.unwrap());
    assert!(store.delete_avatar(acme.id, ada.id).await.unwrap());
    assert!(!store.delete_avatar(acme.id, ada.id).await.unwrap());
    assert!(store.get_avatar(acme.id, ada.id).await.unwrap().is_none());

    assert!(
        store
            .get_preferences(acme.id, ada.id)
            .await
            .unwrap()
            .is_none()
    );
    store
        .put_preferences(&prefs(acme.id, ada.id, "fr"))
        .await
        .unwrap();
    let mut changed = prefs(acme.id, ada.id, "en-GB");
    changed.time_zone = None;
    changed.notifications.clear();
    store.put_preferences(&changed).await.unwrap();
    assert_eq!(
        store.get_preferences(acme.id, ada.id).await.unwrap(),
        Some(changed)
    );
    assert!(
        store
            .get_preferences(other.id, ada.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.put_preferences(&prefs(other.id, ada.id, "fr")).await,
        Err(StoreError::NotFound)
    ));
}

/// A user's profile, avatar and preferences go with the user; a realm's
/// schemas with the realm.
pub async fn profile_cascades<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    store.create_realm(&acme).await.unwrap();
    let ada = user(acme.id, "ada@example.com");
    let bob = user(acme.id, "bob@example.com");
    for u in [&ada, &bob] {
        store.create_user(u).await.unwrap();
        assert!(
            store
                .save_profile(&profile(acme.id, u.id, 0, 1), 0)
                .await
                .unwrap()
        );
        store.put_avatar(&avatar(acme.id, u.id, 1)).await.unwrap();
        store
            .put_preferences(&prefs(acme.id, u.id, "fr"))
            .await
            .unwrap();
    }
    store
        .put_profile_schema(acme.id, &schema(1, "nickname"), T0)
        .await
        .unwrap();
    assert!(store.delete_user(acme.id, ada.id).await.unwrap());
    assert!(store.get_profile(acme.id, ada.id).await.unwrap().is_none());
    assert!(store.get_avatar(acme.id, ada.id).await.unwrap().is_none());
    assert!(
        store
            .get_preferences(acme.id, ada.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.get_profile(acme.id, bob.id).await.unwrap().is_some());
    assert!(store.delete_realm(acme.id).await.unwrap());
    assert!(
        store
            .get_profile_schema(acme.id, None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.get_profile(acme.id, bob.id).await.unwrap().is_none());
    assert!(store.get_avatar(acme.id, bob.id).await.unwrap().is_none());
}

fn record(realm_id: Uuid, actor: Option<Uuid>, target: String, seconds: i64) -> AuditRecord {
    AuditRecord {
        id: new_id(),
        realm_id,
        actor,
        actor_realm_id: None,
        action: "test.event".into(),
        target,
        before: None,
        after: Some(json!({"n": seconds})),
        request_id: None,
        at: at(seconds),
    }
}

/// A user's audit records: by actor or target, newest first, paged by a
/// (time, id) cursor, per realm.
pub async fn profile_user_audit<S: Store + ?Sized>(store: Arc<S>) {
    let acme = realm("acme");
    let other = realm("other");
    store.create_realm(&acme).await.unwrap();
    store.create_realm(&other).await.unwrap();
    let ada = new_id();
    let bob = new_id();
    let records = vec![
        record(acme.id, Some(ada), "session:1".into(), 1),
        record(acme.id, Some(bob), format!("user:{ada}"), 2),
        record(acme.id, Some(bob), format!("user:{bob}"), 3),
        record(acme.id, None, format!("user:{ada}"), 4),
        record(acme.id, Some(ada), format!("user:{ada}"), 4),
        record(other.id, Some(ada), format!("user:{ada}"), 5),
    ];
    store.append_audit(&records).await.unwrap();
    let all = store.list_user_audit(acme.id, ada, None, 10).await.unwrap();
    let seconds: Vec<i64> = all
        .iter()
        .map(|r| r.after.as_ref().unwrap()["n"].as_i64().unwrap())
        .collect();
    assert_eq!(seconds, vec![4, 4, 2, 1]);
    assert_eq!(all[0], {
        let mut newest = [&records[3], &records[4]];
        newest.sort_by_key(|r| std::cmp::Reverse(r.id));
        newest[0].clone()
    });
    let first = store.list_user_audit(acme.id, ada, None, 1).await.unwrap();
    let second = store
        .list_user_audit(acme.id, ada, Some((first[0].at, first[0].id)), 2)
        .await
        .unwrap();
    assert_eq!(second, all[1..3].to_vec());
    let last = store
        .list_user_audit(acme.id, ada, Some((second[1].at, second[1].id)), 10)
        .await
        .unwrap();
    assert_eq!(last, all[3..].to_vec());
    assert_eq!(
        store
            .list_user_audit(other.id, bob, None, 10)
            .await
            .unwrap(),
        vec![]
    );
}
