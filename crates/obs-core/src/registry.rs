//! The store behind obs's recorder: every series it was asked for, by key, whether the name is in a
//! catalog or only used through the `metrics` macros. One store means one cardinality guard, one
//! idle expiry and one snapshot for `/metrics`, `/metrics/json` and the test helpers.
//!
//! The guard: past a name's series bound (the same bound the families use), a new label set is
//! folded into the name's `__overflow__` series and `obs_cardinality_overflow_total{metric}`
//! counts the fold.

mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use metrics::{CounterFn as _, Key, Label, SharedString, Unit};

use crate::catalog::{self, MetricKind};
use crate::histogram::FixedHistogram;
use crate::metrics::catalog_limits;
use crate::scalar::{AtomicCounter, AtomicGauge};
use crate::snapshot::{FamilySnapshot, SeriesSnapshot, SeriesValue, Snapshot};

use self::store::{Entry, Series, Store, is_overflow, overflow_key};

/// What `init` configures; the defaults are what a recorder built outside `init` uses.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    /// Histogram buckets by metric name, over the catalog's and the defaults.
    pub(crate) buckets: HashMap<String, Arc<[f64]>>,
    /// How long a counter or histogram series may stay unchanged before it is dropped.
    pub(crate) idle_timeout: Option<Duration>,
}

/// The name of the counter that counts folds; it is never folded itself.
const OVERFLOW_COUNTER: &str = catalog::CARDINALITY_OVERFLOW.name;

/// Bumped whenever a series is taken out, so that families know to forget theirs.
static REMOVALS: AtomicU64 = AtomicU64::new(0);

/// Every registry alive in the process (the one `init` installs, and test-local ones), so that a
/// family's removal reaches whichever one holds its series.
fn live() -> &'static Mutex<Vec<Weak<Registry>>> {
    static LIVE: OnceLock<Mutex<Vec<Weak<Registry>>>> = OnceLock::new();
    LIVE.get_or_init(Mutex::default)
}

/// The number of removals so far; see [`REMOVALS`].
pub(crate) fn removals() -> u64 {
    REMOVALS.load(Ordering::Relaxed)
}

/// Takes `key` out of every live registry; true when one held it.
pub(crate) fn remove_everywhere(kind: MetricKind, key: &Key) -> bool {
    let registries: Vec<Arc<Registry>> = live()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let mut removed = false;
    for registry in registries {
        removed |= registry.remove(kind, key);
    }
    if removed {
        REMOVALS.fetch_add(1, Ordering::Relaxed);
    }
    removed
}

