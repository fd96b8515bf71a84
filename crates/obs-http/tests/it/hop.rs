//! A real hop (client layer → server layer), and the leak test: secrets in headers, cookies, query
//! strings and bodies never reach an exported span, a log line or a metric.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::{HeaderName, Request};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use obs_core::ObsConfig;
use obs_http::server::BodyCaptureLayer;
use obs_http::{ClientLayer, HttpLayer};
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

const WAIT: Duration = Duration::from_secs(10);
const SECRETS: [&str; 8] = [
    "SECRET-query-token",
    "SECRET-query-code",
    "SECRET-bearer",
    "SECRET-cookie",
    "SECRET-api-key",
    "SECRET-json-password",
    "SECRET-set-cookie",
    "SECRET-url-password",
];

fn app() -> Router {
    Router::new()
        .route(
            "/login",
            post(|body: String| async move {
                tracing::info!(len = body.len(), "login handled");
                (
                    [
                        ("set-cookie", "sid=SECRET-set-cookie; HttpOnly"),
                        ("content-type", "application/json"),
                    ],
                    format!(
                        r#"{{"ok":true,"access_token":"{}"}}"#,
                        "SECRET-json-password"
                    ),
                )
            }),
        )
        .layer(BodyCaptureLayer::new())
        .layer(
            HttpLayer::new()
                .record_request_header(HeaderName::from_static("authorization"))
                .record_request_header(HeaderName::from_static("cookie"))
                .record_request_header(HeaderName::from_static("x-api-key"))
                .record_request_header(HeaderName::from_static("content-type"))
                .record_response_header(HeaderName::from_static("set-cookie")),
        )
}

#[test]
fn client_to_server_hop_and_no_secret_leaves_the_process() {
    isolated(
        "hop::client_to_server_hop_and_no_secret_leaves_the_process",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let logs = LogCapture::new();
            let guard = obs_core::init(
                ObsConfig::builder()
                    .service_name("hop")
                    .endpoint(receiver.grpc_endpoint())
                    .catalog(obs_http::catalog::CATALOG)
                    .log_writer(logs.writer())
                    .log_filter("trace")
                    .build(),
            )
            .unwrap();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let (status, body, admin_text) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let router = app().merge(obs_http::admin::AdminRouter::new().build());
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

            let mut client = ServiceBuilder::new()
                .layer(ClientLayer::new())
                .service(Client::builder(TokioExecutor::new()).build_http::<Body>());
            let tracer = obs_core::trace::tracer().unwrap();
            let parent = tracer.start("checkout");
            let cx = opentelemetry::Context::current_with_span(parent);
            let request = Request::post(format!(
                "http://user:SECRET-url-password@{addr}/login?token=SECRET-query-token&code=SECRET-query-code&page=1"
            ))
            .header("authorization", "Bearer SECRET-bearer")
            .header("cookie", "session=SECRET-cookie")
            .header("x-api-key", "SECRET-api-key")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"user":"bob","password":"SECRET-json-password","note":"visible"}"#))
            .unwrap();
            let response = async { client.ready().await.unwrap().call(request).await.unwrap() }
                .with_context(cx.clone())
                .await;
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            cx.span().end();

            let metrics = Client::builder(TokioExecutor::new())
                .build_http::<Body>()
                .request(Request::get(format!("http://{addr}/metrics")).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let text = metrics.into_body().collect().await.unwrap().to_bytes();
            (status, body, String::from_utf8_lossy(&text).into_owned())
        });
            assert_eq!(status, 200);
            assert!(
                String::from_utf8_lossy(&body).contains("SECRET-json-password"),
                "the app's own response is unchanged"
            );
            guard.force_flush().unwrap();

            // The hop: checkout → client span → server span, one trace.
            let spans = receiver.wait_for(WAIT, |s| s.len() >= 3);
            let checkout = spans.iter().find(|s| s.name == "checkout").expect("parent");
            let client = spans.iter().find(|s| s.kind == 3).expect("client span");
            let server = spans
                .iter()
                .find(|s| s.name == "POST /login")
                .expect("server span");
            assert_eq!(client.parent_span_id, checkout.span_id);
            assert_eq!(server.parent_span_id, client.span_id);
            assert_eq!(server.trace_id, checkout.trace_id);

            // Body capture worked, redacted.
            let captured = server
                .attr("http.request.body.content")
                .expect("request body captured");
            assert!(
                captured.contains(r#""password":"[REDACTED]""#),
                "{captured}"
            );
            assert!(captured.contains("visible"), "{captured}");
            let response_body = server
                .attr("http.response.body.content")
                .expect("response body captured");
            assert!(
                response_body.contains(r#""access_token":"[REDACTED]""#),
                "{response_body}"
            );
            assert_eq!(
                server.attr("http.request.header.authorization"),
                Some("[[REDACTED]]")
            );
            assert_eq!(
                server.attr("http.request.header.x-api-key"),
                Some("[[REDACTED]]")
            );
            assert_eq!(
                server.attr("http.request.header.content-type"),
                Some("[application/json]")
            );

            // Nothing secret anywhere: spans (every attribute, event and resource), logs, metrics.
            let exported = format!("{:?}", receiver.requests());
            let log_text = logs.contents();
            let metrics_text = format!("{admin_text}\n{}", MetricsSnapshot::current().text);
            assert!(
                log_text.contains("login handled"),
                "the handler's log line is captured"
            );
            assert!(
                metrics_text.contains("http_requests_total"),
                "the scrape has the HTTP metrics"
            );
            for secret in SECRETS {
                assert!(!exported.contains(secret), "{secret} leaked into a span");
                assert!(
                    !log_text.contains(secret),
                    "{secret} leaked into the logs:\n{}",
                    log_text
                        .lines()
                        .filter(|l| l.contains(secret))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                assert!(
                    !metrics_text.contains(secret),
                    "{secret} leaked into the metrics"
                );
            }
            let scraped = MetricsSnapshot::parse(&admin_text);
            assert_eq!(
                scraped.value(
                    "http_requests_total",
                    &[("route", "/login"), ("code_class", "2xx")]
                ),
                Some(1.0)
            );
            assert!(
                scraped
                    .find("http_requests_total", &[("route", "/metrics")])
                    .is_empty()
            );
        },
    );
}
