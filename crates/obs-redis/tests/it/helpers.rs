//! The cache, the session store and the rate limiters on a real server, with their metrics.

use std::time::Duration;

use obs_core::health::ReadinessCheck as _;
use obs_redis::{Cache, Decision, Instrumented, RateLimiter, RedisReadiness, SessionStore};
use obs_testkit::LocalRecorder;
use serde::{Deserialize, Serialize};

use crate::server::{ClientOf as _, RedisServer};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    roles: Vec<String>,
}

#[tokio::test(flavor = "current_thread")]
async fn cache_counts_hits_misses_and_the_hit_rate() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let con = Instrumented::new(
        server
            .client()
            .get_multiplexed_async_connection()
            .await
            .unwrap(),
    );
    let cache = Cache::new(con, "profile");
    let ada = Profile {
        name: "ada".into(),
        roles: vec!["admin".into()],
    };
    assert_eq!(cache.get::<Profile>("profile:1").await.unwrap(), None);
    cache
        .set("profile:1", &ada, Duration::from_secs(60))
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            cache.get::<Profile>("profile:1").await.unwrap().as_ref(),
            Some(&ada)
        );
    }
    let mut loads = 0;
    for _ in 0..2 {
        let v: Result<u32, std::io::Error> = cache
            .get_or_load("visits:1", Duration::from_secs(60), || {
                loads += 1;
                async { Ok(7) }
            })
            .await;
        assert_eq!(v.unwrap(), 7);
    }
    assert_eq!(loads, 1, "the second call is a hit");
    assert!(cache.delete("profile:1").await.unwrap());
    assert!(!cache.delete("profile:1").await.unwrap());

    // Lookups: miss, 3 hits, miss + hit (get_or_load) = 4 hits, 2 misses.
    let snap = recorder.snapshot();
    let req = |r| {
        snap.value(
            "redis_cache_requests_total",
            &[("cache_type", "profile"), ("result", r)],
        )
    };
    assert_eq!(req("hit"), Some(4.0));
    assert_eq!(req("miss"), Some(2.0));
    let rate = snap
        .value("cache_hit_rate_percent", &[("cache_type", "profile")])
        .unwrap();
    assert!((rate - 400.0 / 6.0).abs() < 1e-9, "{rate}");
    let op = |o| {
        snap.value(
            "cache_operations_total",
            &[("cache_type", "profile"), ("operation", o)],
        )
    };
    assert_eq!(op("get"), Some(6.0));
    assert_eq!(op("set"), Some(2.0));
    assert_eq!(op("load"), Some(1.0));
    assert_eq!(op("delete"), Some(2.0));
}

#[tokio::test(flavor = "current_thread")]
async fn sessions_live_slide_and_expire() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let con = Instrumented::new(
        server
            .client()
            .get_multiplexed_async_connection()
            .await
            .unwrap(),
    );
    let sessions = SessionStore::new(con, Duration::from_millis(1200));
    let id = sessions.create(&("ada", 1)).await.unwrap();
    assert_eq!(id.as_str().len(), 32);
    let other = sessions.create(&("bob", 2)).await.unwrap();
    assert_ne!(id, other);
    assert_eq!(sessions.active().await.unwrap(), 2);
    assert_eq!(
        sessions.read::<(String, u32)>(&id).await.unwrap(),
        Some(("ada".into(), 1))
    );
    assert!(sessions.update(&id, &("ada", 2)).await.unwrap());
    // Touching every 500 ms keeps `id` alive past its first 1.2 s; `other` expires.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(sessions.touch(&id).await.unwrap());
    }
    assert_eq!(
        sessions.read::<(String, u32)>(&id).await.unwrap(),
        Some(("ada".into(), 2))
    );
    assert_eq!(sessions.read::<(String, u32)>(&other).await.unwrap(), None);
    assert!(!sessions.touch(&other).await.unwrap());
    assert!(!sessions.update(&other, &("bob", 3)).await.unwrap());
    assert_eq!(
        sessions.cleanup().await.unwrap(),
        1,
        "the expired one leaves the index"
    );
    assert_eq!(sessions.active().await.unwrap(), 1);
    assert!(sessions.destroy(&id).await.unwrap());
    assert!(!sessions.destroy(&id).await.unwrap());
    assert_eq!(sessions.read::<(String, u32)>(&id).await.unwrap(), None);
    let snap = recorder.snapshot();
    let op = |o| snap.value("session_operations_total", &[("operation", o)]);
    assert_eq!(op("create"), Some(2.0));
    assert_eq!(op("read"), Some(4.0));
    assert_eq!(op("update"), Some(2.0));
    assert_eq!(op("touch"), Some(4.0));
    assert_eq!(op("destroy"), Some(2.0));
    assert_eq!(op("cleanup"), Some(1.0));
}

