//! Calls to external services with a time limit, classified `success`, `error` or `timeout`,
//! optionally behind a [`CircuitBreaker`].

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use obs_core::metrics::{CounterVec, HistogramVec};
use obs_core::{ErrorType, Operation, TimedOut, instrument};
use opentelemetry::trace::SpanKind;

use crate::breaker::CircuitBreaker;
use crate::catalog;

static CALLS: CounterVec = CounterVec::new(&catalog::EXTERNAL_CALLS);
static LATENCY: HistogramVec = HistogramVec::new(&catalog::EXTERNAL_CALL_LATENCY);

/// Why an external call did not return a value.
#[derive(Debug)]
pub enum ExternalError<E> {
    /// The call returned this error.
    Failed(E),
    /// The time limit passed first; the call's future was dropped.
    Timeout(TimedOut),
    /// The service's circuit breaker is open: the call was not made.
    CircuitOpen {
        /// The service.
        service: Cow<'static, str>,
    },
}

impl<E: std::fmt::Display> std::fmt::Display for ExternalError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(e) => e.fmt(f),
            Self::Timeout(t) => {
                write!(f, "{} did not answer within {:?}", t.operation(), t.limit())
            }
            Self::CircuitOpen { service } => write!(
                f,
                "{service} is not called: its circuit breaker is open after repeated failures"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ExternalError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: ErrorType> ErrorType for ExternalError<E> {
    fn error_type(&self) -> Cow<'static, str> {
        match self {
            Self::Failed(e) => e.error_type(),
            Self::Timeout(_) => Cow::Borrowed("timeout"),
            Self::CircuitOpen { .. } => Cow::Borrowed("circuit_open"),
        }
    }

    fn is_timeout(&self) -> bool {
        match self {
            Self::Failed(e) => e.is_timeout(),
            Self::Timeout(_) => true,
            Self::CircuitOpen { .. } => false,
        }
    }
}

/// One kind of call to an external service: a `Client` span `{service} {op}`,
/// `external_call_latency_ms{service,op}` and `external_calls_total{service,op,outcome}`.
///
/// ```
/// use std::time::Duration;
/// use obs_flows::{ExternalCall, ExternalError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let charge = ExternalCall::new("payments", "charge").timeout(Duration::from_millis(50));
/// let slow = charge
///     .call(async {
///         tokio::time::sleep(Duration::from_secs(5)).await;
///         Ok::<_, std::io::Error>(())
///     })
///     .await;
/// assert!(matches!(slow, Err(ExternalError::Timeout(_))));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ExternalCall {
    service: Cow<'static, str>,
    op: Cow<'static, str>,
    timeout: Duration,
    breaker: Option<CircuitBreaker>,
}

impl ExternalCall {
    /// Calls of `op` to `service` (both labels: keep them low-cardinality), with a 10 s limit.
    pub fn new(service: impl Into<Cow<'static, str>>, op: impl Into<Cow<'static, str>>) -> Self {
        crate::catalog::register();
        Self {
            service: service.into(),
            op: op.into(),
            timeout: Duration::from_secs(10),
            breaker: None,
        }
    }

    /// The time limit of each call (default 10 s).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// Makes the calls through `breaker`: refused while it is open, and each outcome counted
    /// by it (errors and timeouts are failures).
    pub fn breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Makes one call: `work` is run as the operation, and cut when the limit passes.
    pub async fn call<T, E: ErrorType>(
        &self,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, ExternalError<E>> {
        let permit = match &self.breaker {
            Some(breaker) => match breaker.acquire() {
                Some(permit) => Some(permit),
                None => {
                    CALLS
                        .with(&[&self.service, &self.op, "error", "circuit_open"])
                        .increment(1);
                    return Err(ExternalError::CircuitOpen {
                        service: self.service.clone(),
                    });
                }
            },
            None => None,
        };
        let op = Operation::new(format!("{} {}", self.service, self.op))
            .kind(SpanKind::Client)
            .attribute("peer.service", self.service.clone())
            .attribute("external.op", self.op.clone())
            .metrics(&LATENCY, &CALLS, [self.service.clone(), self.op.clone()])
            .timeout(self.timeout);
        let result = match instrument(op, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(ExternalError::Failed(e)),
            Err(timed_out) => Err(ExternalError::Timeout(timed_out)),
        };
        if let Some(permit) = permit {
            match &result {
                Ok(_) => permit.success(),
                Err(_) => permit.failure(),
            }
        }
        result
    }
}
