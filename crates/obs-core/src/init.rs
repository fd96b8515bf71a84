//! `init`: installs logging, tracing, metrics and propagation for the whole process.

mod errors;

pub use errors::ShutdownError;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::recorder::{MetricsHandle, ObsRecorder};
use crate::registry::Settings;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanProcessor as _};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::catalog::{self, MetricDef};
use crate::config::{ObsConfig, Protocol, SamplerConfig};
use crate::export::{ExportStats, QueueProcessor, QueueSettings, SharedProcessor};
use crate::exporter::BoxedExporter;
use crate::logging::{LogWriter, ObsFormat, validate_filter};
use crate::metrics::catalog_limits;
use crate::propagation::W3CPropagator;

static INITIALIZED: AtomicBool = AtomicBool::new(false);
static PROMETHEUS: OnceLock<MetricsHandle> = OnceLock::new();
static EXPORT_STATS: OnceLock<Arc<ExportStats>> = OnceLock::new();

/// Why `init` could not install obs. Nothing is half-installed only when the error comes before any
/// global was set (configuration, catalog and exporter errors). `Debug` prints the message too.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// `init` was already called in this process.
    #[error("obs_core::init was already called in this process; keep the first ObsGuard instead")]
    AlreadyInitialized,
    /// A configuration value is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A metric catalog entry is invalid.
    #[error("invalid metric catalog: {0}")]
    Catalog(#[from] catalog::CatalogError),
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP span exporter for {endpoint}: {reason}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// Another metrics recorder is already installed.
    #[error(
        "a global metrics recorder is already installed; remove the other installation or let obs install it"
    )]
    RecorderAlreadySet,
    /// Another tracing subscriber is already installed.
    #[error(
        "a global tracing subscriber is already installed; remove the other installation or let obs install it"
    )]
    SubscriberAlreadySet,
    /// A thread or runtime obs needs could not be started.
    #[error("cannot start obs's export thread: {0}")]
    Io(#[from] std::io::Error),
}

/// Keeps obs running. `shutdown` (or drop) flushes pending spans within the configured timeout.
#[must_use = "dropping the guard shuts tracing down at once"]
pub struct ObsGuard {
    provider: Option<SdkTracerProvider>,
    processor: Option<Arc<QueueProcessor>>,
    shutdown_timeout: Duration,
    prometheus: MetricsHandle,
    stats: Arc<ExportStats>,
    _upkeep: crossbeam_channel::Sender<()>,
    done: AtomicBool,
}

impl std::fmt::Debug for ObsGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObsGuard")
            .field("exporting", &self.provider.is_some())
            .finish_non_exhaustive()
    }
}

impl ObsGuard {
    /// The metrics handle, to render `/metrics`.
    pub fn prometheus(&self) -> &MetricsHandle {
        &self.prometheus
    }

    /// What the span processor did so far.
    pub fn export_stats(&self) -> &ExportStats {
        &self.stats
    }

    /// Exports every span ended so far; waits at most 30 s.
    ///
    /// # Errors
    /// A [`ShutdownError`] saying how many spans were lost while it ran (dropped, in failed
    /// exports, or still being exported when it timed out). They are counted in the metrics too.
    pub fn force_flush(&self) -> Result<(), ShutdownError> {
        match &self.processor {
            Some(p) => {
                let before = errors::Before::read(&self.stats);
                before.finish("flush", &self.stats, p.force_flush())
            }
            None => Ok(()),
        }
    }

    /// Flushes pending spans and stops the exporter, within the configured shutdown timeout.
    /// Later calls do nothing.
    ///
    /// # Errors
    /// A [`ShutdownError`] when any span pending at the call, or ended during it, was not
    /// exported: it says how many. They are lost and counted in the metrics. Log it and exit
    /// normally; see the `service` example.
    pub fn shutdown(&self) -> Result<(), ShutdownError> {
        if self.done.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let before = errors::Before::read(&self.stats);
        let result = match &self.processor {
            Some(p) => p.shutdown_with_timeout(self.shutdown_timeout),
            None => Ok(()),
        };
        // The processor is stopped already; this marks the provider shut down (spans ended from
        // now on are not recorded), and its own result says nothing new.
        if let Some(p) = &self.provider {
            let _ = p.shutdown_with_timeout(self.shutdown_timeout);
        }
        before.finish("shutdown", &self.stats, result)
    }
}

impl Drop for ObsGuard {
    fn drop(&mut self) {
        // Nobody sees the result of a shutdown on drop: say what was lost in the log.
        if let Err(error) = self.shutdown() {
            tracing::warn!(target: "obs_core::export", lost_spans = error.lost_spans(), "{error}");
        }
    }
}

