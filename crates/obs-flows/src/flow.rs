//! Flows: a user's journey as one span with ordered steps, and an id that travels in W3C baggage.

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use obs_core::metrics::{CounterVec, HistogramVec};
use obs_core::{ErrorType, Operation, Outcome, instrument};
use opentelemetry::baggage::{Baggage, BaggageExt as _};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};

use crate::catalog;

static FLOW_DURATION: HistogramVec = HistogramVec::new(&catalog::FLOW_DURATION);
static STEP_DURATION: HistogramVec = HistogramVec::new(&catalog::FLOW_STEP_DURATION);
static FAILURES: CounterVec = CounterVec::new(&catalog::FLOW_FAILURES);

/// The baggage key of the flow id.
pub const FLOW_ID_KEY: &str = "flow.id";
/// The baggage key of the flow's name.
pub const FLOW_NAME_KEY: &str = "flow.name";

/// The label of a step that is not among its flow's steps: the `step` label takes only the
/// definition's names, so that step names given at run time cannot grow the series without bound.
pub const OTHER_STEP: &str = "other";

/// A kind of flow: its name (the `flow` label) and its steps in order (the `step` label values).
///
/// A flow known when the program is written is a `const` ([`FlowDef::new`], as the ready
/// [`flows`](crate::flows) are): its names are borrowed, never copied. A flow whose names are
/// known only at run time (read from configuration, a plugin, a tenant's workflow) is made with
/// [`FlowDef::custom`]; cloning it shares the names.
///
/// The `step` label takes only the definition's step names ([`OTHER_STEP`] for any other), and
/// the `flow` label one value per definition; the families' cardinality guard (1,000 label sets
/// each, then `__overflow__`) bounds a program that makes definitions without end.
///
/// ```
/// use obs_flows::FlowDef;
///
/// const CHECKOUT: FlowDef = FlowDef::new("checkout", &["cart", "payment", "confirmation"]);
/// assert_eq!(CHECKOUT.steps().nth(1), Some("payment"));
///
/// let configured = vec!["fetch".to_owned(), "transcode".to_owned()];
/// let ingest = FlowDef::custom(format!("ingest_{}", "video"), configured);
/// assert_eq!(ingest.name(), "ingest_video");
/// assert_eq!(ingest.steps().collect::<Vec<_>>(), ["fetch", "transcode"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowDef(Def);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Def {
    Static {
        name: &'static str,
        steps: &'static [&'static str],
    },
    Custom(Arc<Custom>),
}

#[derive(Debug, PartialEq, Eq)]
struct Custom {
    name: Cow<'static, str>,
    steps: Vec<Cow<'static, str>>,
}

impl FlowDef {
    /// A flow named `name` whose steps run in the order of `steps`, all known at compile time.
    pub const fn new(name: &'static str, steps: &'static [&'static str]) -> Self {
        Self(Def::Static { name, steps })
    }

    /// A flow whose name and steps are known only at run time. Keep them few and stable: each
    /// name is a label value.
    pub fn custom(
        name: impl Into<Cow<'static, str>>,
        steps: impl IntoIterator<Item = impl Into<Cow<'static, str>>>,
    ) -> Self {
        Self(Def::Custom(Arc::new(Custom {
            name: name.into(),
            steps: steps.into_iter().map(Into::into).collect(),
        })))
    }

    /// The flow's name.
    pub fn name(&self) -> &str {
        match &self.0 {
            Def::Static { name, .. } => name,
            Def::Custom(custom) => &custom.name,
        }
    }

    /// The steps, in order.
    pub fn steps(&self) -> impl Iterator<Item = &str> + '_ {
        let (statics, customs): (&[&str], &[Cow<'static, str>]) = match &self.0 {
            Def::Static { steps, .. } => (steps, &[]),
            Def::Custom(custom) => (&[], &custom.steps),
        };
        statics.iter().copied().chain(customs.iter().map(|s| &**s))
    }

    fn step_count(&self) -> usize {
        match &self.0 {
            Def::Static { steps, .. } => steps.len(),
            Def::Custom(custom) => custom.steps.len(),
        }
    }

    /// The `flow` label value: borrowed for a static definition.
    fn name_label(&self) -> Cow<'static, str> {
        match &self.0 {
            Def::Static { name, .. } => Cow::Borrowed(name),
            Def::Custom(custom) => custom.name.clone(),
        }
    }

    /// The step's position in the definition and its `step` label value (borrowed for a static
    /// definition), or `None` when the definition has no such step.
    fn find_step(&self, step: &str) -> Option<(usize, Cow<'static, str>)> {
        match &self.0 {
            Def::Static { steps, .. } => steps
                .iter()
                .position(|s| *s == step)
                .map(|i| (i, Cow::Borrowed(steps[i]))),
            Def::Custom(custom) => custom
                .steps
                .iter()
                .position(|s| s == step)
                .map(|i| (i, custom.steps[i].clone())),
        }
    }

