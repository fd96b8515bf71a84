//! The server layer per request, without the network: an axum router called through
//! `tower::ServiceExt::oneshot`, bare and behind `HttpLayer` (metrics only; metrics + a span that is
//! not sampled; metrics + a sampled span). Spans are sampled by the layer's per-request override, so
//! the configured sampler plays no part; no exporter is configured, so export costs nothing here
//! (the load benchmark measures export).
//!
//! Run: `cargo bench -p obs-http --bench http`. Report the added time per request as the difference
//! to `bare` measured in the same run.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use obs_http::HttpLayer;
use tower::ServiceExt as _;

fn router() -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/health", get(|| async { "ok" }))
}

fn request() -> Request<Body> {
    Request::get("/users/42?page=2")
        .header("host", "api.example.com")
        .header("user-agent", "bench/1.0")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let _guard = obs_core::init(
        obs_core::ObsConfig::builder()
            .catalog(obs_http::catalog::CATALOG)
            .log_filter("error")
            .build(),
    )
    .expect("init");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let configs: [(&str, Router); 4] = [
        ("bare", router()),
        (
            "metrics_only",
            router().layer(HttpLayer::new().metrics_only()),
        ),
        (
            "metrics_unsampled_span",
            router().layer(HttpLayer::new().sampler(|_| Some(0.0))),
        ),
        (
            "metrics_sampled_span",
            router().layer(HttpLayer::new().sampler(|_| Some(1.0))),
        ),
    ];
    let mut group = c.benchmark_group("http_layer");
    group.measurement_time(Duration::from_secs(5));
    for (name, app) in configs {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let app = app.clone();
                async move {
                    let response = app.oneshot(request()).await.unwrap();
                    // Dropping the body finishes the request's span and metrics.
                    drop(response);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
