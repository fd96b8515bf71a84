//! Configuration from the standard `OTEL_*` variables, or from a builder in code.
//!
//! Every variable is validated: an invalid value is a [`ConfigError`] that names the variable, the value
//! and what is accepted. Nothing falls back silently.
//!
//! ```
//! use obs_core::config::{ObsConfig, Protocol, SamplerConfig};
//!
//! let config = ObsConfig::builder()
//!     .service_name("checkout")
//!     .endpoint("http://127.0.0.1:4317")
//!     .protocol(Protocol::Grpc)
//!     .sampler(SamplerConfig::ParentBasedTraceIdRatio(0.25))
//!     .build();
//! assert_eq!(config.service_name(), "checkout");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::catalog::MetricDef;

/// The wire protocol used to send spans to an OTLP endpoint (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// OTLP over gRPC (`grpc`), usually port 4317.
    #[default]
    Grpc,
    /// OTLP over HTTP with protobuf bodies (`http/protobuf`), usually port 4318.
    HttpProtobuf,
}

/// The head sampler (`OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum SamplerConfig {
    /// `always_on`: every trace is sampled.
    AlwaysOn,
    /// `always_off`: no trace is sampled.
    AlwaysOff,
    /// `traceidratio`: a ratio of traces in `0.0..=1.0`, by trace id.
    TraceIdRatio(f64),
    /// `parentbased_always_on` (the default): follow the parent, sample roots.
    #[default]
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`: follow the parent, drop roots.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`: follow the parent, sample a ratio of roots.
    ParentBasedTraceIdRatio(f64),
}

/// The log output format (`LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (`text`, the default).
    #[default]
    Text,
    /// One JSON object per line (`json`).
    Json,
}

/// An invalid configuration value. `Debug` prints the same message as `Display`, so `main`
/// returning `Result<(), Box<dyn Error>>` shows it as it reads.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {variable}: expected {expected}")]
pub struct ConfigError {
    /// The variable (or builder setting) that holds the bad value.
    pub variable: &'static str,
    /// The value as it was given.
    pub value: String,
    /// What is accepted instead.
    pub expected: &'static str,
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl ConfigError {
    fn new(variable: &'static str, value: &str, expected: &'static str) -> Self {
        Self {
            variable,
            value: value.to_owned(),
            expected,
        }
    }
}

/// Everything `init` needs. Build it with [`ObsConfig::from_env`] or [`ObsConfig::builder`].
#[derive(Clone)]
pub struct ObsConfig {
    pub(crate) service_name: String,
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Protocol,
    pub(crate) sampler: SamplerConfig,
    pub(crate) sampling_overrides_parent: bool,
    pub(crate) sdk_disabled: bool,
    pub(crate) log_filter: String,
    pub(crate) log_format: LogFormat,
    pub(crate) span_queue_size: usize,
    pub(crate) export_batch_size: usize,
    pub(crate) export_interval: Duration,
    pub(crate) export_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) catalogs: Vec<&'static [MetricDef]>,
    pub(crate) series_limits: HashMap<String, usize>,
    pub(crate) default_series_limit: usize,
    pub(crate) buckets: HashMap<String, Vec<f64>>,
    pub(crate) series_idle_timeout: Option<Duration>,
    pub(crate) extra_sensitive_query_params: Vec<String>,
    pub(crate) log_writer: Option<crate::logging::LogWriter>,
    pub(crate) span_exporter: Option<crate::exporter::BoxedExporter>,
}

impl fmt::Debug for ObsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObsConfig")
            .field("service_name", &self.service_name)
            .field("resource_attributes", &self.resource_attributes)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("sampler", &self.sampler)
            .field("sampling_overrides_parent", &self.sampling_overrides_parent)
            .field("sdk_disabled", &self.sdk_disabled)
            .field("log_filter", &self.log_filter)
            .field("log_format", &self.log_format)
            .field("span_queue_size", &self.span_queue_size)
            .field("span_exporter", &self.span_exporter)
            .finish_non_exhaustive()
    }
}

impl Default for ObsConfig {
    fn default() -> Self {
        Self {
            service_name: default_service_name(),
            resource_attributes: Vec::new(),
            endpoint: None,
            protocol: Protocol::Grpc,
            sampler: SamplerConfig::ParentBasedAlwaysOn,
            sampling_overrides_parent: false,
            sdk_disabled: false,
            log_filter: "info".to_owned(),
            log_format: LogFormat::Text,
            span_queue_size: 2048,
            export_batch_size: 512,
            export_interval: Duration::from_secs(1),
            export_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
            catalogs: Vec::new(),
            series_limits: HashMap::new(),
            default_series_limit: crate::catalog::DEFAULT_MAX_SERIES,
            buckets: HashMap::new(),
            series_idle_timeout: None,
            extra_sensitive_query_params: Vec::new(),
            log_writer: None,
            span_exporter: None,
        }
    }
}

