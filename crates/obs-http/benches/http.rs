//! obs-http's hot paths without the network, each next to its bare baseline in the same run:
//! - the server layer: an axum router called through `tower::ServiceExt::oneshot`, bare, with one
//!   empty layer (what axum adds for any layer), with [`Floor`] (the least a metrics layer does),
//!   and behind `HttpLayer` (metrics only; full with the span unsampled, sampled at 10 %, sampled at 100 %; full
//!   without request ids). Sampling is forced by the layer's per-request override; sampled spans go
//!   through obs's queue to an exporter that discards them.
//! - the client layer: a `tower::service_fn` "client" answering at once, bare and behind
//!   `ClientLayer`, its span sampled and not.
//!
//! Run: `cargo bench -p obs-http --bench http`. Report added time as the difference to the bare
//! figure of the same run.
//!
//! Last run (2026-11-23 20:02 UTC, 2 vCPU x86_64, a noisy host; criterion medians): server bare
//! 1.30 us; one empty layer 1.42 (+0.12: axum's cost of any layer); floor layer 1.54 (+0.23);
//! metrics only 1.71 (+0.41, 0.17 over the floor); full unsampled 2.58 (+1.28); full at 10 % 3.03
//! (+1.73; 2.71 at 19:15); full sampled 3.68 (+2.37; +3.14 at 18:05, before the attribute strings
//! were shared); full sampled without request ids 3.10 (+1.79). Client (19:42 UTC): bare 0.32 us,
//! with ClientLayer 2.37 (span sampled and exported; 1.74 to 2.52 in three earlier runs), unsampled
//! 0.89. Request id: generate 48 ns, `format!` baseline 117 ns. On this machine the same code
//! measures up to 30 % apart from run to run; `cargo xtask bench-instructions`
//! (docs/instructions.md) is the steady comparison.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use obs_http::{ClientLayer, HttpLayer};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tower::{Layer as _, ServiceExt as _};

/// Drops every batch: export costs batching, not the network.
#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

fn router() -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/health", get(|| async { "ok" }))
}

/// A request with a fresh trace id each time (ratio sampling decides by trace id: with one fixed
/// id, 10 % would sample every request or none), the same for every row.
fn request() -> Request<Body> {
    thread_local! {
        static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(0x5eed) };
    }
    // splitmix64: well spread ids from a counter.
    let mut z = NEXT.with(|n| {
        let v = n.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        n.set(v);
        v
    });
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let mut traceparent = *b"00-00000000000000000000000000000000-00f067aa0ba902b7-01";
    let trace_id = obs_core::__private::hex_u128(u128::from(z) << 64 | u128::from(z | 1));
    traceparent[3..35].copy_from_slice(&trace_id);
    Request::get("/users/42?page=2")
        .header("host", "api.example.com")
        .header("user-agent", "bench/1.0")
        .header("traceparent", &traceparent[..])
        .body(Body::empty())
        .unwrap()
}

/// The floor of a metrics layer: two clock reads, one latency histogram and one request counter
/// of obs's catalog, both resolved once, and the request's `MatchedPath` looked up. Not a usable
/// layer (no route, status, size or in-flight metrics, no panic handling): what any layer that
/// times requests with a route label pays at least.
#[derive(Clone)]
struct Floor<S> {
    inner: S,
}

static FLOOR_LATENCY: obs_core::metrics::HistogramVec =
    obs_core::metrics::HistogramVec::new(&obs_http::catalog::HTTP_REQUEST_LATENCY);
static FLOOR_REQUESTS: obs_core::metrics::CounterVec =
    obs_core::metrics::CounterVec::new(&obs_http::catalog::HTTP_REQUESTS);
static FLOOR_HANDLES: std::sync::OnceLock<(metrics::Histogram, metrics::Counter)> =
    std::sync::OnceLock::new();

pin_project_lite::pin_project! {
    struct FloorFuture<F> {
        #[pin]
        inner: F,
        start: std::time::Instant,
    }
}

