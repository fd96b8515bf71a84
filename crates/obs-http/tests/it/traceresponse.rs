//! The W3C Trace Context Level 2 `traceresponse` header through a real hop: the server layer
//! answers with it when asked to (off by default), and the client layer hands it to the caller
//! and records it on the client span.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use obs_core::ObsConfig;
use obs_http::client::TraceResponse;
use obs_http::{ClientLayer, HttpLayer};
use obs_testkit::{OtlpReceiver, isolated};
use tower::{ServiceBuilder, ServiceExt as _};

const WAIT: Duration = Duration::from_secs(10);

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn route(layer: HttpLayer) -> Router {
    Router::new()
        .route("/x", get(|| async { "ok" }))
        .layer(layer)
}

/// Calls `/x` on `addr` through the client layer: the response's `traceresponse` header and the
/// extension the client layer put on it.
async fn call(addr: SocketAddr) -> (Option<String>, Option<TraceResponse>) {
    let client = ServiceBuilder::new()
        .layer(ClientLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http::<Body>());
    let request = Request::get(format!("http://{addr}/x"))
        .body(Body::empty())
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    let header = response
        .headers()
        .get("traceresponse")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        header,
        response.extensions().get::<TraceResponse>().copied(),
    )
}

#[test]
fn traceresponse_names_the_server_span_and_reaches_the_caller() {
    isolated(
        "traceresponse::traceresponse_names_the_server_span_and_reaches_the_caller",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = obs_core::init(
                ObsConfig::builder()
                    .service_name("traceresponse")
                    .endpoint(receiver.grpc_endpoint())
                    .log_filter("off")
                    .build(),
            )
            .unwrap();
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let (on, off, restarted, invalid) = runtime.block_on(async {
                let on = serve(route(HttpLayer::new().traceresponse(true))).await;
                let off = serve(route(HttpLayer::new())).await;
                // A server that does not continue the caller's trace answers with its own.
                let restarted = serve(route(
                    HttpLayer::new().propagation(false).traceresponse(true),
                ))
                .await;
                let invalid = serve(Router::new().route(
                    "/x",
                    get(|| async { ([("traceresponse", "00-zz-00f067aa0ba902b7-01")], "ok") }),
                ))
                .await;
                (
                    call(on).await,
                    call(off).await,
                    call(restarted).await,
                    call(invalid).await,
                )
            });
            guard.force_flush().unwrap();

            // Off by default, and an invalid value is ignored.
            assert_eq!(off, (None, None));
            assert_eq!(invalid.1, None);

            let (header, tr) = on;
            let tr = tr.expect("the client layer read the traceresponse");
            assert_eq!(header.as_deref(), Some(tr.to_string().as_str()));
            // A trace the client started: sampled, and random (obs generated its id).
            assert!(tr.is_sampled() && tr.is_random(), "{tr}");

            let spans = receiver.wait_for(WAIT, |s| s.iter().filter(|s| s.kind == 2).count() >= 2);
            let server = spans
                .iter()
                .find(|s| s.kind == 2 && s.trace_id == tr.trace_id().to_string())
                .expect("the server span of the first call");
            assert_eq!(server.span_id, tr.child_id().to_string(), "child-id");
            let client = spans
                .iter()
                .find(|s| s.kind == 3 && s.span_id == server.parent_span_id)
                .expect("its client span");
            assert_eq!(
                client.attr("http.response.header.traceresponse"),
                Some(format!("[{tr}]").as_str())
            );

            // The restarted trace is linked from the caller's client span.
            let restarted = restarted.1.expect("traceresponse of the restarting server");
            let linked = receiver.requests().iter().any(|request| {
                request.resource_spans.iter().any(|rs| {
                    rs.scope_spans.iter().any(|ss| {
                        ss.spans.iter().any(|span| {
                            span.links.iter().any(|link| {
                                link.trace_id == restarted.trace_id().to_bytes()
                                    && link.span_id == restarted.child_id().to_bytes()
                            })
                        })
                    })
                })
            });
            assert!(linked, "no link to the callee's own trace");
        },
    );
}
