//! HTTP metrics as a fresh service sees them: no catalog passed to `init`, layers built before or
//! after it, custom buckets, and a recorder local to a test.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use obs_core::ObsConfig;
use obs_http::HttpLayer;
use obs_http::admin::AdminRouter;
use obs_testkit::{LocalRecorder, LogCapture, MetricsSnapshot, isolated};

fn app(layer: HttpLayer) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "x".repeat(3_000) }))
        .route(
            "/upload",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .layer(layer)
        .merge(AdminRouter::new().build())
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &'static [u8],
) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let response = client.request(request).await.expect("request");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Two requests, then `/metrics` as Prometheus scrapes it.
async fn requests_then_scrape(addr: SocketAddr) -> MetricsSnapshot {
    assert_eq!(call(addr, "GET", "/users/7", b"").await.0, StatusCode::OK);
    assert_eq!(
        call(addr, "POST", "/upload", &[b'a'; 700]).await.0,
        StatusCode::OK
    );
    let (status, text) = call(addr, "GET", "/metrics", b"").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    MetricsSnapshot::parse(&text)
}

fn init(
    configure: impl FnOnce(obs_core::ObsConfigBuilder) -> obs_core::ObsConfigBuilder,
) -> obs_core::ObsGuard {
    let builder = ObsConfig::builder()
        .service_name("http-metrics-tests")
        .log_writer(LogCapture::new().writer());
    obs_core::init(configure(builder).build()).expect("init")
}

fn assert_size_histograms(scrape: &MetricsSnapshot) {
    for name in ["http_request_size_bytes", "http_response_size_bytes"] {
        assert_eq!(scrape.kind(name), Some("histogram"), "{}", scrape.text);
        assert!(
            scrape.help(name).is_some_and(|h| h.contains("body sizes")),
            "{name} has no help text:\n{}",
            scrape.text
        );
    }
    let bucket = |name: &str, route: &str, le: &str| {
        scrape.value(&format!("{name}_bucket"), &[("route", route), ("le", le)])
    };
    // Byte buckets (64 B to 16 MiB), not milliseconds.
    assert_eq!(
        bucket("http_response_size_bytes", "/users/{id}", "1024"),
        Some(0.0)
    );
    assert_eq!(
        bucket("http_response_size_bytes", "/users/{id}", "4096"),
        Some(1.0)
    );
    assert_eq!(
        bucket("http_response_size_bytes", "/users/{id}", "16777216"),
        Some(1.0)
    );
    assert_eq!(
        bucket("http_request_size_bytes", "/upload", "256"),
        Some(0.0)
    );
    assert_eq!(
        bucket("http_request_size_bytes", "/upload", "1024"),
        Some(1.0)
    );
    assert_eq!(
        bucket("http_response_size_bytes", "/users/{id}", "10000"),
        None
    );
    assert!(
        scrape.help("http_requests_total").is_some(),
        "{}",
        scrape.text
    );
}

#[test]
fn a_layer_built_before_init_needs_no_catalog() {
    isolated(
        "metrics::a_layer_built_before_init_needs_no_catalog",
        || {
            let app = app(HttpLayer::new());
            let _guard = init(|b| b);
            let rt = tokio::runtime::Runtime::new().unwrap();
            let scrape = rt.block_on(async { requests_then_scrape(serve(app).await).await });
            assert_size_histograms(&scrape);
        },
    );
}

#[test]
fn a_layer_built_after_init_needs_no_catalog() {
    isolated("metrics::a_layer_built_after_init_needs_no_catalog", || {
        let _guard = init(|b| b);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let scrape =
            rt.block_on(async { requests_then_scrape(serve(app(HttpLayer::new())).await).await });
        assert_size_histograms(&scrape);
    });
}

#[test]
fn obs_own_latency_histogram_takes_custom_buckets() {
    isolated(
        "metrics::obs_own_latency_histogram_takes_custom_buckets",
        || {
            let bounds = [100.0, 1_000.0, 10_000.0, 60_000.0];
            let _guard = init(|b| b.buckets("http_request_latency_ms", &bounds));
            let rt = tokio::runtime::Runtime::new().unwrap();
            let scrape = rt
                .block_on(async { requests_then_scrape(serve(app(HttpLayer::new())).await).await });
            let les: Vec<&str> = scrape
                .find(
                    "http_request_latency_ms_bucket",
                    &[("route", "/users/{id}")],
                )
                .iter()
                .filter_map(|s| s.label("le"))
                .collect();
            assert_eq!(
                les,
                ["100", "1000", "10000", "60000", "+Inf"],
                "{}",
                scrape.text
            );
            assert_eq!(
                scrape.value("http_request_latency_ms_count", &[("route", "/users/{id}")]),
                Some(1.0)
            );
        },
    );
}

