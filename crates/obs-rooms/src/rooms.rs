//! [`Rooms`]: the instrumented operations and the tracker behind the gauges.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use obs_core::metrics::{CounterVec, HistogramVec};
use obs_core::{ErrorType, Operation, instrument};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};

use crate::catalog;
use crate::tracker::{self, RoomStats, Tracker};
use crate::types::{Participant, RoomOp, RoomSpec};

static DURATION: HistogramVec = HistogramVec::new(&catalog::ROOM_OPERATION_DURATION);
static ROOM_OUTCOMES: CounterVec = CounterVec::new(&catalog::ROOM_OPERATIONS);
static RECORDING_OUTCOMES: CounterVec = CounterVec::new(&catalog::RECORDING_OPERATIONS);
static PARTICIPANT_OPS: CounterVec = CounterVec::new(&catalog::ROOM_PARTICIPANT_OPERATIONS);
static SESSIONS_CREATED: CounterVec = CounterVec::new(&catalog::SESSIONS_CREATED);

/// The rooms a service hosts: each operation runs the caller's future as a timed operation
/// (obs-core's [`instrument`]: a span, `room_operation_duration_ms`, the outcome counter) and,
/// when it succeeds, updates the live state behind `room_participants_current`,
/// `room_utilization_percent` and `active_recordings_total`.
///
/// Those gauges are read from the live state each time the metrics are rendered (obs-core's
/// scrape-time gauges), rather than written on each change or copied by a periodic task: a
/// rendering then shows the state of that moment exactly, a closed room or a dropped `Rooms`
/// leaves `/metrics` with nothing to clean up, no task runs or leaks, and the values hold when
/// the recorder changes (`obs_core::init` after the first rooms). The scraper's period is the
/// period of the statistics; [`all_stats`](Self::all_stats) gives the same figures, and each
/// room's age and recording time, to a report of the application's own.
///
/// The future's output is returned unchanged; the tracked state changes only when it is `Ok`.
/// Its error type implements [`ErrorType`] (the span's `error.type`): `std::io::Error` and
/// `Box<dyn Error + Send + Sync>` do; for another crate's error, map it into your own type that
/// implements it.
/// Cloning is cheap and clones share the rooms. Rooms still open when the last clone is
/// dropped take their series with them. Give rooms ids unique in the process: two `Rooms`
/// tracking the same id would both report it.
///
/// ```
/// use obs_rooms::{Participant, ParticipantType, RoomSpec, Rooms};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), std::io::Error> {
/// let rooms = Rooms::new();
/// rooms
///     .create(RoomSpec::new("room-123").host("user-456").max_participants(10), async {
///         Ok::<_, std::io::Error>(()) // persist the room
///     })
///     .await?;
/// let guest = Participant::new("room-123", "user-789", ParticipantType::Guest);
/// rooms.join(&guest, async { Ok::<_, std::io::Error>(()) }).await?;
/// assert_eq!(rooms.stats("room-123").unwrap().participants, 1);
/// rooms.close("room-123", async { Ok::<_, std::io::Error>(()) }).await?;
/// assert!(rooms.stats("room-123").is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Inner>,
}

struct Inner {
    tracker: Arc<Tracker>,
    component: Cow<'static, str>,
    record_room_names: bool,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms")
            .field("component", &self.inner.component)
            .field("record_room_names", &self.inner.record_room_names)
            .finish_non_exhaustive()
    }
}

impl Default for Rooms {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds [`Rooms`] with settings other than the defaults.
#[derive(Clone, Debug)]
pub struct RoomsBuilder {
    component: Cow<'static, str>,
    record_room_names: bool,
}

impl RoomsBuilder {
    /// The span attribute `component.name` (default `rooms`).
    pub fn component(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.component = name.into();
        self
    }

    /// Records `room.name` on the create span (default off: room names can be personal).
    pub fn record_room_names(mut self, on: bool) -> Self {
        self.record_room_names = on;
        self
    }

    /// The configured [`Rooms`].
    pub fn build(self) -> Rooms {
        catalog::register();
        Rooms {
            inner: Arc::new(Inner {
                tracker: tracker::published(),
                component: self.component,
                record_room_names: self.record_room_names,
            }),
        }
    }
}

impl Rooms {
    /// Rooms with the defaults: component `rooms`, room names not recorded.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for other settings.
    pub fn builder() -> RoomsBuilder {
        RoomsBuilder {
            component: Cow::Borrowed("rooms"),
            record_room_names: false,
        }
    }

    /// Creates a room: runs `persist` as `room.create`; on success the room is tracked (its
    /// gauges appear) and `sessions_created_total` counts it.
    pub async fn create<T, E: ErrorType>(
        &self,
        spec: RoomSpec,
        persist: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let mut op = self.operation(RoomOp::Create, &spec.id);
        if let Some(max) = spec.max_participants {
            op = op.attribute("room.max_participants", i64::from(max));
        }
        if let Some(host) = &spec.host {
            op = op.attribute("user.id", host.clone());
        }
        if self.inner.record_room_names
            && let Some(name) = &spec.name
        {
            op = op.attribute("room.name", name.clone());
        }
        let tracker = &self.inner.tracker;
        instrument(op, async {
            let result = persist.await;
            if result.is_ok() {
                if tracker.open(&spec) {
                    SESSIONS_CREATED.with(&[]).increment(1);
                } else {
                    tracing::debug!(room.id = &*spec.id, "room created twice; kept as it was");
                }
            }
            result
        })
        .await
    }

