//! The WebSocket metric handles of one session, resolved once and reused by every message.

use axum::extract::ws::Message;
use metrics::{Counter, Gauge};
use obs_core::metrics::{CounterVec, GaugeVec, HistogramVec};

use super::close::Cause;
use crate::catalog;

static ACTIVE: GaugeVec = GaugeVec::new(&catalog::WEBSOCKET_SESSIONS_ACTIVE);
static MESSAGES: CounterVec = CounterVec::new(&catalog::WEBSOCKET_MESSAGES);
static BYTES: CounterVec = CounterVec::new(&catalog::WEBSOCKET_MESSAGE_BYTES);
static DURATION: HistogramVec = HistogramVec::new(&catalog::WEBSOCKET_SESSION_DURATION);
static CLOSES: CounterVec = CounterVec::new(&catalog::WEBSOCKET_CLOSES);

/// The `direction` label values, indexed by [`Direction`].
const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];
/// The `type` label values, indexed by [`message_type`].
const TYPES: [&str; 5] = ["text", "binary", "ping", "pong", "close"];

/// Which way a message went.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Direction {
    Inbound = 0,
    Outbound = 1,
}

/// The index of a message's type in [`TYPES`].
fn message_type(message: &Message) -> usize {
    match message {
        Message::Text(_) => 0,
        Message::Binary(_) => 1,
        Message::Ping(_) => 2,
        Message::Pong(_) => 3,
        Message::Close(_) => 4,
    }
}

/// The payload size of a data message (text or binary); control frames count 0 bytes.
pub(crate) fn data_size(message: &Message) -> Option<u64> {
    match message {
        Message::Text(text) => Some(text.as_str().len() as u64),
        Message::Binary(data) => Some(data.len() as u64),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => None,
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
    pub(crate) fn message(&mut self, direction: Direction, message: &Message) {
        let d = direction as usize;
        let t = message_type(message);
        self.messages[d][t]
            .get_or_insert_with(|| MESSAGES.with(&[DIRECTIONS[d], TYPES[t]]))
            .increment(1);
        if let Some(size) = data_size(message) {
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