/// The metrics handle installed by `init`, if any: renders `/metrics`.
pub fn prometheus_handle() -> Option<&'static MetricsHandle> {
    PROMETHEUS.get()
}

/// The span processor's counters, once `init` installed an exporter.
pub fn export_stats() -> Option<&'static ExportStats> {
    EXPORT_STATS.get().map(|s| &**s)
}

/// Installs, for the whole process: the tracing subscriber (text or JSON logs that carry trace and
/// span ids), the OpenTelemetry tracer provider bridged to `tracing` (exporting by OTLP when an
/// endpoint is set), the Prometheus recorder with every catalog metric described, and the W3C
/// propagator.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = obs_core::init(obs_core::ObsConfig::from_env()?)?;
/// tracing::info!("service started");
/// // Spans the collector did not take are lost either way: log it rather than fail the exit.
/// if let Err(error) = guard.shutdown() {
///     tracing::warn!(lost_spans = error.lost_spans(), "{error}");
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`InitError`] when called twice, when another recorder or subscriber is installed, or when the
/// catalog or the exporter settings are invalid.
pub fn init(config: ObsConfig) -> Result<ObsGuard, InitError> {
    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return Err(InitError::AlreadyInitialized);
    }
    let result = install(config);
    if result.is_err() {
        INITIALIZED.store(false, Ordering::SeqCst);
    }
    result
}

fn install(mut config: ObsConfig) -> Result<ObsGuard, InitError> {
    // Validate everything before touching any global.
    let log_filter = validate_filter(&config.log_filter)?;
    let mut defs: Vec<MetricDef> = catalog::CATALOG.to_vec();
    for c in &config.catalogs {
        defs.extend_from_slice(c);
    }
    catalog::validate(&defs)?;
    let settings = recorder_settings(&config)?;
    let exporter = build_exporter(&mut config)?;

    // Metrics first: the span processor resolves its self-metric handles against this recorder.
    let prometheus = install_recorder(&config.catalogs, settings)?;
    catalog_limits::set(catalog_limits::Limits {
        per_metric: config.series_limits.clone(),
        default: config.default_series_limit,
    });
    crate::redact::set_extra_sensitive_params(config.extra_sensitive_query_params.clone());
    let _ = PROMETHEUS.set(prometheus.clone());
    let upkeep = spawn_upkeep(prometheus.clone())?;

    let stats = Arc::new(ExportStats::default());
    let _ = EXPORT_STATS.set(stats.clone());
    let mut processor = None;
    let provider = if config.sdk_disabled {
        None
    } else {
        let obs_sampler = crate::sampler::ObsSampler::new(sampler(config.sampler))
            .overriding_parent(config.sampling_overrides_parent);
        crate::trace::set_sampler(obs_sampler.clone());
        let mut builder = SdkTracerProvider::builder()
            .with_sampler(obs_sampler)
            .with_id_generator(crate::trace::ObsIdGenerator::default())
            .with_resource(resource(&config));
        let settings = QueueSettings {
            queue_size: config.span_queue_size,
            batch_size: config.export_batch_size.min(config.span_queue_size),
            interval: config.export_interval,
            export_timeout: config.export_timeout,
        };
        if let Some((exporter, runtime)) = exporter {
            let queue = Arc::new(QueueProcessor::new(
                exporter,
                runtime,
                settings,
                stats.clone(),
            )?);
            builder = builder.with_span_processor(SharedProcessor(queue.clone()));
            processor = Some(queue);
        }
        Some(builder.build())
    };

    // Logs: RUST_LOG filters the log output only; spans meant for export are filtered separately.
    let writer = config.log_writer.clone().unwrap_or_else(LogWriter::stdout);
    let fmt_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .event_format(ObsFormat::new(config.log_format))
        .with_writer(writer)
        .with_filter(log_filter);
    let otel_layer = provider.as_ref().map(|p| {
        let tracer = p.tracer("obs");
        crate::trace::set_tracer(tracer.clone());
        tracing_opentelemetry::layer()
            .with_tracer(crate::trace::FlaggingTracer(tracer))
            .with_filter(span_filter())
    });
    let subscriber = tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel_layer);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| InitError::SubscriberAlreadySet)?;

    opentelemetry::global::set_text_map_propagator(W3CPropagator::new());
    if let Some(p) = &provider {
        opentelemetry::global::set_tracer_provider(p.clone());
    }
    Ok(ObsGuard {
        provider,
        processor,
        shutdown_timeout: config.shutdown_timeout,
        prometheus,
        stats,
        _upkeep: upkeep,
        done: AtomicBool::new(false),
    })
}

