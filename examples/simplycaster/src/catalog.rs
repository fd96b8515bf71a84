//! The app's own metrics: quick match and moderation (the video-chat design document's names).
//!
//! Everything else the app emits comes from the obs crates' catalogs (HTTP, database, Redis,
//! rooms, flows, WebRTC). The two gauges are named `_total` as the design document names them:
//! they count what exists now (reports waiting, users blocked).

use obs_core::catalog::MetricDef;
use obs_core::metrics::{CounterVec, GaugeVec, HistogramVec};

/// Time from entering the quick-match lobby to being paired into a room.
pub const MATCHING_LATENCY: MetricDef = MetricDef::histogram(
    "matching_latency_ms",
    "Time from entering the quick-match lobby to being paired into a room.",
);
/// Lobby entries that ended without a match.
pub const MATCHING_FAILED: MetricDef = MetricDef::counter(
    "matching_failed_total",
    "Quick-match lobby entries that ended without a match, by reason (timeout, blocked).",
)
.with_labels(&["reason"])
.with_max_series(8);
/// Reports filed by participants.
pub const REPORTS_SUBMITTED: MetricDef = MetricDef::counter(
    "reports_submitted_total",
    "Reports filed by a participant against another.",
);
/// Reports waiting for a moderator.
pub const REPORTS_PENDING: MetricDef = MetricDef::gauge(
    "reports_pending_total",
    "Reports waiting for a moderator's decision.",
);
/// Reports a moderator accepted.
pub const REPORTS_ACCEPTED: MetricDef = MetricDef::counter(
    "reports_accepted_total",
    "Reports a moderator accepted; the reported user is put on the blocklist.",
);
/// Reports a moderator rejected.
pub const REPORTS_REJECTED: MetricDef =
    MetricDef::counter("reports_rejected_total", "Reports a moderator rejected.");
/// Reports by reason.
pub const REPORTS_BY_REASON: MetricDef = MetricDef::counter(
    "reports_by_reason_total",
    "Reports filed, by reason (spam, harassment, inappropriate, other).",
)
.with_labels(&["reason"])
.with_max_series(8);
/// Users on the blocklist.
pub const BLOCKLIST_SIZE: MetricDef = MetricDef::gauge(
    "blocklist_size_total",
    "Users on the blocklist (kept in Redis), who can no longer join rooms or the lobby.",
);

/// The app's catalog.
pub static CATALOG: &[MetricDef] = &[
    MATCHING_LATENCY,
    MATCHING_FAILED,
    REPORTS_SUBMITTED,
    REPORTS_PENDING,
    REPORTS_ACCEPTED,
    REPORTS_REJECTED,
    REPORTS_BY_REASON,
    BLOCKLIST_SIZE,
];

pub(crate) static MATCHING_LATENCY_MS: HistogramVec = HistogramVec::new(&MATCHING_LATENCY);
pub(crate) static MATCHING_FAILURES: CounterVec = CounterVec::new(&MATCHING_FAILED);
pub(crate) static SUBMITTED: CounterVec = CounterVec::new(&REPORTS_SUBMITTED);
pub(crate) static PENDING: GaugeVec = GaugeVec::new(&REPORTS_PENDING);
pub(crate) static ACCEPTED: CounterVec = CounterVec::new(&REPORTS_ACCEPTED);
pub(crate) static REJECTED: CounterVec = CounterVec::new(&REPORTS_REJECTED);
pub(crate) static BY_REASON: CounterVec = CounterVec::new(&REPORTS_BY_REASON);
pub(crate) static BLOCKLIST: GaugeVec = GaugeVec::new(&BLOCKLIST_SIZE);

#[cfg(test)]
mod tests {
    #[test]
    fn the_catalog_is_valid() {
        obs_core::catalog::validate(super::CATALOG).unwrap();
    }
}
