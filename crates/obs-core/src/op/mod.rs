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
//!
//! What an [`Operation`] can say besides its name:
//! - [`kind`](Operation::kind): the span kind, e.g. `Client` for a database or Redis call
//!   (default `Internal`);
//! - [`attribute`](Operation::attribute) and [`link`](Operation::link): attributes known before it
//!   runs (keys `&'static str` or owned) and links to other traces' spans;
//! - [`on_result`](Operation::on_result): attributes taken from the output (rows affected, bytes);
//! - [`classify`](Operation::classify): the outcome of an error type that cannot implement
//!   [`ErrorType`] here (another crate's error);
//! - [`timeout`](Operation::timeout): a time limit; the future then returns
//!   `Result<output, `[`TimedOut`]`>`, and without one the output is not wrapped at all;
//! - [`metrics`](Operation::metrics): a crate's own duration histogram and outcome counter.
//!
//! ```
//! use std::time::Duration;
//! use obs_core::{instrument, Operation};
//! use opentelemetry::trace::SpanKind;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let table = String::from("orders");
//! let op = Operation::new("db.update")
//!     .kind(SpanKind::Client)
//!     .attribute(format!("db.{table}.shard"), 2)
//!     .on_result(|r: &Result<u64, std::io::Error>, span| {
//!         if let Ok(rows) = r {
//!             span.set("db.rows_affected", *rows as i64);
//!         }
//!     })
//!     .timeout(Duration::from_secs(5));
//! let rows = instrument(op, async { Ok(3) }).await??;
//! assert_eq!(rows, 3);
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::time::{Duration, Instant};

use opentelemetry::trace::{Link, SpanContext, SpanKind, TraceContextExt as _};
use opentelemetry::{Context, Key, KeyValue, Value};

use crate::catalog;
use crate::metrics::{CounterVec, HistogramVec};

mod future;
mod outcome;
mod result;
mod timeout;

pub use future::Instrumented;
pub use outcome::{ByErrorType, Classify, ClassifyError, ErrorType, OpOutcome, Outcome};
pub use result::{OnResult, SpanAttributes};
pub use timeout::{Deadline, NoTimeout, TimedOut, WithTimeout};

static DEFAULT_DURATION: HistogramVec = HistogramVec::new(&catalog::OPERATION_DURATION);
static DEFAULT_OUTCOMES: CounterVec = CounterVec::new(&catalog::OPERATIONS);

/// The metrics an operation records: a duration histogram with the base label values, and an
/// outcome counter with the base label values followed by `outcome` and `error_type` (or a
/// failure counter, with the base label values followed by the error type).
#[derive(Debug, Clone)]
struct OpMetrics {
    duration: &'static HistogramVec,
    outcomes: &'static CounterVec,
    /// The base label values; `None` for the generic metrics, whose one label is the name.
    labels: Option<Vec<Cow<'static, str>>>,
    /// `outcomes` counts failures only (errors and timeouts), labelled by their error type.
    failures_only: bool,
}

/// What [`instrument`] records: the span's name, kind, attributes and links, the metrics, and
/// how the outcome is told.
///
/// The type parameters are the pluggable parts, changed by the builder methods that set them:
/// `C` the [`Classify`]er ([`classify`](Self::classify)), `R` the [`OnResult`] callback
/// ([`on_result`](Self::on_result)), `T` the [`Deadline`] ([`timeout`](Self::timeout)). Plain
/// `Operation` is the default of each: classified by [`ErrorType`], no result attributes, no
/// time limit.
#[derive(Clone)]
pub struct Operation<C = ByErrorType, R = (), T = NoTimeout> {
    name: Cow<'static, str>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    links: Vec<Link>,
    metrics: OpMetrics,
    classify: C,
    on_result: R,
    deadline: T,
}

impl Operation {
    /// An internal operation named `name`, recorded in `obs_operation_duration_ms{operation}` and
    /// `obs_operations_total{operation,outcome,error_type}`. Keep names low-cardinality.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            kind: SpanKind::Internal,
            attributes: Vec::new(),
            links: Vec::new(),
            metrics: OpMetrics {
                duration: &DEFAULT_DURATION,
                outcomes: &DEFAULT_OUTCOMES,
                labels: None,
                failures_only: false,
            },
            classify: ByErrorType,
            on_result: (),
            deadline: NoTimeout,
        }
    }
}

