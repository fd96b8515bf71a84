//! `server <config>`: one configuration's globals and router, served on 127.0.0.1:0 by a
//! current-thread runtime, so the server uses one core.

use std::io::Write as _;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use tower_http::trace::TraceLayer;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::Config;
use crate::discard::{Discard, discarded};

fn app() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

/// Whatever must live as long as the server (guards, providers, metric handles).
pub(crate) type Keep = Vec<Box<dyn std::any::Any>>;

fn obs_init(builder: obs_core::ObsConfigBuilder) -> Result<obs_core::ObsGuard, String> {
    obs_core::init(
        builder
            .catalog(obs_http::catalog::CATALOG)
            .log_filter("error")
            .build(),
    )
    .map_err(|e| e.to_string())
}

/// The span queue of obs's processor and of the peers' batch processor: the libraries' defaults
/// for a server; big enough for every span of an in-process run, whose export thread runs only
/// when callgrind lets it (a full queue would drop spans and leave their export uncounted).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Queue {
    Default,
    AtLeast(usize),
}

/// The peers' tracing: the SDK's own batch processor to the discarding exporter, W3C propagator,
/// every span sampled, bridged from `tracing` by tracing-opentelemetry, under an INFO filter.
fn peer_otel(keep: &mut Keep, queue: Queue) -> Result<(), String> {
    let mut batch = BatchConfigBuilder::default();
    if let Queue::AtLeast(n) = queue {
        batch = batch.with_max_queue_size(n);
    }
    let processor = BatchSpanProcessor::builder(Discard)
        .with_batch_config(batch.build())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(processor)
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("load-bench"));
    // The level filter of a production service: `TraceLayer`'s DEBUG events stay out of the spans.
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())?;
    keep.push(Box::new(provider));
    Ok(())
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// `TraceLayer` with a span whose parent is the caller's W3C context: the usual recipe for
/// tower-http with tracing-opentelemetry.
fn otel_trace(router: Router) -> Router {
    router.layer(
        TraceLayer::new_for_http().make_span_with(|req: &http::Request<Body>| {
            let parent = opentelemetry::global::get_text_map_propagator(|p| {
                p.extract(&HeaderExtractor(req.headers()))
            });
            let span = tracing::info_span!(
                "request",
                otel.kind = "server",
                method = %req.method(),
                uri = %req.uri(),
                version = ?req.version(),
            );
            let _ = span.set_parent(parent);
            span
        }),
    )
}

fn axum_prometheus(router: Router, keep: &mut Keep) -> Router {
    let (layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
    keep.push(Box::new(handle));
    router.layer(layer)
}

/// Sets up `config`'s globals and returns its router.
pub(crate) fn setup(config: Config, keep: &mut Keep, queue: Queue) -> Result<Router, String> {
    let full = |ratio: f64| obs_http::HttpLayer::new().sampler(move |_| Some(ratio));
    Ok(match config {
        Config::Bare => app(),
        Config::AxumLayer => app().layer(tower::layer::util::Identity::new()),
        Config::ObsMetrics => {
            keep.push(Box::new(obs_init(obs_core::ObsConfig::builder())?));
            app().layer(obs_http::HttpLayer::new().metrics_only())
        }
        Config::ObsFull10 | Config::ObsFull100 => {
            // The driver sends sampled traceparents; the layer's ratio must decide anyway, as it
            // did before a sampled parent won over a sampling override.
            let mut builder = obs_core::ObsConfig::builder()
                .span_exporter(Discard)
                .sampling_overrides_parent(true);
            if let Queue::AtLeast(n) = queue {
                builder = builder.span_queue_size(n);
            }
            keep.push(Box::new(obs_init(builder)?));
            let ratio = if config == Config::ObsFull10 {
                0.1
            } else {
                1.0
            };
            app().layer(full(ratio))
        }
        Config::TowerHttpTrace => {
            // `fmt()` at its default level, INFO, as `tracing_subscriber::fmt().init()` installs it.
            let subscriber = tracing_subscriber::fmt()
                .with_writer(std::io::sink)
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())?;
            app().layer(TraceLayer::new_for_http())
        }
        Config::AxumPrometheus => axum_prometheus(app(), keep),
        Config::TowerHttpOtel => {
            peer_otel(keep, queue)?;
            otel_trace(app())
        }
        Config::AxumPrometheusOtel => {
            peer_otel(keep, queue)?;
            axum_prometheus(otel_trace(app()), keep)
        }
    })
}

/// Exports what the span processors in `keep` still hold.
pub(crate) fn flush(keep: &Keep) -> Result<(), String> {
    for kept in keep {
        if let Some(guard) = kept.downcast_ref::<obs_core::ObsGuard>() {
            guard.force_flush().map_err(|e| e.to_string())?;
        }
        if let Some(provider) = kept.downcast_ref::<SdkTracerProvider>() {
            provider.force_flush().map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// What reached the exporter and what obs's queue dropped, for the driver's sanity check. Outside
/// the layers, so it is neither measured nor counted.
async fn stats() -> String {
    let dropped = obs_core::export_stats().map_or(0, obs_core::ExportStats::dropped);
    format!("exported={} dropped={dropped}", discarded())
}

/// Serves `config` until killed. Pins itself to `cpu` first when given (when `taskset` is absent),
/// so every thread it starts inherits the pinning.
pub(crate) fn run(config: Config, cpu: Option<usize>) -> Result<(), String> {
    if let Some(id) = cpu
        && !core_affinity::set_for_current(core_affinity::CoreId { id })
    {
        return Err(format!("cannot pin the server to CPU {id}"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut keep = Keep::new();
    // axum-prometheus spawns its upkeep task while it is built, so set up inside the runtime.
    let router = {
        let _enter = runtime.enter();
        setup(config, &mut keep, Queue::Default)?.route("/__stats", get(stats))
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "port {port}")
            .and_then(|()| stdout.flush())
            .map_err(|e| e.to_string())?;
        drop(stdout);
        axum::serve(listener, router)
            .await
            .map_err(|e| e.to_string())
    })
}