impl<F: std::future::Future> std::future::Future for FloorFuture<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        let (latency, requests) = FLOOR_HANDLES.get_or_init(|| {
            (
                FLOOR_LATENCY.with(&["/floor"]),
                FLOOR_REQUESTS.with(&["GET", "/floor", "2xx"]),
            )
        });
        latency.record(this.start.elapsed().as_secs_f64() * 1_000.0);
        requests.increment(1);
        std::task::Poll::Ready(output)
    }
}

impl<S, B> tower::Service<Request<B>> for Floor<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = FloorFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let start = std::time::Instant::now();
        std::hint::black_box(req.extensions().get::<axum::extract::MatchedPath>());
        FloorFuture {
            inner: self.inner.call(req),
            start,
        }
    }
}

fn server(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let full = |ratio: f64| HttpLayer::new().sampler(move |_| Some(ratio));
    let configs: [(&str, Router); 8] = [
        ("bare", router()),
        // What axum adds for any layer, before the layer does anything: the floor of the rows below.
        (
            "axum_empty_layer",
            router().layer(tower::layer::util::Identity::new()),
        ),
        // The least a layer can do to time and count requests: the floor of metrics only.
        (
            "floor_layer",
            router().layer(tower::layer::layer_fn(|inner| Floor { inner })),
        ),
        (
            "metrics_only",
            router().layer(HttpLayer::new().metrics_only()),
        ),
        ("full_unsampled", router().layer(full(0.0))),
        ("full_sampled_10pct", router().layer(full(0.1))),
        ("full_sampled", router().layer(full(1.0))),
        (
            "full_sampled_no_ids",
            router().layer(full(1.0).request_ids(false)),
        ),
    ];
    let mut group = c.benchmark_group("server_layer");
    for (name, app) in configs {
        // `axum::serve` turns handlers into routes once, before the first request; `with_state`
        // does the same here, so the bench does not pay per request what a server never pays.
        let app: Router = app.with_state(());
        group.bench_function(name, |b| {
            b.to_async(rt).iter(|| {
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

fn client(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let inner = tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("ok")))
    });
    let traced = ClientLayer::new().layer(inner);
    let call = || {
        Request::get("http://api.example.com/v1/items?page=2")
            .body(Body::empty())
            .unwrap()
    };
    let mut group = c.benchmark_group("client_layer");
    group.bench_function("bare", |b| b.to_async(rt).iter(|| inner.oneshot(call())));
    // With no parent the default sampler samples the client span: exported to the discarding
    // exporter through obs's queue.
    group.bench_function("client_layer", |b| {
        b.to_async(rt).iter(|| traced.clone().oneshot(call()))
    });
    // The same call under a context whose sampling override is 0: the span is not sampled.
    let unsampled =
        obs_core::sampler::SamplingOverride::ratio(0.0).attach_to(&opentelemetry::Context::new());
    group.bench_function("client_layer_unsampled", |b| {
        b.to_async(rt).iter(|| {
            opentelemetry::context::FutureExt::with_context(
                traced.clone().oneshot(call()),
                unsampled.clone(),
            )
        })
    });
    group.finish();
}

/// Request-id generation: obs's (random u128, hex by table, one shared allocation) against the
/// obvious `format!("{:032x}")` of a random u128 turned into a header value.
fn request_ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_id");
    group.bench_function("format_baseline", |b| {
        b.iter(|| {
            let id = format!("{:032x}", rand::random::<u128>());
            http::HeaderValue::from_str(&id).unwrap()
        })
    });
    group.bench_function("generate", |b| b.iter(obs_http::RequestId::generate));
    group.finish();
}

fn all(c: &mut Criterion) {
    let _guard = obs_core::init(
        obs_core::ObsConfig::builder()
            .catalog(obs_http::catalog::CATALOG)
            .span_exporter(Discard)
            .span_queue_size(65_536)
            .log_filter("error")
            // The requests carry sampled traceparents; the layer's ratio decides anyway.
            .sampling_overrides_parent(true)
            .build(),
    )
    .expect("init");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    server(c, &rt);
    client(c, &rt);
    request_ids(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = all
}
criterion_main!(benches);
