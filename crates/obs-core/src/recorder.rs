//! The recorder `init` installs: the Prometheus exporter's, except for catalog metrics, which obs
//! keeps itself (histograms counted into their buckets, [`crate::histogram`]; counters and gauges
//! per CPU, [`crate::scalar`]), and the handle that renders both.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};

use crate::histogram::Histograms;
use crate::scalar::Scalars;

/// Forwards everything to the Prometheus recorder but catalog metrics.
pub(crate) struct ObsRecorder {
    pub(crate) inner: PrometheusRecorder,
    pub(crate) histograms: Arc<Histograms>,
    pub(crate) scalars: Arc<Scalars>,
}

impl Recorder for ObsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        match self.scalars.counter(key) {
            Some(series) => Counter::from_arc(series),
            None => self.inner.register_counter(key, metadata),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        match self.scalars.gauge(key) {
            Some(series) => Gauge::from_arc(series),
            None => self.inner.register_gauge(key, metadata),
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match self.histograms.series(key) {
            Some(series) => Histogram::from_arc(series),
            None => self.inner.register_histogram(key, metadata),
        }
    }
}

/// Renders every metric obs records (the exporter's and the catalog's) as Prometheus text, for
/// `/metrics`.
#[derive(Clone)]
pub struct MetricsHandle {
    prometheus: PrometheusHandle,
    histograms: Arc<Histograms>,
    scalars: Arc<Scalars>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle").finish_non_exhaustive()
    }
}

impl MetricsHandle {
    pub(crate) fn new(
        prometheus: PrometheusHandle,
        histograms: Arc<Histograms>,
        scalars: Arc<Scalars>,
    ) -> Self {
        Self {
            prometheus,
            histograms,
            scalars,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = self.prometheus.render();
        self.scalars.render(&mut text);
        self.histograms.render(&mut text);
        text
    }

    /// Folds the exporter's buffered samples (histograms outside the catalog) into their
    /// distributions; `init` runs it every 5 s.
    pub fn run_upkeep(&self) {
        self.prometheus.run_upkeep();
    }
}
