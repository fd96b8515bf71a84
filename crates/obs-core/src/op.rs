//! Timed operations: one span, one duration histogram, one outcome counter, the output unchanged.
//!
//! [`instrument`] is the helper every obs crate builds on (database queries, Redis commands,
//! external calls, worker stages). It opens an OpenTelemetry span as a child of the current context,
//! runs the future with that span attached (so `tracing` spans and log lines inside it join the
//! trace), and when the future completes records the duration and the outcome (`success`, `error`
//! or `timeout`, with an `error_type`) and marks the span as failed on error. The future's output is
//! returned exactly as it was. A future dropped before it completes (cancelled, or cut by a caller's
//! timeout) is recorded as `timeout` with error type `cancelled`.
//!
//! ```
//! use obs_core::{instrument, Operation};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let rows: Result<u32, std::io::Error> =
//!     instrument(Operation::new("inventory.reserve").attribute("item.count", 3), async { Ok(3) }).await;
//! assert_eq!(rows.unwrap(), 3);
//! # }
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue, Value};
use pin_project_lite::pin_project;

use crate::catalog;
use crate::metrics::{CounterVec, HistogramVec};

static DEFAULT_DURATION: HistogramVec = HistogramVec::new(&catalog::OPERATION_DURATION);
static DEFAULT_OUTCOMES: CounterVec = CounterVec::new(&catalog::OPERATIONS);

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpOutcome {
    /// It succeeded.
    Success,
    /// It failed; the value is a low-cardinality error type such as `connection_refused`.
    Error(Cow<'static, str>),
    /// It timed out; the value is the error type.
    Timeout(Cow<'static, str>),
}

impl OpOutcome {
    /// The `outcome` label value.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error(_) => "error",
            Self::Timeout(_) => "timeout",
        }
    }

    /// The `error_type` label value (empty on success).
    pub fn error_type(&self) -> &str {
        match self {
            Self::Success => "",
            Self::Error(t) | Self::Timeout(t) => t,
        }
    }
}

/// Errors that can say what kind of error they are, for the `error_type` label and the span's
/// `error.type`. The type must be low-cardinality: a variant name, never a message.
pub trait ErrorType {
    /// A short, stable name of the kind of error, e.g. `pool_timeout`.
    fn error_type(&self) -> Cow<'static, str>;

    /// Whether the error is a timeout (the outcome becomes `timeout`).
    fn is_timeout(&self) -> bool {
        false
    }
}

impl ErrorType for std::io::Error {
    fn error_type(&self) -> Cow<'static, str> {
        Cow::Owned(format!("{:?}", self.kind()))
    }
    fn is_timeout(&self) -> bool {
        self.kind() == std::io::ErrorKind::TimedOut
    }
}

impl ErrorType for tokio::time::error::Elapsed {
    fn error_type(&self) -> Cow<'static, str> {
        Cow::Borrowed("timeout")
    }
    fn is_timeout(&self) -> bool {
        true
    }
}

impl ErrorType for Box<dyn std::error::Error + Send + Sync> {
    fn error_type(&self) -> Cow<'static, str> {
        Cow::Borrowed("error")
    }
}

impl ErrorType for std::convert::Infallible {
    fn error_type(&self) -> Cow<'static, str> {
        match *self {}
    }
}

/// Outputs that carry an outcome; implemented for `Result<T, E>` where `E:` [`ErrorType`].
pub trait Outcome {
    /// How the operation ended.
    fn outcome(&self) -> OpOutcome;
}

impl<T, E: ErrorType> Outcome for Result<T, E> {
    fn outcome(&self) -> OpOutcome {
        match self {
            Ok(_) => OpOutcome::Success,
            Err(e) if e.is_timeout() => OpOutcome::Timeout(e.error_type()),
            Err(e) => OpOutcome::Error(e.error_type()),
        }
    }
}

/// The metrics an operation records: a duration histogram with the base label values, and an
/// outcome counter with the base label values followed by `outcome` and `error_type`.
#[derive(Debug, Clone)]
struct OpMetrics {
    duration: &'static HistogramVec,
    outcomes: &'static CounterVec,
    /// The base label values; `None` for the generic metrics, whose one label is the name.
    labels: Option<Vec<Cow<'static, str>>>,
}

/// What [`instrument`] records: the span's name, kind and attributes, and the metrics.
#[derive(Debug, Clone)]
pub struct Operation {
    name: Cow<'static, str>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    metrics: OpMetrics,
}

