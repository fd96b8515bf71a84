//! The optional time limit of an operation, and the error a caller gets back when it passes.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::catch_unwind;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

/// Whether an operation has a time limit, and so what its future returns: the inner future's
/// output unchanged ([`NoTimeout`], the default), or `Result<output, TimedOut>`
/// ([`WithTimeout`], set by [`super::Operation::timeout`]). Sealed: these two are all there is.
pub trait Deadline: sealed::Sealed {
    /// What the instrumented future returns for an inner output `O`.
    type Output<O>;
    /// The limit's value: [`Duration`], or [`Infallible`] where there is none.
    type Limit: Copy;

    #[doc(hidden)]
    fn limit(&self) -> Option<(Self::Limit, Duration)>;
    #[doc(hidden)]
    fn complete<O>(output: O) -> Self::Output<O>;
    #[doc(hidden)]
    fn expired<O>(operation: Cow<'static, str>, limit: Self::Limit) -> Self::Output<O>;
}

/// No time limit (the default): the instrumented future returns the inner output unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTimeout;

impl sealed::Sealed for NoTimeout {}

impl Deadline for NoTimeout {
    type Output<O> = O;
    type Limit = Infallible;

    fn limit(&self) -> Option<(Infallible, Duration)> {
        None
    }
    fn complete<O>(output: O) -> O {
        output
    }
    fn expired<O>(_: Cow<'static, str>, limit: Infallible) -> O {
        match limit {}
    }
}

/// A time limit: the instrumented future returns `Ok(output)`, or `Err(`[`TimedOut`]`)` once the
/// limit has passed.
#[derive(Clone, Copy, Debug)]
pub struct WithTimeout(pub(super) Duration);

impl sealed::Sealed for WithTimeout {}

impl Deadline for WithTimeout {
    type Output<O> = Result<O, TimedOut>;
    type Limit = Duration;

    fn limit(&self) -> Option<(Duration, Duration)> {
        Some((self.0, self.0))
    }
    fn complete<O>(output: O) -> Result<O, TimedOut> {
        Ok(output)
    }
    fn expired<O>(operation: Cow<'static, str>, limit: Duration) -> Result<O, TimedOut> {
        Err(TimedOut { operation, limit })
    }
}

/// The error of an operation whose time limit passed before its future completed. The future was
/// not polled again and is dropped with the instrumented future; the operation is recorded with
/// outcome `timeout` and error type `timeout`.
///
/// ```
/// use std::time::Duration;
/// use obs_core::{instrument, Operation};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     Ok::<u32, std::io::Error>(1)
/// };
/// let out = instrument(Operation::new("ledger.read").timeout(Duration::from_millis(5)), slow).await;
/// let err = out.unwrap_err();
/// assert_eq!(err.to_string(), "operation `ledger.read` timed out after 5ms");
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedOut {
    operation: Cow<'static, str>,
    limit: Duration,
}

impl TimedOut {
    /// The operation's name.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The time limit that passed.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operation `{}` timed out after {:?}",
            self.operation, self.limit
        )
    }
}

impl std::error::Error for TimedOut {}

impl super::ErrorType for TimedOut {
    fn error_type(&self) -> Cow<'static, str> {
        Cow::Borrowed("timeout")
    }
    fn is_timeout(&self) -> bool {
        true
    }
}

impl From<TimedOut> for std::io::Error {
    fn from(error: TimedOut) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, error)
    }
}

/// The running timer of an operation with a limit. The `Sleep` is made on the first poll, inside
/// a runtime, and boxed so that the instrumented future stays `Unpin` when the inner one is.
pub(super) struct Timer<L> {
    limit: L,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Set when no timer could be made (no Tokio runtime with time enabled): the limit is then
    /// not enforced, rather than the application's future failing for it.
    unavailable: bool,
}

impl<L: Copy> Timer<L> {
    pub(super) fn new(limit: L, duration: Duration) -> Self {
        Self {
            limit,
            deadline: Instant::now() + duration,
            sleep: None,
            unavailable: false,
        }
    }

    /// Ready with the limit once the deadline has passed.
    pub(super) fn poll_expired(&mut self, task: &mut TaskContext<'_>) -> Poll<L> {
        if self.unavailable {
            return Poll::Pending;
        }
        if self.sleep.is_none() {
            let deadline = self.deadline;
            // `sleep_until` panics outside a runtime or where the runtime's timer is off.
            let made = tokio::runtime::Handle::try_current()
                .ok()
                .and_then(|_| catch_unwind(|| Box::pin(tokio::time::sleep_until(deadline))).ok());
            match made {
                Some(sleep) => self.sleep = Some(sleep),
                None => {
                    self.unavailable = true;
                    return Poll::Pending;
                }
            }
        }
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().poll(task).map(|()| self.limit),
            None => Poll::Pending,
        }
    }
}
