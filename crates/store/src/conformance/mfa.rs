//! Second factors, backup codes and login challenges: round trips, the
//! one-time rules (also under concurrency), tenant isolation and cascades.

use std::sync::Arc;

use portcullis_core::mfa::{
    CeremonyKind, ChallengePurpose, FactorKind, MfaChallenge, MfaFactor, WebauthnCeremony,
};
use portcullis_core::model::new_id;
use portcullis_core::ports::Store;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{at, digest, realm, realm_user_session, user};

fn factor(realm_id: Uuid, user_id: Uuid) -> MfaFactor {
    MfaFactor {
        id: new_id(),
        realm_id,
        user_id,
        kind: FactorKind::Totp,
        name: "Authenticator app".to_owned(),
        secret_enc: Some(vec![1, 2, 3, 0, 255]),
        confirmed_at: None,
        last_step: None,
        created_at: at(0),
        last_used_at: None,
        credential: None,
    }
}

pub(crate) fn challenge(realm_id: Uuid, user_id: Uuid) -> MfaChallenge {
    MfaChallenge {
        id: new_id(),
        realm_id,
        user_id,
        token_hash: digest(),
        purpose: ChallengePurpose::Browser,
        methods: vec!["totp".to_owned(), "backup_code".to_owned()],
        amr: vec!["pwd".to_owned()],
        created_at: at(0),
        expires_at: at(300),
        consumed_at: None,
        failures: 0,
        otp: None,
        otp_sends: 0,
        otp_sent_at: None,
        idp: Some("corp".to_owned()),
    }
}

/// A factor round-trips; confirming works once; a TOTP step is accepted
/// once and never one at or below the last; deleting works once; another
/// realm or user sees and changes nothing.
pub async fn mfa_factor_lifecycle<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let (r2, u2, _) = realm_user_session(&*store, "other").await;
    let f = factor(r.id, u.id);
    store.insert_factor(&f).await.unwrap();
    assert_eq!(
        store.list_factors(r.id, u.id).await.unwrap(),
        vec![f.clone()]
    );
    assert!(store.list_factors(r2.id, u.id).await.unwrap().is_empty());
    assert!(store.list_factors(r.id, u2.id).await.unwrap().is_empty());
    // A factor needs its user in its realm.
    let stray = factor(r2.id, u.id);
    assert!(store.insert_factor(&stray).await.is_err());

    assert!(
        !store
            .confirm_factor(r2.id, u.id, f.id, at(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .confirm_factor(r.id, u2.id, f.id, at(1))
            .await
            .unwrap()
    );
    assert!(store.confirm_factor(r.id, u.id, f.id, at(1)).await.unwrap());
    assert!(!store.confirm_factor(r.id, u.id, f.id, at(2)).await.unwrap());

    assert!(!store.use_totp_step(r2.id, f.id, 100, at(3)).await.unwrap());
    assert!(store.use_totp_step(r.id, f.id, 100, at(3)).await.unwrap());
    assert!(!store.use_totp_step(r.id, f.id, 100, at(4)).await.unwrap());
    assert!(!store.use_totp_step(r.id, f.id, 99, at(4)).await.unwrap());
    assert!(store.use_totp_step(r.id, f.id, 101, at(5)).await.unwrap());
    let stored = store.list_factors(r.id, u.id).await.unwrap();
    let mut expected = f.clone();
    expected.confirmed_at = Some(at(1));
    expected.last_step = Some(101);
    expected.last_used_at = Some(at(5));
    assert_eq!(stored, vec![expected]);

    assert!(!store.delete_factor(r.id, u2.id, f.id).await.unwrap());
    assert!(store.delete_factor(r.id, u.id, f.id).await.unwrap());
    assert!(!store.delete_factor(r.id, u.id, f.id).await.unwrap());
    assert!(store.list_factors(r.id, u.id).await.unwrap().is_empty());
}

/// Of parallel uses of one TOTP step, exactly one is accepted.
pub async fn mfa_totp_step_parallel_one_wins<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let f = factor(r.id, u.id);
    store.insert_factor(&f).await.unwrap();
    let mut tasks = JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        let (realm_id, id) = (r.id, f.id);
        tasks.spawn(async move { store.use_totp_step(realm_id, id, 7, at(n)).await.unwrap() });
    }
    let wins = tasks.join_all().await.into_iter().filter(|w| *w).count();
    assert_eq!(wins, 1);
}

