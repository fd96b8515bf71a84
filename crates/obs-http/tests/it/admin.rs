//! The admin router served on 127.0.0.1: metrics, health, readiness (and, with the `pprof`
//! feature, CPU profiles in `admin::pprof`).

#[cfg(feature = "pprof")]
mod pprof;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use obs_core::ObsConfig;
use obs_core::health::{CheckError, check_fn};
use obs_http::admin::{AdminRouter, AdminServer, PROMETHEUS_CONTENT_TYPE};
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};
use serde_json::Value;

/// A response, read whole.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub(crate) fn content_type(&self) -> &str {
        self.headers[header::CONTENT_TYPE].to_str().unwrap()
    }
}

/// `GET http://{server}{path}`.
pub(crate) async fn get(server: &AdminServer, path: &str) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("http://{}{path}", server.local_addr());
    let response = client.get(uri.parse().unwrap()).await.expect("request");
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("body").to_bytes(),
    }
}

pub(crate) fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(future)
}

pub(crate) async fn spawn(router: AdminRouter) -> AdminServer {
    AdminServer::spawn("127.0.0.1:0", router.build())
        .await
        .expect("bind 127.0.0.1:0")
}

fn init(endpoint: Option<String>) -> obs_core::ObsGuard {
    let mut builder = ObsConfig::builder()
        .service_name("obs-http-admin-tests")
        .log_writer(LogCapture::new().writer())
        .export_interval(Duration::from_millis(50))
        .catalog(obs_http::catalog::CATALOG);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint(endpoint);
    }
    obs_core::init(builder.build()).expect("init")
}

fn record_requests() {
    let labels = [("method", "GET"), ("route", "/jobs"), ("code_class", "2xx")];
    metrics::counter!("http_requests_total", &labels).increment(2);
    for ms in [3.0, 30.0, 3_000.0] {
        metrics::histogram!("http_request_latency_ms", "route" => "/jobs").record(ms);
    }
    metrics::gauge!("http_requests_in_flight").set(4.0);
}

#[test]
fn metrics_text_after_init() {
    isolated("admin::metrics_text_after_init", || {
        let _guard = init(None);
        record_requests();
        block_on(async {
            let server = spawn(AdminRouter::new()).await;
            let reply = get(&server, "/metrics").await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.content_type(), PROMETHEUS_CONTENT_TYPE);
            let text = reply.text();
            assert!(text.contains("# HELP http_requests_total "), "{text}");
            assert!(
                text.contains("# TYPE http_requests_total counter"),
                "{text}"
            );
            assert!(
                text.contains("# TYPE http_request_latency_ms histogram"),
                "{text}"
            );
            let labels = [("method", "GET"), ("route", "/jobs"), ("code_class", "2xx")];
            let scrape = MetricsSnapshot::parse(text);
            assert_eq!(scrape.value("http_requests_total", &labels), Some(2.0));
            server.shutdown().await.unwrap();
        });
    });
}

#[test]
fn metrics_json_matches_the_text() {
    isolated("admin::metrics_json_matches_the_text", || {
        let _guard = init(None);
        record_requests();
        block_on(async {
            let server = spawn(AdminRouter::new()).await;
            let text = get(&server, "/metrics").await;
            let reply = get(&server, "/metrics/json").await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.content_type(), "application/json");
            let json = reply.json();
            let timestamp = json["timestamp"].as_str().unwrap();
            assert!(
                timestamp.len() == 24 && timestamp.ends_with('Z'),
                "{timestamp}"
            );

            let key = "http_requests_total|method=GET,route=/jobs,code_class=2xx";
            assert_eq!(json["counters"][key], 2, "{json:#}");
            assert_eq!(json["gauges"]["http_requests_in_flight"], 4);

            let hist = &json["histograms"]["http_request_latency_ms|route=/jobs"];
            assert_eq!(hist["count"], 3, "{json:#}");
            assert_eq!(hist["sum"], 3_033);
            let buckets = hist["buckets"].as_object().unwrap();
            let scrape = MetricsSnapshot::parse(text.text());
            let expected = scrape.find("http_request_latency_ms_bucket", &[("route", "/jobs")]);
            assert_eq!(buckets.len(), expected.len());
            assert_eq!(
                expected.len(),
                obs_core::catalog::LATENCY_MS_BUCKETS.len() + 1
            );
            for sample in expected {
                let le = sample.label("le").unwrap();
                assert_eq!(buckets[le].as_f64(), Some(sample.value), "bucket le={le}");
            }
            assert_eq!(buckets["5"], 1);
            assert_eq!(buckets["50"], 2);
            assert_eq!(buckets["+Inf"], 3);
            server.shutdown().await.unwrap();
        });
    });
}

