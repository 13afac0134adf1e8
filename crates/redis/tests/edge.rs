//! The edge state in a real Redis (`TEST_REDIS_URL`, started by `cargo
//! xtask test`): the same answers as the in-process state, shared by every
//! instance, and the documented fallbacks when Redis cannot be reached.
//! Skipped with a notice when no Redis is given, unless
//! `TEST_REQUIRE_REDIS=1`, which makes them fail.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use portcullis_core::edge::{
    BlockReason, Dimension, Group, LimitKey, Quota, RateLimitPolicy, Stopped, Subject,
};
use portcullis_core::ports::EdgeState;
use portcullis_redis::{Redis, RedisEdgeState};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// Two instances' edge states on one Redis, under a prefix of this test's
/// own; `None` when no Redis is given.
fn instances() -> Option<(RedisEdgeState, RedisEdgeState)> {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        if std::env::var("TEST_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!("TEST_REQUIRE_REDIS=1 but TEST_REDIS_URL is not set");
        }
        eprintln!("notice: TEST_REDIS_URL is not set; skipping this Redis test");
        return None;
    };
    let prefix = format!("test:{}:", Uuid::now_v7());
    let open = || RedisEdgeState::new(Redis::open_with_prefix(&url, &prefix).unwrap());
    Some((open(), open()))
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
}

fn key(realm_id: Uuid, dimension: Dimension) -> LimitKey {
    LimitKey {
        realm_id,
        group: Group::Login,
        dimension,
        subject: Subject::ip(A),
    }
}

fn quota(limit: u32) -> Quota {
    Quota {
        limit,
        window_seconds: 60,
    }
}

#[tokio::test]
async fn a_request_counts_against_every_limiter_or_none_on_every_instance() {
    let Some((a, b)) = instances() else { return };
    let realm = Uuid::now_v7();
    let wide = (key(realm, Dimension::Address), quota(10));
    let narrow = (key(realm, Dimension::Anonymous), quota(2));
    // One request on each instance: they count in the same windows.
    for (s, left) in [(&a, 1), (&b, 0)] {
        let tight = s.take(&[wide.clone(), narrow.clone()], t0()).await.unwrap();
        assert_eq!(tight.unwrap().remaining, left);
    }
    let refused = a
        .take(&[wide.clone(), narrow.clone()], t0())
        .await
        .unwrap_err();
    assert_eq!(refused.quota.limit, 2);
    assert!(!refused.allowed());
    // The window and up to one slot (a tenth of it) more.
    assert!((60..=66).contains(&refused.retry_after), "{refused:?}");
    // The wide limiter was not charged for the refused request.
    let alone = b.take(std::slice::from_ref(&wide), t0()).await.unwrap();
    assert_eq!(alone.unwrap().remaining, 10 - 3);
    // Another realm's limiters are its own.
    let other = (key(Uuid::now_v7(), Dimension::Anonymous), quota(2));
    assert!(a.take(&[other], t0()).await.is_ok());
    // The window slides: once the retry time has passed, the narrow
    // limiter allows again.
    let later = t0() + Duration::seconds(i64::try_from(refused.retry_after).unwrap());
    assert!(a.take(&[wide, narrow], later).await.is_ok());
}