/// Which `tracing` spans become OpenTelemetry spans: everything from the application, nothing
/// from the crates that carry the export itself (their spans would loop back into the exporter).
fn span_filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("opentelemetry_sdk", LevelFilter::OFF)
        .with_target("opentelemetry_otlp", LevelFilter::OFF)
        .with_target("obs_core::export", LevelFilter::OFF)
}

fn sampler(config: SamplerConfig) -> Sampler {
    match config {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        SamplerConfig::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerConfig::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerConfig::ParentBasedTraceIdRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
    }
}

fn resource(config: &ObsConfig) -> Resource {
    let attributes = config
        .resource_attributes
        .iter()
        .filter(|(k, _)| k != "service.name")
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .chain([
            KeyValue::new("telemetry.sdk.name", "opentelemetry"),
            KeyValue::new("telemetry.sdk.language", "rust"),
            KeyValue::new("telemetry.distro.name", "obs"),
            KeyValue::new("telemetry.distro.version", env!("CARGO_PKG_VERSION")),
        ]);
    Resource::builder_empty()
        .with_service_name(config.service_name.clone())
        .with_attributes(attributes)
        .build()
}

/// The exporter behind the span queue (the caller's or OTLP, boxed: one batch export costs one
/// more allocation), with the small runtime its futures run on.
type Exporter = (BoxedExporter, tokio::runtime::Runtime);

fn export_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("obs-export-io")
        .enable_all()
        .build()
}

/// Builds the caller's exporter or the OTLP one (when an endpoint is set), and its runtime.
fn build_exporter(config: &mut ObsConfig) -> Result<Option<Exporter>, InitError> {
    if config.sdk_disabled {
        return Ok(None);
    }
    if let Some(mut exporter) = config.span_exporter.take() {
        exporter.set_resource(&resource(config));
        return Ok(Some((exporter, export_runtime()?)));
    }
    let Some(endpoint) = config.endpoint.clone() else {
        return Ok(None);
    };
    let runtime = export_runtime()?;
    let err = |reason: String| InitError::Exporter {
        endpoint: endpoint.clone(),
        reason,
    };
    let built = {
        // The gRPC channel spawns its connection task on the runtime in context.
        let _enter = runtime.enter();
        let builder = opentelemetry_otlp::SpanExporter::builder();
        match config.protocol {
            Protocol::Grpc => builder
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_timeout(config.export_timeout)
                .build(),
            Protocol::HttpProtobuf => builder
                .with_http()
                .with_endpoint(format!("{endpoint}/v1/traces"))
                .with_timeout(config.export_timeout)
                .build(),
        }
    };
    let mut exporter = built.map_err(|e| err(e.to_string()))?;
    opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, &resource(config));
    Ok(Some((BoxedExporter::new(exporter), runtime)))
}

/// The recorder's settings, checked: bucket overrides must be usable buckets.
fn recorder_settings(config: &ObsConfig) -> Result<Settings, InitError> {
    let mut buckets = std::collections::HashMap::new();
    for (metric, bounds) in &config.buckets {
        let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
        if bounds.is_empty() || !increasing || bounds.iter().any(|b| !b.is_finite()) {
            return Err(InitError::Catalog(catalog::CatalogError {
                metric: metric.clone(),
                problem: "bucket override must be finite, non-empty and increasing".to_owned(),
            }));
        }
        buckets.insert(metric.clone(), Arc::from(bounds.as_slice()));
    }
    Ok(Settings {
        buckets,
        idle_timeout: config.series_idle_timeout,
    })
}

fn install_recorder(
    catalogs: &[&'static [MetricDef]],
    settings: Settings,
) -> Result<MetricsHandle, InitError> {
    for c in catalogs {
        // Validated above: only a conflict with an earlier registration can fail, and the first
        // definition stays, as it would for a layer registering its catalog.
        if let Err(err) = catalog::register(c) {
            tracing::warn!(%err, "metric catalog not fully registered");
        }
    }
    let recorder = ObsRecorder::with_settings(settings);
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| InitError::RecorderAlreadySet)?;
    Ok(handle)
}

/// Runs the recorder's upkeep (idle series expiry) every 5 s. The thread ends when the guard (and
/// so the sender) is dropped.
fn spawn_upkeep(handle: MetricsHandle) -> std::io::Result<crossbeam_channel::Sender<()>> {
    let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    std::thread::Builder::new()
        .name("obs-metrics-upkeep".into())
        .spawn(move || {
            while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                rx.recv_timeout(Duration::from_secs(5))
            {
                handle.run_upkeep();
            }
        })?;
    Ok(tx)
}
