//! `ClientLayer` against a real axum server, through hyper-util's client.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use obs_core::{ObsConfig, ObsGuard};
use obs_http::ClientLayer;
use obs_testkit::{MetricsSnapshot, OtlpReceiver, ReceivedSpan, isolated};
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt, Tracer as _};
use tower::{Service, ServiceBuilder, ServiceExt};

/// A generous bound for "arrives eventually" waits.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// OTLP span kind `CLIENT`.
const KIND_CLIENT: i32 = 3;
/// OTLP status code `ERROR`.
const STATUS_ERROR: i32 = 2;

/// `init` exporting to `receiver`, with obs-http's catalog, logging nowhere.
pub(crate) fn init(receiver: &OtlpReceiver) -> ObsGuard {
    let capture = obs_testkit::LogCapture::new();
    obs_core::init(
        ObsConfig::builder()
            .service_name("t")
            .endpoint(receiver.grpc_endpoint())
            .log_writer(capture.writer())
            .catalog(obs_http::catalog::CATALOG)
            .build(),
    )
    .expect("init")
}

/// A multi-threaded runtime for one test.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Serves `router` on 127.0.0.1:0 and returns its address.
pub(crate) async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// `/echo` answers with the `traceparent` it received; `/status/{code}` with that status.
fn app() -> Router {
    Router::new()
        .route(
            "/echo",
            get(|headers: HeaderMap| async move {
                headers
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            }),
        )
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move { StatusCode::from_u16(code).unwrap() }),
        )
}

type Traced = obs_http::client::Client<Client<HttpConnector, Empty<Bytes>>>;

fn client() -> Traced {
    let hyper = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    ServiceBuilder::new()
        .layer(ClientLayer::new())
        .service(hyper)
}

async fn get_text(client: &mut Traced, url: &str) -> (StatusCode, String) {
    let request = http::Request::get(url).body(Empty::new()).unwrap();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn client_spans(receiver: &OtlpReceiver, n: usize) -> Vec<ReceivedSpan> {
    let spans = receiver.wait_for(WAIT, |s| {
        s.iter().filter(|s| s.kind == KIND_CLIENT).count() >= n
    });
    spans
        .into_iter()
        .filter(|s| s.kind == KIND_CLIENT)
        .collect()
}

fn duration_count(server: &str, method: &str, class: &str) -> f64 {
    MetricsSnapshot::current().sum(
        "http_client_request_duration_ms_count",
        &[
            ("method", method),
            ("server", server),
            ("code_class", class),
        ],
    )
}

#[test]
fn each_call_gets_its_own_span_in_the_callers_trace() {
    isolated(
        "client::each_call_gets_its_own_span_in_the_callers_trace",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            let tracer = obs_core::trace::tracer().expect("tracer");
            let parent = Context::current_with_span(tracer.start("parent"));
            let parent_sc = parent.span().span_context().clone();

            let seen = runtime().block_on(
                async {
                    let addr = serve(app()).await;
                    let mut client = client();
                    let url = format!("http://{addr}/echo");
                    let (_, first) = get_text(&mut client, &url).await;
                    let (_, second) = get_text(&mut client, &url).await;
                    [first, second]
                }
                .with_context(parent.clone()),
            );
            parent.span().end();
            guard.force_flush().unwrap();

            let trace_id = parent_sc.trace_id().to_string();
            let parts: Vec<Vec<&str>> = seen.iter().map(|tp| tp.split('-').collect()).collect();
            for p in &parts {
                assert_eq!(p.len(), 4, "server saw traceparent {seen:?}");
                assert_eq!(p[1], trace_id);
                assert_ne!(p[2], parent_sc.span_id().to_string());
            }
            assert_ne!(parts[0][2], parts[1][2], "each call has its own span id");

            let spans = client_spans(&receiver, 2);
            for p in &parts {
                let span = spans
                    .iter()
                    .find(|s| s.span_id == p[2])
                    .expect("the injected span id is the exported client span's");
                assert_eq!(span.name, "GET");
                assert_eq!(span.trace_id, trace_id);
                assert_eq!(span.parent_span_id, parent_sc.span_id().to_string());
            }
            assert_eq!(duration_count("127.0.0.1", "GET", "2xx"), 2.0);
        },
    );
}

