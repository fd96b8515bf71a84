//! obs-rooms' metrics, declared once.
//!
//! Nothing to pass to `init`: [`Rooms::new`](crate::Rooms::new) registers [`CATALOG`] with
//! [`obs_core::catalog::register`], and each family registers its own definition when first used.
//!
//! The names are the design documents'. Two differ in form, not in meaning:
//! - the outcome counters (`room_operations_total`, `recording_operations_total`) carry an
//!   `error_type` label after `status`, because they are the outcome counters of obs-core's
//!   timed-operation helper (`status` is `success`, `error` or `timeout`);
//! - the gauge of recordings in progress is `active_recordings`: the catalog keeps the `_total`
//!   suffix for counters, as Prometheus' naming rules ask.

use obs_core::catalog::{LATENCY_MS_BUCKETS, MetricDef, Unit};

/// The bound on rooms with a series of their own in the per-room gauges. Rooms past it share the
/// `__overflow__` series, which then holds the value written last by any of them (read it as "the
/// bound is reached", not as a count), until closed rooms make room.
pub const MAX_ROOM_SERIES: usize = 1_000;

/// Room session durations, from one minute to one day, in seconds.
pub const SESSION_SECONDS_BUCKETS: &[f64] = &[
    60.0, 300.0, 600.0, 1_800.0, 3_600.0, 7_200.0, 14_400.0, 28_800.0, 86_400.0,
];

/// Room operations by operation and status.
pub const ROOM_OPERATIONS: MetricDef = MetricDef::counter(
    "room_operations_total",
    "Room operations (create, join, leave, kick, close), by operation, status (success, error, timeout) and error type.",
)
.with_labels(&["operation", "status", "error_type"]);

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
    "Recording operations (start, stop), by operation, status (success, error, timeout) and error type.",
)
.with_labels(&["operation", "status", "error_type"]);

/// Recordings in progress.
pub const ACTIVE_RECORDINGS: MetricDef = MetricDef::gauge(
    "active_recordings",
    "Recordings in progress, over the rooms this process tracks.",
);

/// Participants in each open room.
pub const ROOM_PARTICIPANTS: MetricDef = MetricDef::gauge(
    "room_participants_current",
    "Participants in each open room; the series goes away when the room closes.",
)
.with_labels(&["room"])
.with_max_series(MAX_ROOM_SERIES);

/// Participants over capacity in each open room with a known capacity.
pub const ROOM_UTILIZATION: MetricDef = MetricDef::gauge(
    "room_utilization_percent",
    "Participants as a percentage of the room's capacity, for open rooms with a capacity; the series goes away when the room closes.",
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
