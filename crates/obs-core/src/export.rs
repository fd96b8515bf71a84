//! The span processor: a bounded queue drained by one export thread.
//!
//! `on_end` never blocks: it `try_send`s into a bounded queue and counts what does not fit
//! (`obs_spans_dropped_total`). A dedicated thread batches the queue and exports each batch with a
//! deadline on obs's own small tokio runtime, so export works whatever runtime the application uses
//! (`current_thread` included) and an unreachable collector costs a bounded wait on that thread only.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded, unbounded};
use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use crate::catalog;

mod stats;

pub(crate) use stats::DropCounter;
pub use stats::ExportStats;

/// Settings of the queue and the export thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueueSettings {
    pub(crate) queue_size: usize,
    pub(crate) batch_size: usize,
    pub(crate) interval: Duration,
    pub(crate) export_timeout: Duration,
}

enum Control {
    /// A full batch is waiting: sent once per batch, so the export thread is not woken per span.
    Wake,
    /// Export everything queued, by the deadline.
    Flush(Instant, Sender<OTelSdkResult>),
    /// Export everything queued by the deadline, then stop.
    Shutdown(Instant, Sender<OTelSdkResult>),
}

/// How long `force_flush` may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// A [`SpanProcessor`] with a bounded queue and a dedicated export thread.
pub(crate) struct QueueProcessor {
    spans: Sender<SpanData>,
    /// The queue's other end, to count what is left in it when a flush or shutdown times out.
    /// Let go at shutdown, so that once the worker is gone too a late span finds the queue
    /// disconnected and is counted as dropped rather than left in it.
    queued: Mutex<Option<Receiver<SpanData>>>,
    control: Sender<Control>,
    /// Set while a `Control::Wake` is on its way, so a full queue sends one, not one per span.
    wake_pending: Arc<AtomicBool>,
    stats: Arc<ExportStats>,
    dropped: DropCounter,
    queue_size: usize,
    batch_size: usize,
    /// Set by the first shutdown: later ones return at once instead of waiting for a worker that
    /// may still be finishing an export.
    shut_down: AtomicBool,
    worker: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for QueueProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueProcessor")
            .field("queue_size", &self.queue_size)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl QueueProcessor {
    /// Starts the export thread. `runtime` runs the exporter's futures (its network I/O).
    pub(crate) fn new<E: SpanExporter + 'static>(
        exporter: E,
        runtime: tokio::runtime::Runtime,
        settings: QueueSettings,
        stats: Arc<ExportStats>,
    ) -> std::io::Result<Self> {
        let (span_tx, span_rx) = bounded(settings.queue_size);
        let (control_tx, control_rx) = unbounded();
        // A sender clone only reads the fill level; the worker still stops on `Control::Shutdown`.
        stats.attach_queue(span_tx.clone());
        let wake_pending = Arc::new(AtomicBool::new(false));
        let dropped = DropCounter {
            stats: stats.clone(),
            metric: metrics::counter!(catalog::SPANS_DROPPED.name),
        };
        let worker = Worker {
            exporter,
            runtime,
            settings,
            stats: stats.clone(),
            spans: span_rx.clone(),
            control: control_rx,
            wake_pending: wake_pending.clone(),
            dropped: dropped.clone(),
            exported_metric: metrics::counter!(catalog::SPANS_EXPORTED.name),
            failures_metric: metrics::counter!(catalog::SPAN_EXPORT_FAILURES.name),
            reported_drops: 0,
        };
        let handle = std::thread::Builder::new()
            .name("obs-span-export".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            spans: span_tx,
            queued: Mutex::new(Some(span_rx)),
            control: control_tx,
            wake_pending,
            stats,
            dropped,
            queue_size: settings.queue_size,
            batch_size: settings.batch_size,
            shut_down: AtomicBool::new(false),
            worker: std::sync::Mutex::new(Some(handle)),
        })
    }

    /// Asks the worker to export everything queued by `deadline`, and waits for it until then.
    ///
    /// When the worker does not answer in time (an export that started earlier is still running),
    /// the spans still queued are taken out and counted as dropped here: the caller learns now
    /// what was lost, and nothing stays uncounted if the process exits next.
    fn request(
        &self,
        make: impl FnOnce(Instant, Sender<OTelSdkResult>) -> Control,
        timeout: Duration,
    ) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let (tx, rx) = bounded(1);
        if self.control.send(make(deadline, tx)).is_err() {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        match rx.recv_deadline(deadline) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                let mut left = 0;
                if let Some(queued) = &*self.queued.lock().unwrap_or_else(PoisonError::into_inner) {
                    while queued.try_recv().is_ok() {
                        left += 1;
                    }
                }
                self.dropped.add(left);
                Err(OTelSdkError::Timeout(timeout))
            }
            Err(RecvTimeoutError::Disconnected) => Err(OTelSdkError::AlreadyShutdown),
        }
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        // The export thread never waits on this queue, so a send wakes nobody (no syscall); it is
        // woken once per full batch, or finds the spans at its next interval. Several producers
        // can step over the exact batch size together, so any fill at or above it wakes the
        // thread, once: the flag stays set until the thread takes the wake-up.
        match self.spans.try_send(span) {
            Ok(()) => {
                if self.spans.len() >= self.batch_size
                    && !self.wake_pending.load(Ordering::SeqCst)
                    && !self.wake_pending.swap(true, Ordering::SeqCst)
                {
                    let _ = self.control.send(Control::Wake);
                }
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped.add(1),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.request(Control::Flush, FLUSH_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let result = self.request(Control::Shutdown, timeout);
        // Spans ended while the worker drained are not left behind uncounted.
        let queued = self
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(queued) = queued {
            self.dropped.add(queued.try_iter().count() as u64);
        }
        if result.is_ok()
            && let Some(handle) = self
                .worker
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        {
            let _ = handle.join();
        }
        result
    }
}

/// The processor as the tracer provider holds it, shared with the guard: the provider folds its
/// processors' results into one debug-formatted string, so the guard asks the processor itself.
#[derive(Clone, Debug)]
pub(crate) struct SharedProcessor(pub(crate) Arc<QueueProcessor>);

impl SpanProcessor for SharedProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
}

