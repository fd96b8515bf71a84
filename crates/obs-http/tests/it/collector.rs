//! What a caller's trace and a trace collector outage do to a service: a role's sampling ratio
//! never cuts a sampled caller's trace, and a dead collector never makes the service unready.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use obs_core::{ObsConfig, ObsConfigBuilder};
use obs_http::HttpLayer;
use obs_http::admin::AdminRouter;
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};
use serde_json::Value;

const PARENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

#[derive(Clone)]
struct Member;

impl obs_http::ObsUser for Member {
    fn user_id(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some("u-1".into())
    }
    fn role(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some("member".into())
    }
}

fn init(
    endpoint: String,
    f: impl FnOnce(ObsConfigBuilder) -> ObsConfigBuilder,
) -> obs_core::ObsGuard {
    let builder = ObsConfig::builder()
        .service_name("obs-http-collector-tests")
        .log_writer(LogCapture::new().writer())
        .endpoint(endpoint);
    obs_core::init(f(builder).build()).expect("init")
}

/// Serves `app` on 127.0.0.1:0 on `runtime`.
fn serve(runtime: &tokio::runtime::Runtime, app: Router) -> SocketAddr {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    })
}

/// `GET http://{addr}{path}` with `headers`: status and body.
async fn get_from(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let mut req = Request::get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let response = client
        .request(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// An app whose every request comes from a `member`, sampled at 0 by role.
fn members_app() -> Router {
    Router::new()
        .route("/work", get(|| async { "done" }))
        .layer(HttpLayer::new().user::<Member>().sample_role("member", 0.0))
        .layer(axum::middleware::from_fn(
            |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                req.extensions_mut().insert(Member);
                next.run(req).await
            },
        ))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn sampled_caller() -> Vec<(&'static str, String)> {
    vec![("traceparent", format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01"))]
}

#[test]
fn a_role_ratio_of_zero_keeps_a_sampled_callers_trace() {
    isolated(
        "collector::a_role_ratio_of_zero_keeps_a_sampled_callers_trace",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(receiver.grpc_endpoint(), |b| b);
            let rt = runtime();
            let addr = serve(&rt, members_app());
            rt.block_on(async {
                assert_eq!(get_from(addr, "/work", &sampled_caller()).await.0, 200);
                // A root request of the same role: the ratio decides, and it is 0.
                assert_eq!(get_from(addr, "/work", &[]).await.0, 200);
            });
            guard.force_flush().unwrap();
            let spans = receiver.wait_for(Duration::from_secs(10), |s| !s.is_empty());
            assert_eq!(
                spans.len(),
                1,
                "only the caller's trace is sampled: {spans:?}"
            );
            assert_eq!(spans[0].trace_id, PARENT_TRACE);
            assert_eq!(
                spans[0].parent_span_id, PARENT_SPAN,
                "a child of the caller's span"
            );
            assert_eq!(spans[0].attr("user.roles"), Some("[member]"));
        },
    );
}

#[test]
fn opting_in_lets_a_role_ratio_override_a_sampled_caller() {
    isolated(
        "collector::opting_in_lets_a_role_ratio_override_a_sampled_caller",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(receiver.grpc_endpoint(), |b| {
                b.sampling_overrides_parent(true)
            });
            let rt = runtime();
            let addr = serve(&rt, members_app());
            rt.block_on(async {
                assert_eq!(get_from(addr, "/work", &sampled_caller()).await.0, 200);
            });
            guard.force_flush().unwrap();
            assert_eq!(guard.export_stats().exported(), 0);
            assert!(receiver.spans().is_empty());
        },
    );
}

/// An address on 127.0.0.1 where nothing listens.
fn dead_collector() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[test]
fn a_dead_collector_does_not_make_the_service_unready() {
    isolated(
        "collector::a_dead_collector_does_not_make_the_service_unready",
        || {
            let guard = init(dead_collector(), |b| {
                b.span_queue_size(8).export_batch_size(4)
            });
            for i in 0..100 {
                tracing::info_span!("lost", i).in_scope(|| {});
            }
            // What is still queued fails now; the rest was dropped or failed already.
            let _ = guard.force_flush();
            let stats = guard.export_stats();
            assert!(
                stats.dropped() > 0 && stats.failed_exports() > 0,
                "{stats:?}"
            );
            let rt = runtime();
            let admin = serve(&rt, AdminRouter::new().build());
            let strict = serve(&rt, AdminRouter::new().with_exporter_check().build());
            rt.block_on(async {
                let (status, body) = get_from(admin, "/readyz", &[]).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                let json: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(json["status"], "ready");
                let backlog = &json["info"]["exporter_backlog"];
                assert_eq!(backlog["ok"], false, "{body}");
                assert!(
                    backlog["message"]
                        .as_str()
                        .unwrap()
                        .contains("spans dropped"),
                    "{body}"
                );

                let (status, body) = get_from(strict, "/readyz", &[]).await;
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                let json: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(json["failed_check"], "exporter_backlog");

                let (_, text) = get_from(admin, "/metrics", &[]).await;
                let scrape = MetricsSnapshot::parse(&text);
                assert_eq!(
                    scrape.value("obs_spans_dropped_total", &[]),
                    Some(stats.dropped() as f64),
                    "{text}"
                );
                assert!(
                    scrape
                        .value("obs_span_export_failures_total", &[])
                        .unwrap_or(0.0)
                        >= 1.0
                );
            });
        },
    );
}