async fn admits_exactly(
    make: impl Fn(
        redis::aio::MultiplexedConnection,
    ) -> RateLimiter<Instrumented<redis::aio::MultiplexedConnection>>,
    name: &str,
) {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let client = server.client();
    // Four connections, 60 requests in flight at once: exactly 10 get through.
    let mut limiters = Vec::new();
    for _ in 0..4 {
        limiters.push(make(
            client.get_multiplexed_async_connection().await.unwrap(),
        ));
    }
    let checks = (0..60).map(|i| {
        let limiter = limiters[i % 4].clone();
        async move { limiter.check("203.0.113.7").await.unwrap() }
    });
    let decisions = futures_join_all(checks).await;
    let allowed = decisions.iter().filter(|d| d.is_allowed()).count();
    assert_eq!(allowed, 10);
    // Another subject has a budget of its own.
    assert_eq!(
        limiters[0].check("198.51.100.1").await.unwrap(),
        Decision::Allowed
    );
    let snap = recorder.snapshot();
    assert_eq!(
        snap.value(
            "rate_limit_operations_total",
            &[("limiter", name), ("result", "allowed")]
        ),
        Some(11.0)
    );
    assert_eq!(
        snap.value(
            "rate_limit_operations_total",
            &[("limiter", name), ("result", "limited")]
        ),
        Some(50.0)
    );
    assert_eq!(
        snap.value("rate_limit_violations_total", &[("limiter", name)]),
        Some(50.0)
    );
}

/// Polls all futures at once on this thread (no extra dependency for a join).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in set.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("completed")).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn fixed_window_admits_exactly_the_limit_under_concurrency() {
    admits_exactly(
        |con| RateLimiter::fixed_window(Instrumented::new(con), "api", 10, Duration::from_secs(60)),
        "api",
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn sliding_window_admits_exactly_the_limit_under_concurrency() {
    admits_exactly(
        |con| {
            RateLimiter::sliding_window(
                Instrumented::new(con),
                "login",
                10,
                Duration::from_secs(60),
            )
        },
        "login",
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn sliding_window_admits_again_once_the_window_moves() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let con = server
        .client()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let limiter = RateLimiter::sliding_window(con, "burst", 2, Duration::from_secs(1));
    assert!(limiter.check("u").await.unwrap().is_allowed());
    assert!(limiter.check("u").await.unwrap().is_allowed());
    assert_eq!(limiter.check("u").await.unwrap(), Decision::Limited);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(limiter.check("u").await.unwrap().is_allowed());
}

#[tokio::test(flavor = "current_thread")]
async fn readiness_pings_and_fails_when_redis_is_gone() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let con = server
        .client()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let check = RedisReadiness::new(con).with_timeout(Duration::from_millis(500));
    assert_eq!(check.check().await, Ok(()));
    server.kill();
    let failed = check.check().await.unwrap_err();
    assert!(
        failed.message().starts_with("redis PING failed") || failed.message().contains("timed out"),
        "{}",
        failed.message()
    );
}
