//! One run of the whole app: a short simulation, then hostile requests, then a clean shutdown.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use obs_core::ObsConfig;
use obs_core::catalog::MetricDef;
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, ReceivedSpan, isolated};
use reqwest::Method;
use serde_json::{Value, json};
use simplycaster::simulate::{Client, Simulation, Summary};
use simplycaster::{Config, Server};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// Secrets the hostile requests carry; none may reach a log line, a span or `/metrics`.
const PASSWORD: &str = "Sup3r-S3cret-Passw0rd";
const FAKE_TOKEN: &str = "tok-LEAKME-7f3a9c";
const SDP_SECRET: &str = "a=ice-pwd:LEAKYICEPWD";

/// Catalog metrics the app cannot emit, and why.
const NOT_EMITTED: &[(&str, &str)] = &[
    (
        "worker_recovered_jobs_total",
        "only after a crash left a job leased",
    ),
    (
        "circuit_breaker_state_changes_total",
        "object storage never fails in the demo",
    ),
    (
        "worker_stage_failures_total",
        "object storage never fails in the demo",
    ),
    (
        "turn_relay_total",
        "loopback peers connect over host candidates, no TURN",
    ),
    ("webrtc_frame_rate", "audio only"),
    ("ice_failed_total", "loopback ICE does not fail"),
    (
        "webrtc_peer_",
        "opt-in per-connection gauges (room and participant as labels), off",
    ),
    ("db_slow_queries_total", "no statement takes a second"),
    (
        "db_transaction_",
        "checked separately: rolled-back transactions do not happen",
    ),
];

fn redis_server_available() -> bool {
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("OBS_REQUIRE_TOOLS").is_none(),
            "redis-server is not installed and OBS_REQUIRE_TOOLS is set (cargo xtask test installs it)"
        );
        eprintln!("skipped: redis-server is not installed");
    }
    found
}

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simplycaster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn catalogs() -> Vec<&'static [MetricDef]> {
    vec![
        simplycaster::catalog::CATALOG,
        obs_http::catalog::CATALOG,
        obs_db::catalog::CATALOG,
        obs_redis::catalog::CATALOG,
        obs_rooms::catalog::CATALOG,
        obs_flows::catalog::CATALOG,
        obs_webrtc::catalog::CATALOG,
    ]
}

fn has_data(snap: &MetricsSnapshot, name: &str) -> bool {
    snap.series_count(name) > 0
}

#[test]
fn a_simulation_covers_the_catalogs_and_a_login_is_one_trace() {
    isolated(
        "e2e::a_simulation_covers_the_catalogs_and_a_login_is_one_trace",
        || {
            if !redis_server_available() {
                return;
            }
            let receiver = OtlpReceiver::start().unwrap();
            let logs = LogCapture::new();
            let guard = obs_core::init(
                ObsConfig::builder()
                    .service_name("simplycaster-e2e")
                    .endpoint(receiver.grpc_endpoint())
                    .catalog(simplycaster::catalog::CATALOG)
                    .log_writer(logs.writer())
                    .log_filter("debug")
                    .build(),
            )
            .unwrap();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let (summary, metrics, hostile) = runtime.block_on(async {
                let mut config = Config::from_env(([127, 0, 0, 1], 0).into());
                config.data_dir = data_dir("e2e");
                config.database_url = None;
                config.redis_url = None;
                let server = Server::start(&config).await.unwrap();
                assert_eq!(
                    server.state().kv.kind(),
                    "redis",
                    "the redis-server child is used"
                );
                assert_eq!(server.state().db.kind(), "sqlite");
                let sim = Simulation::new(4, Duration::from_secs(12), config.moderator_key.clone())
                    .quiet();
                let summary = simplycaster::simulate::run(server.addr(), &sim).await;
                assert!(
                    server.state().media.connected() >= 1,
                    "a server peer reached connected: {summary:?}"
                );
                let hostile = hostile_requests(server.addr()).await;
                let metrics = reqwest::get(format!("http://{}/metrics", server.addr()))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                let ready = reqwest::get(format!("http://{}/readyz", server.addr()))
                    .await
                    .unwrap();
                assert_eq!(ready.status(), 200);
                server.shutdown().await;
                (summary, metrics, hostile)
            });
            guard.shutdown().expect("every span exported at shutdown");
            check_summary(&summary);
            check_metrics(&metrics);
            let spans = receiver.spans();
            check_login_trace(&spans);
            check_no_leaks(&spans, &logs.contents(), &metrics, &hostile);
        },
    );
}