impl Operation {
    /// An internal operation named `name`, recorded in `obs_operation_duration_ms{operation}` and
    /// `obs_operations_total{operation,outcome,error_type}`. Keep names low-cardinality.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        let name = name.into();
        Self {
            metrics: OpMetrics {
                duration: &DEFAULT_DURATION,
                outcomes: &DEFAULT_OUTCOMES,
                labels: None,
            },
            name,
            kind: SpanKind::Internal,
            attributes: Vec::new(),
        }
    }

    /// The span kind (default internal).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Adds a span attribute.
    pub fn attribute(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// Records in a crate's own metrics instead of the generic ones. `labels` are the values of the
    /// duration histogram's labels; the outcome counter's labels are the same followed by
    /// `outcome` and `error_type`.
    pub fn metrics(
        mut self,
        duration: &'static HistogramVec,
        outcomes: &'static CounterVec,
        labels: impl IntoIterator<Item = impl Into<Cow<'static, str>>>,
    ) -> Self {
        self.metrics = OpMetrics {
            duration,
            outcomes,
            labels: Some(labels.into_iter().map(Into::into).collect()),
        };
        self
    }
}

/// Runs `future` as the operation `op`; see the [module docs](self).
pub fn instrument<F>(op: Operation, future: F) -> Instrumented<F, fn(&F::Output) -> OpOutcome>
where
    F: Future,
    F::Output: Outcome,
{
    instrument_with(op, future, <F::Output as Outcome>::outcome)
}

/// [`instrument`] for outputs that do not implement [`Outcome`]: `classify` tells the outcome.
pub fn instrument_with<F, C>(op: Operation, future: F, classify: C) -> Instrumented<F, C>
where
    F: Future,
    C: FnOnce(&F::Output) -> OpOutcome,
{
    let parent = Context::current();
    let attributes = op.attributes;
    // An unsampled operation's span is not built (its attributes are dropped unused).
    let cx = crate::trace::start_span(&parent, op.name.clone(), op.kind, || attributes)
        .map_or(parent, |started| started.cx);
    Instrumented {
        inner: future,
        state: Some(State {
            cx,
            name: op.name,
            start: Instant::now(),
            metrics: op.metrics,
            classify,
        }),
    }
}

struct State<C> {
    cx: Context,
    name: Cow<'static, str>,
    start: Instant,
    metrics: OpMetrics,
    classify: C,
}

pin_project! {
    /// The future returned by [`instrument`]: the inner future's output, unchanged.
    pub struct Instrumented<F, C> {
        #[pin]
        inner: F,
        state: Option<State<C>>,
    }

    impl<F, C> PinnedDrop for Instrumented<F, C> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(state) = this.project().state.take() {
                finish(state.cx, state.start, &state.name, &state.metrics, OpOutcome::Timeout(Cow::Borrowed("cancelled")));
            }
        }
    }
}

impl<F, C> std::fmt::Debug for Instrumented<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumented").finish_non_exhaustive()
    }
}

impl<F, C> Future for Instrumented<F, C>
where
    F: Future,
    C: FnOnce(&F::Output) -> OpOutcome,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let poll = match this.state.as_ref() {
            Some(state) => {
                let _attached = state.cx.clone().attach();
                this.inner.poll(task)
            }
            None => this.inner.poll(task),
        };
        if let Poll::Ready(output) = &poll
            && let Some(state) = this.state.take()
        {
            let outcome = catch_unwind(AssertUnwindSafe(|| (state.classify)(output)))
                .unwrap_or(OpOutcome::Error(Cow::Borrowed("unclassified")));
            finish(state.cx, state.start, &state.name, &state.metrics, outcome);
        }
        poll
    }
}

/// Records the metrics and ends the span. A panicking recorder or exporter is contained here.
fn finish(cx: Context, start: Instant, name: &str, metrics: &OpMetrics, outcome: OpOutcome) {
    let elapsed_ms = start.elapsed().as_secs_f64() * 1_000.0;
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // The base label values: the crate's own, or the name alone for the generic metrics.
        let given = metrics.labels.as_deref();
        let count = given.map_or(1, <[_]>::len);
        // Label values on the stack: no allocation for up to `INLINE - 2` base labels.
        const INLINE: usize = 8;
        let mut inline = [""; INLINE];
        let mut heap = Vec::new();
        let labels: &mut [&str] = if count + 2 <= INLINE {
            &mut inline[..count + 2]
        } else {
            heap.resize(count + 2, "");
            &mut heap
        };
        match given {
            Some(values) => {
                for (slot, value) in labels.iter_mut().zip(values) {
                    *slot = value;
                }
            }
            None => labels[0] = name,
        }
        labels[count] = outcome.label();
        labels[count + 1] = outcome.error_type();
        metrics.duration.with(&labels[..count]).record(elapsed_ms);
        metrics.outcomes.with(labels).increment(1);

        let span = cx.span();
        if outcome != OpOutcome::Success {
            let error_type = outcome.error_type().to_owned();
            span.set_attribute(KeyValue::new("error.type", error_type.clone()));
            span.add_event(
                "exception",
                vec![KeyValue::new("exception.type", error_type.clone())],
            );
            span.set_status(Status::error(error_type));
        }
        span.end();
    }));
}