/// `unknown_service:<executable>`, as the OpenTelemetry resource specification says.
fn default_service_name() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if exe.is_empty() {
        "unknown_service".to_owned()
    } else {
        format!("unknown_service:{exe}")
    }
}

impl ObsConfig {
    /// Reads the configuration from the process environment: `OTEL_SERVICE_NAME`,
    /// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
    /// `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `OTEL_SDK_DISABLED`, the batch settings
    /// `OTEL_BSP_SCHEDULE_DELAY` and `OTEL_BSP_EXPORT_TIMEOUT` (milliseconds),
    /// `OTEL_BSP_MAX_QUEUE_SIZE` and `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, then `RUST_LOG` and
    /// `LOG_FORMAT`.
    ///
    /// # Errors
    /// A [`ConfigError`] for the first variable whose value is not accepted.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, which maps a variable name to its value.
    ///
    /// This is [`ObsConfig::from_env`] without the process environment, for tests and for
    /// configuration that comes from elsewhere.
    ///
    /// # Errors
    /// A [`ConfigError`] for the first variable whose value is not accepted.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        if let Some(raw) = get("OTEL_RESOURCE_ATTRIBUTES") {
            config.resource_attributes = parse_resource_attributes(&raw)?;
            if let Some((_, name)) = config
                .resource_attributes
                .iter()
                .find(|(k, _)| k == "service.name")
            {
                config.service_name = name.clone();
            }
        }
        // OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES.
        if let Some(name) = get("OTEL_SERVICE_NAME") {
            config.service_name = name.trim().to_owned();
        }
        if let Some(endpoint) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            config.endpoint = Some(parse_endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)?);
        }
        if let Some(protocol) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
            config.protocol = parse_protocol(&protocol)?;
        }
        let arg = get("OTEL_TRACES_SAMPLER_ARG");
        if let Some(sampler) = get("OTEL_TRACES_SAMPLER") {
            config.sampler = parse_sampler(&sampler, arg.as_deref())?;
        } else if let Some(arg) = arg {
            // An argument without a sampler is still validated, so a typo is not ignored.
            parse_ratio(&arg)?;
        }
        if let Some(disabled) = get("OTEL_SDK_DISABLED") {
            config.sdk_disabled = parse_bool("OTEL_SDK_DISABLED", &disabled)?;
        }
        if let Some(filter) = get("RUST_LOG") {
            crate::logging::validate_filter(&filter)?;
            config.log_filter = filter;
        }
        if let Some(format) = get("LOG_FORMAT") {
            config.log_format = parse_log_format(&format)?;
        }
        // The batch span processor's standard variables, for the same settings of obs's queue.
        if let Some(raw) = get("OTEL_BSP_SCHEDULE_DELAY") {
            config.export_interval =
                Duration::from_millis(parse_count("OTEL_BSP_SCHEDULE_DELAY", &raw)?);
        }
        if let Some(raw) = get("OTEL_BSP_EXPORT_TIMEOUT") {
            config.export_timeout =
                Duration::from_millis(parse_count("OTEL_BSP_EXPORT_TIMEOUT", &raw)?);
        }
        if let Some(raw) = get("OTEL_BSP_MAX_QUEUE_SIZE") {
            config.span_queue_size = parse_count("OTEL_BSP_MAX_QUEUE_SIZE", &raw)? as usize;
        }
        if let Some(raw) = get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
            config.export_batch_size =
                parse_count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &raw)? as usize;
        }
        Ok(config)
    }

    /// A builder that starts from the defaults (no environment is read).
    pub fn builder() -> ObsConfigBuilder {
        ObsConfigBuilder {
            config: Self::default(),
        }
    }

    /// A builder that starts from [`ObsConfig::from_env`], so code can override some settings.
    ///
    /// # Errors
    /// As [`ObsConfig::from_env`].
    pub fn builder_from_env() -> Result<ObsConfigBuilder, ConfigError> {
        Ok(ObsConfigBuilder {
            config: Self::from_env()?,
        })
    }

    /// The `service.name` resource attribute.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// The resource attributes besides `service.name`, in the order given.
    pub fn resource_attributes(&self) -> &[(String, String)] {
        &self.resource_attributes
    }

    /// The OTLP endpoint, if spans are exported.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The OTLP protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The head sampler.
    pub fn sampler(&self) -> SamplerConfig {
        self.sampler
    }

    /// Whether the OpenTelemetry SDK is disabled (`OTEL_SDK_DISABLED=true`): no spans are recorded.
    pub fn sdk_disabled(&self) -> bool {
        self.sdk_disabled
    }

    /// The log filter directives (`RUST_LOG` syntax). They filter log output only, never spans.
    pub fn log_filter(&self) -> &str {
        &self.log_filter
    }

    /// The log format.
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }

    /// The bound of the span export queue.
    pub fn span_queue_size(&self) -> usize {
        self.span_queue_size
    }
}

