//! Values read when the metrics are rendered, not pushed: connection pools, WebRTC statistics,
//! resource use. A callback registered with [`on_scrape`] runs each time `/metrics` or
//! `/metrics/json` is rendered (and for every [`crate::metrics::Snapshot`]), so no task has to
//! poll and copy the values into gauges.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::catalog::{self, MetricDef, MetricKind};
use crate::metrics::catalog_limits;
use crate::snapshot::SeriesValue;

type Read = Arc<dyn Fn(&mut Observations<'_>) + Send + Sync>;

static CALLBACKS: RwLock<Vec<(u64, &'static MetricDef, Read)>> = RwLock::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Where a scrape callback reports its values, one per label set.
pub struct Observations<'a> {
    def: &'static MetricDef,
    limit: usize,
    out: &'a mut Vec<(Vec<String>, SeriesValue)>,
}

impl fmt::Debug for Observations<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observations")
            .field("metric", &self.def.name)
            .finish_non_exhaustive()
    }
}

impl Observations<'_> {
    /// Reports `value` for the label set `values`, in the order of the catalog's label keys
    /// (missing values are empty, extra ones ignored). A counter's value is its running total,
    /// rounded down; a histogram definition reports nothing. Past the metric's series bound,
    /// further label sets are left out of this rendering.
    pub fn observe(&mut self, values: &[&str], value: f64) {
        if self.out.len() >= self.limit {
            return;
        }
        let value = match self.def.kind {
            MetricKind::Gauge => SeriesValue::Gauge(value),
            MetricKind::Counter if value.is_finite() && value >= 0.0 => {
                SeriesValue::Counter(value as u64)
            }
            MetricKind::Counter | MetricKind::Histogram => return,
        };
        let labels = (0..self.def.labels.len())
            .map(|i| values.get(i).copied().unwrap_or("").to_owned())
            .collect();
        self.out.push((labels, value));
    }
}

/// Registers `read`, called each time the metrics are rendered, to report the current values of
/// the counter or gauge `def`. The callback stays registered until the returned
/// [`ScrapeCallback`] is dropped or [`ScrapeCallback::unregister`]ed; it must be quick (it runs
/// during the scrape) and may run on any thread. A callback that panics reports nothing for that
/// rendering. Give the metric a name of its own: series recorded through handles under the same
/// name are rendered next to the callback's.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use obs_core::catalog::MetricDef;
///
/// const POOL_IDLE: MetricDef = MetricDef::gauge("doc_pool_idle_connections", "Idle connections, by pool.")
///     .with_labels(&["pool"]);
///
/// let idle = Arc::new(AtomicUsize::new(3)); // the pool's own count
/// let seen = idle.clone();
/// let callback = obs_core::metrics::on_scrape(&POOL_IDLE, move |o| {
///     o.observe(&["main"], seen.load(Ordering::Relaxed) as f64);
/// });
/// # let recorder = obs_core::metrics::ObsRecorder::new();
/// let snapshot = recorder.handle().snapshot();
/// let family = snapshot.family("doc_pool_idle_connections").unwrap();
/// assert_eq!(family.series[0].label("pool"), Some("main"));
/// drop(callback); // the pool is gone: its series leaves /metrics
/// ```
pub fn on_scrape(
    def: &'static MetricDef,
    read: impl Fn(&mut Observations<'_>) + Send + Sync + 'static,
) -> ScrapeCallback {
    catalog::register_def(def);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    CALLBACKS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .push((id, def, Arc::new(read)));
    ScrapeCallback { id }
}

/// A registered scrape callback; dropping it unregisters the callback.
#[must_use = "dropping the handle unregisters the callback at once"]
pub struct ScrapeCallback {
    id: u64,
}

impl fmt::Debug for ScrapeCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrapeCallback").finish_non_exhaustive()
    }
}

impl ScrapeCallback {
    /// Unregisters the callback (as dropping the handle does): its series leave the next rendering.
    pub fn unregister(self) {}
}

impl Drop for ScrapeCallback {
    fn drop(&mut self) {
        CALLBACKS
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(id, ..)| *id != self.id);
    }
}

/// Runs every callback and hands each observation to `sink`. Callbacks run outside the lock, so
/// one may register or drop callbacks.
pub(crate) fn observe_all(mut sink: impl FnMut(&'static MetricDef, Vec<String>, SeriesValue)) {
    let callbacks: Vec<(&'static MetricDef, Read)> = CALLBACKS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(_, def, read)| (*def, read.clone()))
        .collect();
    for (def, read) in callbacks {
        let mut out = Vec::new();
        let mut observations = Observations {
            def,
            limit: catalog_limits::limit_for(def),
            out: &mut out,
        };
        if catch_unwind(AssertUnwindSafe(|| read(&mut observations))).is_err() {
            continue;
        }
        for (labels, value) in out {
            sink(def, labels, value);
        }
    }
}
