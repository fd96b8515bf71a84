//! The metric catalog: every metric the workspace emits, declared once.
//!
//! Each crate declares its metrics as `const` [`MetricDef`]s and lists them in a `CATALOG` slice.
//! The recorder reads help text, unit and histogram buckets from it, the [`crate::metrics`]
//! families read their label keys and series bound from it, and `xtask` generates the metric
//! reference, dashboards and alerts from the same slices.
//!
//! # Registration
//!
//! A catalog takes effect once it is registered with [`register`], which may happen before or after
//! `obs_core::init` and any number of times. Nobody has to remember it:
//!
//! - a family ([`crate::metrics::CounterVec`], ...) registers its own definition the first time it
//!   is used, before it creates any series;
//! - a crate that wraps something (a layer, a client, a pool) calls `register(CATALOG)` in its
//!   constructors, so that its metric names are described even when they are reached through the
//!   `metrics` macros (obs-http's `HttpLayer::new` and `ClientLayer::new` do);
//! - obs-core's own catalog is always registered.
//!
//! A user's own catalog works the same way: use families, or call [`register`] at start-up, or pass
//! it to `ObsConfig::builder().catalog(..)`, which also validates it when `init` runs.
//!
//! Register a catalog before its names are used through the `metrics` macros: a series created
//! while its name was unknown keeps the defaults it got (no help text; histogram buckets from
//! [`default_buckets`]).
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

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

pub use metrics::Unit;

/// The default bound on distinct label sets per metric.
pub const DEFAULT_MAX_SERIES: usize = 1_000;

/// Latency buckets in seconds, from 1 ms to 10 s (the same bounds as [`LATENCY_MS_BUCKETS`]).
pub const LATENCY_SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

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

/// The buckets of a histogram that no catalog declares and no `ObsConfig::builder().buckets(..)`
/// override names, fitted to its unit: the unit given to `metrics::describe_histogram!` if any,
/// else the name's suffix. Bytes (`_bytes`) get [`SIZE_BYTES_BUCKETS`], seconds (`_seconds`)
/// get [`LATENCY_SECONDS_BUCKETS`], and everything else (milliseconds, `_ms`, and unknown units)
/// gets [`LATENCY_MS_BUCKETS`].
///
/// ```
/// use obs_core::catalog::{default_buckets, Unit, SIZE_BYTES_BUCKETS, LATENCY_SECONDS_BUCKETS};
///
/// assert_eq!(default_buckets("upload_size_bytes", None), SIZE_BYTES_BUCKETS);
/// assert_eq!(default_buckets("upload_size", Some(Unit::Bytes)), SIZE_BYTES_BUCKETS);
/// assert_eq!(default_buckets("job_duration_seconds", None), LATENCY_SECONDS_BUCKETS);
/// ```
pub fn default_buckets(name: &str, unit: Option<Unit>) -> &'static [f64] {
    match unit {
        Some(Unit::Bytes | Unit::Kibibytes | Unit::Mebibytes | Unit::Gibibytes) => {
            return SIZE_BYTES_BUCKETS;
        }
        Some(Unit::Seconds) => return LATENCY_SECONDS_BUCKETS,
        Some(Unit::Milliseconds) => return LATENCY_MS_BUCKETS,
        _ => {}
    }
    if name.ends_with("_bytes") {
        SIZE_BYTES_BUCKETS
    } else if name.ends_with("_seconds") {
        LATENCY_SECONDS_BUCKETS
    } else {
        LATENCY_MS_BUCKETS
    }
}

/// Every registered definition, by name. obs-core's own catalog is always in it.
fn registered_defs() -> &'static RwLock<HashMap<&'static str, MetricDef>> {
    static DEFS: OnceLock<RwLock<HashMap<&'static str, MetricDef>>> = OnceLock::new();
    DEFS.get_or_init(|| RwLock::new(CATALOG.iter().map(|d| (d.name, *d)).collect()))
}

