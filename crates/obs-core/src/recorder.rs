//! The recorder `init` installs: the Prometheus exporter's, except for catalog histograms, which
//! obs counts into their buckets itself ([`crate::histogram`]), and the handle that renders both.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};

use crate::histogram::Histograms;

/// Forwards everything to the Prometheus recorder but catalog histograms.
pub(crate) struct ObsRecorder {
    pub(crate) inner: PrometheusRecorder,
    pub(crate) histograms: Arc<Histograms>,
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
        self.inner.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match self.histograms.series(key) {
            Some(series) => Histogram::from_arc(series),
            None => self.inner.register_histogram(key, metadata),
        }
    }
}

/// Renders every metric obs records (the exporter's and the catalog histograms) as Prometheus
/// text, for `/metrics`.
#[derive(Clone)]
pub struct MetricsHandle {
    prometheus: PrometheusHandle,
    histograms: Arc<Histograms>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle").finish_non_exhaustive()
    }
}

impl MetricsHandle {
    pub(crate) fn new(prometheus: PrometheusHandle, histograms: Arc<Histograms>) -> Self {
        Self {
            prometheus,
            histograms,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = self.prometheus.render();
        self.histograms.render(&mut text);
        text
    }

    /// Folds the exporter's buffered samples (histograms outside the catalog) into their
    /// distributions; `init` runs it every 5 s.
    pub fn run_upkeep(&self) {
        self.prometheus.run_upkeep();
    }
}
