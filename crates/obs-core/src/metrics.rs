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
//! A family registers its catalog definition the first time it is used
//! ([`crate::catalog::register`]), so its help text and buckets need no other step. A handle is
//! bound to the recorder in force when it was resolved; a family resolves its label sets again when
//! the recorder in force changes (`obs_core::init` after first use, a test's local recorder), so
//! handles taken from it after `init` record into what `/metrics` renders.
//!
//! Series can go away: [`Family::remove`] takes a label set out of the family and out of
//! `/metrics` (a closed room, a gone peer or pool), and `ObsConfig::builder().series_idle_timeout(..)`
//! drops counter and histogram series that have not changed for that long, so that churning label
//! values make room instead of folding into `__overflow__` for good. A handle kept after its
//! series went away still works, but records into a series that is no longer rendered unless it
//! was dropped for idleness (then its next update brings it back at the next rendering).
//!
//! Besides the families, the module holds the recorder ([`ObsRecorder`]), the [`Snapshot`] of what
//! it holds, and scrape-time callbacks ([`on_scrape`]).
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use hashbrown::{Equivalent, HashMap};
use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder};

use crate::catalog::{self, MetricDef};
use crate::registry;

pub use crate::recorder::{MetricsHandle, ObsRecorder};
pub use crate::scrape::{Observations, ScrapeCallback, on_scrape};
pub use crate::snapshot::{
    FamilySnapshot, HistogramSnapshot, SeriesSnapshot, SeriesValue, Snapshot,
};

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
    series: RwLock<HashMap<LabelSet, Bound<H>>>,
    overflow: Mutex<Option<Bound<H>>>,
    warned_arity: AtomicBool,
    /// The removal count (`registry::removals`) when the series were last checked for removal.
    pruned_at: AtomicU64,
}

/// A handle and the recorder it was resolved from.
struct Bound<H> {
    handle: H,
    recorder: usize,
}

