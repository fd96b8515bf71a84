//! obs-rooms' metrics, declared once.
//!
//! Nothing to pass to `init`: [`Rooms::new`](crate::Rooms::new) registers [`CATALOG`] with
//! [`obs_core::catalog::register`], and each family registers its own definition when first used.
//!
//! The names and label sets are the and the design documents', exactly:
//! - the outcome counters `room_operations_total` and `recording_operations_total` are
//!   `{operation,status}` (`status` is `success`, `error` or `timeout`); the error's type is on
//!   the operation's span as `error.type`, which keeps the series count bounded by the operations;
//! - the gauge of recordings in progress is `active_recordings_total`, a gauge despite the
//!   suffix, as the documents name it (the Prometheus text format accepts it; see
//!   [`obs_core::catalog`]'s "Names"), so that their dashboards and alerts apply unchanged.
//!
//! The gauges (`active_recordings_total`, `room_participants_current`,
//! `room_utilization_percent`) are read from the live rooms each time the metrics are rendered
//! (obs-core's scrape-time gauges): that is the documents' "periodic statistics", taken at the
//! scraper's period, and see [`Rooms`](crate::Rooms) for why no task copies them instead.

use obs_core::catalog::{LATENCY_MS_BUCKETS, MetricDef, Unit};

/// The bound on rooms with a series of their own in the per-room gauges. Past it, further rooms
/// are left out of that rendering (their statistics stay in [`Rooms::stats`](crate::Rooms::stats)),
/// until closed rooms make room.
pub const MAX_ROOM_SERIES: usize = 1_000;

/// Room session durations, from one minute to one day, in seconds.
pub const SESSION_SECONDS_BUCKETS: &[f64] = &[
    60.0, 300.0, 600.0, 1_800.0, 3_600.0, 7_200.0, 14_400.0, 28_800.0, 86_400.0,
];

/// Room operations by operation and status.
pub const ROOM_OPERATIONS: MetricDef = MetricDef::counter(
    "room_operations_total",
    "Room operations (create, join, leave, kick, close), by operation and status (success, error, timeout).",
)
.with_labels(&["operation", "status"]);

/// Room and recording operation durations.
pub const ROOM_OPERATION_DURATION: MetricDef = MetricDef::histogram(
    "room_operation_duration_ms",
    "Duration of room, participant and recording operations, by operation.",
)
.with_labels(&["operation"])
.with_buckets(LATENCY_MS_BUCKETS);

/// Successful participant operations by participant type.
pub const ROOM_PARTICIPANT_OPERATIONS: MetricDef = MetricDef::counter(
    "room_participant_operations_total",
    "Successful participant operations (join, leave, kick), by operation and participant type.",
)
.with_labels(&["operation", "participant_type"]);

/// Recording operations by operation and status.
pub const RECORDING_OPERATIONS: MetricDef = MetricDef::counter(
    "recording_operations_total",
    "Recording operations (recording_start, recording_stop), by operation and status (success, error, timeout).",
)
.with_labels(&["operation", "status"]);

/// Recordings in progress: a gauge named `_total` as in the design documents.
pub const ACTIVE_RECORDINGS: MetricDef = MetricDef::gauge(
    "active_recordings_total",
    "Recordings in progress (a gauge), over the rooms this process tracks, read at scrape time.",
);

/// Participants in each open room.
pub const ROOM_PARTICIPANTS: MetricDef = MetricDef::gauge(
    "room_participants_current",
    "Participants in each open room, read at scrape time; the series goes away when the room closes.",
)
.with_labels(&["room"])
.with_max_series(MAX_ROOM_SERIES);

/// Participants over capacity in each open room with a known capacity.
pub const ROOM_UTILIZATION: MetricDef = MetricDef::gauge(
    "room_utilization_percent",
    "Participants as a percentage of the room's capacity, for open rooms with a capacity, read at scrape time; the series goes away when the room closes.",
)
.with_labels(&["room"])
.with_unit(Unit::Percent)
.with_max_series(MAX_ROOM_SERIES);

/// How long rooms stayed open.
pub const ROOM_SESSION_DURATION: MetricDef = MetricDef::histogram(
    "room_session_duration_seconds",
    "How long rooms stayed open, from creation (or tracking) to close, recorded on close.",
)
.with_unit(Unit::Seconds)
.with_buckets(SESSION_SECONDS_BUCKETS);

/// Room sessions created.
pub const SESSIONS_CREATED: MetricDef = MetricDef::counter(
    "sessions_created_total",
    "Room sessions created successfully.",
);

/// Every metric obs-rooms emits.
pub static CATALOG: &[MetricDef] = &[
    ROOM_OPERATIONS,
    ROOM_OPERATION_DURATION,
    ROOM_PARTICIPANT_OPERATIONS,
    RECORDING_OPERATIONS,
    ACTIVE_RECORDINGS,
    ROOM_PARTICIPANTS,
    ROOM_UTILIZATION,
    ROOM_SESSION_DURATION,
    SESSIONS_CREATED,
];

/// Registers [`CATALOG`]; idempotent and cheap.
pub(crate) fn register() {
    if let Err(err) = obs_core::catalog::register(CATALOG) {
        tracing::warn!(%err, "obs-rooms' metric catalog conflicts with another registration");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn catalog_is_valid() {
        obs_core::catalog::validate(super::CATALOG).unwrap();
    }
}
