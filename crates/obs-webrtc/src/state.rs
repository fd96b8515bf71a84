//! What one instrumented connection knows about itself: its context, its connection span, and
//! the metrics its events record.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use obs_core::metrics::{CounterVec, HistogramVec};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState};

use tokio::task::AbortHandle;

use crate::catalog;
use crate::signaling::ERRORS;

pub(crate) static ICE_CANDIDATES: CounterVec = CounterVec::new(&catalog::ICE_CANDIDATES);
pub(crate) static ICE_ATTEMPTED: CounterVec = CounterVec::new(&catalog::ICE_ATTEMPTED);
pub(crate) static ICE_CONNECTED: CounterVec = CounterVec::new(&catalog::ICE_CONNECTED);
pub(crate) static ICE_FAILED: CounterVec = CounterVec::new(&catalog::ICE_FAILED);
pub(crate) static TURN_RELAY: CounterVec = CounterVec::new(&catalog::TURN_RELAY);
static CONNECTION_OPERATIONS: CounterVec = CounterVec::new(&catalog::CONNECTION_OPERATIONS);
static ESTABLISHMENT: HistogramVec = HistogramVec::new(&catalog::CONNECTION_ESTABLISHMENT);
static CONNECTIONS: CounterVec = CounterVec::new(&catalog::CONNECTIONS);
static MEDIA_OPERATIONS: CounterVec = CounterVec::new(&catalog::MEDIA_OPERATIONS);

/// Who a peer connection belongs to: recorded on its spans, never as metric labels (except the
/// opt-in per-connection gauges).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerContext {
    /// The room (call, session) the connection belongs to.
    pub room_id: Cow<'static, str>,
    /// The participant at this end of the connection.
    pub participant_id: Cow<'static, str>,
    /// The participant's role, e.g. `publisher`, `subscriber`, `sfu`.
    pub participant_type: Cow<'static, str>,
}

impl PeerContext {
    /// A context for `participant_id` of type `participant_type` in `room_id`.
    pub fn new(
        room_id: impl Into<Cow<'static, str>>,
        participant_id: impl Into<Cow<'static, str>>,
        participant_type: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            room_id: room_id.into(),
            participant_id: participant_id.into(),
            participant_type: participant_type.into(),
        }
    }

    pub(crate) fn attributes(&self) -> [KeyValue; 3] {
        [
            KeyValue::new("webrtc.room.id", self.room_id.to_string()),
            KeyValue::new("webrtc.participant.id", self.participant_id.to_string()),
            KeyValue::new("webrtc.participant.type", self.participant_type.to_string()),
        ]
    }
}

/// Once-per-connection milestones, so that a state reached twice is counted once.
#[derive(Default)]
struct Milestones {
    ice_attempted: bool,
    ice_connected: bool,
    ice_failed: bool,
    connected: bool,
    /// The connection reached `failed` (counted there, so not as a timeout).
    failed: bool,
}

/// Where the connection's latest local offer stands.
#[derive(Default)]
enum Offer {
    /// No offer of ours awaits an answer.
    #[default]
    None,
    /// An offer awaits its answer; the handle is its expiry timer (none when the timeout is off).
    Pending(Option<AbortHandle>),
    /// The offer's answer did not arrive in time (already counted).
    Expired,
}

/// The shared state of one instrumented connection (the handler and the wrapper both hold it).
pub(crate) struct ConnectionState {
    pub(crate) context: PeerContext,
    created: Instant,
    /// The connection span, from creation to close; `Context::new()` when tracing is off.
    pub(crate) span_cx: Context,
    milestones: Mutex<Milestones>,
    pub(crate) closed: AtomicBool,
    /// Set once the poller saw the selected candidate pair, so `turn_relay_total` counts once.
    pub(crate) relay_checked: AtomicBool,
    offer: Mutex<Offer>,
    /// The connect timer, aborted once the connection is connected, failed or closed.
    connect_timer: Mutex<Option<AbortHandle>>,
    /// Frame counters of the remote video tracks, read by the stats poller.
    video_frames: Mutex<Vec<Arc<AtomicU64>>>,
}