    /// Starts a flow of this kind; see [`Flow::start`].
    pub fn start(&self) -> Flow {
        Flow::start(self)
    }
}

/// The flow id carried by the current context's baggage: in a downstream service, the id of the
/// flow that called it (obs-http's layers carry the `baggage` header both ways).
pub fn current_flow_id() -> Option<String> {
    Context::map_current(|cx| cx.baggage().get(FLOW_ID_KEY).map(|v| v.as_str().to_owned()))
}

/// The flow name carried by the current context's baggage.
pub fn current_flow_name() -> Option<String> {
    Context::map_current(|cx| {
        cx.baggage()
            .get(FLOW_NAME_KEY)
            .map(|v| v.as_str().to_owned())
    })
}

/// One run of a flow: the flow's span, its id in the context's baggage, and its steps.
///
/// Steps run through [`Flow::step`], each a child span `flow.step` of the flow span, timed in
/// `flow_step_duration_ms{flow,step}`; a step that fails counts in
/// `flow_failures_total{flow,step,error_type}` and marks the flow failed. [`Flow::finish`] ends
/// the flow span and records `flow_duration_ms{flow,outcome}`; a flow dropped unfinished is
/// recorded as `cancelled`. Clones share the run.
///
/// The flow span is a child of the context current at [`Flow::start`] (the request's server
/// span), or the root of a new trace when there is none. Everything run inside a step, or inside
/// [`Flow::in_flow`], sees the flow's context: outgoing calls through obs-http's `ClientLayer`
/// carry `traceparent` and the `baggage` with `flow.id`, so the services downstream read it with
/// [`current_flow_id`].
///
/// ```
/// use obs_flows::flows;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), std::io::Error> {
/// let flow = flows::ROOM_CREATION.start();
/// flow.step("authenticate", async { Ok::<_, std::io::Error>(()) }).await?;
/// let room = flow.step("persist", async { Ok::<_, std::io::Error>("room-1") }).await?;
/// flow.finish();
/// assert_eq!(room, "room-1");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Flow {
    inner: Arc<Inner>,
}

struct Inner {
    def: FlowDef,
    id: String,
    cx: Context,
    start: Instant,
    next_step: AtomicUsize,
    failed: Mutex<Option<(Cow<'static, str>, Cow<'static, str>)>>,
    finished: AtomicBool,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("flow", &self.inner.def.name())
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

impl Flow {
    /// Starts a run of `def` with a new flow id.
    pub fn start(def: &FlowDef) -> Self {
        let id = format!("{:032x}", rand::random::<u128>());
        Self::start_with_id(def, id)
    }

    /// Starts a run of `def` with the given id (a client-supplied correlation id, say). The id
    /// travels in baggage to every service downstream: keep it opaque, never personal.
    pub fn start_with_id(def: &FlowDef, id: impl Into<String>) -> Self {
        crate::catalog::register();
        let id = id.into();
        // The flow's members join the baggage the request brought (a tenant, a session), which
        // `with_baggage` alone would replace.
        let current = Context::current();
        let mut baggage: Baggage = current
            .baggage()
            .iter()
            .map(|(k, (v, m))| (k.clone(), (v.clone(), m.clone())))
            .collect();
        baggage.insert(FLOW_ID_KEY, id.clone());
        baggage.insert(FLOW_NAME_KEY, def.name_label());
        let parent = current.with_baggage(baggage);
        let cx = match obs_core::trace::tracer() {
            Some(tracer) => {
                let span = tracer
                    .span_builder(format!("flow {}", def.name()))
                    .with_kind(SpanKind::Internal)
                    .with_attributes([
                        KeyValue::new(FLOW_NAME_KEY, def.name_label()),
                        KeyValue::new(FLOW_ID_KEY, id.clone()),
                        KeyValue::new("flow.steps", def.step_count() as i64),
                    ])
                    .start_with_context(tracer, &parent);
                parent.with_span(span)
            }
            None => parent,
        };
        Self {
            inner: Arc::new(Inner {
                def: def.clone(),
                id,
                cx,
                start: Instant::now(),
                next_step: AtomicUsize::new(0),
                failed: Mutex::new(None),
                finished: AtomicBool::new(false),
            }),
        }
    }

    /// The flow id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The flow's kind.
    pub fn def(&self) -> &FlowDef {
        &self.inner.def
    }

    /// The flow's context (its span and the baggage with the flow id), to attach to work done
    /// outside a step.
    pub fn context(&self) -> &Context {
        &self.inner.cx
    }

    /// Runs `future` inside the flow's context without making it a step.
    pub fn in_flow<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        use opentelemetry::context::FutureExt as _;
        future.with_context(self.inner.cx.clone())
    }

