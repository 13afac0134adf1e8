//! The mail outbox (leases, settling, concurrent claims), templates, e-mail
//! tokens (spent once, also under concurrency) and the e-mail settings of
//! realms and users.

use std::collections::HashSet;
use std::sync::Arc;

use portcullis_core::StoreError;
use portcullis_core::mail::{
    EmailToken, EmailTokenPurpose, MailKind, MailStatus, MailTemplate, OutboxMessage,
    TemplateSource,
};
use portcullis_core::model::new_id;
use portcullis_core::ports::Store;
use time::OffsetDateTime;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{T0, at, digest, realm, realm_user_session, user};

/// A pending message of a realm, due at `due`.
pub fn outbox_message(realm_id: Uuid, due: OffsetDateTime) -> OutboxMessage {
    OutboxMessage {
        id: new_id(),
        realm_id,
        kind: MailKind::VerifyEmail,
        recipient: "ada@example.com".to_owned(),
        sealed: Some(digest()),
        status: MailStatus::Pending,
        attempts: 0,
        next_attempt_at: due,
        lease_id: None,
        lease_until: None,
        last_error: None,
        created_at: T0,
        sent_at: None,
    }
}

/// An unused token of a user, issued at `T0`, living `ttl` seconds.
pub fn email_token(
    realm_id: Uuid,
    user_id: Uuid,
    purpose: EmailTokenPurpose,
    ttl: i64,
) -> EmailToken {
    EmailToken {
        id: new_id(),
        realm_id,
        user_id,
        purpose,
        token_hash: digest(),
        email: "owner@example.com".to_owned(),
        created_at: T0,
        expires_at: at(ttl),
        used_at: None,
    }
}