impl ConnectionState {
    pub(crate) fn new(context: PeerContext) -> Self {
        let span_cx = match obs_core::trace::tracer() {
            Some(tracer) => {
                let span = tracer
                    .span_builder("webrtc.connection")
                    .with_kind(SpanKind::Internal)
                    .with_attributes(context.attributes())
                    .start_with_context(tracer, &Context::current());
                Context::current().with_span(span)
            }
            None => Context::new(),
        };
        Self {
            context,
            created: Instant::now(),
            span_cx,
            milestones: Mutex::new(Milestones::default()),
            closed: AtomicBool::new(false),
            relay_checked: AtomicBool::new(false),
            offer: Mutex::new(Offer::None),
            connect_timer: Mutex::new(None),
            video_frames: Mutex::new(Vec::new()),
        }
    }

    /// Starts the connect timer: `errors_total{type="connection_timeout"}` when the connection
    /// is neither connected nor failed nor closed `timeout` after creation. The timer holds the
    /// state weakly and is aborted when the connection settles, so it never outlives it.
    pub(crate) fn start_connect_timer(self: &Arc<Self>, timeout: Option<Duration>) {
        let Some(timeout) = timeout else { return };
        let weak = Arc::downgrade(self);
        if let Some(handle) = spawn_after(timeout, weak, move |state| {
            state.connect_timed_out(timeout);
        }) {
            *lock(&self.connect_timer) = Some(handle);
        }
    }

    fn connect_timed_out(&self, timeout: Duration) {
        let m = self.milestones();
        if m.connected || m.failed || self.closed.load(Ordering::Acquire) {
            return;
        }
        drop(m);
        ERRORS.with(&["connection_timeout"]).increment(1);
        let span = self.span_cx.span();
        span.add_event("connection.timeout", Vec::new());
        span.set_status(Status::error(format!(
            "not connected within {} ms",
            timeout.as_millis()
        )));
    }

    /// A local offer was set: its answer is due within `timeout` (a new offer replaces an older
    /// pending one).
    pub(crate) fn offer_sent(self: &Arc<Self>, timeout: Option<Duration>) {
        let timer = timeout.and_then(|timeout| {
            spawn_after(timeout, Arc::downgrade(self), |state| {
                state.offer_timed_out()
            })
        });
        let previous = std::mem::replace(&mut *lock(&self.offer), Offer::Pending(timer));
        if let Offer::Pending(Some(handle)) = previous {
            handle.abort();
        }
    }

    fn offer_timed_out(&self) {
        let mut offer = lock(&self.offer);
        if matches!(*offer, Offer::Pending(_)) && !self.closed.load(Ordering::Acquire) {
            *offer = Offer::Expired;
            drop(offer);
            ERRORS.with(&["offer_expired"]).increment(1);
            self.span_cx
                .span()
                .add_event("signaling.offer_expired", Vec::new());
        }
    }

    /// The local offer was rolled back: no answer is due any more.
    pub(crate) fn offer_withdrawn(&self) {
        if let Offer::Pending(Some(handle)) = std::mem::take(&mut *lock(&self.offer)) {
            handle.abort();
        }
    }

    /// An answer was applied (`applied`) or refused. An applied answer settles the pending
    /// offer; a refused answer while no offer was pending is an answer to an unknown or stale
    /// offer, counted as `offer_expired`. An answer to an offer that already expired was
    /// counted at expiry.
    pub(crate) fn answer_received(&self, applied: bool) {
        let mut offer = lock(&self.offer);
        match (&*offer, applied) {
            (Offer::None, false) => {
                drop(offer);
                ERRORS.with(&["offer_expired"]).increment(1);
                self.span_cx
                    .span()
                    .add_event("signaling.stale_answer", Vec::new());
            }
            (_, true) => {
                if let Offer::Pending(Some(handle)) = std::mem::take(&mut *offer) {
                    handle.abort();
                }
            }
            // A refused answer leaves a pending offer pending: it was no answer to it.
            _ => {}
        }
    }

    /// A frame counter for a remote video track, read by the stats poller.
    pub(crate) fn video_frame_counter(&self) -> Arc<AtomicU64> {
        let counter = Arc::new(AtomicU64::new(0));
        lock(&self.video_frames).push(Arc::clone(&counter));
        counter
    }