/// Backup codes are replaced as a set, spent once (exactly one of parallel
/// uses wins), counted while unused, kept apart per user and realm.
pub async fn mfa_backup_codes<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let u2 = user(r.id, "second@acme.example.com");
    store.create_user(&u2).await.unwrap();
    let codes: Vec<Vec<u8>> = (0..10).map(|_| digest()).collect();
    store
        .replace_backup_codes(r.id, u.id, &codes, at(0))
        .await
        .unwrap();
    assert_eq!(store.count_backup_codes(r.id, u.id).await.unwrap(), 10);
    assert_eq!(store.count_backup_codes(r.id, u2.id).await.unwrap(), 0);
    assert!(
        !store
            .consume_backup_code(r.id, u2.id, &codes[0], at(1))
            .await
            .unwrap()
    );
    assert!(
        store
            .consume_backup_code(r.id, u.id, &codes[0], at(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_backup_code(r.id, u.id, &codes[0], at(2))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_backup_code(r.id, u.id, &digest(), at(2))
            .await
            .unwrap()
    );
    assert_eq!(store.count_backup_codes(r.id, u.id).await.unwrap(), 9);

    let mut tasks = JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        let (realm_id, user_id, code) = (r.id, u.id, codes[1].clone());
        tasks.spawn(async move {
            store
                .consume_backup_code(realm_id, user_id, &code, at(n))
                .await
                .unwrap()
        });
    }
    assert_eq!(tasks.join_all().await.into_iter().filter(|w| *w).count(), 1);

    // Replacing drops the old set, used or not.
    let fresh: Vec<Vec<u8>> = (0..10).map(|_| digest()).collect();
    store
        .replace_backup_codes(r.id, u.id, &fresh, at(3))
        .await
        .unwrap();
    assert_eq!(store.count_backup_codes(r.id, u.id).await.unwrap(), 10);
    assert!(
        !store
            .consume_backup_code(r.id, u.id, &codes[2], at(4))
            .await
            .unwrap()
    );
    assert!(
        store
            .consume_backup_code(r.id, u.id, &fresh[2], at(4))
            .await
            .unwrap()
    );
    store
        .replace_backup_codes(r.id, u.id, &[], at(5))
        .await
        .unwrap();
    assert_eq!(store.count_backup_codes(r.id, u.id).await.unwrap(), 0);
}

/// A challenge round-trips; failures count and the last allowed one ends
/// it; it is consumed once (also under concurrency) and never after its
/// expiry; lookups are per realm; purge drops expired ones.
pub async fn mfa_challenges<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let (r2, _, _) = realm_user_session(&*store, "other").await;
    let c = challenge(r.id, u.id);
    store.insert_challenge(&c).await.unwrap();
    assert_eq!(
        store.find_challenge(r.id, &c.token_hash).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.find_challenge(r2.id, &c.token_hash).await.unwrap(),
        None
    );
    assert_eq!(store.find_challenge(r.id, &digest()).await.unwrap(), None);

    for n in 1..=2 {
        store.fail_challenge(r.id, c.id, 3, at(n)).await.unwrap();
    }
    let seen = store
        .find_challenge(r.id, &c.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((seen.failures, seen.consumed_at), (2, None));
    store.fail_challenge(r.id, c.id, 3, at(3)).await.unwrap();
    let seen = store
        .find_challenge(r.id, &c.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((seen.failures, seen.consumed_at), (3, Some(at(3))));
    assert!(!store.consume_challenge(r.id, c.id, at(4)).await.unwrap());

    // Consumed once; not in another realm; not once expired.
    let d = challenge(r.id, u.id);
    store.insert_challenge(&d).await.unwrap();
    assert!(!store.consume_challenge(r2.id, d.id, at(1)).await.unwrap());
    let mut tasks = JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        let (realm_id, id) = (r.id, d.id);
        tasks.spawn(async move { store.consume_challenge(realm_id, id, at(n)).await.unwrap() });
    }
    assert_eq!(tasks.join_all().await.into_iter().filter(|w| *w).count(), 1);
    let e = challenge(r.id, u.id);
    store.insert_challenge(&e).await.unwrap();
    assert!(!store.consume_challenge(r.id, e.id, at(300)).await.unwrap());

    // Digests are unique per realm.
    let mut dup = challenge(r.id, u.id);
    dup.token_hash = e.token_hash.clone();
    assert!(store.insert_challenge(&dup).await.is_err());

    assert_eq!(store.purge_challenges(at(301)).await.unwrap(), 3);
    assert_eq!(
        store.find_challenge(r.id, &e.token_hash).await.unwrap(),
        None
    );
}