/// `email_verified` and the realms' e-mail switches round-trip through
/// create and update.
pub async fn mail_settings_round_trip<S: Store + ?Sized>(store: Arc<S>) {
    let mut r = realm("acme");
    r.require_verified_email = true;
    store.create_realm(&r).await.unwrap();
    assert_eq!(store.get_realm(r.id).await.unwrap(), Some(r.clone()));
    r.require_verified_email = false;
    r.check_email_mx = true;
    store.update_realm(&r).await.unwrap();
    assert_eq!(store.get_realm(r.id).await.unwrap(), Some(r.clone()));

    let mut u = user(r.id, "ada@example.com");
    store.create_user(&u).await.unwrap();
    assert!(
        !store
            .get_user(r.id, u.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    u.email_verified = true;
    store.update_user(&u).await.unwrap();
    assert_eq!(store.get_user(r.id, u.id).await.unwrap(), Some(u.clone()));
    let mut v = user(r.id, "bob@example.com");
    v.email_verified = true;
    store.create_user(&v).await.unwrap();
    assert_eq!(store.get_user(r.id, v.id).await.unwrap(), Some(v));
}

/// Claims take due, unleased messages oldest first and lease them; a
/// leased message is not claimed again until its lease ends; only the
/// lease holder settles a message; sending clears the body; a failure
/// schedules a retry or gives up (clearing the body); purging keeps
/// pending messages.
pub async fn mail_outbox_lease_and_settle<S: Store + ?Sized>(store: Arc<S>) {
    let r = realm("acme");
    store.create_realm(&r).await.unwrap();
    let first = outbox_message(r.id, at(-10));
    let second = outbox_message(r.id, at(0));
    let later = outbox_message(r.id, at(100));
    for m in [&later, &second, &first] {
        store.enqueue_mail(m).await.unwrap();
    }
    assert_eq!(
        store.get_mail(r.id, first.id).await.unwrap(),
        Some(first.clone())
    );
    let mut ghost = outbox_message(Uuid::now_v7(), at(0));
    ghost.realm_id = Uuid::now_v7();
    assert!(matches!(
        store.enqueue_mail(&ghost).await,
        Err(StoreError::NotFound)
    ));

    let a = new_id();
    let claimed = store.claim_mail(a, at(0), at(300), 10).await.unwrap();
    let ids: Vec<Uuid> = claimed.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![first.id, second.id]);
    assert!(
        claimed
            .iter()
            .all(|m| m.lease_id == Some(a) && m.lease_until == Some(at(300)))
    );
    assert_eq!(claimed[0].sealed, first.sealed);
    // Leased: nobody else gets them.
    assert!(
        store
            .claim_mail(new_id(), at(1), at(301), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The limit holds.
    let other = outbox_message(r.id, at(0));
    store.enqueue_mail(&other).await.unwrap();
    let b = new_id();
    let got = store.claim_mail(b, at(1), at(301), 1).await.unwrap();
    assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), vec![other.id]);

    // Settling needs the lease.
    assert!(!store.mark_mail_sent(first.id, b, at(2)).await.unwrap());
    assert!(store.mark_mail_sent(first.id, a, at(2)).await.unwrap());
    let sent = store.get_mail(r.id, first.id).await.unwrap().unwrap();
    assert_eq!(sent.status, MailStatus::Sent);
    assert_eq!(sent.sealed, None);
    assert_eq!(sent.attempts, 1);
    assert_eq!(sent.sent_at, Some(at(2)));
    assert_eq!((sent.lease_id, sent.lease_until), (None, None));
    // Settled once only.
    assert!(!store.mark_mail_sent(first.id, a, at(3)).await.unwrap());

    // A retry: the body stays, the message is due again later.
    assert!(
        store
            .mark_mail_failed(second.id, a, 1, "connection refused", Some(at(60)))
            .await
            .unwrap()
    );
    let retry = store.get_mail(r.id, second.id).await.unwrap().unwrap();
    assert_eq!(retry.status, MailStatus::Pending);
    assert_eq!(retry.attempts, 1);
    assert_eq!(retry.next_attempt_at, at(60));
    assert_eq!(retry.last_error.as_deref(), Some("connection refused"));
    assert_eq!(retry.sealed, second.sealed);
    assert_eq!(retry.lease_id, None);
    assert!(
        store
            .claim_mail(new_id(), at(59), at(400), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A lease that ran out: another worker claims the message, and the
    // first can no longer settle it.
    let c = new_id();
    let got = store.claim_mail(c, at(60), at(90), 10).await.unwrap();
    assert_eq!(
        got.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![second.id]
    );
    let d = new_id();
    let got = store.claim_mail(d, at(90), at(400), 10).await.unwrap();
    assert_eq!(
        got.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![second.id]
    );
    assert!(!store.mark_mail_sent(second.id, c, at(91)).await.unwrap());
    assert!(
        !store
            .mark_mail_failed(second.id, c, 2, "x", None)
            .await
            .unwrap()
    );
    // Giving up clears the body.
    assert!(
        store
            .mark_mail_failed(second.id, d, 2, "rejected", None)
            .await
            .unwrap()
    );
    let failed = store.get_mail(r.id, second.id).await.unwrap().unwrap();
    assert_eq!(failed.status, MailStatus::Failed);
    assert_eq!(failed.sealed, None);
    assert_eq!(failed.attempts, 2);
    assert_eq!(failed.last_error.as_deref(), Some("rejected"));
    // Settled messages are never claimed again; `other`'s lease has run out.
    let rest: HashSet<Uuid> = store
        .claim_mail(new_id(), at(1000), at(2000), 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(rest, HashSet::from([later.id, other.id]));

    // Another realm sees nothing.
    let other_realm = realm("other");
    store.create_realm(&other_realm).await.unwrap();
    assert_eq!(
        store.get_mail(other_realm.id, later.id).await.unwrap(),
        None
    );
    assert!(
        store
            .list_mail(other_realm.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let listed: Vec<Uuid> = store
        .list_mail(r.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    let mut expected = vec![first.id, second.id, later.id, other.id];
    expected.sort();
    expected.reverse();
    assert_eq!(listed, expected);
    assert_eq!(store.list_mail(r.id, 1).await.unwrap().len(), 1);

    // Purging removes settled messages created before the cut-off only.
    assert_eq!(store.purge_mail(at(1)).await.unwrap(), 2);
    assert_eq!(store.get_mail(r.id, first.id).await.unwrap(), None);
    assert!(store.get_mail(r.id, later.id).await.unwrap().is_some());
    assert!(store.get_mail(r.id, other.id).await.unwrap().is_some());
    // Deleting the realm deletes its mail.
    assert!(store.delete_realm(r.id).await.unwrap());
    assert!(
        store
            .claim_mail(new_id(), at(5000), at(6000), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Workers claiming at once take each message exactly once.
pub async fn mail_outbox_concurrent_claims_take_each_once<S: Store + ?Sized>(store: Arc<S>) {
    let r = realm("busy");
    store.create_realm(&r).await.unwrap();
    let mut queued = HashSet::new();
    for _ in 0..30 {
        let m = outbox_message(r.id, at(0));
        store.enqueue_mail(&m).await.unwrap();
        queued.insert(m.id);
    }
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let lease = new_id();
            let mut mine = Vec::new();
            loop {
                let got = store.claim_mail(lease, at(1), at(301), 4).await?;
                if got.is_empty() {
                    break;
                }
                assert!(got.iter().all(|m| m.lease_id == Some(lease)));
                mine.extend(got.into_iter().map(|m| m.id));
            }
            Ok::<_, StoreError>(mine)
        });
    }
    let mut taken = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        taken.extend(joined.unwrap().unwrap());
    }
    let unique: HashSet<Uuid> = taken.iter().copied().collect();
    assert_eq!(taken.len(), 30, "a message was claimed twice");
    assert_eq!(unique, queued);
}

/// Overrides round-trip, are replaced in place, deleted, kept per realm,
/// need an existing realm and go with it.
pub async fn mail_templates_round_trip_and_isolation<S: Store + ?Sized>(store: Arc<S>) {
    let r = realm("acme");
    let other = realm("other");
    store.create_realm(&r).await.unwrap();
    store.create_realm(&other).await.unwrap();
    let mut t = MailTemplate {
        realm_id: r.id,
        kind: MailKind::PasswordReset,
        source: TemplateSource {
            subject: "Reset {{ realm }}".to_owned(),
            text: "Open {{ link }}".to_owned(),
            html: "<a href=\"{{ link }}\">reset</a>".to_owned(),
        },
        updated_at: T0,
    };
    store.put_mail_template(&t).await.unwrap();
    assert_eq!(
        store
            .get_mail_template(r.id, MailKind::PasswordReset)
            .await
            .unwrap(),
        Some(t.clone())
    );
    assert_eq!(
        store
            .get_mail_template(r.id, MailKind::VerifyEmail)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_mail_template(other.id, MailKind::PasswordReset)
            .await
            .unwrap(),
        None
    );
    t.source.subject = "New subject".to_owned();
    t.updated_at = at(5);
    store.put_mail_template(&t).await.unwrap();
    assert_eq!(
        store
            .get_mail_template(r.id, MailKind::PasswordReset)
            .await
            .unwrap(),
        Some(t.clone())
    );
    assert!(
        !store
            .delete_mail_template(other.id, MailKind::PasswordReset)
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_mail_template(r.id, MailKind::PasswordReset)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_mail_template(r.id, MailKind::PasswordReset)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_mail_template(r.id, MailKind::PasswordReset)
            .await
            .unwrap(),
        None
    );

    let ghost = MailTemplate {
        realm_id: Uuid::now_v7(),
        ..t.clone()
    };
    assert!(matches!(
        store.put_mail_template(&ghost).await,
        Err(StoreError::NotFound)
    ));
    let kept = MailTemplate {
        realm_id: other.id,
        ..t
    };
    store.put_mail_template(&kept).await.unwrap();
    assert!(store.delete_realm(other.id).await.unwrap());
    assert_eq!(
        store.get_mail_template(other.id, kept.kind).await.unwrap(),
        None
    );
}

/// A token is spent once, only unexpired, only for its purpose and realm;
/// spending a user's tokens of a purpose leaves the others; digests are
/// unique; a token needs its user and goes with it; purging drops expired
/// tokens.
pub async fn email_tokens_spent_once<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let (r2, _, _) = realm_user_session(&*store, "other").await;
    let reset = email_token(r.id, u.id, EmailTokenPurpose::PasswordReset, 1800);
    store.insert_email_token(&reset).await.unwrap();
    let h = &reset.token_hash;
    assert_eq!(
        store
            .get_email_token(r.id, EmailTokenPurpose::PasswordReset, h)
            .await
            .unwrap(),
        Some(reset.clone())
    );
    assert_eq!(
        store
            .get_email_token(r.id, EmailTokenPurpose::VerifyEmail, h)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_email_token(r2.id, EmailTokenPurpose::PasswordReset, h)
            .await
            .unwrap(),
        None
    );
    // Another realm or purpose cannot spend it.
    assert_eq!(
        store
            .consume_email_token(r2.id, EmailTokenPurpose::PasswordReset, h, at(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .consume_email_token(r.id, EmailTokenPurpose::VerifyEmail, h, at(1))
            .await
            .unwrap(),
        None
    );
    let spent = store
        .consume_email_token(r.id, EmailTokenPurpose::PasswordReset, h, at(1))
        .await
        .unwrap();
    assert_eq!(
        spent,
        Some(EmailToken {
            used_at: Some(at(1)),
            ..reset.clone()
        })
    );
    assert_eq!(
        store
            .consume_email_token(r.id, EmailTokenPurpose::PasswordReset, h, at(2))
            .await
            .unwrap(),
        None
    );

    // Expired at its expiry instant.
    let short = email_token(r.id, u.id, EmailTokenPurpose::VerifyEmail, 60);
    store.insert_email_token(&short).await.unwrap();
    assert_eq!(
        store
            .consume_email_token(
                r.id,
                EmailTokenPurpose::VerifyEmail,
                &short.token_hash,
                at(60)
            )
            .await
            .unwrap(),
        None
    );

    // Spending a purpose leaves the other purpose's tokens.
    let v = email_token(r.id, u.id, EmailTokenPurpose::VerifyEmail, 600);
    let p1 = email_token(r.id, u.id, EmailTokenPurpose::PasswordReset, 600);
    let p2 = email_token(r.id, u.id, EmailTokenPurpose::PasswordReset, 600);
    for t in [&v, &p1, &p2] {
        store.insert_email_token(t).await.unwrap();
    }
    assert_eq!(
        store
            .spend_email_tokens(r2.id, u.id, EmailTokenPurpose::PasswordReset, at(3))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .spend_email_tokens(r.id, u.id, EmailTokenPurpose::PasswordReset, at(3))
            .await
            .unwrap(),
        2
    );
    for t in [&p1, &p2] {
        let read = store
            .get_email_token(r.id, t.purpose, &t.token_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.used_at, Some(at(3)));
    }
    assert!(
        store
            .consume_email_token(r.id, EmailTokenPurpose::VerifyEmail, &v.token_hash, at(4))
            .await
            .unwrap()
            .is_some()
    );

    let mut dup = email_token(r.id, u.id, EmailTokenPurpose::VerifyEmail, 600);
    dup.token_hash = reset.token_hash.clone();
    assert!(matches!(
        store.insert_email_token(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    let ghost = email_token(r.id, Uuid::now_v7(), EmailTokenPurpose::VerifyEmail, 600);
    assert!(matches!(
        store.insert_email_token(&ghost).await,
        Err(StoreError::NotFound)
    ));
    // A user of another realm is not a user of this one.
    let stranger = user(r2.id, "stranger@example.com");
    store.create_user(&stranger).await.unwrap();
    let cross = email_token(r.id, stranger.id, EmailTokenPurpose::VerifyEmail, 600);
    assert!(matches!(
        store.insert_email_token(&cross).await,
        Err(StoreError::NotFound)
    ));

    // Purge: tokens that expired before the cut-off (60 s and 600 s ones stay until then).
    assert_eq!(store.purge_email_tokens(at(61)).await.unwrap(), 1);
    assert_eq!(
        store
            .get_email_token(r.id, short.purpose, &short.token_hash)
            .await
            .unwrap(),
        None
    );
    // Deleting the user deletes its tokens.
    assert!(store.delete_user(r.id, u.id).await.unwrap());
    assert_eq!(
        store
            .get_email_token(r.id, v.purpose, &v.token_hash)
            .await
            .unwrap(),
        None
    );
}

/// Of many parallel uses of one token exactly one wins.
pub async fn email_tokens_concurrent_use_one_wins<S: Store + ?Sized>(store: Arc<S>) {
    let (r, u, _) = realm_user_session(&*store, "acme").await;
    let t = email_token(r.id, u.id, EmailTokenPurpose::PasswordReset, 1800);
    store.insert_email_token(&t).await.unwrap();
    let mut tasks = JoinSet::new();
    for i in 0..16 {
        let store = store.clone();
        let hash = t.token_hash.clone();
        let realm_id = r.id;
        tasks.spawn(async move {
            store
                .consume_email_token(realm_id, EmailTokenPurpose::PasswordReset, &hash, at(i))
                .await
        });
    }
    let mut wins = 0;
    while let Some(joined) = tasks.join_next().await {
        if joined.unwrap().unwrap().is_some() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}