/// Builds an [`ObsConfig`] in code. Each setter documents its default.
#[derive(Debug, Clone)]
pub struct ObsConfigBuilder {
    config: ObsConfig,
}

impl ObsConfigBuilder {
    /// `service.name` (default `unknown_service:<executable>`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.config.service_name = name.into();
        self
    }

    /// Adds a resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config
            .resource_attributes
            .push((key.into(), value.into()));
        self
    }

    /// The OTLP endpoint (default: none, nothing is exported).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.config.endpoint = Some(endpoint.into());
        self
    }

    /// The OTLP protocol (default gRPC).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.config.protocol = protocol;
        self
    }

    /// The head sampler (default `parentbased_always_on`).
    pub fn sampler(mut self, sampler: SamplerConfig) -> Self {
        self.config.sampler = sampler;
        self
    }

    /// Lets a [`SamplingOverride`](crate::sampler::SamplingOverride) (a role's ratio, say) decide
    /// spans that have a parent too (default false).
    ///
    /// By default an override decides root spans only: a span whose parent was sampled is sampled
    /// and one whose parent was not is not, so a trace that arrives sampled from upstream never
    /// gets a hole here. Turn this on only when this service's ratios must win over its callers'.
    pub fn sampling_overrides_parent(mut self, overrides: bool) -> Self {
        self.config.sampling_overrides_parent = overrides;
        self
    }

    /// Disables span recording altogether (default false).
    pub fn sdk_disabled(mut self, disabled: bool) -> Self {
        self.config.sdk_disabled = disabled;
        self
    }

    /// Log filter directives in `RUST_LOG` syntax (default `info`). They filter log output only.
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.config.log_filter = filter.into();
        self
    }

    /// The log format (default text).
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.config.log_format = format;
        self
    }

    /// Where log lines go (default standard output). Tests use `obs_testkit::LogCapture`.
    pub fn log_writer(mut self, writer: crate::logging::LogWriter) -> Self {
        self.config.log_writer = Some(writer);
        self
    }

    /// Exports spans with `exporter` instead of OTLP (default: OTLP to [`endpoint`], if set).
    ///
    /// Spans still go through obs's bounded queue and export thread; only the last step changes.
    /// Takes precedence over [`endpoint`]. For exporters the OTLP crate does not offer, and for
    /// benchmarks that must pay for batching but not for the network (a discarding exporter).
    /// The exporter gets the service resource through `set_resource` unless the configuration
    /// was cloned before `init`.
    ///
    /// ```
    /// use opentelemetry_sdk::error::OTelSdkResult;
    /// use opentelemetry_sdk::trace::{SpanData, SpanExporter};
    ///
    /// #[derive(Debug)]
    /// struct Discard;
    ///
    /// impl SpanExporter for Discard {
    ///     async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let config = obs_core::ObsConfig::builder().span_exporter(Discard).build();
    /// # let _ = config;
    /// ```
    ///
    /// [`endpoint`]: Self::endpoint
    pub fn span_exporter<E>(mut self, exporter: E) -> Self
    where
        E: opentelemetry_sdk::trace::SpanExporter + 'static,
    {
        self.config.span_exporter = Some(crate::exporter::BoxedExporter::new(exporter));
        self
    }

    /// The bound of the span export queue (default 2,048). Spans past it are dropped and counted.
    pub fn span_queue_size(mut self, size: usize) -> Self {
        self.config.span_queue_size = size.max(1);
        self
    }

    /// The largest batch sent in one export (default 512).
    pub fn export_batch_size(mut self, size: usize) -> Self {
        self.config.export_batch_size = size.max(1);
        self
    }

    /// How often a partial batch is exported (default 1 s).
    pub fn export_interval(mut self, interval: Duration) -> Self {
        self.config.export_interval = interval;
        self
    }

    /// The deadline of one export call (default 5 s).
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.config.export_timeout = timeout;
        self
    }

    /// How long `shutdown` may wait for pending spans (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Registers a metric catalog ([`crate::catalog::register`]) and checks it when `init` runs.
    /// Optional: families and the obs crates' layers register their catalogs themselves.
    pub fn catalog(mut self, catalog: &'static [MetricDef]) -> Self {
        self.config.catalogs.push(catalog);
        self
    }

    /// Overrides the bound on distinct label sets of one metric.
    pub fn series_limit(mut self, metric: impl Into<String>, limit: usize) -> Self {
        self.config.series_limits.insert(metric.into(), limit);
        self
    }

    /// Sets the histogram buckets of one metric, over its catalog's (obs's own included) or the
    /// defaults that fit its unit ([`crate::catalog::default_buckets`]). For example, a service whose
    /// requests take seconds:
    ///
    /// ```
    /// let config = obs_core::ObsConfig::builder()
    ///     .buckets("http_request_latency_ms", &[100.0, 500.0, 1_000.0, 5_000.0, 30_000.0, 120_000.0])
    ///     .build();
    /// ```
    ///
    /// `init` fails with [`crate::InitError::Catalog`] when the bounds are empty, not finite or not
    /// increasing.
    pub fn buckets(mut self, metric: impl Into<String>, bounds: &[f64]) -> Self {
        self.config.buckets.insert(metric.into(), bounds.to_vec());
        self
    }

    /// Drops counter and histogram series whose value has not changed for `timeout` from
    /// `/metrics` and from their family (off by default), so that label values that come and go
    /// (rooms, peers, users) do not fill the series bound for good. Checked at every rendering and
    /// every 5 s; gauges are never dropped this way (remove them with `Family::remove`).
    pub fn series_idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.series_idle_timeout = Some(timeout);
        self
    }

    /// The bound on distinct label sets of metrics that set none (default 1,000).
    pub fn default_series_limit(mut self, limit: usize) -> Self {
        self.config.default_series_limit = limit;
        self
    }

    /// Adds query parameter names whose values are redacted, besides the built-in list.
    pub fn sensitive_query_param(mut self, name: impl Into<String>) -> Self {
        self.config
            .extra_sensitive_query_params
            .push(name.into().to_ascii_lowercase());
        self
    }

    /// Finishes the configuration.
    pub fn build(self) -> ObsConfig {
        self.config
    }
}

