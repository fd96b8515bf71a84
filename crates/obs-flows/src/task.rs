//! Async work that stays in its trace: spawned tasks and blocking closures carry the parent's
//! context (span and baggage), optionally timed, with an event for each await point marked.

use std::borrow::Cow;
use std::future::Future;
use std::time::Instant;

use obs_core::propagation::InCurrentTrace as _;
use obs_core::{OpOutcome, Operation, instrument_with};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};
use tokio::task::JoinHandle;

/// `tokio::spawn`s `future` as a child of the current trace: its logs, spans and outgoing calls
/// keep the parent's trace id and baggage (the flow id).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handle = obs_flows::spawn(async { 40 + 2 });
/// assert_eq!(handle.await.unwrap(), 42);
/// # }
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_trace())
}

/// [`spawn`] with a timer: the task is an operation named `name` (a span, child of the current
/// one, and `obs_operation_duration_ms{operation}`); its output, whatever it is, counts as a
/// success. A task aborted or dropped unfinished is recorded as cancelled.
pub fn spawn_timed<F>(name: impl Into<Cow<'static, str>>, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let timed = instrument_with(Operation::new(name), future, |_| OpOutcome::Success);
    tokio::spawn(timed.in_current_trace())
}

/// `tokio::task::spawn_blocking` with the current context attached while `f` runs on the blocking
/// thread.
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let cx = Context::current();
    tokio::task::spawn_blocking(move || {
        let _attached = cx.attach();
        f()
    })
}

/// Marks an await point: an event `checkpoint` with `checkpoint.name` on the current span (when
/// it records), so a trace shows where a long task spent its time between two marks.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// obs_flows::checkpoint("fetched");
/// # }
/// ```
pub fn checkpoint(name: &'static str) {
    Context::map_current(|cx| {
        let span = cx.span();
        if span.is_recording() {
            span.add_event("checkpoint", vec![KeyValue::new("checkpoint.name", name)]);
        }
    });
}

/// A stopwatch for the await points of one task: each [`Checkpoints::mark`] adds a `checkpoint`
/// event with the milliseconds since the previous mark (or since the stopwatch started).
#[derive(Debug)]
pub struct Checkpoints {
    last: Instant,
}

impl Default for Checkpoints {
    fn default() -> Self {
        Self::new()
    }
}

impl Checkpoints {
    /// A stopwatch started now.
    pub fn new() -> Self {
        Self {
            last: Instant::now(),
        }
    }

    /// Marks the await point `name` on the current span.
    pub fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        let since_ms = now.duration_since(self.last).as_secs_f64() * 1_000.0;
        self.last = now;
        Context::map_current(|cx| {
            let span = cx.span();
            if span.is_recording() {
                span.add_event(
                    "checkpoint",
                    vec![
                        KeyValue::new("checkpoint.name", name),
                        KeyValue::new("checkpoint.since_previous_ms", since_ms),
                    ],
                );
            }
        });
    }
}
