//! Metric families with a cardinality guard.
//!
//! A family ([`CounterVec`], [`GaugeVec`], [`HistogramVec`]) is one catalog metric and its label sets.
//! [`Family::with`] resolves the handle of one label set; keep it and reuse it on hot paths, since a
//! `metrics` handle update costs a few nanoseconds while a lookup hashes the label values.
//!
//! Each family holds at most its bound of distinct label sets (the catalog's `max_series`, 1,000 by
//! default, or a per-metric override given to `init`). Past the bound, a new label set is folded into a
//! single series whose label values are all `__overflow__`, and `obs_cardinality_overflow_total{metric}`
//! counts the fold, so a flood of distinct values cannot grow memory or the scrape without bound.
//!
//! Handles bind to the recorder in force when they are first resolved: call `obs_core::init` before
//! resolving handles.
//!
//! ```
//! use obs_core::catalog::MetricDef;
//! use obs_core::metrics::CounterVec;
//!
//! const ORDERS: MetricDef = MetricDef::counter("orders_total", "Orders placed.").with_labels(&["region"]);
//! static ORDERS_VEC: CounterVec = CounterVec::new(&ORDERS);
//!
//! let eu = ORDERS_VEC.with(&["eu"]);
//! eu.increment(1);
//! ```

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, PoisonError, RwLock};

use hashbrown::{Equivalent, HashMap};
use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata};

use crate::catalog::{self, MetricDef};

/// The label value of the series that overflowing label sets are folded into.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

static METADATA: Metadata<'static> = Metadata::new("obs", Level::INFO, Some(module_path!()));

/// A handle type that a family hands out. Sealed: obs implements it for the `metrics` handles.
pub trait MetricHandle: Clone + Send + Sync + sealed::Sealed + 'static {
    #[doc(hidden)]
    fn register(key: &Key) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for metrics::Counter {}
    impl Sealed for metrics::Gauge {}
    impl Sealed for metrics::Histogram {}
}

impl MetricHandle for Counter {
    fn register(key: &Key) -> Self {
        metrics::with_recorder(|r| r.register_counter(key, &METADATA))
    }
}

impl MetricHandle for Gauge {
    fn register(key: &Key) -> Self {
        metrics::with_recorder(|r| r.register_gauge(key, &METADATA))
    }
}

impl MetricHandle for Histogram {
    fn register(key: &Key) -> Self {
        metrics::with_recorder(|r| r.register_histogram(key, &METADATA))
    }
}

/// A counter metric and its label sets.
pub type CounterVec = Family<Counter>;
/// A gauge metric and its label sets.
pub type GaugeVec = Family<Gauge>;
/// A histogram metric and its label sets.
pub type HistogramVec = Family<Histogram>;

/// One catalog metric and the handles of its label sets, bounded by the cardinality guard.
pub struct Family<H> {
    def: &'static MetricDef,
    limit: Option<usize>,
    inner: OnceLock<Inner<H>>,
}

struct Inner<H> {
    limit: usize,
    series: RwLock<HashMap<LabelSet, H>>,
    overflow: OnceLock<H>,
    warned_arity: AtomicBool,
}

impl<H> fmt::Debug for Family<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("metric", &self.def.name)
            .finish_non_exhaustive()
    }
}

impl<H: MetricHandle> Family<H> {
    /// A family for `def`, bounded by the limit configured at `init` (or the catalog's).
    pub const fn new(def: &'static MetricDef) -> Self {
        Self {
            def,
            limit: None,
            inner: OnceLock::new(),
        }
    }

    /// A family with an explicit bound on distinct label sets, whatever the configuration says.
    pub const fn with_limit(def: &'static MetricDef, limit: usize) -> Self {
        Self {
            def,
            limit: Some(limit),
            inner: OnceLock::new(),
        }
    }

    /// The catalog entry of this family.
    pub fn def(&self) -> &'static MetricDef {
        self.def
    }

    fn inner(&self) -> &Inner<H> {
        self.inner.get_or_init(|| Inner {
            limit: self
                .limit
                .unwrap_or_else(|| catalog_limits::limit_for(self.def))
                .max(1),
            series: RwLock::new(HashMap::new()),
            overflow: OnceLock::new(),
            warned_arity: AtomicBool::new(false),
        })
    }

    /// The handle of the label set `values`, given in the order of the catalog's label keys.
    ///
    /// A wrong number of values is not an error: missing values become empty strings, extra ones are
    /// ignored, and a warning is logged once per metric.
    pub fn with(&self, values: &[&str]) -> H {
        let inner = self.inner();
        let query = LabelsRef(values);
        if let Some(handle) = inner
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&query)
        {
            return handle.clone();
        }
        if values.len() != self.def.labels.len()
            && !inner.warned_arity.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                metric = self.def.name,
                expected = self.def.labels.len(),
                given = values.len(),
                "metric label values do not match the catalog's label keys"
            );
        }
        let mut series = inner.series.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = series.get(&query) {
            return handle.clone();
        }
        if series.len() >= inner.limit {
            drop(series);
            metrics::counter!(catalog::CARDINALITY_OVERFLOW.name, "metric" => self.def.name)
                .increment(1);
            return inner
                .overflow
                .get_or_init(|| {
                    let overflow = vec![OVERFLOW_LABEL_VALUE; self.def.labels.len()];
                    H::register(&self.key(&overflow))
                })
                .clone();
        }
        let handle = H::register(&self.key(values));
        series.insert(LabelSet::new(values), handle.clone());
        handle
    }

    /// The number of distinct label sets held (the overflow series not included).
    pub fn series_count(&self) -> usize {
        self.inner()
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn key(&self, values: &[&str]) -> Key {
        let labels: Vec<Label> = self
            .def
            .labels
            .iter()
            .enumerate()
            .map(|(i, k)| Label::new(*k, values.get(i).copied().unwrap_or("").to_owned()))
            .collect();
        Key::from_parts(self.def.name, labels)
    }
}

