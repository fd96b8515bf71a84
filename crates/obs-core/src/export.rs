//! The span processor: a bounded queue drained by one export thread.
//!
//! `on_end` never blocks: it `try_send`s into a bounded queue and counts what does not fit
//! (`obs_spans_dropped_total`). A dedicated thread batches the queue and exports each batch with a
//! deadline on obs's own small tokio runtime, so export works whatever runtime the application uses
//! (`current_thread` included) and an unreachable collector costs a bounded wait on that thread only.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded, unbounded};
use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use crate::catalog;

/// Settings of the queue and the export thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueueSettings {
    pub(crate) queue_size: usize,
    pub(crate) batch_size: usize,
    pub(crate) interval: Duration,
    pub(crate) export_timeout: Duration,
}

/// Counters of what the processor did, readable by tests and the readiness check.
#[derive(Default)]
pub struct ExportStats {
    pub(crate) dropped: AtomicU64,
    exported: AtomicU64,
    failed_exports: AtomicU64,
    failed_spans: AtomicU64,
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
    /// Spans dropped because the queue was full.
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
}

enum Control {
    /// A full batch is waiting: sent once per batch, so the export thread is not woken per span.
    Wake,
    Flush(Sender<OTelSdkResult>),
    Shutdown(Duration, Sender<OTelSdkResult>),
}

/// A [`SpanProcessor`] with a bounded queue and a dedicated export thread.
pub(crate) struct QueueProcessor {
    spans: Sender<SpanData>,
    control: Sender<Control>,
    stats: Arc<ExportStats>,
    dropped_metric: metrics::Counter,
    queue_size: usize,
    batch_size: usize,
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
        let worker = Worker {
            exporter,
            runtime,
            settings,
            stats: stats.clone(),
            spans: span_rx,
            control: control_rx,
            exported_metric: metrics::counter!(catalog::SPANS_EXPORTED.name),
            failures_metric: metrics::counter!(catalog::SPAN_EXPORT_FAILURES.name),
            reported_drops: 0,
        };
        let handle = std::thread::Builder::new()
            .name("obs-span-export".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            spans: span_tx,
            control: control_tx,
            stats,
            dropped_metric: metrics::counter!(catalog::SPANS_DROPPED.name),
            queue_size: settings.queue_size,
            batch_size: settings.batch_size,
            worker: std::sync::Mutex::new(Some(handle)),
        })
    }

    fn request(
        &self,
        make: impl FnOnce(Sender<OTelSdkResult>) -> Control,
        wait: Duration,
    ) -> OTelSdkResult {
        let (tx, rx) = bounded(1);
        if self.control.send(make(tx)).is_err() {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        match rx.recv_timeout(wait) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(wait)),
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
        // woken once per full batch, or finds the spans at its next interval.
        match self.spans.try_send(span) {
            Ok(()) => {
                if self.spans.len() == self.batch_size {
                    let _ = self.control.send(Control::Wake);
                }
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped_metric.increment(1);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.request(Control::Flush, Duration::from_secs(30))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.request(|tx| Control::Shutdown(timeout, tx), timeout);
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

struct Worker<E> {
    exporter: E,
    runtime: tokio::runtime::Runtime,
    settings: QueueSettings,
    stats: Arc<ExportStats>,
    spans: Receiver<SpanData>,
    control: Receiver<Control>,
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
            let timeout = next_export.saturating_duration_since(Instant::now());
            match self.control.recv_timeout(timeout) {
                Ok(Control::Wake) => {
                    // Export full batches only; a partial one waits for the interval.
                    while self.spans.len() + batch.len() >= self.settings.batch_size {
                        self.fill(&mut batch);
                        let _ = self.export(&mut batch, self.settings.export_timeout);
                    }
                }
                Ok(Control::Flush(reply)) => {
                    let deadline = Instant::now() + Duration::from_secs(30);
                    let result = self.drain(&mut batch, deadline);
                    let _ = reply.send(result);
                }
                Ok(Control::Shutdown(timeout, reply)) => {
                    let deadline = Instant::now() + timeout;
                    let mut result = self.drain(&mut batch, deadline);
                    let left = deadline.saturating_duration_since(Instant::now());
                    if let Err(e) = self.exporter.shutdown_with_timeout(left) {
                        result = result.and(Err(e));
                    }
                    let _ = reply.send(result);
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {
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
                Err(RecvTimeoutError::Disconnected) => break,
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
                let lost = batch.len() as u64 + self.spans.len() as u64;
                batch.clear();
                while self.spans.try_recv().is_ok() {}
                self.stats.dropped.fetch_add(lost, Ordering::Relaxed);
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
        let future = self.exporter.export(spans);
        let result = self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, future).await })
            .unwrap_or(Err(OTelSdkError::Timeout(timeout)));
        match &result {
            Ok(()) => {
                self.stats.exported.fetch_add(count, Ordering::Relaxed);
                self.exported_metric.increment(count);
            }
            Err(error) => {
                self.stats.failed_spans.fetch_add(count, Ordering::Relaxed);
                let first = self.stats.failed_exports.fetch_add(1, Ordering::Relaxed) == 0;
                self.failures_metric.increment(1);
                if first {
                    tracing::warn!(target: "obs_core::export", %error, spans = count, "span export failed; later failures are counted in obs_span_export_failures_total");
                }
            }
        }
        result
    }

    /// Logs, from this thread and at most once per interval, how many spans the queue dropped.
    fn report_drops(&mut self) {
        let dropped = self.stats.dropped();
        if dropped > self.reported_drops {
            tracing::warn!(
                target: "obs_core::export",
                dropped = dropped - self.reported_drops,
                total = dropped,
                "span export queue full: spans dropped"
            );
            self.reported_drops = dropped;
        }
    }
}