/// The address of the recorder in force on this thread: the local one, the global one or the
/// no-op one. Two recorders alive at once never share one.
fn recorder_in_force() -> usize {
    metrics::with_recorder(|r| std::ptr::from_ref::<dyn Recorder>(r).cast::<()>() as usize)
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
    /// The recorder bounds the metric's name by the same number once the family is first used.
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
        self.inner.get_or_init(|| {
            catalog::register_def(self.def);
            if let Some(limit) = self.limit {
                catalog_limits::set_family_limit(self.def.name, limit);
            }
            Inner {
                limit: self
                    .limit
                    .unwrap_or_else(|| catalog_limits::limit_for(self.def))
                    .max(1),
                series: RwLock::new(HashMap::new()),
                overflow: Mutex::new(None),
                warned_arity: AtomicBool::new(false),
                pruned_at: AtomicU64::new(0),
            }
        })
    }

    /// The handle of the label set `values`, given in the order of the catalog's label keys.
    ///
    /// A wrong number of values is not an error: missing values become empty strings, extra ones are
    /// ignored, and a warning is logged once per metric.
    pub fn with(&self, values: &[&str]) -> H {
        let inner = self.inner();
        let recorder = recorder_in_force();
        let query = LabelsRef(values);
        if let Some(bound) = inner
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&query)
            && bound.recorder == recorder
        {
            return bound.handle.clone();
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
        if let Some(bound) = series.get_mut(&query) {
            if bound.recorder != recorder {
                *bound = Bound {
                    handle: H::register(&self.key(values)),
                    recorder,
                };
            }
            return bound.handle.clone();
        }
        if series.len() >= inner.limit {
            self.prune(inner, &mut series);
        }
        if series.len() >= inner.limit {
            drop(series);
            metrics::counter!(catalog::CARDINALITY_OVERFLOW.name, "metric" => self.def.name)
                .increment(1);
            let mut overflow = inner
                .overflow
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(bound) = &*overflow
                && bound.recorder == recorder
            {
                return bound.handle.clone();
            }
            let values = vec![OVERFLOW_LABEL_VALUE; self.def.labels.len()];
            let handle = H::register(&self.key(&values));
            *overflow = Some(Bound {
                handle: handle.clone(),
                recorder,
            });
            return handle;
        }
        let handle = H::register(&self.key(values));
        series.insert(
            LabelSet::new(values),
            Bound {
                handle: handle.clone(),
                recorder,
            },
        );
        handle
    }

    /// Forgets the label sets whose series the installed recorder dropped since the last check
    /// (idle expiry), so that new label sets take their place.
    fn prune(&self, inner: &Inner<H>, series: &mut HashMap<LabelSet, Bound<H>>) {
        let removals = registry::removals();
        if inner.pruned_at.swap(removals, Ordering::Relaxed) == removals {
            return;
        }
        let Some(installed) = crate::init::prometheus_handle() else {
            return;
        };
        series.retain(|labels, _| {
            let values: Vec<&str> = labels.0.iter().map(|v| &**v).collect();
            installed.contains(self.def.kind, &self.key(&values))
        });
    }

    /// Takes the label set `values` out of this family and its series out of `/metrics` (a closed
    /// room, a peer or pool that is gone). Returns whether the series existed. Handles already
    /// resolved for it keep working but record into a series that is no longer rendered; a later
    /// [`Family::with`] of the same values starts a new series from zero.
    pub fn remove(&self, values: &[&str]) -> bool {
        let inner = self.inner();
        let here = inner
            .series
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&LabelsRef(values))
            .is_some();
        let rendered = registry::remove_everywhere(self.def.kind, &self.key(values));
        here || rendered
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
    use std::sync::{OnceLock, PoisonError, RwLock};

    use crate::catalog::{DEFAULT_MAX_SERIES, MetricDef};

    pub(crate) struct Limits {
        pub(crate) per_metric: HashMap<String, usize>,
        pub(crate) default: usize,
    }

    static LIMITS: OnceLock<Limits> = OnceLock::new();

    /// Bounds given by `Family::with_limit`, by name.
    static FAMILY_LIMITS: RwLock<Option<HashMap<&'static str, usize>>> = RwLock::new(None);

    pub(crate) fn set_family_limit(name: &'static str, limit: usize) {
        FAMILY_LIMITS
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(HashMap::new)
            .insert(name, limit.max(1));
    }

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
        .max(1)
    }

    /// The bound of any name: configured, else its registered definition's, else the default.
    pub(crate) fn limit_for_name(name: &str) -> usize {
        let family = FAMILY_LIMITS
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|f| f.get(name).copied());
        if let Some(limit) = family {
            return limit;
        }
        let def = crate::catalog::registered(name);
        let configured = LIMITS.get();
        configured
            .and_then(|l| l.per_metric.get(name).copied())
            .or(def.and_then(|d| d.max_series))
            .unwrap_or(configured.map_or(DEFAULT_MAX_SERIES, |l| l.default))
            .max(1)
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
    fn a_family_follows_the_recorder_in_force() {
        static COUNTED: MetricDef = MetricDef::counter("t_follow_total", "t").with_labels(&["a"]);
        static FAMILY: CounterVec = CounterVec::new(&COUNTED);
        let (first, second) = (ObsRecorder::new(), ObsRecorder::new());
        metrics::with_local_recorder(&first, || FAMILY.with(&["x"]).increment(1));
        metrics::with_local_recorder(&second, || FAMILY.with(&["x"]).increment(5));
        metrics::with_local_recorder(&first, || FAMILY.with(&["x"]).increment(1));
        let count = |r: &ObsRecorder| match &r
            .handle()
            .snapshot()
            .family("t_follow_total")
            .unwrap()
            .series[0]
            .value
        {
            SeriesValue::Counter(n) => *n,
            other => panic!("{other:?}"),
        };
        assert_eq!((count(&first), count(&second)), (2, 5));
        assert_eq!(FAMILY.series_count(), 1);
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