    /// The frame counts of the remote video tracks, in the order they arrived.
    pub(crate) fn video_frame_counts(&self) -> Vec<u64> {
        lock(&self.video_frames)
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// Stops the timers (connection closed or dropped).
    fn stop_timers(&self) {
        if let Some(handle) = lock(&self.connect_timer).take() {
            handle.abort();
        }
        self.offer_withdrawn();
    }

    fn milestones(&self) -> std::sync::MutexGuard<'_, Milestones> {
        self.milestones
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn record_candidate(&self, candidate_type: &str, direction: &'static str) {
        let candidate_type = match candidate_type {
            t @ ("host" | "srflx" | "prflx" | "relay") => t,
            _ => "unknown",
        };
        ICE_CANDIDATES
            .with(&[candidate_type, direction])
            .increment(1);
    }

    pub(crate) fn record_media(&self, media_type: &str, operation: &'static str) {
        let media_type = match media_type {
            t @ ("audio" | "video") => t,
            _ => "unknown",
        };
        MEDIA_OPERATIONS.with(&[media_type, operation]).increment(1);
        if matches!(operation, "mute" | "unmute") {
            self.span_cx
                .span()
                .add_event(format!("media.{media_type}.{operation}"), Vec::new());
        }
    }

    pub(crate) fn record_ice_state(&self, state: RTCIceConnectionState) {
        let mut m = self.milestones();
        match state {
            RTCIceConnectionState::Checking if !m.ice_attempted => {
                m.ice_attempted = true;
                ICE_ATTEMPTED.with(&[]).increment(1);
            }
            RTCIceConnectionState::Connected | RTCIceConnectionState::Completed
                if !m.ice_connected =>
            {
                m.ice_connected = true;
                ICE_CONNECTED.with(&[]).increment(1);
            }
            RTCIceConnectionState::Failed if !m.ice_failed => {
                m.ice_failed = true;
                ICE_FAILED.with(&[]).increment(1);
                crate::signaling::ERRORS.with(&["ice_failed"]).increment(1);
                self.span_cx
                    .span()
                    .set_status(Status::error("ICE connectivity checks failed"));
            }
            _ => {}
        }
        drop(m);
        self.span_cx
            .span()
            .add_event(format!("ice.{state}"), Vec::new());
    }

    pub(crate) fn record_connection_state(&self, state: RTCPeerConnectionState) {
        let name = state.to_string();
        CONNECTION_OPERATIONS.with(&[&name]).increment(1);
        let span = self.span_cx.span();
        span.add_event(format!("connection.{name}"), Vec::new());
        match state {
            RTCPeerConnectionState::Connected => {
                let first = !std::mem::replace(&mut self.milestones().connected, true);
                self.settle();
                if first {
                    let ms = self.created.elapsed().as_secs_f64() * 1_000.0;
                    ESTABLISHMENT.with(&[]).record(ms);
                    span.set_attribute(KeyValue::new("webrtc.establishment_ms", ms));
                }
                CONNECTIONS.with(&["connected"]).increment(1);
            }
            RTCPeerConnectionState::Disconnected => {
                CONNECTIONS.with(&["disconnected"]).increment(1);
            }
            RTCPeerConnectionState::Failed => {
                self.milestones().failed = true;
                self.settle();
                CONNECTIONS.with(&["failed"]).increment(1);
                span.set_status(Status::error("peer connection failed"));
            }
            _ => {}
        }
    }

    /// The connection is connected or failed: the connect timer has nothing left to watch.
    fn settle(&self) {
        if let Some(handle) = lock(&self.connect_timer).take() {
            handle.abort();
        }
    }

    /// Marks the connection span as failed (the connection could not be built) and ends it.
    pub(crate) fn fail(&self, error: &webrtc::error::Error) {
        self.span_cx.span().set_status(Status::error(format!(
            "peer connection not built: {}",
            crate::peer::error_type(error)
        )));
        self.end();
    }

    /// Ends the connection span once; later calls do nothing.
    pub(crate) fn end(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.stop_timers();
            self.span_cx.span().end();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `then` with the state after `delay`, unless the state is gone by then; `None` without a
/// Tokio runtime (no timer, nothing recorded).
fn spawn_after(
    delay: Duration,
    state: Weak<ConnectionState>,
    then: impl FnOnce(&ConnectionState) + Send + 'static,
) -> Option<AbortHandle> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let task = runtime.spawn(async move {
        tokio::time::sleep(delay).await;
        if let Some(state) = state.upgrade() {
            then(&state);
        }
    });
    Some(task.abort_handle())
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        self.end();
    }
}