    /// Tracks a room that exists already (created before this process started, or by another
    /// service), so that its participants are counted; no operation is recorded. Returns `false`
    /// when the room was tracked already.
    pub fn track(&self, spec: RoomSpec) -> bool {
        self.inner.tracker.open(&spec)
    }

    /// A participant joins: runs `admit` as `room.join`; on success the participant is counted
    /// (a second join of the same user counts once).
    pub async fn join<T, E: ErrorType>(
        &self,
        participant: &Participant,
        admit: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.participant_op(RoomOp::Join, participant, admit).await
    }

    /// A participant leaves: runs `depart` as `room.leave`; on success the participant is no
    /// longer counted.
    pub async fn leave<T, E: ErrorType>(
        &self,
        participant: &Participant,
        depart: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.participant_op(RoomOp::Leave, participant, depart)
            .await
    }

    /// A participant is removed by a host: runs `remove` as `room.kick`; on success the
    /// participant is no longer counted.
    pub async fn kick<T, E: ErrorType>(
        &self,
        participant: &Participant,
        remove: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.participant_op(RoomOp::Kick, participant, remove).await
    }

    async fn participant_op<T, E: ErrorType>(
        &self,
        kind: RoomOp,
        participant: &Participant,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let op = self
            .operation(kind, &participant.room)
            .attribute("participant.type", participant.kind.as_str())
            .attribute("user.id", participant.user.to_string());
        let tracker = &self.inner.tracker;
        instrument(op, async {
            let result = work.await;
            if result.is_ok() {
                let count = match kind {
                    RoomOp::Join => {
                        tracker.join(&participant.room, &participant.user, participant.kind)
                    }
                    _ => tracker.leave(&participant.room, &participant.user),
                };
                PARTICIPANT_OPS
                    .with(&[kind.label(), participant.kind.as_str()])
                    .increment(1);
                set_on_current_span(count.map(|n| KeyValue::new("room.participants", n as i64)));
            }
            result
        })
        .await
    }

    /// Closes a room: runs `close` as `room.close`; on success the room is no longer tracked,
    /// its `room_participants_current` and `room_utilization_percent` series are removed, and
    /// `room_session_duration_seconds` records how long it was open.
    pub async fn close<T, E: ErrorType>(
        &self,
        room_id: &str,
        close: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let op = self.operation(RoomOp::Close, room_id);
        let tracker = &self.inner.tracker;
        instrument(op, async {
            let result = close.await;
            if result.is_ok()
                && let Some(closed) = tracker.close(room_id)
            {
                set_on_current_span(Some(KeyValue::new(
                    "room.session_duration_s",
                    closed.open_for.as_secs_f64(),
                )));
                set_on_current_span(Some(KeyValue::new(
                    "room.participants",
                    closed.participants as i64,
                )));
            }
            result
        })
        .await
    }

    /// Starts recording a room: runs `start` as `recording.start`; on success the room counts in
    /// `active_recordings_total`, and the span gets `recording.participant_count`.
    pub async fn start_recording<T, E: ErrorType>(
        &self,
        room_id: &str,
        start: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let op = self.operation(RoomOp::RecordingStart, room_id);
        let tracker = &self.inner.tracker;
        instrument(op, async {
            let result = start.await;
            if result.is_ok() {
                let count = tracker.start_recording(room_id);
                set_on_current_span(
                    count.map(|n| KeyValue::new("recording.participant_count", n as i64)),
                );
            }
            result
        })
        .await
    }

    /// Stops recording a room: runs `stop` as `recording.stop`; on success the room no longer
    /// counts in `active_recordings_total`, and the span gets `recording.duration_s` and
    /// `recording.participant_count`.
    pub async fn stop_recording<T, E: ErrorType>(
        &self,
        room_id: &str,
        stop: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let op = self.operation(RoomOp::RecordingStop, room_id);
        let tracker = &self.inner.tracker;
        instrument(op, async {
            let result = stop.await;
            if result.is_ok()
                && let Some(stopped) = tracker.stop_recording(room_id)
            {
                set_on_current_span(Some(KeyValue::new(
                    "recording.duration_s",
                    stopped.ran_for.as_secs_f64(),
                )));
                set_on_current_span(Some(KeyValue::new(
                    "recording.participant_count",
                    stopped.participants as i64,
                )));
            }
            result
        })
        .await
    }

    /// The statistics of one tracked room.
    pub fn stats(&self, room_id: &str) -> Option<RoomStats> {
        self.inner.tracker.stats(room_id)
    }

    /// The statistics of every tracked room, for periodic reports of the application's own; the
    /// gauges need no such call, they are read from the same state at each rendering.
    pub fn all_stats(&self) -> Vec<RoomStats> {
        self.inner.tracker.all_stats()
    }

    fn operation(&self, kind: RoomOp, room_id: &str) -> Operation {
        let outcomes = match kind {
            RoomOp::RecordingStart | RoomOp::RecordingStop => &RECORDING_OUTCOMES,
            _ => &ROOM_OUTCOMES,
        };
        Operation::new(kind.span_name())
            .attribute("component.name", self.inner.component.clone())
            .attribute("operation.name", kind.label())
            .attribute("room.id", room_id.to_owned())
            .metrics(&DURATION, outcomes, [kind.label()])
    }
}

/// Sets an attribute on the span of the operation being polled (a no-op when it does not
/// record).
fn set_on_current_span(attribute: Option<KeyValue>) {
    if let Some(attribute) = attribute {
        Context::map_current(|cx| {
            let span = cx.span();
            if span.is_recording() {
                span.set_attribute(attribute);
            }
        });
    }
}
