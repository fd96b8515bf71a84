//! The opt-in access log: one line per request, through obs's own log output.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use obs_http::HttpLayer;
use obs_testkit::isolated;

use crate::server::{Harness, client, send};

fn app(layer: HttpLayer) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/healthz", get(|| async { "ok" }))
        .layer(layer)
}

#[test]
fn the_access_log_writes_one_line_per_request_when_asked() {
    isolated(
        "access::the_access_log_writes_one_line_per_request_when_asked",
        || {
            let h = Harness::new(|b| b);
            let on = h.serve(app(HttpLayer::new().access_log(true)));
            let metrics_only = h.serve(app(HttpLayer::new().metrics_only().access_log(true)));
            let off = h.serve(app(HttpLayer::new()));
            let c = client();
            h.runtime.block_on(async {
                for addr in [on, off] {
                    for path in ["/users/42", "/nowhere", "/healthz"] {
                        let request = Request::get(format!("http://{addr}{path}"))
                            .header("x-request-id", "req-access")
                            .header("x-correlation-id", "corr-access");
                        send(&c, request.body(Body::empty()).unwrap()).await;
                    }
                }
                let request = Request::get(format!("http://{metrics_only}/users/7"));
                send(&c, request.body(Body::empty()).unwrap()).await;
            });
            let lines = h.logs.lines_containing("obs_http::access");
            assert_eq!(lines.len(), 3, "{lines:#?}");
            let user = &lines[0];
            for expected in [
                " INFO ",
                "method=\"GET\"",
                "route=\"/users/{id}\"",
                "status=200",
                "latency_ms=",
                "bytes=4",
                "trace_id=",
                "correlation_id=corr-access",
                "request_id=req-access",
            ] {
                assert!(user.contains(expected), "{expected} in {user}");
            }
            let unmatched = &lines[1];
            assert!(
                unmatched.contains("route=\"unmatched\"") && unmatched.contains("status=404"),
                "{unmatched}"
            );
            assert!(
                lines.iter().all(|l| !l.contains("healthz")),
                "health checks are skipped"
            );
            // Without spans or ids: the line still says what happened.
            assert!(lines[2].contains("status=200") && !lines[2].contains("trace_id="));
        },
    );
}
