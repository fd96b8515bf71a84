//! What a recorder holds at one instant, as data: the one source of `/metrics`, `/metrics/json`
//! and the test helpers' snapshots.

use crate::catalog::{MetricKind, Unit};

/// Every metric family a recorder holds, sorted by name (a family's series by label values).
///
/// Built by [`crate::MetricsHandle::snapshot`]; [`Snapshot::to_prometheus_text`] renders it as the
/// Prometheus text exposition.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The families, by name.
    pub families: Vec<FamilySnapshot>,
}

/// One metric family: its name, kind, help text and series.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct FamilySnapshot {
    /// The metric name, e.g. `http_requests_total`.
    pub name: String,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The help text, from the catalog or `metrics::describe_*!`; `None` when nobody described it.
    pub help: Option<String>,
    /// The unit, when known.
    pub unit: Option<Unit>,
    /// The series, by label values.
    pub series: Vec<SeriesSnapshot>,
}

/// One series: its labels and value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SeriesSnapshot {
    /// The label pairs, in the order they were given.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: SeriesValue,
}

/// The value of a series.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SeriesValue {
    /// A counter's count.
    Counter(u64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram's buckets, count and sum.
    Histogram(HistogramSnapshot),
}

/// A histogram series.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)` per bucket, ascending; the `+Inf` bucket is [`Self::count`].
    pub buckets: Vec<(f64, u64)>,
    /// The number of values recorded.
    pub count: u64,
    /// The sum of the values recorded.
    pub sum: f64,
}

impl Snapshot {
    /// The family named `name`.
    pub fn family(&self, name: &str) -> Option<&FamilySnapshot> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The Prometheus text exposition (version 0.0.4) of every family.
    pub fn to_prometheus_text(&self) -> String {
        let mut out = String::new();
        crate::exposition::render(self, &mut out);
        out
    }
}

impl SeriesSnapshot {
    /// The value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}