fn parse_endpoint(variable: &'static str, raw: &str) -> Result<String, ConfigError> {
    let raw = raw.trim();
    let ok = (raw.starts_with("http://") || raw.starts_with("https://"))
        && raw.parse::<http::Uri>().is_ok_and(|u| u.host().is_some());
    if ok {
        Ok(raw.trim_end_matches('/').to_owned())
    } else {
        Err(ConfigError::new(
            variable,
            raw,
            "an absolute http:// or https:// URL with a host, e.g. http://localhost:4317",
        ))
    }
}

fn parse_protocol(raw: &str) -> Result<Protocol, ConfigError> {
    match raw.trim() {
        "grpc" => Ok(Protocol::Grpc),
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        _ => Err(ConfigError::new(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            raw,
            "one of `grpc`, `http/protobuf`",
        )),
    }
}

fn parse_ratio(raw: &str) -> Result<f64, ConfigError> {
    match raw.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(ConfigError::new(
            "OTEL_TRACES_SAMPLER_ARG",
            raw,
            "a number between 0 and 1",
        )),
    }
}

fn parse_sampler(raw: &str, arg: Option<&str>) -> Result<SamplerConfig, ConfigError> {
    let ratio = || arg.map(parse_ratio).transpose().map(|r| r.unwrap_or(1.0));
    Ok(match raw.trim() {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(ratio()?),
        "parentbased_always_on" => SamplerConfig::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerConfig::ParentBasedTraceIdRatio(ratio()?),
        _ => {
            return Err(ConfigError::new(
                "OTEL_TRACES_SAMPLER",
                raw,
                "one of `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, \
                 `parentbased_always_off`, `parentbased_traceidratio`",
            ));
        }
    })
}

fn parse_bool(variable: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::new(variable, raw, "`true` or `false`")),
    }
}

/// A whole number of at least 1 (milliseconds or spans).
fn parse_count(variable: &'static str, raw: &str) -> Result<u64, ConfigError> {
    match raw.trim().parse::<u64>() {
        Ok(n) if n >= 1 && n <= u64::from(u32::MAX) => Ok(n),
        _ => Err(ConfigError::new(
            variable,
            raw,
            "a whole number from 1 to 4294967295",
        )),
    }
}

fn parse_log_format(raw: &str) -> Result<LogFormat, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(ConfigError::new("LOG_FORMAT", raw, "`text` or `json`")),
    }
}

/// Parses `key1=value1,key2=value2` with percent-encoded values, as the resource SDK spec says.
fn parse_resource_attributes(raw: &str) -> Result<Vec<(String, String)>, ConfigError> {
    const EXPECTED: &str =
        "comma-separated key=value pairs with non-empty keys and percent-encoded values";
    let err = || ConfigError::new("OTEL_RESOURCE_ATTRIBUTES", raw, EXPECTED);
    let mut out = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(err)?;
        let key = key.trim();
        if key.is_empty() {
            return Err(err());
        }
        let value = percent_decode(value.trim()).ok_or_else(err)?;
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or invalid UTF-8.
pub(crate) fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
