use std::net::{IpAddr, Ipv4Addr};

use time::Duration;

use super::*;
use crate::edge::policy::Group;
use crate::edge::{Dimension, RateLimitPolicy};

fn t0() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
}

fn key(realm_id: Uuid, ip: IpAddr, dimension: Dimension) -> LimitKey {
    LimitKey {
        realm_id,
        group: Group::Login,
        dimension,
        subject: Subject::ip(ip),
    }
}

fn quota(limit: u32) -> Quota {
    Quota {
        limit,
        window_seconds: 60,
    }
}

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

#[tokio::test]
async fn a_request_counts_against_every_limiter_or_none() {
    let s = MemoryEdgeState::default();
    let realm = Uuid::now_v7();
    let wide = (key(realm, A, Dimension::Address), quota(10));
    let narrow = (key(realm, A, Dimension::Anonymous), quota(2));
    for left in [1, 0] {
        let tight = s.take(&[wide.clone(), narrow.clone()], t0()).await.unwrap();
        assert_eq!(tight.unwrap().remaining, left);
    }
    // The narrow limiter refuses; the wide one is not charged for it.
    let refused = s
        .take(&[wide.clone(), narrow.clone()], t0())
        .await
        .unwrap_err();
    assert_eq!(refused.quota.limit, 2);
    assert!(refused.retry_after > 0);
    let alone = s.take(std::slice::from_ref(&wide), t0()).await.unwrap();
    assert_eq!(alone.unwrap().remaining, 10 - 3);
    // Another realm's limiters are its own.
    let other = (key(Uuid::now_v7(), A, Dimension::Anonymous), quota(2));
    assert!(s.take(&[other], t0()).await.is_ok());
}

#[tokio::test]
async fn a_stream_of_new_addresses_does_not_grow_the_tables() {
    let s = MemoryEdgeState::with_capacity(Capacity {
        windows: 10_000,
        strikes: 1_000,
        nonces: 1_000,
    });
    let realm = Uuid::now_v7();
    let rules = RateLimitPolicy::default().strikes;
    // Twenty times what the tables hold (the release benchmark runs a million).
    for i in 0..200_000u32 {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let now = t0() + Duration::milliseconds(i64::from(i));
        let k = (key(realm, ip, Dimension::Address), quota(5));
        s.take(&[k], now).await.unwrap();
        if i % 10 == 0 {
            s.strike(
                realm,
                &Subject::ip(ip),
                1,
                BlockReason::RateLimit,
                &rules,
                now,
            )
            .await;
            s.first_use(&format!("nonce-{i}"), now + Duration::hours(1), now)
                .await;
        }
    }
    let (windows, strikes, nonces) = s.sizes();
    // Each shard holds at most its share (rounded up).
    assert!(windows <= 10_000 + 64, "{windows}");
    assert!(strikes <= 1_000 + 64, "{strikes}");
    assert!(nonces <= 1_000 + 64, "{nonces}");
}

#[tokio::test]
async fn a_full_nonce_table_refuses_new_values_until_old_ones_expire() {
    let s = MemoryEdgeState::with_capacity(Capacity {
        windows: 64,
        strikes: 64,
        // Four per shard: "n0" reused below and "fresh" may share a shard
        // (the hash is seeded per process), and both must fit once the rest expire.
        nonces: 256,
    });
    let until = t0() + Duration::minutes(5);
    let mut refused = 0;
    for i in 0..1_000 {
        if !s.first_use(&format!("n{i}"), until, t0()).await {
            refused += 1;
        }
    }
    assert!(refused > 0);
    // Seen values are refused; once expired they may be used again.
    assert!(!s.first_use("n0", until, t0()).await);
    let later = until + Duration::seconds(1);
    assert!(s.first_use("n0", later + Duration::minutes(5), later).await);
    assert!(
        s.first_use("fresh", later + Duration::minutes(5), later)
            .await
    );
}

#[tokio::test]
async fn strikes_block_for_escalating_periods_and_a_lift_ends_a_block() {
    let s = MemoryEdgeState::default();
    let realm = Uuid::now_v7();
    let who = Subject::ip(A);
    let mut rules = RateLimitPolicy::default().strikes;
    rules.threshold = 3;
    rules.block_seconds = vec![60, 600];
    let mut now = t0();
    let strike = |now| s.strike(realm, &who, 1, BlockReason::RateLimit, &rules, now);
    assert!(strike(now).await.is_none());
    assert!(strike(now).await.is_none());
    let first = strike(now).await.unwrap();
    assert_eq!((first.level, first.until - now), (1, Duration::seconds(60)));
    assert_eq!(
        s.blocked(realm, std::slice::from_ref(&who), now).await,
        Some(first.clone())
    );
    assert_eq!(s.blocks(realm, now).await, vec![first.clone()]);
    // Blocks are per realm.
    assert!(
        s.blocked(Uuid::now_v7(), std::slice::from_ref(&who), now)
            .await
            .is_none()
    );
    assert!(s.blocks(Uuid::now_v7(), now).await.is_empty());
    // Strikes during a block do not stack.
    assert!(strike(now).await.is_none());

    now += Duration::seconds(61);
    assert!(
        s.blocked(realm, std::slice::from_ref(&who), now)
            .await
            .is_none()
    );
    for _ in 0..2 {
        assert!(strike(now).await.is_none());
    }
    let second = strike(now).await.unwrap();
    assert_eq!(
        (second.level, second.until - now),
        (2, Duration::seconds(600))
    );
    // A lift by another realm's id finds nothing; the right one ends it.
    assert!(s.lift(Uuid::now_v7(), second.id).await.is_none());
    assert_eq!(s.lift(realm, second.id).await, Some(second.clone()));
    assert!(
        s.blocked(realm, std::slice::from_ref(&who), now)
            .await
            .is_none()
    );
    assert!(s.lift(realm, second.id).await.is_none());
    // The longest length repeats; a day without blocks starts over.
    for _ in 0..3 {
        strike(now).await;
    }
    let third = s
        .blocked(realm, std::slice::from_ref(&who), now)
        .await
        .unwrap();
    assert_eq!(third.until - now, Duration::seconds(600));
    now = third.until + Duration::days(2);
    for _ in 0..3 {
        strike(now).await;
    }
    let fresh = s
        .blocked(realm, std::slice::from_ref(&who), now)
        .await
        .unwrap();
    assert_eq!((fresh.level, fresh.until - now), (1, Duration::seconds(60)));
}

#[tokio::test]
async fn purge_forgets_what_no_longer_matters() {
    let s = MemoryEdgeState::default();
    let realm = Uuid::now_v7();
    s.take(&[(key(realm, A, Dimension::Address), quota(5))], t0())
        .await
        .unwrap();
    s.first_use("n", t0() + Duration::minutes(1), t0()).await;
    assert_eq!(s.sizes(), (1, 0, 1));
    s.purge(t0() + Duration::minutes(2)).await;
    assert_eq!(s.sizes(), (0, 0, 0));
}

#[test]
fn ipv6_addresses_count_by_their_64_network() {
    let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
    let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(Subject::ip(a), Subject::ip(b));
    assert_ne!(Subject::ip(a), Subject::ip(c));
    let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
    assert_eq!(Subject::ip(mapped), Subject::ip(A));
    assert_eq!(Subject::ip(a).describe(), "ip:2001:db8:1:2::/64");
}