struct Worker<E> {
    exporter: E,
    runtime: tokio::runtime::Runtime,
    settings: QueueSettings,
    stats: Arc<ExportStats>,
    spans: Receiver<SpanData>,
    control: Receiver<Control>,
    wake_pending: Arc<AtomicBool>,
    dropped: DropCounter,
    exported_metric: metrics::Counter,
    failures_metric: metrics::Counter,
    reported_drops: u64,
}

impl<E: SpanExporter> Worker<E> {
    fn run(mut self) {
        // The exporter's own I/O must not produce telemetry that is exported again.
        let _suppressed = Context::enter_telemetry_suppressed_scope();
        let mut batch = Vec::with_capacity(self.settings.batch_size);
        let mut next_export = Instant::now() + self.settings.interval;
        loop {
            match self.control.recv_deadline(next_export) {
                Ok(Control::Wake) => {
                    // Cleared before reading the queue, so a span queued from now on wakes again.
                    self.wake_pending.store(false, Ordering::SeqCst);
                    // Export the full batches queued now; a partial one waits for the interval.
                    // Spans that arrive meanwhile wake this thread again, so a queue that producers
                    // keep full never holds it here away from its schedule and its requests.
                    let mut full = (self.spans.len() + batch.len()) / self.settings.batch_size;
                    while full > 0 {
                        self.fill(&mut batch);
                        let _ = self.export(&mut batch, self.settings.export_timeout);
                        full -= 1;
                    }
                }
                Ok(Control::Flush(deadline, reply)) => {
                    // A caller that gave up already counted what was queued then; spans queued
                    // since are not this flush's to drop.
                    let result = if Instant::now() >= deadline {
                        Err(OTelSdkError::Timeout(Duration::ZERO))
                    } else {
                        self.drain(&mut batch, deadline)
                    };
                    let _ = reply.send(result);
                }
                Ok(Control::Shutdown(deadline, reply)) => {
                    let mut result = self.drain(&mut batch, deadline);
                    let left = deadline.saturating_duration_since(Instant::now());
                    if let Err(e) = self.exporter.shutdown_with_timeout(left) {
                        result = result.and(Err(e));
                    }
                    let _ = reply.send(result);
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // The schedule runs after any message too: wake-ups that keep coming must not
            // postpone the partial batch or the drop warning.
            if Instant::now() >= next_export {
                // Export what is queued now; spans that arrive meanwhile wait for the next
                // wake-up, so a busy queue never keeps this loop from its other work.
                let mut left = self.spans.len() + batch.len();
                while left > 0 {
                    self.fill(&mut batch);
                    if batch.is_empty() {
                        break;
                    }
                    left = left.saturating_sub(batch.len());
                    let _ = self.export(&mut batch, self.settings.export_timeout);
                }
                self.report_drops();
                next_export = Instant::now() + self.settings.interval;
            }
        }
        self.runtime.shutdown_background();
    }

    /// Moves queued spans into `batch`, up to the batch size.
    fn fill(&self, batch: &mut Vec<SpanData>) {
        while batch.len() < self.settings.batch_size {
            match self.spans.try_recv() {
                Ok(span) => batch.push(span),
                Err(_) => break,
            }
        }
    }

    /// Exports everything queued so far, within `deadline`.
    fn drain(&mut self, batch: &mut Vec<SpanData>, deadline: Instant) -> OTelSdkResult {
        let mut result = Ok(());
        loop {
            self.fill(batch);
            if batch.is_empty() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // Out of time: what is still queued is dropped, and counted.
                let mut lost = batch.len() as u64;
                batch.clear();
                while self.spans.try_recv().is_ok() {
                    lost += 1;
                }
                self.dropped.add(lost);
                self.report_drops();
                return Err(OTelSdkError::Timeout(Duration::ZERO));
            }
            if let Err(e) = self.export(batch, left.min(self.settings.export_timeout)) {
                result = Err(e);
            }
        }
        self.report_drops();
        result
    }

    fn export(&mut self, batch: &mut Vec<SpanData>, timeout: Duration) -> OTelSdkResult {
        if batch.is_empty() {
            return Ok(());
        }
        let spans = std::mem::replace(batch, Vec::with_capacity(self.settings.batch_size));
        let count = spans.len() as u64;
        self.stats.in_flight.store(count, Ordering::Relaxed);
        let future = self.exporter.export(spans);
        let result = self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, future).await })
            .unwrap_or(Err(OTelSdkError::Timeout(timeout)));
        // Counted as exported or failed first, so a reader never sees a span in neither place.
        match &result {
            Ok(()) => {
                self.stats.exported.fetch_add(count, Ordering::Relaxed);
                self.exported_metric.increment(count);
            }
            Err(error) => {
                self.stats.failed_spans.fetch_add(count, Ordering::Relaxed);
                *self
                    .stats
                    .last_failure
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some(crate::redact::text(&error.to_string()).into_owned());
                let first = self.stats.failed_exports.fetch_add(1, Ordering::Relaxed) == 0;
                self.failures_metric.increment(1);
                if first {
                    tracing::warn!(target: "obs_core::export", %error, spans = count, "span export failed; later failures are counted in obs_span_export_failures_total");
                }
            }
        }
        self.stats.in_flight.store(0, Ordering::Relaxed);
        result
    }

    /// Logs, from this thread and at most once per interval (and when a flush or shutdown runs out
    /// of time), how many spans were dropped since the last report.
    fn report_drops(&mut self) {
        let dropped = self.stats.dropped();
        if dropped > self.reported_drops {
            tracing::warn!(
                target: "obs_core::export",
                dropped = dropped - self.reported_drops,
                total = dropped,
                "span export queue full or out of time: spans dropped; counted in obs_spans_dropped_total"
            );
            self.reported_drops = dropped;
        }
    }
}
