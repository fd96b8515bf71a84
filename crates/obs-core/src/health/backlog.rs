//! [`ExporterBacklogCheck`]: not ready while spans pile up or get dropped.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{CheckError, CheckFuture, ReadinessCheck};
use crate::ExportStats;

/// Fails while the span export queue is nearly full, or when spans were dropped or lost in failed
/// exports since the previous check (for the first check: since `init`).
///
/// A full queue means the collector is slow or unreachable: the process still serves requests, but
/// its traces are being lost. Failing readiness for that takes every replica out at once when the
/// collector is down, so obs-http's admin router only reports this check's result in `/readyz`
/// unless told to let it decide (`AdminRouter::with_exporter_check`). The check only reads
/// counters that the span processor keeps anyway. It passes when `init` was not called or no
/// exporter is configured.
///
/// ```
/// use obs_core::health::{ExporterBacklogCheck, ReadinessCheck};
///
/// let check = ExporterBacklogCheck::new().with_max_fill(0.8);
/// assert_eq!(check.name(), "exporter_backlog");
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// // Without `obs_core::init` there is no queue to back up.
/// assert!(rt.block_on(check.check()).is_ok());
/// ```
pub struct ExporterBacklogCheck {
    stats: Option<Arc<ExportStats>>,
    max_fill: f64,
    seen_dropped: AtomicU64,
    seen_failed: AtomicU64,
}

impl ExporterBacklogCheck {
    /// A check of the queue `obs_core::init` installed, failing at 90 % full.
    pub fn new() -> Self {
        Self {
            stats: None,
            max_fill: 0.9,
            seen_dropped: AtomicU64::new(0),
            seen_failed: AtomicU64::new(0),
        }
    }

    /// A check of another processor's counters (tests).
    #[cfg(test)]
    pub(crate) fn with_stats(stats: Arc<ExportStats>) -> Self {
        Self {
            stats: Some(stats),
            ..Self::new()
        }
    }

    /// The fill ratio of the queue (0.0 to 1.0) from which the check fails; defaults to 0.9.
    /// Values outside 0.0..=1.0 are clamped.
    #[must_use]
    pub fn with_max_fill(mut self, ratio: f64) -> Self {
        self.max_fill = if ratio.is_nan() {
            0.9
        } else {
            ratio.clamp(0.0, 1.0)
        };
        self
    }

    fn evaluate(&self, stats: &ExportStats) -> Result<(), CheckError> {
        // Swap even when the queue is also full, so each drop is reported by one check only.
        let dropped = stats.dropped();
        let before = self.seen_dropped.swap(dropped, Ordering::Relaxed);
        if dropped > before {
            return Err(CheckError::new(format!(
                "{} spans dropped since the previous check: the span export queue was full \
                 (the collector is slow or unreachable)",
                dropped - before
            )));
        }
        // A collector that refuses connections fails every export at once: the queue stays
        // empty, and only this counter shows that nothing arrives.
        let failed = stats.failed_spans();
        let before = self.seen_failed.swap(failed, Ordering::Relaxed);
        if failed > before {
            return Err(CheckError::new(format!(
                "{} spans lost in failed exports since the previous check \
                 (the collector is unreachable or refuses them)",
                failed - before
            )));
        }
        let (len, capacity) = (stats.queue_len(), stats.queue_capacity());
        if capacity > 0 && len as f64 >= capacity as f64 * self.max_fill {
            return Err(CheckError::new(format!(
                "span export queue is {}% full ({len} of {capacity} spans): \
                 the collector is slow or unreachable",
                len * 100 / capacity
            )));
        }
        Ok(())
    }
}

impl Default for ExporterBacklogCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ExporterBacklogCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExporterBacklogCheck")
            .field("max_fill", &self.max_fill)
            .field("seen_dropped", &self.seen_dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl ReadinessCheck for ExporterBacklogCheck {
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("exporter_backlog")
    }

    fn check(&self) -> CheckFuture<'_> {
        let stats: Option<&ExportStats> = match &self.stats {
            Some(stats) => Some(stats),
            None => crate::export_stats(),
        };
        let result = stats.map_or(Ok(()), |s| self.evaluate(s));
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(check: &ExporterBacklogCheck) -> Result<(), CheckError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(check.check())
    }

    fn stats_with_queue(capacity: usize) -> (Arc<ExportStats>, crossbeam_channel::Sender<()>) {
        let stats = Arc::new(ExportStats::default());
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        stats.attach_queue(tx.clone());
        std::mem::forget(rx);
        (stats, tx)
    }

    #[test]
    fn passes_without_a_queue_or_init() {
        assert_eq!(run(&ExporterBacklogCheck::new()), Ok(()));
        let stats = Arc::new(ExportStats::default());
        assert_eq!(stats.queue_capacity(), 0);
        assert_eq!(run(&ExporterBacklogCheck::with_stats(stats)), Ok(()));
    }

    #[test]
    fn fails_when_nearly_full_and_recovers_when_drained() {
        let (stats, tx) = stats_with_queue(10);
        let check = ExporterBacklogCheck::with_stats(stats.clone());
        for _ in 0..8 {
            tx.try_send(()).unwrap();
        }
        assert_eq!((stats.queue_len(), stats.queue_capacity()), (8, 10));
        assert_eq!(run(&check), Ok(()), "80% is below the 90% default");
        tx.try_send(()).unwrap();
        let err = run(&check).unwrap_err();
        assert!(err.message().contains("90% full (9 of 10 spans)"), "{err}");
        let strict = ExporterBacklogCheck::with_stats(stats).with_max_fill(0.5);
        assert!(run(&strict).is_err());
    }

    #[test]
    fn fails_once_per_batch_of_drops() {
        let (stats, _tx) = stats_with_queue(10);
        let check = ExporterBacklogCheck::with_stats(stats.clone());
        assert_eq!(run(&check), Ok(()));
        stats.dropped.fetch_add(3, Ordering::Relaxed);
        let err = run(&check).unwrap_err();
        assert!(err.message().starts_with("3 spans dropped"), "{err}");
        assert_eq!(run(&check), Ok(()), "the same drops are not reported twice");
        stats.dropped.fetch_add(1, Ordering::Relaxed);
        assert!(run(&check).unwrap_err().message().starts_with("1 spans"));
    }

    #[test]
    fn fails_once_per_batch_of_failed_exports() {
        let (stats, _tx) = stats_with_queue(10);
        let check = ExporterBacklogCheck::with_stats(stats.clone());
        stats.failed_spans.fetch_add(5, Ordering::Relaxed);
        let err = run(&check).unwrap_err();
        assert!(
            err.message().starts_with("5 spans lost in failed exports"),
            "{err}"
        );
        assert_eq!(run(&check), Ok(()));
    }

    #[test]
    fn max_fill_is_clamped() {
        assert_eq!(ExporterBacklogCheck::new().with_max_fill(7.0).max_fill, 1.0);
        assert_eq!(
            ExporterBacklogCheck::new().with_max_fill(-1.0).max_fill,
            0.0
        );
        assert_eq!(
            ExporterBacklogCheck::new().with_max_fill(f64::NAN).max_fill,
            0.9
        );
    }
}