#[tokio::test]
async fn the_window_is_the_in_process_one() {
    // The same sequence of requests, in process and in Redis: the same
    // answers, refusal times included.
    let Some((redis, _)) = instances() else {
        return;
    };
    let memory = portcullis_core::edge::memory::MemoryEdgeState::default();
    let realm = Uuid::now_v7();
    let limit = [(key(realm, Dimension::Address), quota(5))];
    let mut now = t0();
    for step in 0..40 {
        now += Duration::milliseconds(1_700 + (step % 7) * 900);
        let m = memory.take(&limit, now).await;
        let r = redis.take(&limit, now).await;
        assert_eq!(m.is_ok(), r.is_ok(), "step {step}");
        match (m, r) {
            (Ok(Some(m)), Ok(Some(r))) => {
                assert_eq!(
                    (m.remaining, m.reset),
                    (r.remaining, r.reset),
                    "step {step}"
                )
            }
            (Err(m), Err(r)) => {
                assert_eq!(
                    (m.retry_after, m.reset),
                    (r.retry_after, r.reset),
                    "step {step}"
                )
            }
            other => panic!("step {step}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn two_instances_racing_never_admit_more_than_the_quota() {
    let Some((a, b)) = instances() else { return };
    let (a, b) = (Arc::new(a), Arc::new(b));
    let realm = Uuid::now_v7();
    let limit = [(key(realm, Dimension::Address), quota(50))];
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let limit = limit.clone();
        tasks.push(tokio::spawn(
            async move { s.take(&limit, t0()).await.is_ok() },
        ));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    assert_eq!(admitted, 50);
}

#[tokio::test]
async fn strikes_blocks_and_lifts_are_shared_and_stay_in_their_realm() {
    let Some((a, b)) = instances() else { return };
    let realm = Uuid::now_v7();
    let who = Subject::ip(A);
    let mut rules = RateLimitPolicy::default().strikes;
    rules.threshold = 3;
    rules.block_seconds = vec![60, 600];
    let mut now = t0();
    // Strikes counted on either instance add up.
    assert!(
        a.strike(realm, &who, 1, BlockReason::RateLimit, &rules, now)
            .await
            .is_none()
    );
    assert!(
        b.strike(realm, &who, 1, BlockReason::RateLimit, &rules, now)
            .await
            .is_none()
    );
    let first = a
        .strike(realm, &who, 1, BlockReason::RateLimit, &rules, now)
        .await
        .unwrap();
    assert_eq!((first.level, first.until - now), (1, Duration::seconds(60)));
    let subjects = std::slice::from_ref(&who);
    let seen = b.blocked(realm, subjects, now).await.unwrap();
    assert_eq!(seen.id, first.id);
    assert_eq!(seen.subject, who);
    assert_eq!(seen.reason, BlockReason::RateLimit);
    assert_eq!(b.blocks(realm, now).await.len(), 1);
    // A blocked caller is stopped before any limiter counts it.
    let limit = [(key(realm, Dimension::Address), quota(10))];
    assert!(matches!(
        b.admit(realm, subjects, &limit, now).await,
        Err(Stopped::Blocked(_))
    ));
    // Another realm sees no block, and cannot lift this one.
    let other = Uuid::now_v7();
    assert!(b.blocked(other, subjects, now).await.is_none());
    assert!(b.blocks(other, now).await.is_empty());
    assert!(b.lift(other, first.id).await.is_none());
    // Strikes during a block do not stack.
    assert!(
        b.strike(realm, &who, 5, BlockReason::ScriptInput, &rules, now)
            .await
            .is_none()
    );
    // The block ends; the next one is longer and lifted on the other instance.
    now += Duration::seconds(61);
    assert!(a.blocked(realm, subjects, now).await.is_none());
    let second = a
        .strike(realm, &who, 3, BlockReason::ScriptInput, &rules, now)
        .await
        .unwrap();
    assert_eq!(
        (second.level, second.until - now),
        (2, Duration::seconds(600))
    );
    let lifted = b.lift(realm, second.id).await.unwrap();
    assert_eq!(lifted.id, second.id);
    assert_eq!(lifted.reason, BlockReason::ScriptInput);
    // A, which made the block, still holds its copy until it reads the
    // realm's blocks again, as the lift's change notice makes it do.
    assert!(a.blocked(realm, subjects, now).await.is_some());
    a.refresh_blocks(realm, now).await;
    assert!(a.blocked(realm, subjects, now).await.is_none());
    assert!(a.blocks(realm, now).await.is_empty());
    assert!(b.lift(realm, second.id).await.is_none());
    // A day without blocks starts the escalation over.
    now = second.until + Duration::days(2);
    let fresh = a
        .strike(realm, &who, 3, BlockReason::RateLimit, &rules, now)
        .await
        .unwrap();
    assert_eq!(fresh.level, 1);
}

#[tokio::test]
async fn a_single_use_value_is_accepted_once_among_all_instances() {
    let Some((a, b)) = instances() else { return };
    let until = t0() + Duration::minutes(5);
    let nonce = format!("hmac:{}:n-1", Uuid::now_v7());
    assert!(a.first_use(&nonce, until, t0()).await);
    assert!(!b.first_use(&nonce, until, t0()).await);
    assert!(!a.first_use(&nonce, until, t0()).await);
    assert!(b.first_use(&format!("{nonce}x"), until, t0()).await);
}

#[tokio::test]
async fn without_redis_limiters_fall_back_to_the_instance_and_single_use_values_are_refused() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = RedisEdgeState::new(Redis::open(&format!("redis://127.0.0.1:{port}/")).unwrap());
    let realm = Uuid::now_v7();
    let limit = [(key(realm, Dimension::Address), quota(2))];
    assert!(s.take(&limit, t0()).await.is_ok());
    assert!(s.take(&limit, t0()).await.is_ok());
    // The instance's own window still holds the quota.
    assert!(s.take(&limit, t0()).await.is_err());
    assert!(
        !s.first_use("hmac:k:n", t0() + Duration::minutes(5), t0())
            .await
    );
}

#[test]
fn urls_that_cannot_work_are_refused_without_echoing_a_password() {
    let e = Redis::open("http://user:s3cret@example.com/").unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
    assert!(e.to_string().contains("PORTCULLIS_REDIS_URL"), "{e}");
}

#[tokio::test]
async fn busy_callers_spend_leases_without_ever_passing_the_quota() {
    // A quota of 1,600 a minute: leases of up to 100 units. Two instances
    // racing 2,000 requests admit exactly 1,600, most without a round trip.
    let Some((a, b)) = instances() else { return };
    let (a, b) = (Arc::new(a), Arc::new(b));
    let realm = Uuid::now_v7();
    let limit = [(key(realm, Dimension::Address), quota(1_600))];
    let mut tasks = Vec::new();
    for i in 0..2_000 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let limit = limit.clone();
        tasks.push(tokio::spawn(async move {
            let local = s.local().unwrap().take_now(&limit, t0()).is_ok();
            local || s.take(&limit, t0()).await.is_ok()
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    assert_eq!(admitted, 1_600);
    // Once the window has passed: leases of an old slot are not spent.
    let later = t0() + Duration::seconds(67);
    assert!(a.local().unwrap().take_now(&limit, later).is_err());
    assert!(a.take(&limit, later).await.is_ok());
}
