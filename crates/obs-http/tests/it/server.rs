//! The server layer against a real socket and a real HTTP client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use obs_core::ObsConfig;
use obs_http::{CorrelationId, HttpLayer, ObsUser, RequestId};
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};

pub(crate) const WAIT: Duration = Duration::from_secs(10);
const PARENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

pub(crate) struct Harness {
    pub(crate) receiver: OtlpReceiver,
    pub(crate) logs: LogCapture,
    guard: obs_core::ObsGuard,
    pub(crate) runtime: tokio::runtime::Runtime,
}

impl Harness {
    pub(crate) fn new(
        configure: impl FnOnce(obs_core::ObsConfigBuilder) -> obs_core::ObsConfigBuilder,
    ) -> Self {
        let receiver = OtlpReceiver::start().unwrap();
        let logs = LogCapture::new();
        let config = ObsConfig::builder()
            .service_name("http-tests")
            .endpoint(receiver.grpc_endpoint())
            .catalog(obs_http::catalog::CATALOG)
            .log_writer(logs.writer());
        let guard = obs_core::init(configure(config).build()).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Self {
            receiver,
            logs,
            guard,
            runtime,
        }
    }

    /// Serves `app` on 127.0.0.1 with peer addresses, returning its address.
    pub(crate) fn serve(&self, app: Router) -> SocketAddr {
        self.runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
                .unwrap();
            });
            addr
        })
    }

    pub(crate) fn flush(&self) {
        self.guard.force_flush().unwrap();
    }
}

pub(crate) fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub(crate) async fn send(
    client: &Client<HttpConnector, Body>,
    req: Request<Body>,
) -> (http::response::Parts, String) {
    let response = client.request(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts, String::from_utf8_lossy(&bytes).into_owned())
}

fn app() -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/fail", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }))
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "nope") }))
        .route(
            "/ids",
            get(|Extension(r): Extension<RequestId>, Extension(c): Extension<CorrelationId>| async move {
                tracing::info!("handling the ids request");
                format!("{r} {c}")
            }),
        )
        .route("/panic", get(|| async { if true { panic!("handler exploded") } else { "never" } }))
        .route("/echo", post(|body: String| async move { body }))
        .route("/healthz", get(|| async { "ok" }))
        .layer(HttpLayer::new())
}