#[test]
fn span_attributes_follow_semconv_and_are_redacted() {
    isolated(
        "client::span_attributes_follow_semconv_and_are_redacted",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            let port = runtime().block_on(async {
                let addr = serve(app()).await;
                let mut client = client();
                let url = format!("http://{addr}/echo?token=secret&x=1");
                let (status, _) = get_text(&mut client, &url).await;
                assert_eq!(status, StatusCode::OK);
                addr.port()
            });
            guard.force_flush().unwrap();

            let spans = client_spans(&receiver, 1);
            let span = &spans[0];
            let port = port.to_string();
            let expected = [
                ("http.request.method", "GET"),
                ("server.address", "127.0.0.1"),
                ("server.port", port.as_str()),
                ("http.response.status_code", "200"),
            ];
            for (key, value) in expected {
                assert_eq!(
                    span.attr(key),
                    Some(value),
                    "{key} in {:?}",
                    span.attributes
                );
            }
            let url = format!("http://127.0.0.1:{port}/echo?token=[REDACTED]&x=1");
            assert_eq!(span.attr("url.full"), Some(url.as_str()));
            assert_eq!(span.attr("error.type"), None);
            assert_ne!(span.status_code, STATUS_ERROR);
            for s in receiver.spans() {
                for (key, value) in &s.attributes {
                    assert!(!value.contains("secret"), "{key}={value} leaks the token");
                }
            }
        },
    );
}

#[test]
fn error_statuses_mark_the_span() {
    isolated("client::error_statuses_mark_the_span", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(&receiver);
        runtime().block_on(async {
            let addr = serve(app()).await;
            let mut client = client();
            for code in [500, 404, 500] {
                let url = format!("http://{addr}/status/{code}");
                let (status, _) = get_text(&mut client, &url).await;
                assert_eq!(status.as_u16(), code, "the response passes through");
            }
        });
        guard.force_flush().unwrap();

        let spans = client_spans(&receiver, 3);
        for span in &spans {
            let code = span.attr("http.response.status_code").unwrap();
            assert_eq!(span.attr("error.type"), Some(code));
            assert_eq!(span.status_code, STATUS_ERROR, "{code}");
        }
        assert_eq!(duration_count("127.0.0.1", "GET", "5xx"), 2.0);
        assert_eq!(duration_count("127.0.0.1", "GET", "4xx"), 1.0);
    });
}

#[test]
fn a_refused_connection_returns_the_inner_error() {
    isolated(
        "client::a_refused_connection_returns_the_inner_error",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = closed.local_addr().unwrap();
            drop(closed);
            runtime().block_on(async {
                let mut client = client();
                let request = http::Request::get(format!("http://{addr}/"))
                    .body(Empty::new())
                    .unwrap();
                let error = client
                    .ready()
                    .await
                    .unwrap()
                    .call(request)
                    .await
                    .unwrap_err();
                let error: hyper_util::client::legacy::Error = error;
                assert!(error.is_connect(), "{error:?}");
            });
            guard.force_flush().unwrap();

            let spans = client_spans(&receiver, 1);
            let span = &spans[0];
            assert_eq!(
                span.attr("error.type"),
                Some(std::any::type_name::<hyper_util::client::legacy::Error>()),
                "error.type is the error's type name"
            );
            assert_eq!(span.status_code, STATUS_ERROR);
            assert_eq!(span.attr("http.response.status_code"), None);
            assert_eq!(duration_count("127.0.0.1", "GET", "error"), 1.0);
        },
    );
}

#[test]
fn propagation_can_be_turned_off() {
    isolated("client::propagation_can_be_turned_off", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(&receiver);
        let seen = runtime().block_on(async {
            let addr = serve(app()).await;
            let hyper = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
            let mut client = ServiceBuilder::new()
                .layer(ClientLayer::new().with_propagation(false))
                .service(hyper);
            get_text(&mut client, &format!("http://{addr}/echo"))
                .await
                .1
        });
        guard.force_flush().unwrap();
        assert_eq!(seen, "", "no traceparent reaches the server");
        assert_eq!(
            client_spans(&receiver, 1).len(),
            1,
            "the span is still recorded"
        );
    });
}

#[cfg(feature = "client")]
#[test]
fn the_ready_client_traces_and_measures_its_calls() {
    isolated(
        "client::the_ready_client_traces_and_measures_its_calls",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            let rt = runtime();
            let (status, echoed) = rt.block_on(async {
                let addr = serve(app()).await;
                let client = obs_http::client::HttpClient::new();
                let request = http::Request::get(format!("http://{addr}/echo"))
                    .body(axum::body::Body::empty())
                    .unwrap();
                let response = client.request(request).await.unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (status, String::from_utf8_lossy(&body).into_owned())
            });
            assert_eq!(status, 200);
            guard.force_flush().unwrap();
            let span = receiver.wait_for_span("GET", WAIT).expect("client span");
            assert_eq!(span.kind, KIND_CLIENT);
            assert!(echoed.contains(&span.span_id), "{echoed}");
            let snap = MetricsSnapshot::current();
            assert_eq!(
                snap.value(
                    "http_client_request_duration_ms_count",
                    &[("method", "GET"), ("code_class", "2xx")]
                ),
                Some(1.0)
            );
        },
    );
}
