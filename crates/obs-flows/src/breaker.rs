//! A circuit breaker per external service: closed → open after N failures within a window →
//! half-open after a pause, where one probe call decides between closed and open again.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use obs_core::health::{CheckError, CheckFuture, ReadinessCheck};
use obs_core::metrics::{CounterVec, GaugeVec};

use crate::catalog;

static STATE: GaugeVec = GaugeVec::new(&catalog::CIRCUIT_BREAKER_STATE);
static CHANGES: CounterVec = CounterVec::new(&catalog::CIRCUIT_BREAKER_CHANGES);

/// A circuit breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed,
    /// One probe call goes through; the others are refused.
    HalfOpen,
    /// Calls are refused until the pause is over.
    Open,
}

impl BreakerState {
    /// The `circuit_breaker_state` value: 0 closed, 1 half-open, 2 open.
    pub fn gauge_value(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }

    /// The `from`/`to` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }
}

/// A circuit breaker for one service, shared by clones. Give it to
/// [`ExternalCall::breaker`](crate::ExternalCall::breaker); add it to the admin router's
/// readiness checks so that an open circuit fails `/readyz`.
///
/// ```
/// use std::time::Duration;
/// use obs_flows::{BreakerState, CircuitBreaker};
///
/// let breaker = CircuitBreaker::new("payments")
///     .failure_threshold(5)
///     .window(Duration::from_secs(30))
///     .open_for(Duration::from_secs(10));
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

struct Inner {
    service: Cow<'static, str>,
    threshold: usize,
    window: Duration,
    open_for: Duration,
    state: Mutex<State>,
}

struct State {
    current: BreakerState,
    failures: VecDeque<Instant>,
    opened_at: Option<Instant>,
    probing: bool,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("service", &self.inner.service)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A closed breaker for `service` (the `service` label): opens after 5 failures within 30 s,
    /// stays open 10 s.
    pub fn new(service: impl Into<Cow<'static, str>>) -> Self {
        crate::catalog::register();
        let service = service.into();
        STATE
            .with(&[&service])
            .set(BreakerState::Closed.gauge_value());
        Self {
            inner: Arc::new(Inner {
                service,
                threshold: 5,
                window: Duration::from_secs(30),
                open_for: Duration::from_secs(10),
                state: Mutex::new(State {
                    current: BreakerState::Closed,
                    failures: VecDeque::new(),
                    opened_at: None,
                    probing: false,
                }),
            }),
        }
    }

    fn with(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            service: shared.service.clone(),
            threshold: shared.threshold,
            window: shared.window,
            open_for: shared.open_for,
            state: Mutex::new(State {
                current: BreakerState::Closed,
                failures: VecDeque::new(),
                opened_at: None,
                probing: false,
            }),
        });
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Failures within the window that open the circuit (default 5, at least 1).
    pub fn failure_threshold(self, failures: usize) -> Self {
        self.with(|i| i.threshold = failures.max(1))
    }

    /// The window failures are counted in (default 30 s).
    pub fn window(self, window: Duration) -> Self {
        self.with(|i| i.window = window)
    }

    /// How long the circuit stays open before a probe (default 10 s).
    pub fn open_for(self, pause: Duration) -> Self {
        self.with(|i| i.open_for = pause)
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The state now (an open circuit whose pause is over reads as open until a call probes it).
    pub fn state(&self) -> BreakerState {
        self.lock().current
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn move_to(&self, state: &mut State, to: BreakerState) {
        let from = state.current;
        if from == to {
            return;
        }
        state.current = to;
        let service = &*self.inner.service;
        STATE.with(&[service]).set(to.gauge_value());
        CHANGES
            .with(&[service, from.as_str(), to.as_str()])
            .increment(1);
        tracing::info!(
            service,
            from = from.as_str(),
            to = to.as_str(),
            "circuit breaker state changed"
        );
    }

    /// Asks to make a call: `Some(permit)` when it may go ahead. The permit must be resolved with
    /// [`Permit::success`] or [`Permit::failure`]; a permit dropped unresolved (the call was
    /// cancelled) counts as a failure.
    pub(crate) fn acquire(&self) -> Option<Permit> {
        let mut state = self.lock();
        match state.current {
            BreakerState::Closed => {}
            BreakerState::Open => {
                let over = state
                    .opened_at
                    .is_some_and(|at| at.elapsed() >= self.inner.open_for);
                if !over {
                    return None;
                }
                self.move_to(&mut state, BreakerState::HalfOpen);
                state.probing = true;
            }
            BreakerState::HalfOpen => {
                if state.probing {
                    return None;
                }
                state.probing = true;
            }
        }
        Some(Permit {
            breaker: self.clone(),
            resolved: false,
        })
    }

    fn record(&self, success: bool) {
        let mut state = self.lock();
        let now = Instant::now();
        match (state.current, success) {
            (BreakerState::HalfOpen, true) => {
                state.probing = false;
                state.failures.clear();
                self.move_to(&mut state, BreakerState::Closed);
            }
            (BreakerState::HalfOpen, false) => {
                state.probing = false;
                state.opened_at = Some(now);
                self.move_to(&mut state, BreakerState::Open);
            }
            (BreakerState::Closed, false) => {
                state.failures.push_back(now);
                while state
                    .failures
                    .front()
                    .is_some_and(|at| now.duration_since(*at) > self.inner.window)
                {
                    state.failures.pop_front();
                }
                if state.failures.len() >= self.inner.threshold {
                    state.failures.clear();
                    state.opened_at = Some(now);
                    self.move_to(&mut state, BreakerState::Open);
                }
            }
            // A call let through before the circuit opened: its result changes nothing now.
            (BreakerState::Closed, true) | (BreakerState::Open, _) => {}
        }
    }
}

/// Leave to make one call through a [`CircuitBreaker`].
#[derive(Debug)]
pub(crate) struct Permit {
    breaker: CircuitBreaker,
    resolved: bool,
}

impl Permit {
    pub(crate) fn success(mut self) {
        self.resolved = true;
        self.breaker.record(true);
    }

    pub(crate) fn failure(mut self) {
        self.resolved = true;
        self.breaker.record(false);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.resolved {
            self.breaker.record(false);
        }
    }
}

impl ReadinessCheck for CircuitBreaker {
    fn name(&self) -> Cow<'static, str> {
        Cow::Owned(format!("circuit_{}", self.inner.service))
    }

    fn check(&self) -> CheckFuture<'_> {
        let state = self.state();
        Box::pin(async move {
            match state {
                BreakerState::Open => Err(CheckError::new(format!(
                    "the circuit breaker for {} is open after repeated failures",
                    self.inner.service
                ))),
                BreakerState::Closed | BreakerState::HalfOpen => Ok(()),
            }
        })
    }
}
