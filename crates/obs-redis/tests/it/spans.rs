//! The spans: Client kind, named after the command, semconv attributes, key patterns only.

use std::time::Duration;

use obs_core::ObsConfig;
use obs_redis::{Instrumented, KeyPatterns};
use obs_testkit::{OtlpReceiver, isolated};
use redis::AsyncCommands as _;

use crate::server::{ClientOf as _, RedisServer};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn spans_carry_semconv_attributes_and_key_patterns() {
    isolated(
        "spans::spans_carry_semconv_attributes_and_key_patterns",
        || {
            let Some(server) = RedisServer::start() else {
                return;
            };
            let receiver = OtlpReceiver::start().unwrap();
            let guard = obs_core::init(
                ObsConfig::builder()
                    .service_name("redis-spans")
                    .endpoint(receiver.grpc_endpoint())
                    .build(),
            )
            .unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let client = server.client();
                let mut con =
                    Instrumented::new(client.get_multiplexed_async_connection().await.unwrap())
                        .with_connection_info(client.get_connection_info())
                        .with_key_patterns(KeyPatterns::default().with_pattern("tenant:*:user:*"));
                let _: () = con.set("user:42:profile", "value-1").await.unwrap();
                let _: Option<String> = con.get("tenant:acme:user:bob").await.unwrap();
                let _: (i64, i64) = redis::pipe()
                    .incr("hits:a", 1)
                    .incr("hits:b", 1)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                let _: (i64,) = redis::pipe()
                    .atomic()
                    .incr("hits:a", 1)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                let _ = con.lpush::<_, _, i64>("user:42:profile", "x").await;
            });
            let _ = guard.force_flush();
            let spans = receiver.wait_for(WAIT, |s| s.len() >= 5);
            let find = |name: &str| {
                spans
                    .iter()
                    .find(|s| s.name == name)
                    .unwrap_or_else(|| panic!("span {name} in {spans:#?}"))
            };
            let set = find("SET");
            assert_eq!(set.kind, 3, "Client");
            assert_eq!(set.attr("db.system.name"), Some("redis"));
            assert_eq!(set.attr("db.operation.name"), Some("SET"));
            assert_eq!(set.attr("db.namespace"), Some("0"));
            assert_eq!(set.attr("db.query.summary"), Some("SET user:*:profile"));
            assert_eq!(set.attr("server.address"), Some("127.0.0.1"));
            assert_eq!(
                set.attr("server.port"),
                Some(server.port().to_string().as_str())
            );
            let get = find("GET");
            assert_eq!(get.attr("db.query.summary"), Some("GET tenant:*:user:*"));
            let pipeline = find("PIPELINE");
            assert_eq!(pipeline.attr("db.operation.batch.size"), Some("2"));
            assert_eq!(
                pipeline.attr("db.query.summary"),
                Some("INCRBY hits:a; INCRBY hits:b")
            );
            let multi = find("MULTI");
            assert_eq!(multi.attr("db.operation.batch.size"), Some("1"));
            let lpush = find("LPUSH");
            assert_eq!(lpush.status_code, 2);
            assert_eq!(lpush.attr("error.type"), Some("wrongtype"));
            let all = format!("{spans:?}");
            assert!(!all.contains("value-1") && !all.contains("acme") && !all.contains("bob"));
            drop(guard);
        },
    );
}