/// Factors, codes and challenges go with their user, and with their realm.
pub async fn mfa_cascades<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let stays = user(r.id, "stays@acme.example.com");
    store.create_user(&stays).await.unwrap();
    for who in [u.id, stays.id] {
        store.insert_factor(&factor(r.id, who)).await.unwrap();
        store
            .replace_backup_codes(r.id, who, &[digest()], at(0))
            .await
            .unwrap();
    }
    let c = challenge(r.id, u.id);
    store.insert_challenge(&c).await.unwrap();
    assert!(store.delete_user(r.id, u.id).await.unwrap());
    assert!(store.list_factors(r.id, u.id).await.unwrap().is_empty());
    assert_eq!(store.count_backup_codes(r.id, u.id).await.unwrap(), 0);
    assert_eq!(
        store.find_challenge(r.id, &c.token_hash).await.unwrap(),
        None
    );
    assert_eq!(store.list_factors(r.id, stays.id).await.unwrap().len(), 1);

    let other = realm("gone");
    store.create_realm(&other).await.unwrap();
    let member = user(other.id, "member@gone.example.com");
    store.create_user(&member).await.unwrap();
    store
        .insert_factor(&factor(other.id, member.id))
        .await
        .unwrap();
    store
        .insert_challenge(&challenge(other.id, member.id))
        .await
        .unwrap();
    assert!(store.delete_realm(other.id).await.unwrap());
    assert!(
        store
            .list_factors(other.id, member.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.purge_challenges(at(100_000)).await.unwrap(), 0);
}

fn ceremony(realm_id: Uuid, user_id: Option<Uuid>, challenge_id: Option<Uuid>) -> WebauthnCeremony {
    WebauthnCeremony {
        id: new_id(),
        realm_id,
        user_id,
        challenge_id,
        kind: CeremonyKind::Authenticate,
        state: r#"{"challenge":"abc"}"#.to_owned(),
        created_at: at(0),
        expires_at: at(300),
    }
}

/// A ceremony is taken once (exactly one of parallel takes gets it), by id
/// or by its login challenge; a new ceremony of a challenge replaces the
/// old; other realms see nothing; expired ones are purged; a user's go
/// with the user. A WebAuthn factor's credential is replaced in place.
pub async fn mfa_webauthn_ceremonies<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let (r2, _, _) = realm_user_session(&*store, "other").await;
    let open = ceremony(r.id, None, None);
    store.insert_ceremony(&open).await.unwrap();
    assert_eq!(store.take_ceremony(r2.id, open.id).await.unwrap(), None);
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        let (realm_id, id) = (r.id, open.id);
        tasks.spawn(async move { store.take_ceremony(realm_id, id).await.unwrap() });
    }
    let taken: Vec<_> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(taken, vec![open]);

    let c = challenge(r.id, u.id);
    store.insert_challenge(&c).await.unwrap();
    let first = ceremony(r.id, Some(u.id), Some(c.id));
    let second = ceremony(r.id, Some(u.id), Some(c.id));
    store.insert_ceremony(&first).await.unwrap();
    store.insert_ceremony(&second).await.unwrap();
    assert_eq!(
        store.take_challenge_ceremony(r2.id, c.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.take_challenge_ceremony(r.id, c.id).await.unwrap(),
        Some(second)
    );
    assert_eq!(
        store.take_challenge_ceremony(r.id, c.id).await.unwrap(),
        None
    );
    assert_eq!(store.take_ceremony(r.id, first.id).await.unwrap(), None);

    store
        .insert_ceremony(&ceremony(r.id, None, None))
        .await
        .unwrap();
    let kept = ceremony(r.id, Some(u.id), None);
    store.insert_ceremony(&kept).await.unwrap();
    assert_eq!(store.purge_ceremonies(at(299)).await.unwrap(), 0);
    assert!(store.delete_user(r.id, u.id).await.unwrap());
    assert_eq!(store.take_ceremony(r.id, kept.id).await.unwrap(), None);
    assert_eq!(store.purge_ceremonies(at(301)).await.unwrap(), 1);

    let owner = user(r2.id, "keys@other.example.com");
    store.create_user(&owner).await.unwrap();
    let mut f = factor(r2.id, owner.id);
    f.kind = FactorKind::WebAuthn;
    f.secret_enc = None;
    f.confirmed_at = Some(at(0));
    f.credential = Some(r#"{"cred":1}"#.to_owned());
    store.insert_factor(&f).await.unwrap();
    store
        .update_factor_credential(r.id, f.id, "{}", at(9))
        .await
        .unwrap();
    assert_eq!(
        store.list_factors(r2.id, owner.id).await.unwrap(),
        vec![f.clone()]
    );
    store
        .update_factor_credential(r2.id, f.id, r#"{"cred":2}"#, at(9))
        .await
        .unwrap();
    let mut expected = f;
    expected.credential = Some(r#"{"cred":2}"#.to_owned());
    expected.last_used_at = Some(at(9));
    assert_eq!(
        store.list_factors(r2.id, owner.id).await.unwrap(),
        vec![expected]
    );
}