#[tokio::test]
async fn metrics_without_init_is_a_clear_503() {
    let server = spawn(AdminRouter::new()).await;
    for path in ["/metrics", "/metrics/json"] {
        let reply = get(&server, path).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(reply.text().contains("obs_core::init was not called"));
    }
}

#[tokio::test]
async fn healthz_is_ok() {
    let server = spawn(AdminRouter::new()).await;
    let reply = get(&server, "/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "ok");
    assert!(reply.content_type().starts_with("text/plain"));
}

#[tokio::test]
async fn readyz_when_every_check_passes() {
    let router = AdminRouter::new()
        .readiness_check(check_fn("db", || async { Ok(()) }))
        .readiness_check(check_fn("cache", || async { Ok(()) }));
    let server = spawn(router).await;
    let reply = get(&server, "/readyz").await;
    assert_eq!(reply.status, StatusCode::OK);
    // Without `init` there is no export queue: the exporter's state is reported, and fine.
    let info = serde_json::json!({"exporter_backlog": {"ok": true}});
    assert_eq!(
        reply.json(),
        serde_json::json!({"status": "ready", "info": info})
    );
}

#[tokio::test]
async fn readyz_reports_the_failing_check() {
    let router = AdminRouter::new()
        .readiness_check(check_fn("cache", || async { Ok(()) }))
        .readiness_check(check_fn("db", || async {
            Err(CheckError::new("connection refused"))
        }));
    let server = spawn(router).await;
    let reply = get(&server, "/readyz").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.json(),
        serde_json::json!({"status": "not_ready", "failed_check": "db", "error": "connection refused",
            "info": {"exporter_backlog": {"ok": true}}})
    );
}

#[tokio::test]
async fn readyz_does_not_wait_for_a_slow_check() {
    let sleep = Duration::from_secs(30);
    let slow = check_fn("slow", move || async move {
        tokio::time::sleep(sleep).await;
        Ok(())
    })
    .with_timeout(Duration::from_millis(100));
    let server = spawn(AdminRouter::new().readiness_check(slow)).await;
    let start = Instant::now();
    let reply = get(&server, "/readyz").await;
    assert!(start.elapsed() < sleep, "the answer came before the check");
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let json = reply.json();
    assert_eq!(json["failed_check"], "slow");
    assert_eq!(json["error"], "timed out after 100 ms");
}

#[tokio::test]
async fn a_panicking_check_fails_without_taking_the_server_down() {
    let router =
        AdminRouter::new().readiness_check(check_fn("boom", || async { panic!("check exploded") }));
    let server = spawn(router).await;
    for _ in 0..2 {
        let reply = get(&server, "/readyz").await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        let json = reply.json();
        assert_eq!(json["failed_check"], "boom");
        assert!(json["error"].as_str().unwrap().contains("check exploded"));
    }
    assert_eq!(get(&server, "/healthz").await.status, StatusCode::OK);
}

#[test]
fn exporter_backlog_check_passes_after_init() {
    isolated("admin::exporter_backlog_check_passes_after_init", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(Some(receiver.grpc_endpoint()));
        tracing::info_span!("warm.up").in_scope(|| tracing::info!("one span"));
        let stats = obs_core::export_stats().expect("an exporter is installed");
        assert!(stats.queue_capacity() > 0);
        block_on(async {
            let server = spawn(AdminRouter::new()).await;
            let reply = get(&server, "/readyz").await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            let opted_in = spawn(AdminRouter::new().with_exporter_check()).await;
            assert_eq!(get(&opted_in, "/readyz").await.status, StatusCode::OK);
        });
        guard.shutdown().unwrap();
    });
}
