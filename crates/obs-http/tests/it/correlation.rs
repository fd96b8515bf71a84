//! The correlation id across a hop (server layer → client layer → server layer), and the request
//! id on log lines where it differs from the correlation id.

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use obs_http::{ClientLayer, CorrelationId, HttpLayer, RequestId};
use obs_testkit::isolated;
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

use crate::server::{Harness, client, send};

/// Answers `{request id} {correlation id}` as it saw them.
fn downstream() -> Router {
    Router::new()
        .route(
            "/inner",
            get(
                |Extension(r): Extension<RequestId>, Extension(c): Extension<CorrelationId>| async move {
                    tracing::info!("downstream handled");
                    format!("{r} {c}")
                },
            ),
        )
        .layer(HttpLayer::new())
}

/// Calls the downstream service through the client layer and answers what it answered.
fn upstream(inner: std::net::SocketAddr, propagate: bool) -> Router {
    Router::new()
        .route(
            "/outer",
            get(move || async move {
                tracing::info!("upstream handled");
                let mut client = ServiceBuilder::new()
                    .layer(ClientLayer::new().with_propagation(propagate))
                    .service(Client::builder(TokioExecutor::new()).build_http::<Body>());
                let request = Request::get(format!("http://{inner}/inner"))
                    .body(Body::empty())
                    .unwrap();
                let response = client.ready().await.unwrap().call(request).await.unwrap();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                String::from_utf8_lossy(&body).into_owned()
            }),
        )
        .layer(HttpLayer::new())
}

#[test]
fn the_correlation_id_goes_downstream_and_logs_carry_the_request_id() {
    isolated(
        "correlation::the_correlation_id_goes_downstream_and_logs_carry_the_request_id",
        || {
            let h = Harness::new(|b| b);
            let inner = h.serve(downstream());
            let outer = h.serve(upstream(inner, true));
            let quiet = h.serve(upstream(inner, false));
            let c = client();
            let get = |addr, path: &str, correlation: Option<&str>| {
                let mut request = Request::get(format!("http://{addr}{path}"))
                    .header("x-request-id", "req-outer");
                if let Some(id) = correlation {
                    request = request.header("x-correlation-id", id);
                }
                h.runtime
                    .block_on(send(&c, request.body(Body::empty()).unwrap()))
                    .1
            };

            // The caller's correlation id reaches the downstream service; each hop has its own
            // request id.
            let body = get(outer, "/outer", Some("corr-checkout"));
            let (inner_request, inner_correlation) = body.split_once(' ').unwrap();
            assert_eq!(inner_correlation, "corr-checkout", "{body}");
            assert_ne!(inner_request, "req-outer");
            let upstream_line = &h.logs.lines_containing("upstream handled")[0];
            assert!(
                upstream_line.contains("correlation_id=corr-checkout")
                    && upstream_line.contains("request_id=req-outer"),
                "{upstream_line}"
            );
            let downstream_line = &h.logs.lines_containing("downstream handled")[0];
            assert!(
                downstream_line.contains("correlation_id=corr-checkout")
                    && downstream_line.contains(&format!("request_id={inner_request}")),
                "{downstream_line}"
            );

            // Without one, the upstream request id is the correlation id downstream, and a log
            // line whose two ids are one carries it once.
            let body = get(outer, "/outer", None);
            assert_eq!(body.split_once(' ').unwrap().1, "req-outer", "{body}");
            let upstream_line = &h.logs.lines_containing("upstream handled")[1];
            assert!(
                upstream_line.contains("correlation_id=req-outer")
                    && !upstream_line.contains("request_id="),
                "{upstream_line}"
            );

            // Propagation off: no id leaves the service.
            let body = get(quiet, "/outer", Some("corr-private"));
            let (inner_request, inner_correlation) = body.split_once(' ').unwrap();
            assert_eq!(inner_request, inner_correlation, "{body}");
            assert_ne!(inner_correlation, "corr-private");
        },
    );
}
