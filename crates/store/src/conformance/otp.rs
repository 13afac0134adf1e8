//! One-time codes on login challenges (set, resend limits, spent once, also
//! under concurrency), the realms' MFA-required roles, and the e-mail token
//! purposes of magic links and e-mail changes.

use std::sync::Arc;

use portcullis_core::mail::EmailTokenPurpose;
use portcullis_core::mfa::{ChallengeOtp, ChallengePurpose};
use portcullis_core::ports::Store;
use tokio::task::JoinSet;

use super::mail::email_token;
use super::mfa::challenge;
use super::{at, digest, realm, realm_user_session};

fn otp(method: &str, expires: i64) -> ChallengeOtp {
    ChallengeOtp {
        method: method.to_owned(),
        code_hash: digest(),
        expires_at: at(expires),
    }
}

/// A code is stored on an open challenge only within the send limits (a
/// count and a pause), replaces the earlier one and extends the challenge;
/// it is spent once with its digest, never after its or the challenge's
/// expiry, never from another realm; a replaced code no longer works; a
/// challenge with a code round-trips; a closed challenge takes no code.
pub async fn mfa_challenge_otp<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let (r2, _, _) = realm_user_session(&*store, "other").await;
    let mut c = challenge(r.id, u.id);
    c.purpose = ChallengePurpose::Api;
    store.insert_challenge(&c).await.unwrap();

    let first = otp("email", 600);
    // Not from another realm.
    assert!(
        !store
            .set_challenge_otp(r2.id, c.id, &first, at(600), at(1), at(1), 3)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_challenge_otp(r.id, c.id, &first, at(600), at(1), at(1), 3)
            .await
            .unwrap()
    );
    let seen = store
        .find_challenge(r.id, &c.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.otp, Some(first.clone()));
    assert_eq!((seen.otp_sends, seen.otp_sent_at), (1, Some(at(1))));
    assert_eq!(seen.expires_at, at(600));
    assert_eq!(seen.failures, 0);

    // Too soon: the last code was sent after `resend_after`.
    let second = otp("email", 630);
    assert!(
        !store
            .set_challenge_otp(r.id, c.id, &second, at(630), at(30), at(0), 3)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_challenge_otp(r.id, c.id, &second, at(630), at(31), at(1), 3)
            .await
            .unwrap()
    );
    // The first code is replaced.
    assert!(
        !store
            .consume_challenge_otp(r.id, c.id, &first.code_hash, at(40))
            .await
            .unwrap()
    );
    let third = otp("sms", 700);
    assert!(
        store
            .set_challenge_otp(r.id, c.id, &third, at(700), at(100), at(99), 3)
            .await
            .unwrap()
    );
    // The limit of sends is reached.
    assert!(
        !store
            .set_challenge_otp(r.id, c.id, &otp("sms", 800), at(800), at(200), at(199), 3)
            .await
            .unwrap()
    );
    let seen = store
        .find_challenge(r.id, &c.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((seen.otp.as_ref(), seen.otp_sends), (Some(&third), 3));

    // Wrong digest, other realm, expired code: nothing happens.
    assert!(
        !store
            .consume_challenge_otp(r.id, c.id, &second.code_hash, at(200))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_challenge_otp(r2.id, c.id, &third.code_hash, at(200))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_challenge_otp(r.id, c.id, &third.code_hash, at(700))
            .await
            .unwrap()
    );
    assert!(
        store
            .consume_challenge_otp(r.id, c.id, &third.code_hash, at(699))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_challenge_otp(r.id, c.id, &third.code_hash, at(699))
            .await
            .unwrap()
    );
    let seen = store
        .find_challenge(r.id, &c.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.consumed_at, Some(at(699)));
    // A spent challenge takes no new code.
    assert!(
        !store
            .set_challenge_otp(r.id, c.id, &otp("email", 900), at(900), at(699), at(699), 9)
            .await
            .unwrap()
    );

    // A code whose challenge expired does not work, even unexpired itself;
    // an expired challenge takes no code.
    let d = challenge(r.id, u.id);
    store.insert_challenge(&d).await.unwrap();
    let code = otp("email", 900);
    assert!(
        store
            .set_challenge_otp(r.id, d.id, &code, at(299), at(1), at(1), 3)
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_challenge_otp(r.id, d.id, &code.code_hash, at(299))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_challenge_otp(r.id, d.id, &otp("email", 900), at(900), at(299), at(299), 3)
            .await
            .unwrap()
    );

    // A challenge inserted with a code (an enrolment) round-trips.
    let mut e = challenge(r.id, u.id);
    e.purpose = ChallengePurpose::Enrol;
    e.methods = vec!["sms".to_owned()];
    e.amr = Vec::new();
    e.otp = Some(otp("sms", 600));
    e.otp_sends = 1;
    e.otp_sent_at = Some(at(0));
    store.insert_challenge(&e).await.unwrap();
    assert_eq!(
        store.find_challenge(r.id, &e.token_hash).await.unwrap(),
        Some(e.clone())
    );
}

