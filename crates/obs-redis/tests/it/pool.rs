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