fn check_summary(summary: &Summary) {
    assert!(summary.requests > 20, "{summary:?}");
    // Under the whole test suite's load a rare failed request was seen once; one cause, a
    // SQLite read-to-write upgrade failing with SQLITE_BUSY when deciding a report, is fixed.
    // Until more runs show none, more than 2 % is a bug.
    assert!(
        summary.server_errors * 50 <= summary.requests,
        "{summary:?}"
    );
    assert!(summary.rooms >= 1 && summary.recordings >= 1, "{summary:?}");
    assert!(
        summary.connections >= 1,
        "a client peer reached connected: {summary:?}"
    );
    // A guest may still be connecting when its host closes the room: a failure of the
    // simulation's timing, not of the media path, so only most connections must succeed.
    assert!(summary.media_failures < summary.connections, "{summary:?}");
}

fn check_metrics(text: &str) {
    let snap = MetricsSnapshot::parse(text);
    let mut missing = Vec::new();
    for def in catalogs().into_iter().flatten() {
        if NOT_EMITTED
            .iter()
            .any(|(prefix, _)| def.name.starts_with(prefix))
        {
            continue;
        }
        if !has_data(&snap, def.name) {
            missing.push(def.name);
        }
    }
    assert!(
        missing.is_empty(),
        "catalog metrics without data in /metrics: {missing:?}"
    );
    // The app's own, with the values the simulation implies.
    assert!(snap.sum("reports_submitted_total", &[]) >= 1.0);
    assert!(snap.sum("reports_by_reason_total", &[]) >= 1.0);
    assert!(
        snap.sum("blocklist_size_total", &[]) >= 1.0,
        "the troll was blocked"
    );
    assert!(snap.sum("matching_latency_ms_count", &[]) >= 1.0);
    assert!(
        snap.sum(
            "webrtc_connection_operations_total",
            &[("state", "connected")]
        ) >= 1.0
    );
    assert!(
        snap.sum("db_transactions_total", &[]) >= 1.0,
        "rooms closed in a transaction"
    );
    assert_eq!(snap.kind("reports_pending_total"), Some("gauge"));
}

fn check_login_trace(spans: &[ReceivedSpan]) {
    let flow = spans
        .iter()
        .find(|s| s.name == "flow auth_login" && s.attr("flow.outcome") == Some("success"))
        .expect("a successful login flow span");
    let trace: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == flow.trace_id)
        .collect();
    let server = trace
        .iter()
        .find(|s| s.kind == 2 && s.name == "POST /auth/login")
        .expect("the login's server span");
    assert!(
        server.parent_span_id.is_empty(),
        "the server span is the root"
    );
    assert_eq!(
        flow.parent_span_id, server.span_id,
        "the flow is a child of the request"
    );
    let under_flow = |s: &&&ReceivedSpan| {
        let mut parent = s.parent_span_id.clone();
        while let Some(p) = trace.iter().find(|t| t.span_id == parent) {
            if p.span_id == flow.span_id {
                return true;
            }
            parent = p.parent_span_id.clone();
        }
        false
    };
    let redis = trace
        .iter()
        .filter(|s| s.kind == 3 && s.attr("db.system.name") == Some("redis"))
        .find(under_flow);
    let db = trace
        .iter()
        .filter(|s| s.kind == 3 && s.attr("db.system.name") == Some("sqlite"))
        .find(under_flow);
    let names: Vec<&str> = trace.iter().map(|s| s.name.as_str()).collect();
    assert!(redis.is_some(), "a Redis span under the flow: {names:?}");
    assert!(db.is_some(), "a database span under the flow: {names:?}");
    for step in [
        "login_attempt",
        "credential_check",
        "session_creation",
        "token_issue",
    ] {
        assert!(
            trace.iter().any(|s| s.attr("flow.step") == Some(step)),
            "step {step}: {names:?}"
        );
    }
}