/// Registers a catalog, so that its metrics are rendered with their help text, kind and buckets
/// wherever they are recorded. Idempotent and cheap to repeat; works before and after `init`.
/// See the [module docs](self#registration) for when to call it.
///
/// ```
/// use obs_core::catalog::{self, MetricDef};
///
/// const JOBS: MetricDef = MetricDef::counter("register_doc_jobs_total", "Jobs finished.");
/// static CATALOG: &[MetricDef] = &[JOBS];
///
/// catalog::register(CATALOG).unwrap(); // e.g. in a layer's constructor
/// catalog::register(CATALOG).unwrap(); // again: nothing changes
/// assert_eq!(catalog::registered("register_doc_jobs_total"), Some(JOBS));
/// ```
///
/// # Errors
/// A [`CatalogError`] when an entry breaks the rules of [`validate`] (then nothing is registered),
/// or when a name is already registered with a different definition (the first definition stays,
/// the catalog's other entries are registered).
pub fn register(catalog: &'static [MetricDef]) -> Result<(), CatalogError> {
    validate(catalog)?;
    let defs = registered_defs();
    let known = {
        let read = defs.read().unwrap_or_else(PoisonError::into_inner);
        catalog
            .iter()
            .all(|d| read.get(d.name).is_some_and(|known| known == d))
    };
    if known {
        return Ok(());
    }
    let mut first_conflict = None;
    let mut write = defs.write().unwrap_or_else(PoisonError::into_inner);
    for def in catalog {
        match write.get(def.name) {
            Some(known) if known != def => {
                first_conflict.get_or_insert_with(|| CatalogError {
                    metric: def.name.to_owned(),
                    problem: "already registered with a different definition".to_owned(),
                });
            }
            Some(_) => {}
            None => {
                write.insert(def.name, *def);
            }
        }
    }
    first_conflict.map_or(Ok(()), Err)
}

/// Registers one definition, as a family does on first use; a conflict is logged, not returned.
pub(crate) fn register_def(def: &'static MetricDef) {
    if let Err(err) = register(std::slice::from_ref(def)) {
        tracing::warn!(%err, "metric definition not registered");
    }
}

/// The registered definition of `name`, if any catalog registered so far declares it.
pub fn registered(name: &str) -> Option<MetricDef> {
    registered_defs()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .copied()
}

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

/// Checks a catalog: valid Prometheus names and label keys, `_total` on every counter and on no
/// histogram (a gauge may have it), help text,
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
        // Gauges may end in `_total` too: a gauge that counts what exists now (the size of a
        // blocklist, the reports waiting) reads as a total, as the design documents name them.
        let total = def.name.ends_with("_total");
        match def.kind {
            MetricKind::Counter if !total => return Err(err("counters end in _total")),
            MetricKind::Histogram if total => {
                return Err(err("histograms do not end in _total"));
            }
            _ => {}
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
            MetricDef::histogram("latency_total", "histogram with _total"),
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

    #[test]
    fn registration_is_idempotent_and_keeps_the_first_definition() {
        static FIRST: &[MetricDef] = &[MetricDef::counter("t_reg_total", "first")];
        static SECOND: &[MetricDef] = &[
            MetricDef::counter("t_reg_total", "second"),
            MetricDef::gauge("t_reg_other", "other"),
        ];
        static BROKEN: &[MetricDef] = &[MetricDef::counter("t_reg_broken", "no suffix")];
        assert!(
            registered("obs_operations_total").is_some(),
            "obs-core's own"
        );
        register(FIRST).unwrap();
        register(FIRST).unwrap();
        let err = register(SECOND).unwrap_err();
        assert_eq!(err.metric, "t_reg_total");
        assert_eq!(registered("t_reg_total").unwrap().help, "first");
        assert_eq!(registered("t_reg_other").unwrap().help, "other");
        assert!(register(BROKEN).is_err());
        assert!(registered("t_reg_broken").is_none());
    }
}
