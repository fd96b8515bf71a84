//! A deadpool-redis pool: its connections through the wrapper, its statistics at scrape time.

use obs_redis::Instrumented;
use obs_testkit::LocalRecorder;

use crate::server::RedisServer;

#[tokio::test(flavor = "current_thread")]
async fn pool_gauges_follow_the_pool() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let pool = deadpool_redis::Config::from_url(server.url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let gauges = obs_redis::pool::observe("main", &pool);
    let held = Instrumented::new(pool.get().await.unwrap());
    let mut other = Instrumented::new(pool.get().await.unwrap());
    let pong: String = redis::cmd("PING").query_async(&mut other).await.unwrap();
    assert_eq!(pong, "PONG");
    drop(other);
    let snap = recorder.snapshot();
    assert_eq!(
        snap.value("redis_pool_size", &[("pool", "main")]),
        Some(2.0)
    );
    assert_eq!(
        snap.value("redis_pool_available", &[("pool", "main")]),
        Some(1.0)
    );
    assert_eq!(
        snap.value("redis_pool_waiting", &[("pool", "main")]),
        Some(0.0)
    );
    assert_eq!(
        snap.value(
            "redis_operations_total",
            &[("command", "PING"), ("status", "success")]
        ),
        Some(1.0)
    );
    drop(held);
    drop(gauges);
    assert_eq!(
        recorder
            .snapshot()
            .value("redis_pool_size", &[("pool", "main")]),
        None
    );
}

#[tokio::test(flavor = "current_thread")]
async fn waiting_callers_are_counted_and_a_dropped_pool_leaves_metrics() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let mut config = deadpool_redis::Config::from_url(server.url());
    config.pool = Some(deadpool_redis::PoolConfig::new(1));
    let pool = config
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let _gauges = obs_redis::pool::observe("tiny", &pool);
    let held = pool.get().await.unwrap();
    let queued = tokio::spawn({
        let pool = pool.clone();
        async move {
            let mut con = Instrumented::new(pool.get().await.unwrap());
            redis::cmd("PING").query_async::<String>(&mut con).await
        }
    });
    // Let the spawned caller reach the pool's queue.
    let mut waiting = None;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        waiting = recorder
            .snapshot()
            .value("redis_pool_waiting", &[("pool", "tiny")]);
        if waiting == Some(1.0) {
            break;
        }
    }
    assert_eq!(waiting, Some(1.0));
    let snap = recorder.snapshot();
    assert_eq!(
        snap.value("redis_pool_size", &[("pool", "tiny")]),
        Some(1.0)
    );
    assert_eq!(
        snap.value("redis_pool_available", &[("pool", "tiny")]),
        Some(0.0)
    );
    drop(held);
    assert_eq!(queued.await.unwrap().unwrap(), "PONG");
    assert_eq!(
        recorder
            .snapshot()
            .value("redis_pool_waiting", &[("pool", "tiny")]),
        Some(0.0)
    );
    // The gauges hold the pool weakly: once it is gone, so are its series.
    drop(pool);
    let gone = recorder.snapshot();
    assert_eq!(gone.series_count("redis_pool_size"), 0, "{}", gone.text);
}