/// What the hostile requests got back, to check it for the secrets too.
#[derive(Debug, Default)]
struct Hostile {
    answers: Vec<String>,
    token: String,
}

async fn hostile_requests(addr: std::net::SocketAddr) -> Hostile {
    let client = Client::new(addr);
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://{addr}{p}");
    let mut out = Hostile::default();
    let name = format!("hostile{:08x}", rand::random::<u32>());
    client
        .request(
            Method::POST,
            "/auth/register",
            None,
            Some(&json!({"name": name, "password": PASSWORD})),
        )
        .await
        .expect("registered");
    let bodies = [
        format!(r#"{{"name":"{name}","password":"{PASSWORD}"#), // cut short
        format!(r#"{{"name":42,"password":"{PASSWORD}"}}"#),    // mistyped
        format!(r#"{{"name":"{name}","password":["{PASSWORD}"]}}"#),
        PASSWORD.to_owned(),
    ];
    for body in bodies {
        let response = http
            .post(url("/auth/login"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        out.answers.push(response.text().await.unwrap());
    }
    // A wrong password that contains the right one.
    let wrong = client
        .request(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"name": name, "password": format!("{PASSWORD}x")})),
        )
        .await;
    assert_eq!(wrong, Err(401));
    let login = client
        .request(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"name": name, "password": PASSWORD})),
        )
        .await
        .expect("logged in");
    let token = login["token"].as_str().unwrap().to_owned();
    out.token = token.clone();
    for bad in [
        FAKE_TOKEN.to_owned(),
        format!("{:032x}", rand::random::<u128>()),
    ] {
        let answer = http
            .post(url("/rooms"))
            .bearer_auth(&bad)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
        out.answers.push(answer.text().await.unwrap());
    }
    // A room, and hostile signaling messages on its socket.
    let room = client
        .request(
            Method::POST,
            "/rooms",
            Some(&token),
            Some(&json!({"name": "hostile"})),
        )
        .await
        .expect("room created");
    let room_id = room["id"].as_str().unwrap();
    let mut request = format!("ws://{addr}/rooms/{room_id}/signal")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let user_id = login["user_id"].as_str().unwrap();
    for text in [
        format!(
            r#"{{"room_id":"{room_id}","from":"{user_id}","to":"server","type":"candidate","candidate":"{SDP_SECRET}"}}"#
        ),
        format!(
            r#"{{"room_id":"{room_id}","from":"{user_id}","to":"server","type":"{SDP_SECRET}","sdp":"x"}}"#
        ),
        format!("not json {SDP_SECRET}"),
        format!(
            r#"{{"room_id":"{room_id}","from":"someone-else","to":"server","type":"offer","sdp":"{SDP_SECRET}"}}"#
        ),
    ] {
        ws.send(Message::Text(text.into())).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an error reply")
            .unwrap()
            .unwrap();
        let reply = reply.into_text().unwrap().to_string();
        let parsed: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(parsed["type"], "error", "{reply}");
        out.answers.push(reply);
    }
    let _ = ws.close(None).await;
    out
}

fn check_no_leaks(spans: &[ReceivedSpan], logs: &str, metrics: &str, hostile: &Hostile) {
    assert!(logs.contains("listening"), "the logs were captured");
    for secret in [PASSWORD, FAKE_TOKEN, "LEAKYICEPWD", "LEAKME"] {
        assert!(!logs.contains(secret), "{secret} in the logs");
        assert!(!metrics.contains(secret), "{secret} in /metrics");
        for span in spans {
            for (key, value) in &span.attributes {
                assert!(
                    !value.contains(secret),
                    "{secret} in span {} attribute {key}",
                    span.name
                );
            }
        }
        for answer in &hostile.answers {
            assert!(!answer.contains(secret), "{secret} in an answer: {answer}");
        }
    }
    // A real session token (sent on every request above) appears nowhere either.
    assert!(!hostile.token.is_empty());
    assert!(
        !logs.contains(&hostile.token),
        "a session token in the logs"
    );
    assert!(
        !metrics.contains(&hostile.token),
        "a session token in /metrics"
    );
    for span in spans {
        for (key, value) in &span.attributes {
            assert!(
                !value.contains(&hostile.token),
                "a session token in span {} attribute {key}",
                span.name
            );
        }
    }
}