/// Every series of one recorder.
pub(crate) struct Registry {
    settings: Settings,
    counters: RwLock<Store<AtomicCounter>>,
    gauges: RwLock<Store<AtomicGauge>>,
    histograms: RwLock<Store<FixedHistogram>>,
    /// Help text and units given through `metrics::describe_*!`, for names no catalog declares.
    descriptions: RwLock<HashMap<String, (Option<Unit>, SharedString)>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub(crate) fn new(settings: Settings) -> Arc<Self> {
        let registry = Arc::new(Self {
            settings,
            counters: RwLock::default(),
            gauges: RwLock::default(),
            histograms: RwLock::default(),
            descriptions: RwLock::default(),
        });
        let mut live = live().lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&registry));
        registry
    }

    pub(crate) fn describe(&self, name: &str, unit: Option<Unit>, help: SharedString) {
        self.descriptions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), (unit, help));
    }

    pub(crate) fn counter(&self, key: &Key) -> Arc<AtomicCounter> {
        self.get(&self.counters, key, AtomicCounter::new)
    }

    pub(crate) fn gauge(&self, key: &Key) -> Arc<AtomicGauge> {
        self.get(&self.gauges, key, AtomicGauge::new)
    }

    pub(crate) fn histogram(&self, key: &Key) -> Arc<FixedHistogram> {
        self.get(&self.histograms, key, || {
            FixedHistogram::new(self.buckets_for(key.name()))
        })
    }

    /// An override given to `init`, else the catalog's buckets, else the unit's defaults.
    fn buckets_for(&self, name: &str) -> Arc<[f64]> {
        if let Some(buckets) = self.settings.buckets.get(name) {
            return buckets.clone();
        }
        if let Some(def) = catalog::registered(name)
            && def.kind == MetricKind::Histogram
        {
            return Arc::from(def.buckets);
        }
        let unit = self
            .descriptions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .and_then(|(unit, _)| *unit);
        Arc::from(catalog::default_buckets(name, unit))
    }

    /// The series of `key`, created on first use, or the overflow series past the name's bound.
    fn get<T: Series>(
        &self,
        store: &RwLock<Store<T>>,
        key: &Key,
        new: impl FnOnce() -> T,
    ) -> Arc<T> {
        if let Some(entry) = store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .series
            .get(key)
        {
            return entry.series.clone();
        }
        let name = key.name();
        let mut folded = false;
        let series = {
            let mut store = store.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = store.series.get(key) {
                return entry.series.clone();
            }
            let overflow = is_overflow(key);
            let admitted = store.per_name.get(name).copied().unwrap_or(0);
            let key = if !overflow
                && name != OVERFLOW_COUNTER
                && admitted >= catalog_limits::limit_for_name(name)
            {
                folded = true;
                overflow_key(key)
            } else {
                if !overflow {
                    *store.per_name.entry(name.to_owned()).or_default() += 1;
                }
                key.clone()
            };
            store
                .series
                .entry(key)
                .or_insert_with(|| Entry::new(Arc::new(new())))
                .series
                .clone()
        };
        if folded {
            let fold = Key::from_parts(
                OVERFLOW_COUNTER,
                vec![Label::new("metric", name.to_owned())],
            );
            self.counter(&fold).increment(1);
        }
        series
    }

    fn remove(&self, kind: MetricKind, key: &Key) -> bool {
        fn take<T: Series>(store: &RwLock<Store<T>>, key: &Key) -> bool {
            store
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(key)
        }
        match kind {
            MetricKind::Counter => take(&self.counters, key),
            MetricKind::Gauge => take(&self.gauges, key),
            MetricKind::Histogram => take(&self.histograms, key),
        }
    }

    pub(crate) fn contains(&self, kind: MetricKind, key: &Key) -> bool {
        fn has<T>(store: &RwLock<Store<T>>, key: &Key) -> bool {
            store
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .series
                .contains_key(key)
        }
        match kind {
            MetricKind::Counter => has(&self.counters, key),
            MetricKind::Gauge => has(&self.gauges, key),
            MetricKind::Histogram => has(&self.histograms, key),
        }
    }

    /// Drops counter and histogram series unchanged for the configured idle timeout (if any).
    pub(crate) fn sweep(&self) {
        let Some(timeout) = self.settings.idle_timeout else {
            return;
        };
        let now = Instant::now();
        let mut dropped = self
            .counters
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .sweep(timeout, now);
        dropped |= self
            .histograms
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .sweep(timeout, now);
        if dropped {
            REMOVALS.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every series, and what the scrape callbacks report, after a sweep.
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.sweep();
        // Callbacks first, with no lock held: one may record or describe metrics itself.
        let mut observed = Vec::new();
        crate::scrape::observe_all(|def, labels, value| observed.push((def, labels, value)));
        let mut families: BTreeMap<(String, u8), FamilySnapshot> = BTreeMap::new();
        let descriptions = self
            .descriptions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut family = |name: &str, kind: MetricKind, series: SeriesSnapshot| {
            families
                .entry((name.to_owned(), kind as u8))
                .or_insert_with(|| {
                    let (help, unit) = match catalog::registered(name) {
                        Some(def) => (Some(def.help.to_owned()), Some(def.unit)),
                        None => match descriptions.get(name) {
                            Some((unit, help)) => (Some(help.to_string()), *unit),
                            None => (None, None),
                        },
                    };
                    FamilySnapshot {
                        name: name.to_owned(),
                        kind,
                        help,
                        unit,
                        series: Vec::new(),
                    }
                })
                .series
                .push(series);
        };
        let labels = |key: &Key| -> Vec<(String, String)> {
            key.labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect()
        };
        {
            let counters = self.counters.read().unwrap_or_else(PoisonError::into_inner);
            for (key, entry) in &counters.series {
                let value = SeriesValue::Counter(entry.series.value());
                let labels = labels(key);
                family(
                    key.name(),
                    MetricKind::Counter,
                    SeriesSnapshot { labels, value },
                );
            }
        }
        {
            let gauges = self.gauges.read().unwrap_or_else(PoisonError::into_inner);
            for (key, entry) in &gauges.series {
                let value = SeriesValue::Gauge(entry.series.value());
                let labels = labels(key);
                family(
                    key.name(),
                    MetricKind::Gauge,
                    SeriesSnapshot { labels, value },
                );
            }
        }
        {
            let histograms = self
                .histograms
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            for (key, entry) in &histograms.series {
                let value = SeriesValue::Histogram(entry.series.to_snapshot());
                let labels = labels(key);
                family(
                    key.name(),
                    MetricKind::Histogram,
                    SeriesSnapshot { labels, value },
                );
            }
        }
        for (def, labels, value) in observed {
            let labels = def
                .labels
                .iter()
                .map(|k| (*k).to_owned())
                .zip(labels)
                .collect();
            family(def.name, def.kind, SeriesSnapshot { labels, value });
        }
        let mut families: Vec<FamilySnapshot> = families.into_values().collect();
        for f in &mut families {
            f.series.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        Snapshot { families }
    }
}

#[cfg(test)]
mod tests;
