//! Leak test: secrets in keys, values, AUTH, HELLO … AUTH, CONFIG SET, ACL SETUSER and MIGRATE …
//! AUTH never appear in spans, logs or metrics.

use std::time::Duration;

use obs_core::ObsConfig;
use obs_redis::{Cache, Instrumented, SessionStore};
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};
use redis::AsyncCommands as _;

use crate::server::{ClientOf as _, RedisServer};

const WAIT: Duration = Duration::from_secs(10);

const VALUE_SECRET: &str = "hunter2-value-9f3k";
const KEY_TOKEN: &str = "tok9x7Qv2LmZ";
const KEY_EMAIL: &str = "alice.secret@example.com";
const KEY_HEX: &str = "5f4dcc3b5aa765d61d8327deb882cf99";
const AUTH_PASSWORD: &str = "authpw-77Kq1";
const HELLO_PASSWORD: &str = "hellopw-31Zx";
const CONFIG_PASSWORD: &str = "configpw-58Rm";
const ACL_PASSWORD: &str = "aclpw-12Wd";
const MIGRATE_PASSWORD: &str = "migratepw-66Tn";
const CACHE_VALUE: &str = "cached-card-4111111111111111";

#[test]
fn no_secret_reaches_spans_logs_or_metrics() {
    isolated("secrets::no_secret_reaches_spans_logs_or_metrics", || {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let receiver = OtlpReceiver::start().unwrap();
        let logs = LogCapture::new();
        let guard = obs_core::init(
            ObsConfig::builder()
                .service_name("redis-secrets")
                .endpoint(receiver.grpc_endpoint())
                .log_writer(logs.writer())
                .log_filter("trace")
                .build(),
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let session_id = runtime.block_on(async {
            let client = server.client();
            let mut con =
                Instrumented::new(client.get_multiplexed_async_connection().await.unwrap());
            let _: () = con
                .set(format!("apikey:{KEY_TOKEN}"), VALUE_SECRET)
                .await
                .unwrap();
            let _: () = con
                .set(format!("user:{KEY_EMAIL}"), VALUE_SECRET)
                .await
                .unwrap();
            let _: () = con
                .set(format!("reset:{KEY_HEX}"), VALUE_SECRET)
                .await
                .unwrap();
            let _: Option<String> = con.get(format!("apikey:{KEY_TOKEN}")).await.unwrap();
            // Credential-carrying commands: they fail (no such user, no target), and their
            // arguments must not show up in the errors recorded either.
            let _ = redis::cmd("AUTH")
                .arg("nobody")
                .arg(AUTH_PASSWORD)
                .query_async::<redis::Value>(&mut con)
                .await;
            let _ = redis::cmd("HELLO")
                .arg(3)
                .arg("AUTH")
                .arg("nobody")
                .arg(HELLO_PASSWORD)
                .query_async::<redis::Value>(&mut con)
                .await;
            let _ = redis::cmd("CONFIG")
                .arg("SET")
                .arg("masterauth")
                .arg(CONFIG_PASSWORD)
                .query_async::<redis::Value>(&mut con)
                .await;
            let _ = redis::cmd("ACL")
                .arg("SETUSER")
                .arg("svc")
                .arg("on")
                .arg(format!(">{ACL_PASSWORD}"))
                .query_async::<redis::Value>(&mut con)
                .await;
            let _ = redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(1)
                .arg("")
                .arg(0)
                .arg(100)
                .arg("AUTH")
                .arg(MIGRATE_PASSWORD)
                .arg("KEYS")
                .arg("x")
                .query_async::<redis::Value>(&mut con)
                .await;
            let _ = redis::pipe()
                .set(format!("apikey:{KEY_TOKEN}:2"), VALUE_SECRET)
                .cmd("AUTH")
                .arg(AUTH_PASSWORD)
                .query_async::<redis::Value>(&mut con)
                .await;
            let cache = Cache::new(con.clone(), "card");
            cache
                .set(
                    &format!("card:{KEY_TOKEN}"),
                    CACHE_VALUE,
                    Duration::from_secs(60),
                )
                .await
                .unwrap();
            let _: Option<String> = cache.get(&format!("card:{KEY_TOKEN}")).await.unwrap();
            let sessions = SessionStore::new(con.clone(), Duration::from_secs(60));
            let id = sessions.create(&VALUE_SECRET).await.unwrap();
            sessions.touch(&id).await.unwrap();
            id.as_str().to_owned()
        });
        let _ = guard.force_flush();
        let spans = receiver.wait_for(WAIT, |s| s.len() >= 15);
        let exported = format!("{:?}", receiver.requests());
        let log_text = logs.contents();
        let metrics_text = MetricsSnapshot::current().text;
        let mut leaked = Vec::new();
        for secret in [
            VALUE_SECRET,
            KEY_TOKEN,
            KEY_EMAIL,
            "alice",
            KEY_HEX,
            AUTH_PASSWORD,
            HELLO_PASSWORD,
            CONFIG_PASSWORD,
            ACL_PASSWORD,
            MIGRATE_PASSWORD,
            CACHE_VALUE,
            session_id.as_str(),
            "masterauth",
        ] {
            for (place, text) in [
                ("spans", &exported),
                ("logs", &log_text),
                ("metrics", &metrics_text),
            ] {
                if text.contains(secret) {
                    leaked.push(format!("{secret} in {place}"));
                }
            }
        }
        assert!(leaked.is_empty(), "leaked: {leaked:?}");
        // What may be shown still is.
        assert!(spans.iter().any(|s| s.name == "AUTH"));
        let summaries: Vec<&str> = spans
            .iter()
            .filter_map(|s| s.attr("db.query.summary"))
            .collect();
        assert!(summaries.contains(&"SET user:*"), "{summaries:?}");
        assert!(summaries.contains(&"GET card:*"), "{summaries:?}");
        // obs-core's export-time pass redacts what follows a sensitive name (`apikey:`,
        // `session:`) in any attribute it does not know, patterns included: safe, if terser.
        assert!(
            summaries.iter().any(|s| s.starts_with("SET apikey:")),
            "{summaries:?}"
        );
        assert!(metrics_text.contains("redis_operations_total"));
        drop(guard);
    });
}
