//! obs's `metrics` recorder: every series in one [`Registry`], whether its name is in a catalog
//! or only used through the `metrics` macros, and the handle that renders them.

use std::fmt;
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

use crate::registry::{Registry, Settings};
use crate::snapshot::Snapshot;

/// The recorder `obs_core::init` installs globally. Build one yourself to record into a store of
/// your own, e.g. in a test with `metrics::with_local_recorder` (obs-testkit's `LocalRecorder`
/// does that for you).
///
/// Every series it creates, whatever its name, is bounded by the cardinality guard (past a
/// metric's series bound, new label sets fold into `__overflow__`), gets buckets that fit its unit
/// if it is a histogram ([`crate::catalog::default_buckets`]) and help text when a registered
/// catalog or `metrics::describe_*!` gives one.
///
/// ```
/// use obs_core::metrics::ObsRecorder;
///
/// let recorder = ObsRecorder::new();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("doc_jobs_total", "queue" => "a").increment(2);
/// });
/// let text = recorder.handle().render();
/// assert!(text.contains("doc_jobs_total{queue=\"a\"} 2"), "{text}");
/// ```
pub struct ObsRecorder {
    registry: Arc<Registry>,
}

impl fmt::Debug for ObsRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObsRecorder").finish_non_exhaustive()
    }
}

impl Default for ObsRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl ObsRecorder {
    /// A recorder with the defaults: no bucket overrides, no idle expiry.
    pub fn new() -> Self {
        Self::with_settings(Settings::default())
    }

    pub(crate) fn with_settings(settings: Settings) -> Self {
        Self {
            registry: Registry::new(settings),
        }
    }

    /// The handle that renders what this recorder holds.
    pub fn handle(&self) -> MetricsHandle {
        MetricsHandle {
            registry: self.registry.clone(),
        }
    }
}

impl Recorder for ObsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.registry.describe(key.as_str(), unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.registry.describe(key.as_str(), unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.registry.describe(key.as_str(), unit, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.registry.counter(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.registry.gauge(key))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.registry.histogram(key))
    }
}

/// Renders every metric a recorder holds: as Prometheus text for `/metrics`, or as a
/// [`Snapshot`] (what `/metrics/json` and the test helpers read). Both come from the same data.
#[derive(Clone)]
pub struct MetricsHandle {
    registry: Arc<Registry>,
}

impl fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsHandle").finish_non_exhaustive()
    }
}

impl MetricsHandle {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.snapshot().to_prometheus_text()
    }

    /// Every metric family and series, with the values scrape callbacks report now.
    pub fn snapshot(&self) -> Snapshot {
        self.registry.snapshot()
    }

    /// Whether the recorder holds the series `key` of `kind`.
    pub(crate) fn contains(&self, kind: crate::catalog::MetricKind, key: &Key) -> bool {
        self.registry.contains(kind, key)
    }

    /// Drops counter and histogram series idle for longer than the configured
    /// `series_idle_timeout`, if any; `init` runs it every 5 s, and every rendering runs it too.
    pub fn run_upkeep(&self) {
        self.registry.sweep();
    }
}
