//! Where the route comes from, and where requests no route matches go: merged routers, plain hyper
//! servers, the application's own spans inside a handler.

use std::borrow::Cow;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use obs_http::HttpLayer;
use obs_http::admin::AdminRouter;
use obs_testkit::{MetricsSnapshot, isolated};

use crate::server::{Harness, WAIT, client, send};

fn unmatched_count() -> f64 {
    MetricsSnapshot::current()
        .value(
            "http_requests_total",
            &[
                ("method", "GET"),
                ("route", "unmatched"),
                ("code_class", "4xx"),
            ],
        )
        .unwrap_or(0.0)
}

fn app() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

#[test]
fn every_documented_layout_counts_unmatched_requests_once() {
    isolated(
        "routes::every_documented_layout_counts_unmatched_requests_once",
        || {
            let h = Harness::new(|b| b);
            let admin = || AdminRouter::new().build();
            let layouts: [(&str, Router); 5] = [
                // The README's and the admin module's: the layer, then the admin routes merged.
                (
                    "layer-then-merge",
                    app().layer(HttpLayer::new()).merge(admin()),
                ),
                // The layer last, over the admin routes too.
                (
                    "merge-then-layer",
                    app().merge(admin()).layer(HttpLayer::new()),
                ),
                // The admin router first, the layered application merged into it.
                (
                    "admin-merges-app",
                    admin().merge(app().layer(HttpLayer::new())),
                ),
                // The application's own fallback, layered, kept by the merge.
                (
                    "own-fallback",
                    app()
                        .fallback(|| async { (StatusCode::NOT_FOUND, "own fallback") })
                        .layer(HttpLayer::new())
                        .merge(admin()),
                ),
                // The layer alone, as the server module docs show it.
                ("layer-only", app().layer(HttpLayer::new())),
            ];
            let c = client();
            for (name, router) in layouts {
                let addr = h.serve(router);
                let before = unmatched_count();
                let path = format!("/nowhere/{name}");
                let (parts, _) = h.runtime.block_on(send(
                    &c,
                    Request::get(format!("http://{addr}{path}"))
                        .body(Body::empty())
                        .unwrap(),
                ));
                assert_eq!(parts.status, StatusCode::NOT_FOUND, "{name}");
                assert!(parts.headers.contains_key("x-request-id"), "{name}");
                assert_eq!(
                    unmatched_count(),
                    before + 1.0,
                    "{name}: counted once as route=\"unmatched\""
                );
                h.flush();
                let spans = h.receiver.wait_for(WAIT, |spans| {
                    spans
                        .iter()
                        .any(|s| s.attr("url.path") == Some(path.as_str()))
                });
                let spans: Vec<_> = spans
                    .iter()
                    .filter(|s| s.attr("url.path") == Some(path.as_str()))
                    .collect();
                assert_eq!(spans.len(), 1, "{name}: one span: {spans:?}");
                assert_eq!(spans[0].name, "GET", "{name}");
                assert_eq!(spans[0].attr("http.response.status_code"), Some("404"));
                assert!(spans[0].attr("http.route").is_none(), "{name}");
                // The admin routes stay skipped by the default configuration.
                let (parts, _) = h.runtime.block_on(send(
                    &c,
                    Request::get(format!("http://{addr}/healthz"))
                        .body(Body::empty())
                        .unwrap(),
                ));
                let expected = if name == "layer-only" { 404 } else { 200 };
                assert_eq!(parts.status, expected, "{name}");
            }
            let snap = MetricsSnapshot::current();
            assert!(
                snap.find("http_requests_total", &[("route", "/healthz")])
                    .is_empty()
            );
        },
    );
}

#[tracing::instrument]
async fn load_profile(user: u32) -> u32 {
    tracing::info!("loading the profile");
    user + 1
}

#[test]
fn handler_spans_are_children_of_the_server_span_and_logs_carry_its_trace() {
    isolated(
        "routes::handler_spans_are_children_of_the_server_span_and_logs_carry_its_trace",
        || {
            use tracing::Instrument as _;
            let h = Harness::new(|b| b);
            let app = Router::new()
                .route(
                    "/profile",
                    get(|| async {
                        tracing::info!("in the handler");
                        let span = tracing::info_span!("render.profile", user = 7);
                        async { load_profile(7).await.to_string() }
                            .instrument(span)
                            .await
                    }),
                )
                .layer(HttpLayer::new());
            let addr = h.serve(app);
            let (parts, body) = h.runtime.block_on(send(
                &client(),
                Request::get(format!("http://{addr}/profile"))
                    .body(Body::empty())
                    .unwrap(),
            ));
            assert_eq!(body, "8");
            let traceparent = parts.headers["traceparent"].to_str().unwrap().to_owned();
            h.flush();
            let spans = h.receiver.wait_for(WAIT, |s| s.len() >= 3);
            let server = spans.iter().find(|s| s.name == "GET /profile").unwrap();
            let render = spans.iter().find(|s| s.name == "render.profile").unwrap();
            let load = spans.iter().find(|s| s.name == "load_profile").unwrap();
            assert!(traceparent.contains(&server.span_id), "{traceparent}");
            assert_eq!(render.trace_id, server.trace_id);
            assert_eq!(
                render.parent_span_id, server.span_id,
                "a child of the server span"
            );
            assert_eq!(load.trace_id, server.trace_id);
            assert_eq!(
                load.parent_span_id, render.span_id,
                "#[instrument] nests too"
            );
            for message in ["in the handler", "loading the profile"] {
                let lines = h.logs.lines_containing(message);
                assert_eq!(lines.len(), 1, "{message}");
                assert!(
                    lines[0].contains(&format!("trace_id={}", server.trace_id)),
                    "{}",
                    lines[0]
                );
            }
        },
    );
}

