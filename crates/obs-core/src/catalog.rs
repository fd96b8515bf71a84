//! The metric catalog: every metric the workspace emits, declared once.
//!
//! Each crate declares its metrics as `const` [`MetricDef`]s and lists them in a `CATALOG` slice.
//! [`crate::init`] describes every catalog metric to the Prometheus recorder (help text, unit,
//! histogram buckets), the [`crate::metrics`] families read their label keys and series bound from it,
//! and `xtask` generates the metric reference, dashboards and alerts from the same slices.
//!
//! ```
//! use obs_core::catalog::{MetricDef, Unit, LATENCY_MS_BUCKETS};
//!
//! const JOBS: MetricDef = MetricDef::counter("jobs_total", "Jobs finished, by queue and outcome.")
//!     .with_labels(&["queue", "outcome"]);
//! const JOB_LATENCY: MetricDef = MetricDef::histogram("job_latency_ms", "Job run time.")
//!     .with_unit(Unit::Milliseconds)
//!     .with_labels(&["queue"])
//!     .with_buckets(LATENCY_MS_BUCKETS)
//!     .with_max_series(50);
//! pub static CATALOG: &[MetricDef] = &[JOBS, JOB_LATENCY];
//! assert!(obs_core::catalog::validate(CATALOG).is_ok());
//! ```

pub use metrics::Unit;

/// The default bound on distinct label sets per metric.
pub const DEFAULT_MAX_SERIES: usize = 1_000;

/// Latency buckets in milliseconds, from 1 ms to 10 s.
pub const LATENCY_MS_BUCKETS: &[f64] = &[
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0,
];

/// Size buckets in bytes, from 64 B to 16 MiB.
pub const SIZE_BYTES_BUCKETS: &[f64] = &[
    64.0,
    256.0,
    1_024.0,
    4_096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
];

/// The kind of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotonic counter; its name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution, exposed as a Prometheus histogram with buckets.
    Histogram,
}

impl MetricKind {
    /// The Prometheus type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric, declared once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricDef {
    /// The Prometheus name, e.g. `http_requests_total`.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The unit of the values.
    pub unit: Unit,
    /// One sentence of help text, shown by `/metrics` and the generated docs.
    pub help: &'static str,
    /// The label keys, in the order label values are given.
    pub labels: &'static [&'static str],
    /// Histogram bucket upper bounds (histograms only).
    pub buckets: &'static [f64],
    /// The bound on distinct label sets; `None` takes the configured default (1,000).
    pub max_series: Option<usize>,
}

impl MetricDef {
    const fn new(kind: MetricKind, name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind,
            unit: Unit::Count,
            help,
            labels: &[],
            buckets: &[],
            max_series: None,
        }
    }

    /// A counter without labels.
    pub const fn counter(name: &'static str, help: &'static str) -> Self {
        Self::new(MetricKind::Counter, name, help)
    }

    /// A gauge without labels.
    pub const fn gauge(name: &'static str, help: &'static str) -> Self {
        Self::new(MetricKind::Gauge, name, help)
    }

    /// A histogram with [`LATENCY_MS_BUCKETS`] in milliseconds; change either with the setters.
    pub const fn histogram(name: &'static str, help: &'static str) -> Self {
        let mut def = Self::new(MetricKind::Histogram, name, help);
        def.unit = Unit::Milliseconds;
        def.buckets = LATENCY_MS_BUCKETS;
        def
    }

    /// Sets the label keys.
    pub const fn with_labels(mut self, labels: &'static [&'static str]) -> Self {
        self.labels = labels;
        self
    }

    /// Sets the unit.
    pub const fn with_unit(mut self, unit: Unit) -> Self {
        self.unit = unit;
        self
    }

    /// Sets the histogram buckets.
    pub const fn with_buckets(mut self, buckets: &'static [f64]) -> Self {
        self.buckets = buckets;
        self
    }

    /// Sets the bound on distinct label sets.
    pub const fn with_max_series(mut self, max: usize) -> Self {
        self.max_series = Some(max);
        self
    }
}

/// Spans dropped before export: the queue was full, or a flush or shutdown ran out of time.
pub const SPANS_DROPPED: MetricDef = MetricDef::counter(
    "obs_spans_dropped_total",
    "Spans dropped before export: the bounded export queue was full, or a flush or shutdown ran out of time.",
);
/// Spans handed to the exporter.
pub const SPANS_EXPORTED: MetricDef =
    MetricDef::counter("obs_spans_exported_total", "Spans exported successfully.");
