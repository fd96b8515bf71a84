//! Running futures and spawned tasks inside the current trace.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::Context;
use pin_project_lite::pin_project;

pin_project! {
    /// A future that runs inside a captured trace context: the `tracing` span is entered and the
    /// OpenTelemetry context attached on every poll. Its output is the inner future's, unchanged.
    #[derive(Debug)]
    pub struct TraceFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        cx: Context,
    }
}

impl<F: Future> Future for TraceFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Enter the tracing span first, then attach the captured context: the captured context is the
        // innermost one (it may hold an OpenTelemetry span opened inside the tracing span).
        let _entered = this.span.enter();
        let _attached = this.cx.clone().attach();
        this.inner.poll(task)
    }
}

/// Runs a future inside the trace that is current where it is created.
pub trait InCurrentTrace: Future + Sized {
    /// Captures the current `tracing` span and OpenTelemetry context for every poll of `self`.
    fn in_current_trace(self) -> TraceFuture<Self> {
        TraceFuture {
            inner: self,
            span: tracing::Span::current(),
            cx: Context::current(),
        }
    }
}

impl<F: Future> InCurrentTrace for F {}

/// `tokio::spawn`s `future` so that it stays a child of the current trace.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handle = obs_core::propagation::spawn(async { 40 + 2 });
/// assert_eq!(handle.await.unwrap(), 42);
/// # }
/// ```
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_trace())
}
