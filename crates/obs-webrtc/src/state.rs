//! What one instrumented connection knows about itself: its context, its connection span, and
//! the metrics its events record.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use obs_core::metrics::{CounterVec, HistogramVec};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState};

use crate::catalog;

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
        }
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
                CONNECTIONS.with(&["failed"]).increment(1);
                span.set_status(Status::error("peer connection failed"));
            }
            _ => {}
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
            self.span_cx.span().end();
        }
    }
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        self.end();
    }
}
