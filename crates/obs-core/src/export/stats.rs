//! What the span processor did: counters for tests, the readiness check and the errors of
//! `shutdown` and `force_flush`, and the one place that counts a dropped span.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crossbeam_channel::Sender;

/// Counters of what the processor did, readable by tests and the readiness check.
#[derive(Default)]
pub struct ExportStats {
    pub(crate) dropped: AtomicU64,
    pub(super) exported: AtomicU64,
    pub(super) failed_exports: AtomicU64,
    pub(crate) failed_spans: AtomicU64,
    /// Spans in the export call running now: neither exported nor lost yet.
    pub(super) in_flight: AtomicU64,
    /// The last export failure, redacted, for the error that `shutdown` and `force_flush` return.
    pub(super) last_failure: Mutex<Option<String>>,
    queue: OnceLock<Box<dyn QueueProbe>>,
}

/// Reads a queue's fill level without taking from it.
pub(crate) trait QueueProbe: Send + Sync {
    fn len(&self) -> usize;
    fn capacity(&self) -> usize;
}

impl<T: Send> QueueProbe for Sender<T> {
    fn len(&self) -> usize {
        Sender::len(self)
    }
    fn capacity(&self) -> usize {
        Sender::capacity(self).unwrap_or(usize::MAX)
    }
}

impl fmt::Debug for ExportStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportStats")
            .field("dropped", &self.dropped())
            .field("exported", &self.exported())
            .field("failed_exports", &self.failed_exports())
            .field("failed_spans", &self.failed_spans())
            .field("queue_len", &self.queue_len())
            .field("queue_capacity", &self.queue_capacity())
            .finish_non_exhaustive()
    }
}

impl ExportStats {
    /// Lets `queue_len` and `queue_capacity` read `queue`. Only the first call has an effect.
    pub(crate) fn attach_queue(&self, queue: impl QueueProbe + 'static) {
        let _ = self.queue.set(Box::new(queue));
    }
    /// Spans waiting in the export queue now; 0 when no exporter is installed.
    pub fn queue_len(&self) -> usize {
        self.queue.get().map_or(0, |q| q.len())
    }
    /// How many spans the export queue holds at most; 0 when no exporter is installed.
    pub fn queue_capacity(&self) -> usize {
        self.queue.get().map_or(0, |q| q.capacity())
    }
    /// Spans dropped before any export was tried: the queue was full, or a flush or shutdown ran
    /// out of time while they were still queued.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    /// Spans exported successfully.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }
    /// Export calls that failed or timed out.
    pub fn failed_exports(&self) -> u64 {
        self.failed_exports.load(Ordering::Relaxed)
    }
    /// Spans lost in export calls that failed or timed out.
    pub fn failed_spans(&self) -> u64 {
        self.failed_spans.load(Ordering::Relaxed)
    }
    /// Spans handed to an export call that has not finished yet.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
    /// The last export failure, redacted.
    pub(crate) fn last_failure(&self) -> Option<String> {
        self.last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Counts dropped spans in the stats and in `obs_spans_dropped_total`, always both.
#[derive(Clone)]
pub(crate) struct DropCounter {
    pub(super) stats: Arc<ExportStats>,
    pub(super) metric: metrics::Counter,
}

impl DropCounter {
    pub(super) fn add(&self, spans: u64) {
        if spans > 0 {
            self.stats.dropped.fetch_add(spans, Ordering::Relaxed);
            self.metric.increment(spans);
        }
    }
}