#[test]
fn server_span_has_the_exact_attributes_and_parent() {
    isolated(
        "server::server_span_has_the_exact_attributes_and_parent",
        || {
            let h = Harness::new(|b| b);
            let addr = h.serve(app());
            let (parts, body) = h.runtime.block_on(send(
                &client(),
                Request::get(format!("http://{addr}/users/42?token=s3cr3t&page=2"))
                    .header("traceparent", format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01"))
                    .header("user-agent", "obs-test/1.0")
                    .body(Body::empty())
                    .unwrap(),
            ));
            assert_eq!(body, "user");
            assert_eq!(parts.status, 200);
            let traceparent = parts.headers["traceparent"].to_str().unwrap();
            assert!(
                traceparent.starts_with(&format!("00-{PARENT_TRACE}-")),
                "{traceparent}"
            );
            let request_id = parts.headers["x-request-id"].to_str().unwrap().to_owned();
            assert_eq!(
                parts.headers["x-correlation-id"].to_str().unwrap(),
                request_id
            );

            h.flush();
            let span = h
                .receiver
                .wait_for_span("GET /users/{id}", WAIT)
                .expect("server span");
            assert_eq!(span.trace_id, PARENT_TRACE);
            assert_eq!(span.parent_span_id, PARENT_SPAN);
            assert_eq!(span.kind, 2, "server kind");
            assert_eq!(span.status_code, 0);
            assert!(traceparent.contains(&span.span_id));
            let expected = [
                ("http.request.method", "GET".to_owned()),
                ("url.path", "/users/42".to_owned()),
                ("url.query", "token=[REDACTED]&page=2".to_owned()),
                ("url.scheme", "http".to_owned()),
                ("http.route", "/users/{id}".to_owned()),
                ("http.response.status_code", "200".to_owned()),
                ("server.address", "127.0.0.1".to_owned()),
                ("server.port", addr.port().to_string()),
                ("client.address", "127.0.0.1".to_owned()),
                ("user_agent.original", "obs-test/1.0".to_owned()),
                ("network.protocol.version", "1.1".to_owned()),
                ("http.response.body.size", "4".to_owned()),
                ("request_id", request_id.clone()),
                ("correlation_id", request_id.clone()),
            ];
            for (key, value) in expected {
                assert_eq!(
                    span.attr(key),
                    Some(value.as_str()),
                    "{key} in {:?}",
                    span.attributes
                );
            }
            assert!(span.attr("error.type").is_none());
            assert!(!format!("{:?}", h.receiver.spans()).contains("s3cr3t"));
        },
    );
}

#[test]
fn malformed_context_unmatched_routes_errors_and_skips() {
    isolated(
        "server::malformed_context_unmatched_routes_errors_and_skips",
        || {
            let h = Harness::new(|b| b);
            let addr = h.serve(app());
            let c = client();
            h.runtime.block_on(async {
                let (parts, _) = send(
                    &c,
                    Request::get(format!("http://{addr}/users/1"))
                        .header("traceparent", "00-zzzz-not-a-traceparent-01")
                        .header("tracestate", "Invalid Key=1")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                assert_eq!(
                    parts.status, 200,
                    "a malformed header never fails the request"
                );
                for path in ["/nowhere", "/fail", "/missing", "/healthz"] {
                    send(
                        &c,
                        Request::get(format!("http://{addr}{path}"))
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await;
                }
            });
            h.flush();
            let spans = h.receiver.wait_for(WAIT, |s| s.len() >= 4);
            let root = spans.iter().find(|s| s.name == "GET /users/{id}").unwrap();
            assert_eq!(
                root.parent_span_id, "",
                "malformed traceparent starts a new root"
            );
            assert_ne!(root.trace_id, PARENT_TRACE);
            let unmatched = spans
                .iter()
                .find(|s| s.name == "GET")
                .expect("unmatched span is named {METHOD}");
            assert!(unmatched.attr("http.route").is_none());
            assert_eq!(unmatched.attr("http.response.status_code"), Some("404"));
            assert_eq!(
                unmatched.status_code, 0,
                "4xx is not an error on the server"
            );
            let fail = spans.iter().find(|s| s.name == "GET /fail").unwrap();
            assert_eq!(fail.status_code, 2, "5xx is an error");
            assert_eq!(fail.attr("error.type"), Some("503"));
            assert!(
                !spans.iter().any(|s| s.name.contains("healthz")),
                "skipped for spans"
            );

            let snap = MetricsSnapshot::current();
            let requests = |route: &str, class: &str| {
                snap.value(
                    "http_requests_total",
                    &[("method", "GET"), ("route", route), ("code_class", class)],
                )
            };
            assert_eq!(requests("/users/{id}", "2xx"), Some(1.0));
            assert_eq!(requests("unmatched", "4xx"), Some(1.0));
            assert_eq!(requests("/fail", "5xx"), Some(1.0));
            assert_eq!(requests("/missing", "4xx"), Some(1.0));
            assert_eq!(
                snap.value("http_errors_total", &[("route", "/fail"), ("code", "503")]),
                Some(1.0)
            );
            assert_eq!(
                snap.value(
                    "http_errors_total",
                    &[("route", "/missing"), ("code", "404")]
                ),
                Some(1.0)
            );
            assert!(
                snap.find("http_requests_total", &[("route", "/healthz")])
                    .is_empty(),
                "skipped for metrics"
            );
            assert_eq!(
                snap.value("http_request_latency_ms_count", &[("route", "/users/{id}")]),
                Some(1.0)
            );
            assert_eq!(
                snap.value("http_response_size_bytes_sum", &[("route", "/users/{id}")]),
                Some(4.0)
            );
            assert_eq!(snap.value("http_requests_in_flight", &[]), Some(0.0));
            assert_eq!(snap.kind("http_request_latency_ms"), Some("histogram"));
        },
    );
}

#[test]
fn request_ids_are_reused_or_generated_and_reach_logs() {
    isolated(
        "server::request_ids_are_reused_or_generated_and_reach_logs",
        || {
            let h = Harness::new(|b| b);
            let addr = h.serve(app());
            let c = client();
            let (reused, generated, body) = h.runtime.block_on(async {
                let (reused, _) = send(
                    &c,
                    Request::get(format!("http://{addr}/ids"))
                        .header("x-request-id", "req-abc-123")
                        .header("x-correlation-id", "corr-xyz")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                let (generated, body) = send(
                    &c,
                    Request::get(format!("http://{addr}/ids"))
                        .header("x-request-id", "bad id with spaces<script>")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                (reused, generated, body)
            });
            assert_eq!(reused.headers["x-request-id"], "req-abc-123");
            assert_eq!(reused.headers["x-correlation-id"], "corr-xyz");
            let new_id = generated.headers["x-request-id"].to_str().unwrap();
            assert_eq!(new_id.len(), 32, "a fresh id replaces an unsafe one");
            assert_eq!(
                body,
                format!("{new_id} {new_id}"),
                "handlers read the ids from extensions"
            );
            let lines = h.logs.lines_containing("handling the ids request");
            assert_eq!(lines.len(), 2);
            assert!(lines[0].contains("correlation_id=corr-xyz"), "{}", lines[0]);
            assert!(lines[0].contains("trace_id="), "{}", lines[0]);
            h.flush();
            let spans = h.receiver.wait_for(WAIT, |s| s.len() >= 2);
            assert!(
                spans
                    .iter()
                    .any(|s| s.attr("correlation_id") == Some("corr-xyz"))
            );
        },
    );
}

#[test]
fn a_panicking_handler_is_a_500_and_the_server_stays_up() {
    isolated(
        "server::a_panicking_handler_is_a_500_and_the_server_stays_up",
        || {
            let h = Harness::new(|b| b);
            let addr = h.serve(app());
            let c = client();
            h.runtime.block_on(async {
                let (parts, _) = send(
                    &c,
                    Request::get(format!("http://{addr}/panic"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                assert_eq!(parts.status, 500);
                assert!(parts.headers.contains_key("x-request-id"));
                let (parts, _) = send(
                    &c,
                    Request::get(format!("http://{addr}/users/7"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                assert_eq!(parts.status, 200, "the server still serves");
            });
            h.flush();
            let span = h.receiver.wait_for_span("GET /panic", WAIT).unwrap();
            assert_eq!(span.status_code, 2);
            assert_eq!(span.attr("error.type"), Some("panic"));
            assert!(span.events.contains(&"exception".to_owned()));
            let snap = MetricsSnapshot::current();
            assert_eq!(
                snap.value("http_errors_total", &[("route", "/panic"), ("code", "500")]),
                Some(1.0)
            );
        },
    );
}

#[test]
fn ten_thousand_concurrent_requests_are_counted_exactly() {
    isolated(
        "server::ten_thousand_concurrent_requests_are_counted_exactly",
        || {
            let h = Harness::new(|b| b);
            let addr = h.serve(app());
            let c = client();
            const N: usize = 10_000;
            let limit = Arc::new(tokio::sync::Semaphore::new(256));
            h.runtime.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for i in 0..N {
                    let c = c.clone();
                    let permit = limit.clone().acquire_owned().await.unwrap();
                    let path = if i % 10 == 0 {
                        "/missing".to_owned()
                    } else {
                        format!("/users/{i}")
                    };
                    tasks.spawn(async move {
                        let req = Request::get(format!("http://{addr}{path}"))
                            .body(Body::empty())
                            .unwrap();
                        let status = c.request(req).await.unwrap().status();
                        drop(permit);
                        status
                    });
                }
                let mut ok = 0;
                while let Some(status) = tasks.join_next().await {
                    if status.unwrap() == 200 {
                        ok += 1;
                    }
                }
                assert_eq!(ok, N - N / 10);
            });
            // Scrape /metrics over HTTP, as Prometheus would.
            let admin = h.serve(obs_http::admin::AdminRouter::new().build());
            let (parts, text) = h.runtime.block_on(send(
                &c,
                Request::get(format!("http://{admin}/metrics"))
                    .body(Body::empty())
                    .unwrap(),
            ));
            assert_eq!(parts.status, 200);
            let snap = MetricsSnapshot::parse(&text);
            let count = |route: &str, class: &str| {
                snap.value(
                    "http_requests_total",
                    &[("method", "GET"), ("route", route), ("code_class", class)],
                )
            };
            assert_eq!(count("/users/{id}", "2xx"), Some((N - N / 10) as f64));
            assert_eq!(count("/missing", "4xx"), Some((N / 10) as f64));
            assert_eq!(
                snap.value("http_request_latency_ms_count", &[("route", "/users/{id}")]),
                Some((N - N / 10) as f64)
            );
            assert_eq!(snap.value("http_requests_in_flight", &[]), Some(0.0));
        },
    );
}

#[derive(Clone)]
struct Claims {
    sub: String,
    role: &'static str,
}

impl ObsUser for Claims {
    fn user_id(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.sub.as_str().into())
    }
    fn role(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.role.into())
    }
}

#[test]
fn role_sampling_overrides_the_configured_sampler() {
    isolated(
        "server::role_sampling_overrides_the_configured_sampler",
        || {
            let h = Harness::new(|b| b.sampler(obs_core::SamplerConfig::AlwaysOff));
            let app = Router::new()
                .route("/work", get(|| async { "done" }))
                .layer(HttpLayer::new().user::<Claims>().sample_role("admin", 1.0))
                .layer(axum::middleware::from_fn(
                    |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                        let role = if req.headers().contains_key("x-admin") {
                            "admin"
                        } else {
                            "user"
                        };
                        req.extensions_mut().insert(Claims {
                            sub: format!("u-{role}"),
                            role,
                        });
                        next.run(req).await
                    },
                ));
            let addr = h.serve(app);
            let c = client();
            h.runtime.block_on(async {
                for admin in [false, true, false] {
                    let mut req = Request::get(format!("http://{addr}/work"));
                    if admin {
                        req = req.header("x-admin", "1");
                    }
                    send(&c, req.body(Body::empty()).unwrap()).await;
                }
            });
            h.flush();
            let spans = h.receiver.wait_for(WAIT, |s| !s.is_empty());
            assert_eq!(
                spans.len(),
                1,
                "only the admin request is sampled: {spans:?}"
            );
            assert_eq!(spans[0].attr("user.id"), Some("u-admin"));
            assert_eq!(spans[0].attr("user.roles"), Some("[admin]"));
            let snap = MetricsSnapshot::current();
            assert_eq!(
                snap.value("http_requests_total", &[("route", "/work")]),
                Some(3.0),
                "metrics see every request"
            );
        },
    );
}

#[test]
fn forwarded_headers_count_only_when_the_proxy_is_trusted() {
    isolated(
        "server::forwarded_headers_count_only_when_the_proxy_is_trusted",
        || {
            let h = Harness::new(|b| b);
            let route = |name: &'static str| Router::new().route(name, get(|| async { "ok" }));
            let untrusted = h.serve(route("/untrusted").layer(HttpLayer::new()));
            let trusted =
                h.serve(route("/trusted").layer(HttpLayer::new().trust_forwarded_headers(true)));
            let c = client();
            h.runtime.block_on(async {
                for (addr, path) in [(untrusted, "/untrusted"), (trusted, "/trusted")] {
                    let req = Request::get(format!("http://{addr}{path}"))
                        .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
                        .header("x-forwarded-proto", "https")
                        .body(Body::empty())
                        .unwrap();
                    send(&c, req).await;
                }
            });
            h.flush();
            let spans = h.receiver.wait_for(WAIT, |s| s.len() >= 2);
            let untrusted = spans.iter().find(|s| s.name == "GET /untrusted").unwrap();
            let trusted = spans.iter().find(|s| s.name == "GET /trusted").unwrap();
            assert_eq!(untrusted.attr("client.address"), Some("127.0.0.1"));
            assert_eq!(untrusted.attr("url.scheme"), Some("http"));
            assert_eq!(trusted.attr("client.address"), Some("203.0.113.7"));
            assert_eq!(trusted.attr("url.scheme"), Some("https"));
        },
    );
}

#[test]
fn streamed_bodies_are_counted_and_end_the_span_when_they_end() {
    isolated(
        "server::streamed_bodies_are_counted_and_end_the_span_when_they_end",
        || {
            let h = Harness::new(|b| b);
            let app = Router::new()
                .route(
                    "/stream",
                    get(|| async {
                        let chunks = futures_util::stream::iter(["first,", "second,", "third"])
                            .then(|chunk| async move {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                Ok::<_, std::io::Error>(bytes::Bytes::from(chunk))
                            });
                        Body::from_stream(chunks)
                    }),
                )
                .layer(HttpLayer::new());
            let addr = h.serve(app);
            let c = client();
            let (parts, body) = h.runtime.block_on(send(
                &c,
                Request::get(format!("http://{addr}/stream"))
                    .body(Body::empty())
                    .unwrap(),
            ));
            assert_eq!(parts.status, 200);
            assert_eq!(
                body, "first,second,third",
                "the body passes through unchanged"
            );
            h.flush();
            let span = h.receiver.wait_for_span("GET /stream", WAIT).unwrap();
            assert_eq!(span.attr("http.response.body.size"), Some("18"));
            let snap = MetricsSnapshot::current();
            assert_eq!(
                snap.value("http_response_size_bytes_sum", &[("route", "/stream")]),
                Some(18.0)
            );
            // The latency covers the whole body (three 20 ms chunks), not just the headers.
            let latency = snap
                .value("http_request_latency_ms_sum", &[("route", "/stream")])
                .unwrap();
            assert!(latency >= 55.0, "latency {latency} ms ends with the body");
            assert_eq!(snap.value("http_requests_in_flight", &[]), Some(0.0));
        },
    );
}

#[test]
fn small_known_bodies_finish_with_the_head_others_when_read() {
    isolated(
        "server::small_known_bodies_finish_with_the_head_others_when_read",
        || {
            use tower::ServiceExt as _;
            let h = Harness::new(|b| b);
            let routes = || {
                Router::new()
                    .route("/small", get(|| async { "user" }))
                    .route("/large", get(|| async { vec![b'x'; 100_000] }))
            };
            let unsampled = routes().layer(HttpLayer::new().sampler(|_| Some(0.0)));
            let sampled = routes().layer(HttpLayer::new().sampler(|_| Some(1.0)));
            let captured = routes()
                .layer(obs_http::server::BodyCaptureLayer::new())
                .layer(HttpLayer::new().sampler(|_| Some(1.0)));
            let in_flight = || MetricsSnapshot::current().value("http_requests_in_flight", &[]);
            let size = |route| {
                MetricsSnapshot::current()
                    .value("http_response_size_bytes_sum", &[("route", route)])
                    .unwrap_or(0.0)
            };
            let get = |app: &Router, path: &str| {
                // In process, so that the test holds the body unread.
                let request = Request::get(path).body(Body::empty()).unwrap();
                h.runtime.block_on(app.clone().oneshot(request)).unwrap()
            };

            // Buffered and small: finished with the head, even if the body is never read.
            let response = get(&unsampled, "/small");
            assert_eq!(in_flight(), Some(0.0), "finished with the head");
            assert_eq!(size("/small"), 4.0);
            drop(response);
            assert_eq!(size("/small"), 4.0, "counted once");

            // Large: the request lasts until its body ends; a body dropped unread sent nothing.
            let response = get(&unsampled, "/large");
            assert_eq!(in_flight(), Some(1.0), "in flight until the body ends");
            drop(response);
            assert_eq!(in_flight(), Some(0.0));
            assert_eq!(size("/large"), 0.0);
            let response = get(&unsampled, "/large");
            let body = h.runtime.block_on(response.into_body().collect());
            assert_eq!(body.unwrap().to_bytes().len(), 100_000);
            assert_eq!(size("/large"), 100_000.0);

            // Sampled: the same, the span ends with the head and has the body's size.
            let response = get(&sampled, "/small");
            assert_eq!(
                in_flight(),
                Some(0.0),
                "a sampled request ends with the head too"
            );
            drop(response);
            assert_eq!(size("/small"), 8.0);
            h.flush();
            let span = h.receiver.wait_for_span("GET /small", WAIT).unwrap();
            assert_eq!(span.attr("http.response.body.size"), Some("4"));

            // A body capture records on the span as the body is read: the span waits for it.
            let response = get(&captured, "/small");
            assert_eq!(
                in_flight(),
                Some(1.0),
                "a captured request ends with its body"
            );
            let body = h.runtime.block_on(response.into_body().collect());
            assert_eq!(&body.unwrap().to_bytes()[..], b"user");
            assert_eq!(in_flight(), Some(0.0));
            assert_eq!(size("/small"), 12.0);
        },
    );
}

#[test]
fn one_endpoint_serving_many_methods_and_routes_labels_each_request_right() {
    isolated(
        "server::one_endpoint_serving_many_methods_and_routes_labels_each_request_right",
        || {
            use axum::routing::any;
            use tower::ServiceExt as _;
            let h = Harness::new(|b| b);
            // `any` is one endpoint for every method; one wrapped service mounted at two paths
            // sees two routes. Each wrapped service remembers the first (method, route) it saw;
            // the others must still be labelled by their own.
            let shared = tower::Layer::layer(
                &HttpLayer::new().metrics_only(),
                tower::service_fn(|_: Request<Body>| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("s")))
                }),
            );
            let app = Router::new()
                .route("/any", any(|| async { "any" }))
                .nest(
                    "/api",
                    Router::new()
                        .route("/a", get(|| async { "a" }))
                        .route("/b/{id}", get(|| async { "b" })),
                )
                .fallback(|| async { (StatusCode::NOT_FOUND, "none") })
                .layer(HttpLayer::new().metrics_only())
                // Added after the router's layer, so counted once, by their own.
                .route_service("/x", shared.clone())
                .route_service("/y/{id}", shared)
                // As `axum::serve` does: handlers become routes (and wrapped services) once.
                .with_state::<()>(());
            let calls = [
                ("GET", "/any"),
                ("POST", "/any"),
                ("GET", "/any"),
                ("DELETE", "/any"),
                ("GET", "/api/a"),
                ("GET", "/api/b/1"),
                ("GET", "/api/b/2"),
                ("GET", "/nowhere"),
                ("PUT", "/elsewhere"),
                ("GET", "/x"),
                ("GET", "/y/1"),
                ("GET", "/x"),
            ];
            for (method, path) in calls {
                let request = Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::empty())
                    .unwrap();
                h.runtime.block_on(app.clone().oneshot(request)).unwrap();
            }
            let snap = MetricsSnapshot::current();
            let count = |method, route, class| {
                snap.value(
                    "http_requests_total",
                    &[("method", method), ("route", route), ("code_class", class)],
                )
            };
            assert_eq!(count("GET", "/any", "2xx"), Some(2.0));
            assert_eq!(count("POST", "/any", "2xx"), Some(1.0));
            assert_eq!(count("DELETE", "/any", "2xx"), Some(1.0));
            assert_eq!(count("GET", "/api/a", "2xx"), Some(1.0));
            assert_eq!(count("GET", "/api/b/{id}", "2xx"), Some(2.0));
            assert_eq!(count("GET", "unmatched", "4xx"), Some(1.0));
            assert_eq!(count("PUT", "unmatched", "4xx"), Some(1.0));
            assert_eq!(count("GET", "/x", "2xx"), Some(2.0));
            assert_eq!(count("GET", "/y/{id}", "2xx"), Some(1.0));
            assert_eq!(snap.find("http_requests_total", &[]).len(), 9);
        },
    );
}