    /// Runs `work` as the step `step`: a child span `{flow}.{step}` with `flow.name`, `flow.id`,
    /// `flow.step` and `flow.step.index` (its position in the run), timed in
    /// `flow_step_duration_ms{flow,step}`; a failure counts in
    /// `flow_failures_total{flow,step,error_type}`. A step that runs before a step the
    /// definition puts before it is recorded all the same, with `flow.step.out_of_order = true`
    /// on its span; one whose name is not among the definition's steps too, under the `step`
    /// label [`OTHER_STEP`] (its span keeps the name). The output is returned unchanged.
    ///
    /// The name is looked up in the definition: the labels of a `const` definition's steps are
    /// its own `&'static str`s, so a step of a ready flow copies no name.
    pub async fn step<T, E: ErrorType>(
        &self,
        step: &str,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let inner = &self.inner;
        let def = &inner.def;
        let index = inner.next_step.fetch_add(1, Ordering::Relaxed);
        let found = def.find_step(step);
        let in_order = found.as_ref().is_some_and(|(at, _)| *at == index);
        let (label, attribute): (Cow<'static, str>, Cow<'static, str>) = match found {
            Some((_, label)) => (label.clone(), label),
            None => (Cow::Borrowed(OTHER_STEP), Cow::Owned(step.to_owned())),
        };
        let mut op = Operation::new(format!("{}.{step}", def.name()))
            .attribute(FLOW_NAME_KEY, def.name_label())
            .attribute(FLOW_ID_KEY, inner.id.clone())
            .attribute("flow.step", attribute.clone())
            .attribute("flow.step.index", index as i64)
            .failure_metrics(&STEP_DURATION, &FAILURES, [def.name_label(), label.clone()]);
        if !in_order {
            op = op.attribute("flow.step.out_of_order", true);
        }
        let instrumented = {
            // `instrument` takes its parent from the current context: make it the flow's.
            let _flow = inner.cx.clone().attach();
            instrument(op, work)
        };
        let result = instrumented.await;
        let outcome = result.outcome();
        if outcome != obs_core::OpOutcome::Success {
            // Counted in `flow_failures_total` by the operation; the flow keeps the first one.
            let mut failed = inner.failed.lock().unwrap_or_else(PoisonError::into_inner);
            if failed.is_none() {
                *failed = Some((attribute, Cow::Owned(outcome.error_type().to_owned())));
            }
        }
        result
    }

    /// Whether a step failed so far.
    pub fn has_failed(&self) -> bool {
        self.inner
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Ends the flow: `success` unless a step failed (then `error`, and the flow span names the
    /// first failed step and its error type). Finishing twice records once.
    pub fn finish(&self) {
        let failed = self
            .inner
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match failed {
            None => self.inner.end("success", None),
            Some((step, error_type)) => self.inner.end("error", Some((&step, &error_type))),
        }
    }

    /// Ends the flow as failed by something outside its steps, with `error_type` (low
    /// cardinality) counted in `flow_failures_total` under the step `flow`.
    pub fn fail(&self, error_type: &'static str) {
        if !self.inner.finished.load(Ordering::Relaxed) {
            FAILURES
                .with(&[self.inner.def.name(), "flow", error_type])
                .increment(1);
        }
        self.inner.end("error", Some(("flow", error_type)));
    }
}

impl Inner {
    fn end(&self, outcome: &'static str, failure: Option<(&str, &str)>) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        let elapsed_ms = self.start.elapsed().as_secs_f64() * 1_000.0;
        FLOW_DURATION
            .with(&[self.def.name(), outcome])
            .record(elapsed_ms);
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new("flow.outcome", outcome));
            if let Some((step, error_type)) = failure {
                span.set_attribute(KeyValue::new("flow.failed_step", step.to_owned()));
                span.set_attribute(KeyValue::new("error.type", error_type.to_owned()));
                span.set_status(Status::error(format!("{step}: {error_type}")));
            }
        }
        span.end();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.end("cancelled", None);
    }
}

/// Kinds of security event counted in `security_events_total{event}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityEvent {
    /// A login attempt with wrong credentials.
    LoginFailed,
    /// A token that was expired, malformed or revoked.
    TokenRejected,
    /// An invitation that was expired or already used.
    InvitationRejected,
    /// A request refused by a rate limit on authentication.
    RateLimited,
}

impl SecurityEvent {
    /// The `event` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginFailed => "login_failed",
            Self::TokenRejected => "token_rejected",
            Self::InvitationRejected => "invitation_rejected",
            Self::RateLimited => "rate_limited",
        }
    }
}

static SECURITY: CounterVec = CounterVec::new(&catalog::SECURITY_EVENTS);

/// Counts a security event and adds a `security.event` event to the current span. Only the kind
/// of event is recorded: no user name, address or token, which would make the counter a log of
/// personal data.
pub fn security_event(event: SecurityEvent) {
    crate::catalog::register();
    SECURITY.with(&[event.as_str()]).increment(1);
    Context::map_current(|cx| {
        let span = cx.span();
        if span.is_recording() {
            span.add_event(
                "security.event",
                vec![KeyValue::new("security.event", event.as_str())],
            );
        }
    });
}