impl<C, R, T> Operation<C, R, T> {
    /// The span kind (default `Internal`); `Client` for calls to a database, a cache or another
    /// service.
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Adds a span attribute. The key may be a `&'static str` (no allocation) or owned
    /// (`String`, `Arc<str>`, `Cow<'static, str>`).
    pub fn attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// Links the span to `span_context`, a span of another trace (the message a consumer handles,
    /// the requests a batch serves). An invalid context is ignored.
    ///
    /// ```
    /// use obs_core::Operation;
    /// use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    ///
    /// let producer = SpanContext::new(
    ///     TraceId::from(1_u128),
    ///     SpanId::from(2_u64),
    ///     TraceFlags::SAMPLED,
    ///     true,
    ///     TraceState::NONE,
    /// );
    /// let op = Operation::new("queue.handle").link(producer);
    /// ```
    pub fn link(self, span_context: SpanContext) -> Self {
        self.link_with_attributes(span_context, Vec::new())
    }

    /// [`link`](Self::link) with attributes on the link.
    pub fn link_with_attributes(
        mut self,
        span_context: SpanContext,
        attributes: Vec<KeyValue>,
    ) -> Self {
        if span_context.is_valid() {
            self.links.push(Link::new(span_context, attributes, 0));
        }
        self
    }

    /// Records in a crate's own metrics instead of the generic ones. `labels` are the values of the
    /// duration histogram's labels; the outcome counter's labels are the same followed by
    /// `outcome` and `error_type`, or by the outcome alone when the counter declares exactly one
    /// label more than `labels` (a design document's `{operation,status}`: the error type is then
    /// on the span only, as `error.type`). The outcome label may have any name (`status`,
    /// `outcome`); its values are `success`, `error` and `timeout`.
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
            failures_only: false,
        };
        self
    }

    /// Records in a crate's own duration histogram and a failure counter, for the design
    /// documents' metrics that count failures only (`flow_failures_total{flow,step,error_type}`,
    /// `worker_stage_failures_total{stage,code}`): `labels` are the duration histogram's label
    /// values; an error or a timeout adds one to `failures` with the same values followed by
    /// its error type (in the counter's last label, whatever its name); a success counts in the
    /// histogram only.
    ///
    /// ```
    /// use obs_core::catalog::MetricDef;
    /// use obs_core::metrics::{CounterVec, HistogramVec};
    /// use obs_core::{instrument, Operation};
    ///
    /// const STAGE_MS: MetricDef = MetricDef::histogram("doc_stage_ms", "Stages.").with_labels(&["stage"]);
    /// const FAILURES: MetricDef =
    ///     MetricDef::counter("doc_stage_failures_total", "Failed stages.").with_labels(&["stage", "code"]);
    /// static STAGE_MS_VEC: HistogramVec = HistogramVec::new(&STAGE_MS);
    /// static FAILURES_VEC: CounterVec = CounterVec::new(&FAILURES);
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let op = Operation::new("stage transcode").failure_metrics(&STAGE_MS_VEC, &FAILURES_VEC, ["transcode"]);
    /// let out = instrument(op, async { Ok::<_, std::io::Error>(1) }).await;
    /// assert_eq!(out.unwrap(), 1);
    /// # }
    /// ```
    pub fn failure_metrics(
        mut self,
        duration: &'static HistogramVec,
        failures: &'static CounterVec,
        labels: impl IntoIterator<Item = impl Into<Cow<'static, str>>>,
    ) -> Self {
        self.metrics = OpMetrics {
            duration,
            outcomes: failures,
            labels: Some(labels.into_iter().map(Into::into).collect()),
            failures_only: true,
        };
        self
    }

    /// Tells the outcome of a `Result`'s error with `classify` instead of [`ErrorType`]: for an
    /// error type of another crate, which neither crate can implement [`ErrorType`] for, or to
    /// name errors differently. `Ok` is a success; the closure may call an error a success too
    /// (a cache miss). Annotate the closure's argument, as the output type is not known yet.
    ///
    /// ```
    /// use obs_core::{instrument, OpOutcome, Operation};
    /// use serde_json::error::Category;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let op = Operation::new("config.parse").classify(|e: &serde_json::Error| match e.classify() {
    ///     Category::Io => OpOutcome::Error("io".into()),
    ///     Category::Syntax | Category::Eof => OpOutcome::Error("syntax".into()),
    ///     Category::Data => OpOutcome::Error("schema".into()),
    /// });
    /// let parsed = instrument(op, async { serde_json::from_str::<u32>("not json") }).await;
    /// assert!(parsed.is_err()); // recorded with error_type="syntax"
    /// # }
    /// ```
    pub fn classify<E, F>(self, classify: F) -> Operation<ClassifyError<F>, R, T>
    where
        F: FnOnce(&E) -> OpOutcome,
    {
        self.with_classifier(ClassifyError(classify))
    }

    /// Tells the outcome from the whole output with `classify`: for outputs that are not a
    /// `Result` (a status code), or any [`Classify`] implementation.
    pub fn classify_output<K>(self, classify: K) -> Operation<K, R, T> {
        self.with_classifier(classify)
    }

    fn with_classifier<K>(self, classify: K) -> Operation<K, R, T> {
        Operation {
            name: self.name,
            kind: self.kind,
            attributes: self.attributes,
            links: self.links,
            metrics: self.metrics,
            classify,
            on_result: self.on_result,
            deadline: self.deadline,
        }
    }

    /// Sets span attributes from the output once the future completed (rows affected, bytes
    /// read); see [`OnResult`] for when it runs. Annotate the closure's first argument, as the
    /// output type is not known yet; the second is a [`SpanAttributes`].
    pub fn on_result<O, F>(self, on_result: F) -> Operation<C, F, T>
    where
        F: FnOnce(&O, &mut SpanAttributes<'_>),
    {
        Operation {
            name: self.name,
            kind: self.kind,
            attributes: self.attributes,
            links: self.links,
            metrics: self.metrics,
            classify: self.classify,
            on_result,
            deadline: self.deadline,
        }
    }

    /// A time limit, counted from the call to [`instrument`]. When it passes first, the inner
    /// future is not polled again (it is dropped with the instrumented one), the operation is
    /// recorded with outcome `timeout` and error type `timeout`, and the caller gets
    /// `Err(`[`TimedOut`]`)`; otherwise `Ok(output)`. The timer is Tokio's: without a Tokio
    /// runtime with time enabled the limit is not enforced.
    pub fn timeout(self, limit: Duration) -> Operation<C, R, WithTimeout> {
        Operation {
            name: self.name,
            kind: self.kind,
            attributes: self.attributes,
            links: self.links,
            metrics: self.metrics,
            classify: self.classify,
            on_result: self.on_result,
            deadline: WithTimeout(limit),
        }
    }
}