#[test]
fn invalid_custom_buckets_fail_init() {
    isolated("metrics::invalid_custom_buckets_fail_init", || {
        let err = obs_core::init(
            ObsConfig::builder()
                .buckets("http_request_latency_ms", &[5.0, 1.0])
                .build(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("http_request_latency_ms"), "{err}");
    });
}

/// No `init`: the test's own recorder counts exactly what this test's server did, whatever other
/// tests in the process do. The server runs on a current-thread runtime on the test's thread,
/// where the recorder is in force.
#[test]
fn a_local_recorder_counts_one_tests_requests_exactly() {
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = serve(app(HttpLayer::new())).await;
        for _ in 0..3 {
            assert_eq!(call(addr, "GET", "/users/1", b"").await.0, StatusCode::OK);
        }
        assert_eq!(
            call(addr, "POST", "/upload", b"abc").await.0,
            StatusCode::OK
        );
    });
    let snap = recorder.snapshot();
    let ok = [
        ("method", "GET"),
        ("route", "/users/{id}"),
        ("code_class", "2xx"),
    ];
    assert_eq!(
        snap.value("http_requests_total", &ok),
        Some(3.0),
        "{}",
        snap.text
    );
    assert_eq!(snap.sum("http_requests_total", &[]), 4.0);
    assert_eq!(
        snap.value("http_request_size_bytes_sum", &[("route", "/upload")]),
        Some(3.0)
    );
    assert_eq!(
        snap.value(
            "http_response_size_bytes_count",
            &[("route", "/users/{id}")]
        ),
        Some(3.0)
    );
    assert_eq!(snap.kind("http_request_latency_ms"), Some("histogram"));
}

/// A scrape-time gauge shows in `/metrics` and `/metrics/json` with the value read at that
/// scrape, and leaves both once its handle is dropped; a removed family series leaves too.
#[test]
fn scrape_callbacks_and_removed_series_in_text_and_json() {
    use obs_core::catalog::MetricDef;
    use obs_core::metrics::GaugeVec;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    static POOL: MetricDef =
        MetricDef::gauge("test_pool_connections", "Pool connections, by pool.")
            .with_labels(&["pool"]);
    static ROOM: MetricDef =
        MetricDef::gauge("test_room_participants", "Participants, by room.").with_labels(&["room"]);
    static ROOM_VEC: GaugeVec = GaugeVec::new(&ROOM);

    isolated(
        "metrics::scrape_callbacks_and_removed_series_in_text_and_json",
        || {
            let _guard = init(|b| b);
            let connections = Arc::new(AtomicU64::new(3));
            let read = connections.clone();
            let callback = obs_core::metrics::on_scrape(&POOL, move |o| {
                o.observe(&["main"], read.load(Ordering::Relaxed) as f64);
            });
            ROOM_VEC.with(&["closed"]).set(2.0);
            ROOM_VEC.with(&["open"]).set(4.0);
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let addr = serve(app(HttpLayer::new())).await;
                let scrape = MetricsSnapshot::parse(&call(addr, "GET", "/metrics", b"").await.1);
                let pool = [("pool", "main")];
                assert_eq!(scrape.value("test_pool_connections", &pool), Some(3.0));
                assert_eq!(
                    scrape.help("test_pool_connections"),
                    Some("Pool connections, by pool.")
                );
                connections.store(9, Ordering::Relaxed);
                let json: serde_json::Value =
                    serde_json::from_str(&call(addr, "GET", "/metrics/json", b"").await.1).unwrap();
                assert_eq!(
                    json["gauges"]["test_pool_connections|pool=main"], 9,
                    "{json}"
                );
                assert_eq!(
                    json["gauges"]["test_room_participants|room=closed"], 2,
                    "{json}"
                );

                assert!(ROOM_VEC.remove(&["closed"]));
                drop(callback);
                let scrape = MetricsSnapshot::parse(&call(addr, "GET", "/metrics", b"").await.1);
                assert_eq!(
                    scrape.value("test_pool_connections", &pool),
                    None,
                    "{}",
                    scrape.text
                );
                assert_eq!(
                    scrape.value("test_room_participants", &[("room", "closed")]),
                    None
                );
                assert_eq!(
                    scrape.value("test_room_participants", &[("room", "open")]),
                    Some(4.0)
                );
                let json: serde_json::Value =
                    serde_json::from_str(&call(addr, "GET", "/metrics/json", b"").await.1).unwrap();
                assert!(
                    json["gauges"]
                        .get("test_pool_connections|pool=main")
                        .is_none(),
                    "{json}"
                );
            });
        },
    );
}