#[test]
fn a_plain_hyper_server_gets_routes_from_an_extractor_or_an_extension() {
    isolated(
        "routes::a_plain_hyper_server_gets_routes_from_an_extractor_or_an_extension",
        || {
            use hyper_util::rt::{TokioExecutor, TokioIo};
            use hyper_util::server::conn::auto;
            use hyper_util::service::TowerToHyperService;
            use obs_http::server::Route;
            use tower::ServiceBuilder;

            let h = Harness::new(|b| b);
            // A hand-written router behind the layer, as a plain hyper service has.
            let app = tower::service_fn(|req: Request<hyper::body::Incoming>| async move {
                let (status, body) = match req.uri().path() {
                    "/panic" => panic!("handler exploded"),
                    p if p.starts_with("/users/") => (StatusCode::OK, "user"),
                    "/static" => (StatusCode::OK, "static"),
                    _ => (StatusCode::NOT_FOUND, "none"),
                };
                let mut response = http::Response::new(String::from(body));
                *response.status_mut() = status;
                Ok::<_, std::convert::Infallible>(response)
            });
            let service = ServiceBuilder::new()
                // A router in front of the layer names the route with the extension.
                .map_request(|mut req: Request<hyper::body::Incoming>| {
                    if req.uri().path() == "/static" {
                        req.extensions_mut().insert(Route::new("/static"));
                    }
                    req
                })
                .layer(
                    HttpLayer::new()
                        .route_with(|head| {
                            head.uri
                                .path()
                                .starts_with("/users/")
                                .then_some(Cow::Borrowed("/users/{id}"))
                        })
                        // Responses keep the service's own body type: nothing is boxed.
                        .inner_body(),
                )
                .service(app);
            fn keeps_the_body_type<S>(_: &S)
            where
                S: tower::Service<
                        Request<hyper::body::Incoming>,
                        Response = http::Response<obs_http::server::ResponseBody<String>>,
                    >,
            {
            }
            keeps_the_body_type(&service);
            let addr = h.runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(async move {
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        let service = TowerToHyperService::new(service.clone());
                        tokio::spawn(async move {
                            let _ = auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
                addr
            });
            let c = client();
            h.runtime.block_on(async {
                let (parts, body) = send(
                    &c,
                    Request::get(format!("http://{addr}/panic"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                assert_eq!(
                    (parts.status, body.as_str()),
                    (StatusCode::INTERNAL_SERVER_ERROR, "")
                );
                for path in ["/users/1", "/users/2", "/static", "/other"] {
                    send(
                        &c,
                        Request::get(format!("http://{addr}{path}"))
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await;
                }
            });
            let snap = MetricsSnapshot::current();
            let count = |route, class| {
                snap.value(
                    "http_requests_total",
                    &[("method", "GET"), ("route", route), ("code_class", class)],
                )
            };
            assert_eq!(count("/users/{id}", "2xx"), Some(2.0));
            assert_eq!(count("/static", "2xx"), Some(1.0));
            assert_eq!(count("unmatched", "4xx"), Some(1.0));
            assert_eq!(count("unmatched", "5xx"), Some(1.0), "the panic");
            h.flush();
            let spans = h.receiver.wait_for(WAIT, |s| s.len() >= 5);
            let users: Vec<_> = spans
                .iter()
                .filter(|s| s.name == "GET /users/{id}")
                .collect();
            assert_eq!(users.len(), 2, "{spans:?}");
            assert_eq!(users[0].attr("http.route"), Some("/users/{id}"));
            let fixed = spans.iter().find(|s| s.name == "GET /static").unwrap();
            assert_eq!(fixed.attr("http.route"), Some("/static"));
            assert!(spans.iter().any(|s| s.name == "GET"));
        },
    );
}

#[test]
fn handlers_set_attributes_on_the_request_span() {
    isolated(
        "routes::handlers_set_attributes_on_the_request_span",
        || {
            use obs_http::RequestSpan;
            use tracing::Instrument as _;
            let h = Harness::new(|b| b);
            let app = Router::new()
                .route(
                    "/orders",
                    get(|span: RequestSpan| async move {
                        assert!(span.is_recording());
                        span.set_attribute("tenant", "acme");
                        span.set_attribute("plan.seats", 25);
                        // From inside the application's own span, the request's span still.
                        async {
                            RequestSpan::current().set_attribute("cache.hit", true);
                        }
                        .instrument(tracing::info_span!("lookup"))
                        .await;
                        "ok"
                    }),
                )
                .layer(HttpLayer::new());
            let addr = h.serve(app);
            h.runtime.block_on(send(
                &client(),
                Request::get(format!("http://{addr}/orders"))
                    .body(Body::empty())
                    .unwrap(),
            ));
            // Outside a request: a no-op.
            RequestSpan::current().set_attribute("tenant", "nobody");
            assert!(!RequestSpan::current().is_recording());
            h.flush();
            let spans = h.receiver.wait_for(WAIT, |s| s.len() >= 2);
            let server = spans.iter().find(|s| s.name == "GET /orders").unwrap();
            assert_eq!(server.attr("tenant"), Some("acme"));
            assert_eq!(server.attr("plan.seats"), Some("25"));
            assert_eq!(server.attr("cache.hit"), Some("true"));
            let lookup = spans.iter().find(|s| s.name == "lookup").unwrap();
            assert!(lookup.attr("cache.hit").is_none());
        },
    );
}