/// The stored form of a label set.
#[derive(PartialEq, Eq)]
struct LabelSet(Box<[Box<str>]>);

impl LabelSet {
    fn new(values: &[&str]) -> Self {
        Self(values.iter().map(|v| Box::<str>::from(*v)).collect())
    }
}

impl Hash for LabelSet {
    fn hash<S: Hasher>(&self, state: &mut S) {
        state.write_usize(self.0.len());
        for v in self.0.iter() {
            state.write(v.as_bytes());
            state.write_u8(0xff);
        }
    }
}

/// A borrowed label set, hashed exactly as [`LabelSet`] so lookups need no allocation.
struct LabelsRef<'a>(&'a [&'a str]);

impl Hash for LabelsRef<'_> {
    fn hash<S: Hasher>(&self, state: &mut S) {
        state.write_usize(self.0.len());
        for v in self.0 {
            state.write(v.as_bytes());
            state.write_u8(0xff);
        }
    }
}

impl Equivalent<LabelSet> for LabelsRef<'_> {
    fn equivalent(&self, key: &LabelSet) -> bool {
        self.0.len() == key.0.len() && self.0.iter().zip(key.0.iter()).all(|(a, b)| *a == &**b)
    }
}

/// The series bounds configured at `init`.
pub(crate) mod catalog_limits {
    use std::collections::HashMap;
    use std::sync::OnceLock;

    use crate::catalog::{DEFAULT_MAX_SERIES, MetricDef};

    pub(crate) struct Limits {
        pub(crate) per_metric: HashMap<String, usize>,
        pub(crate) default: usize,
    }

    static LIMITS: OnceLock<Limits> = OnceLock::new();

    pub(crate) fn set(limits: Limits) {
        let _ = LIMITS.set(limits);
    }

    pub(crate) fn limit_for(def: &MetricDef) -> usize {
        match LIMITS.get() {
            Some(l) => l
                .per_metric
                .get(def.name)
                .copied()
                .or(def.max_series)
                .unwrap_or(l.default),
            None => def.max_series.unwrap_or(DEFAULT_MAX_SERIES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    const DEF: MetricDef = MetricDef::counter("t_total", "t").with_labels(&["a", "b"]);
    const HIST: MetricDef = MetricDef::histogram("t_ms", "t").with_labels(&["a"]);

    #[test]
    fn same_labels_share_one_series() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let family = CounterVec::new(&DEF);
            family.with(&["x", "y"]).increment(1);
            family.with(&["x", "y"]).increment(2);
            family.with(&["x", "z"]).increment(5);
            assert_eq!(family.series_count(), 2);
        });
        let snapshot = snapshotter.snapshot().into_vec();
        let total: u64 = snapshot
            .iter()
            .map(|(_, _, _, v)| match v {
                DebugValue::Counter(c) => *c,
                _ => 0,
            })
            .sum();
        assert_eq!(total, 8);
    }

    #[test]
    fn a_million_distinct_values_stay_bounded() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let family = HistogramVec::with_limit(&HIST, 100);
            let mut buf = String::new();
            for i in 0..1_000_000u32 {
                use std::fmt::Write;
                buf.clear();
                let _ = write!(buf, "user-{i}");
                family.with(&[&buf]).record(1.0);
            }
            assert_eq!(family.series_count(), 100);
        });
        let snapshot = snapshotter.snapshot().into_vec();
        let histograms: Vec<_> = snapshot
            .iter()
            .filter(|(k, ..)| k.key().name() == "t_ms")
            .collect();
        assert_eq!(histograms.len(), 101, "100 series plus the overflow series");
        let overflow = histograms
            .iter()
            .find(|(k, ..)| k.key().labels().any(|l| l.value() == OVERFLOW_LABEL_VALUE))
            .expect("overflow series");
        match &overflow.3 {
            DebugValue::Histogram(values) => assert_eq!(values.len(), 999_900),
            other => panic!("unexpected {other:?}"),
        }
        let folds = snapshot
            .iter()
            .find(|(k, ..)| k.key().name() == "obs_cardinality_overflow_total")
            .expect("overflow counter");
        assert!(folds.0.key().labels().any(|l| l.value() == "t_ms"));
        assert_eq!(folds.3, DebugValue::Counter(999_900));
    }

    #[test]
    fn wrong_arity_is_padded_not_a_panic() {
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            let family = CounterVec::new(&DEF);
            family.with(&["only-one"]).increment(1);
            family.with(&["a", "b", "c"]).increment(1);
            family.with(&[]).increment(1);
            assert_eq!(family.series_count(), 3);
        });
    }
}
