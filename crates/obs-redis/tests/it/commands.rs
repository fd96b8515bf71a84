//! Commands, pipelines and transactions through the wrapper, for a multiplexed connection, a
//! ConnectionManager and a sync connection: results unchanged, exact metric counts, errors
//! classified, and a Redis restart in the middle of a run.

use std::time::Duration;

use obs_redis::Instrumented;
use obs_testkit::{LocalRecorder, MetricsSnapshot};
use redis::AsyncCommands as _;
use redis::Commands as _;

use crate::server::{ClientOf as _, RedisServer};

fn ops(snap: &MetricsSnapshot, command: &str, status: &str) -> f64 {
    snap.sum(
        "redis_operations_total",
        &[("command", command), ("status", status)],
    )
}

async fn exercise<C: redis::aio::ConnectionLike + Send + Sync>(con: &mut Instrumented<C>) {
    let _: () = con.set("user:1:name", "ada").await.unwrap();
    let name: String = con.get("user:1:name").await.unwrap();
    assert_eq!(name, "ada");
    let missing: Option<String> = con.get("user:2:name").await.unwrap();
    assert_eq!(missing, None);
    let (a, b, c): (i64, i64, i64) = redis::pipe()
        .incr("hits:a", 1)
        .incr("hits:a", 2)
        .incr("hits:b", 5)
        .query_async(con)
        .await
        .unwrap();
    assert_eq!((a, b, c), (1, 3, 5));
    let (x, y): (i64, i64) = redis::pipe()
        .atomic()
        .incr("hits:a", 1)
        .incr("hits:b", 1)
        .query_async(con)
        .await
        .unwrap();
    assert_eq!((x, y), (4, 6));
}

fn assert_exercised(snap: &MetricsSnapshot) {
    assert_eq!(ops(snap, "SET", "success"), 1.0);
    assert_eq!(ops(snap, "GET", "success"), 2.0);
    assert_eq!(ops(snap, "PIPELINE", "success"), 1.0);
    assert_eq!(ops(snap, "MULTI", "success"), 1.0);
    assert_eq!(snap.sum("redis_operations_total", &[]), 5.0);
    assert_eq!(
        snap.value("redis_operation_duration_ms_count", &[("command", "GET")]),
        Some(2.0)
    );
    assert!(snap.help("redis_operations_total").is_some());
}

#[tokio::test(flavor = "current_thread")]
async fn multiplexed_connection_commands_pipelines_transactions() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let client = server.client();
    let mut con = Instrumented::new(client.get_multiplexed_async_connection().await.unwrap())
        .with_connection_info(client.get_connection_info());
    exercise(&mut con).await;
    assert_exercised(&recorder.snapshot());
}

#[tokio::test(flavor = "current_thread")]
async fn connection_manager_commands_pipelines_transactions() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let con = server.client().get_connection_manager().await.unwrap();
    let con = Instrumented::new(con);
    exercise(&mut con.clone()).await;
    assert_exercised(&recorder.snapshot());
}

#[test]
fn sync_connection_commands_and_transactions() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let mut con = Instrumented::new(server.client().get_connection().unwrap());
    let _: () = con.set("k:1", 7).unwrap();
    let v: i64 = con.get("k:1").unwrap();
    assert_eq!(v, 7);
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .incr("k:1", 1)
        .incr("k:1", 1)
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b), (8, 9));
    let snap = recorder.snapshot();
    assert_eq!(ops(&snap, "SET", "success"), 1.0);
    assert_eq!(ops(&snap, "GET", "success"), 1.0);
    assert_eq!(ops(&snap, "MULTI", "success"), 1.0);
}

#[tokio::test(flavor = "current_thread")]
async fn errors_are_classified_and_returned_unchanged() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let client = server.client();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let mut con = Instrumented::new(raw.clone());
    let _: () = con.set("plain", "x").await.unwrap();
    let wrapped = con.lpush::<_, _, i64>("plain", "y").await.unwrap_err();
    let bare = raw.lpush::<_, _, i64>("plain", "y").await.unwrap_err();
    assert_eq!(wrapped.kind(), bare.kind());
    assert_eq!(wrapped.to_string(), bare.to_string());
    assert_eq!(obs_redis::error_type(&wrapped), "wrongtype");
    let snap = recorder.snapshot();
    assert_eq!(
        snap.value(
            "redis_operations_total",
            &[
                ("command", "LPUSH"),
                ("status", "error"),
                ("error_type", "wrongtype")
            ]
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn restart_mid_run_is_counted_and_recovered() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_response_timeout(Some(Duration::from_millis(500)))
        .set_connection_timeout(Some(Duration::from_millis(500)));
    let con = server
        .client()
        .get_connection_manager_with_config(config)
        .await
        .unwrap();
    let mut con = Instrumented::new(con);
    let _: () = con.set("counter", 1).await.unwrap();
    server.kill();
    let mut failures = 0;
    for _ in 0..3 {
        let r: redis::RedisResult<i64> = con.incr("counter", 1).await;
        if r.is_err() {
            failures += 1;
        }
    }
    assert!(failures > 0, "commands fail while the server is down");
    server.restart();
    let mut recovered = false;
    for _ in 0..50 {
        if con.set::<_, _, ()>("counter", 10).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the ConnectionManager reconnects");
    let v: i64 = con.incr("counter", 1).await.unwrap();
    assert_eq!(v, 11);
    let snap = recorder.snapshot();
    let errors = snap.sum("redis_operations_total", &[("status", "error")])
        + snap.sum("redis_operations_total", &[("status", "timeout")]);
    assert!(errors >= f64::from(failures), "{}", snap.text);
    for sample in snap.find("redis_operations_total", &[("status", "error")]) {
        let kind = sample.label("error_type").unwrap_or_default();
        assert!(
            ["connection_refused", "connection_dropped", "io", "timeout"].contains(&kind),
            "{kind}"
        );
    }
    assert_eq!(ops(&snap, "INCRBY", "success"), 1.0);
}

#[tokio::test(flavor = "current_thread")]
async fn error_replies_inside_batches_and_unknown_commands_are_classified() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let client = server.client();
    let mut con = Instrumented::new(client.get_multiplexed_async_connection().await.unwrap());
    let _: () = con.set("plain", "x").await.unwrap();
    // The pipeline's second reply is an error: the caller gets it, the pipeline counts as one.
    let piped: redis::RedisResult<(String, i64)> = redis::pipe()
        .get("plain")
        .lpush("plain", "y")
        .query_async(&mut con)
        .await;
    let err = piped.unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err:?}");
    // A command name outside the table is recorded as OTHER, never as sent.
    let unknown: redis::RedisResult<redis::Value> = redis::cmd("NOSUCHCMD-hunter2")
        .arg("x")
        .query_async(&mut con)
        .await;
    assert!(unknown.is_err());
    let snap = recorder.snapshot();
    assert_eq!(
        snap.value(
            "redis_operations_total",
            &[
                ("command", "PIPELINE"),
                ("status", "error"),
                ("error_type", "wrongtype")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(ops(&snap, "OTHER", "error"), 1.0);
    assert!(!snap.text.contains("hunter2") && !snap.text.contains("NOSUCHCMD"));
}
