//! A three-node Redis Cluster on loopback (feature `cluster`): commands and pipelines through
//! the wrapped async cluster connection.

use std::process::Command;
use std::time::{Duration, Instant};

use obs_redis::Instrumented;
use obs_testkit::LocalRecorder;
use redis::AsyncCommands as _;

use crate::server::RedisServer;

#[tokio::test(flavor = "current_thread")]
async fn cluster_commands_and_pipelines_are_recorded() {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let Some(node) = RedisServer::start_with(&["--cluster-enabled", "yes"]) else {
            return;
        };
        nodes.push(node);
    }
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port()))
        .collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli (Debian package redis-tools, a dependency of redis-server)");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    // Wait until every node sees the cluster as ok.
    let deadline = Instant::now() + Duration::from_secs(20);
    for node in &nodes {
        loop {
            let info = Command::new("redis-cli")
                .args(["-p", &node.port().to_string(), "cluster", "info"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                break;
            }
            assert!(Instant::now() < deadline, "the cluster did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let urls: Vec<String> = addrs.iter().map(|a| format!("redis://{a}/")).collect();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut con = Instrumented::new(client.get_async_connection().await.unwrap());
    // Keys spread over the slots of all three nodes.
    for i in 0..12 {
        let _: () = con.set(format!("user:{i}:name"), i).await.unwrap();
    }
    let v: i64 = con.get("user:7:name").await.unwrap();
    assert_eq!(v, 7);
    // A pipeline's keys must share a slot in a cluster: a hash tag does that.
    let (a, b): (i64, i64) = redis::pipe()
        .incr("{cart:1}:items", 1)
        .incr("{cart:1}:items", 2)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((a, b), (1, 3));
    let snap = recorder.snapshot();
    let ops = |command: &str| {
        snap.sum(
            "redis_operations_total",
            &[("command", command), ("status", "success")],
        )
    };
    assert_eq!(ops("SET"), 12.0);
    assert_eq!(ops("GET"), 1.0);
    assert_eq!(ops("PIPELINE"), 1.0);
}