/// Of parallel uses of one code, exactly one spends the challenge.
pub async fn mfa_challenge_otp_parallel_one_wins<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let c = challenge(r.id, u.id);
    store.insert_challenge(&c).await.unwrap();
    let code = otp("email", 600);
    assert!(
        store
            .set_challenge_otp(r.id, c.id, &code, at(600), at(1), at(1), 3)
            .await
            .unwrap()
    );
    let mut tasks = JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        let (realm_id, id, hash) = (r.id, c.id, code.code_hash.clone());
        tasks.spawn(async move {
            store
                .consume_challenge_otp(realm_id, id, &hash, at(10 + n))
                .await
                .unwrap()
        });
    }
    assert_eq!(tasks.join_all().await.into_iter().filter(|w| *w).count(), 1);
}

/// A realm's MFA-required roles round-trip through create and update.
pub async fn realm_mfa_required_roles<S: Store + ?Sized>(store: Arc<S>) {
    let mut r = realm("acme");
    r.mfa_required_roles = vec!["ops".to_owned(), "realm-admin".to_owned()];
    store.create_realm(&r).await.unwrap();
    assert_eq!(store.get_realm(r.id).await.unwrap(), Some(r.clone()));
    r.mfa_required_roles = vec!["billing".to_owned()];
    r.updated_at = at(5);
    store.update_realm(&r).await.unwrap();
    assert_eq!(store.get_realm(r.id).await.unwrap(), Some(r.clone()));
    r.mfa_required_roles.clear();
    store.update_realm(&r).await.unwrap();
    let stored = store.get_realm(r.id).await.unwrap().unwrap();
    assert!(stored.mfa_required_roles.is_empty());
}

/// Magic-link and e-mail-change tokens are kept apart from the other
/// purposes and from each other, and spent once.
pub async fn email_tokens_link_purposes<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let link = email_token(r.id, u.id, EmailTokenPurpose::MagicLink, 600);
    let mut change = email_token(r.id, u.id, EmailTokenPurpose::EmailChange, 3600);
    change.email = "New.Owner@acme.example.com".to_owned();
    store.insert_email_token(&link).await.unwrap();
    store.insert_email_token(&change).await.unwrap();
    for (token, purpose) in [
        (&link, EmailTokenPurpose::EmailChange),
        (&link, EmailTokenPurpose::PasswordReset),
        (&change, EmailTokenPurpose::MagicLink),
        (&change, EmailTokenPurpose::VerifyEmail),
    ] {
        assert_eq!(
            store
                .consume_email_token(r.id, purpose, &token.token_hash, at(1))
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        store
            .get_email_token(r.id, EmailTokenPurpose::EmailChange, &change.token_hash)
            .await
            .unwrap(),
        Some(change.clone())
    );
    let spent = store
        .consume_email_token(r.id, EmailTokenPurpose::MagicLink, &link.token_hash, at(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spent.used_at, Some(at(2)));
    assert_eq!(
        store
            .consume_email_token(r.id, EmailTokenPurpose::MagicLink, &link.token_hash, at(3))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .spend_email_tokens(r.id, u.id, EmailTokenPurpose::EmailChange, at(4))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .consume_email_token(
                r.id,
                EmailTokenPurpose::EmailChange,
                &change.token_hash,
                at(5)
            )
            .await
            .unwrap(),
        None
    );
}