impl<C, R, T: std::fmt::Debug> std::fmt::Debug for Operation<C, R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("attributes", &self.attributes)
            .field("links", &self.links.len())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// Runs `future` as the operation `op`; see the [module docs](self).
pub fn instrument<F, C, R, T>(op: Operation<C, R, T>, future: F) -> Instrumented<F, C, R, T>
where
    F: Future,
    C: Classify<F::Output>,
    R: OnResult<F::Output>,
    T: Deadline,
{
    let timer = op
        .deadline
        .limit()
        .map(|(limit, duration)| timeout::Timer::new(limit, duration));
    let parent = Context::current();
    let attributes = op.attributes;
    // An unsampled operation's span is not built (its attributes are dropped unused).
    let cx = match crate::trace::start_span(&parent, op.name.clone(), op.kind, || attributes) {
        Some(started) => {
            // Links are added once the span exists: obs's sampler decides on the parent alone,
            // so it need not see them, and an unsampled span never takes them.
            if started.recording {
                let span = started.cx.span();
                for link in op.links {
                    span.add_link(link.span_context, link.attributes);
                }
            }
            started.cx
        }
        None => parent,
    };
    Instrumented::new(
        future,
        future::State {
            cx,
            name: op.name,
            start: Instant::now(),
            metrics: op.metrics,
            classify: op.classify,
            on_result: op.on_result,
            timer,
        },
    )
}

/// [`instrument`] with `classify` telling the outcome from the whole output (for outputs that do
/// not implement [`Outcome`]); the same as `instrument(op.classify_output(classify), future)`
/// with the closure's argument type inferred.
pub fn instrument_with<F, K, C, R, T>(
    op: Operation<C, R, T>,
    future: F,
    classify: K,
) -> Instrumented<F, K, R, T>
where
    F: Future,
    K: FnOnce(&F::Output) -> OpOutcome,
    R: OnResult<F::Output>,
    T: Deadline,
{
    instrument(op.classify_output(classify), future)
}