/// Failed export calls.
pub const SPAN_EXPORT_FAILURES: MetricDef = MetricDef::counter(
    "obs_span_export_failures_total",
    "Span export calls that failed or timed out; their spans are lost.",
);
/// Label sets folded into the overflow series.
pub const CARDINALITY_OVERFLOW: MetricDef = MetricDef::counter(
    "obs_cardinality_overflow_total",
    "Label sets folded into the __overflow__ series because a metric reached its series bound.",
)
.with_labels(&["metric"]);
/// Duration of timed operations run through [`crate::instrument`].
pub const OPERATION_DURATION: MetricDef = MetricDef::histogram(
    "obs_operation_duration_ms",
    "Duration of operations timed by obs_core::instrument, by operation.",
)
.with_labels(&["operation"]);
/// Outcomes of timed operations run through [`crate::instrument`].
pub const OPERATIONS: MetricDef = MetricDef::counter(
    "obs_operations_total",
    "Operations timed by obs_core::instrument, by operation, outcome and error type.",
)
.with_labels(&["operation", "outcome", "error_type"]);

/// obs-core's own metrics.
pub static CATALOG: &[MetricDef] = &[
    SPANS_DROPPED,
    SPANS_EXPORTED,
    SPAN_EXPORT_FAILURES,
    CARDINALITY_OVERFLOW,
    OPERATION_DURATION,
    OPERATIONS,
];

/// A catalog entry that breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metric {metric:?}: {problem}")]
pub struct CatalogError {
    /// The metric's name.
    pub metric: String,
    /// What is wrong with it.
    pub problem: String,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a catalog: valid Prometheus names and label keys, `_total` on counters only, help text,
/// strictly increasing buckets on histograms, and no name declared twice with different definitions.
///
/// # Errors
/// The first [`CatalogError`] found.
pub fn validate(defs: &[MetricDef]) -> Result<(), CatalogError> {
    let mut seen: Vec<&MetricDef> = Vec::new();
    for def in defs {
        let err = |problem: &str| CatalogError {
            metric: def.name.to_owned(),
            problem: problem.to_owned(),
        };
        if !valid_name(def.name) || def.name.starts_with("__") {
            return Err(err("the name is not a valid Prometheus metric name"));
        }
        if def.help.trim().is_empty() {
            return Err(err("help text is empty"));
        }
        if (def.kind == MetricKind::Counter) != def.name.ends_with("_total") {
            return Err(err("counters, and only counters, end in _total"));
        }
        for (i, label) in def.labels.iter().enumerate() {
            if !valid_name(label) || label.starts_with("__") || *label == "le" {
                return Err(err(&format!("label {label:?} is not a valid label name")));
            }
            if def.labels[..i].contains(label) {
                return Err(err(&format!("label {label:?} is declared twice")));
            }
        }
        let is_histogram = def.kind == MetricKind::Histogram;
        if is_histogram && (def.buckets.is_empty() || def.buckets.windows(2).any(|w| w[0] >= w[1]))
        {
            return Err(err("histogram buckets must be non-empty and increasing"));
        }
        if !is_histogram && !def.buckets.is_empty() {
            return Err(err("only histograms have buckets"));
        }
        if def.max_series == Some(0) {
            return Err(err("max_series must be at least 1"));
        }
        if let Some(prev) = seen.iter().find(|d| d.name == def.name) {
            if *prev != def {
                return Err(err("declared twice with different definitions"));
            }
        } else {
            seen.push(def);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_catalog_is_valid() {
        validate(CATALOG).unwrap();
    }

    #[test]
    fn rejects_broken_entries() {
        let cases = [
            MetricDef::counter("bad-name_total", "x"),
            MetricDef::counter("requests", "counter without _total"),
            MetricDef::gauge("queue_total", "gauge with _total"),
            MetricDef::counter("x_total", " "),
            MetricDef::counter("x_total", "x").with_labels(&["le"]),
            MetricDef::counter("x_total", "x").with_labels(&["a", "a"]),
            MetricDef::histogram("h", "x").with_buckets(&[1.0, 1.0]),
            MetricDef::histogram("h", "x").with_buckets(&[]),
            MetricDef::gauge("g", "x").with_buckets(&[1.0]),
            MetricDef::gauge("g", "x").with_max_series(0),
        ];
        for def in cases {
            assert!(validate(&[def]).is_err(), "{def:?}");
        }
        let a = MetricDef::counter("x_total", "x");
        let b = MetricDef::counter("x_total", "y");
        assert!(validate(&[a, a]).is_ok());
        assert!(validate(&[a, b]).is_err());
    }
}
