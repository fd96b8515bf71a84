//! [`Instrumented`]: the future [`super::instrument`] returns, and the recording when it ends.

use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use opentelemetry::trace::{SpanRef, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use pin_project_lite::pin_project;

use super::OpMetrics;
use super::outcome::{ByErrorType, Classify, OpOutcome};
use super::result::{OnResult, SpanAttributes};
use super::timeout::{Deadline, NoTimeout, Timer};

pub(super) struct State<C, R, L> {
    pub(super) cx: Context,
    pub(super) name: Cow<'static, str>,
    pub(super) start: Instant,
    pub(super) metrics: OpMetrics,
    pub(super) classify: C,
    pub(super) on_result: R,
    pub(super) timer: Option<Timer<L>>,
}

pin_project! {
    /// The future returned by [`super::instrument`]: the inner future's output, unchanged, or
    /// with a time limit `Result<output, `[`super::TimedOut`]`>`.
    pub struct Instrumented<F, C = ByErrorType, R = (), T = NoTimeout>
    where
        T: Deadline,
    {
        #[pin]
        inner: F,
        state: Option<State<C, R, T::Limit>>,
    }

    impl<F, C, R, T> PinnedDrop for Instrumented<F, C, R, T>
    where
        T: Deadline,
    {
        fn drop(this: Pin<&mut Self>) {
            if let Some(state) = this.project().state.take() {
                let outcome = OpOutcome::Timeout(Cow::Borrowed("cancelled"));
                finish(state.cx, state.start, &state.name, &state.metrics, outcome, |_| {});
            }
        }
    }
}

impl<F, C, R, T: Deadline> Instrumented<F, C, R, T> {
    pub(super) fn new(inner: F, state: State<C, R, T::Limit>) -> Self {
        Self {
            inner,
            state: Some(state),
        }
    }
}

impl<F, C, R, T: Deadline> std::fmt::Debug for Instrumented<F, C, R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumented").finish_non_exhaustive()
    }
}

impl<F, C, R, T> Future for Instrumented<F, C, R, T>
where
    F: Future,
    C: Classify<F::Output>,
    R: OnResult<F::Output>,
    T: Deadline,
{
    type Output = T::Output<F::Output>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(state) = this.state.as_mut() else {
            return this.inner.poll(task).map(T::complete);
        };
        let poll = {
            let _attached = state.cx.clone().attach();
            this.inner.poll(task)
        };
        match poll {
            Poll::Ready(output) => {
                if let Some(state) = this.state.take() {
                    let State {
                        cx,
                        name,
                        start,
                        metrics,
                        classify,
                        on_result,
                        timer: _,
                    } = state;
                    let outcome = catch_unwind(AssertUnwindSafe(|| classify.classify(&output)))
                        .unwrap_or(OpOutcome::Error(Cow::Borrowed("unclassified")));
                    finish(cx, start, &name, &metrics, outcome, |span| {
                        if !R::SETS_NOTHING && span.is_recording() {
                            on_result.on_result(&output, &mut SpanAttributes::new(span));
                        }
                    });
                }
                Poll::Ready(T::complete(output))
            }
            Poll::Pending => {
                let expired = match state.timer.as_mut() {
                    Some(timer) => timer.poll_expired(task),
                    None => Poll::Pending,
                };
                if let Poll::Ready(limit) = expired
                    && let Some(state) = this.state.take()
                {
                    let outcome = OpOutcome::Timeout(Cow::Borrowed("timeout"));
                    finish(
                        state.cx,
                        state.start,
                        &state.name,
                        &state.metrics,
                        outcome,
                        |_| {},
                    );
                    return Poll::Ready(T::expired(state.name, limit));
                }
                Poll::Pending
            }
        }
    }
}

/// Records the metrics, lets `attributes` set the span's attributes from the result, and ends
/// the span. A panicking recorder, exporter or callback is contained here.
fn finish(
    cx: Context,
    start: Instant,
    name: &str,
    metrics: &OpMetrics,
    outcome: OpOutcome,
    attributes: impl FnOnce(&SpanRef<'_>),
) {
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
        metrics.duration.with(&labels[..count]).record(elapsed_ms);
        if metrics.failures_only {
            if outcome != OpOutcome::Success {
                labels[count] = outcome.error_type();
                metrics.outcomes.with(&labels[..=count]).increment(1);
            }
            return;
        }
        labels[count] = outcome.label();
        labels[count + 1] = outcome.error_type();
        // An outcome counter that declares no `error_type` label (a design document's
        // `{operation,status}`) gets the outcome alone; the error type stays on the span.
        let with_error_type = metrics.outcomes.def().labels.len() != count + 1;
        let outcome_labels = if with_error_type {
            &labels[..]
        } else {
            &labels[..=count]
        };
        metrics.outcomes.with(outcome_labels).increment(1);
    }));
    let span = cx.span();
    // A panic in the caller's attribute callback must not keep the span from ending.
    let _ = catch_unwind(AssertUnwindSafe(|| attributes(&span)));
    let _ = catch_unwind(AssertUnwindSafe(|| {
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
