//! The WebSocket metric handles of one session, resolved once and reused by every message.

use axum::extract::ws::Message;
use metrics::{Counter, Gauge};
use obs_core::metrics::{CounterVec, GaugeVec, HistogramVec};

use super::close::{Cause, NO_STATUS};
use crate::catalog;

static ACTIVE: GaugeVec = GaugeVec::new(&catalog::WEBSOCKET_SESSIONS_ACTIVE);
static MESSAGES: CounterVec = CounterVec::new(&catalog::WEBSOCKET_MESSAGES);
static BYTES: CounterVec = CounterVec::new(&catalog::WEBSOCKET_MESSAGE_BYTES);
static DURATION: HistogramVec = HistogramVec::new(&catalog::WEBSOCKET_SESSION_DURATION);
static CLOSES: CounterVec = CounterVec::new(&catalog::WEBSOCKET_CLOSES);

/// The `direction` label values, indexed by [`Direction`].
const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];
/// The `type` label values, indexed by [`Seen::kind`].
const TYPES: [&str; 5] = ["text", "binary", "ping", "pong", "close"];

/// Which way a message went.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Direction {
    Inbound = 0,
    Outbound = 1,
}

/// What the metrics and the session span need of a message, taken before the message moves into
/// the socket, so that a send is counted only once the socket took it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    /// The index of the message's type in [`TYPES`].
    kind: usize,
    /// The payload size of a data message (text or binary); `None` for control frames.
    pub(crate) size: Option<u64>,
    /// For a close frame, its code (1005 when it has none).
    pub(crate) close: Option<u16>,
}

impl Seen {
    pub(crate) fn of(message: &Message) -> Self {
        let (kind, size, close) = match message {
            Message::Text(text) => (0, Some(text.as_str().len() as u64), None),
            Message::Binary(data) => (1, Some(data.len() as u64), None),
            Message::Ping(_) => (2, None, None),
            Message::Pong(_) => (3, None, None),
            Message::Close(frame) => (4, None, Some(frame.as_ref().map_or(NO_STATUS, |f| f.code))),
        };
        Self { kind, size, close }
    }
}

/// One session's handles. The gauge is resolved when the session opens and the message counters
/// on the first message of their kind, so the per-message path only adds to a counter: no lookup,
/// no allocation. Handles stay bound to the recorder in force when they were resolved, which is the
/// one the session started under.
pub(crate) struct SessionHandles {
    active: Gauge,
    messages: [[Option<Counter>; 5]; 2],
    bytes: [Option<Counter>; 2],
}

impl SessionHandles {
    /// Resolves the gauge and counts the session as active.
    pub(crate) fn open() -> Self {
        let active = ACTIVE.with(&[]);
        active.increment(1.0);
        Self {
            active,
            messages: Default::default(),
            bytes: Default::default(),
        }
    }

    /// Counts one message and its payload bytes.
    pub(crate) fn message(&mut self, direction: Direction, message: Seen) {
        let d = direction as usize;
        let t = message.kind;
        self.messages[d][t]
            .get_or_insert_with(|| MESSAGES.with(&[DIRECTIONS[d], TYPES[t]]))
            .increment(1);
        if let Some(size) = message.size {
            self.bytes[d]
                .get_or_insert_with(|| BYTES.with(&[DIRECTIONS[d]]))
                .increment(size);
        }
    }

    /// Records the end of the session: the gauge goes down, the duration and the close are
    /// recorded. Called once per session.
    pub(crate) fn close(&self, duration_ms: f64, code_class: &'static str, cause: Cause) {
        self.active.decrement(1.0);
        DURATION.with(&[]).record(duration_ms);
        CLOSES.with(&[code_class, cause.as_str()]).increment(1);
    }
}
