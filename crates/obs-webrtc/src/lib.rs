//! Instrumented webrtc-rs peer connections: signaling spans, ICE and connection-state metrics,
//! call quality from `get_stats()`.
//!
//! Wrap each webrtc-rs (0.21) peer connection in an [`InstrumentedPeerConnection`] with the
//! [`PeerContext`] it belongs to (room, participant, participant type). Then:
//!
//! - the signaling calls are spans (`webrtc.create_offer`, ..., with `webrtc.signaling.type` and
//!   `webrtc.sdp.type`) timed in `webrtc_signaling_duration_ms{operation}` and counted in
//!   `webrtc_signaling_operations_total{operation,outcome,error_type}`;
//! - ICE candidates are counted by type and direction, ICE attempts, successes and failures once
//!   per connection, relayed connections in `turn_relay_total`;
//! - every connection state change is counted and is an event on the `webrtc.connection` span,
//!   which lasts from creation to close and is marked as an error when ICE or the connection
//!   fails; the time to the first `connected` is `webrtc_connection_establishment_duration_ms`;
//! - tracks added and removed, remote tracks, and [`mute`](InstrumentedPeerConnection::mute) /
//!   [`unmute`](InstrumentedPeerConnection::unmute) are counted in
//!   `webrtc_media_operations_total{media_type,operation}`;
//! - a connection not connected within a time (default 30 s) counts as
//!   `errors_total{type="connection_timeout"}`, an offer whose answer does not come within a time
//!   (default 30 s) or an answer to no pending offer as `errors_total{type="offer_expired"}`;
//! - a stats poller (default every 5 s) records RTT, loss, jitter, bitrates, frame rates and a
//!   [`quality_score`] in histograms without per-connection labels. webrtc-rs 0.21 reports no
//!   frame rate, so remote video tracks reach the application's `on_track` wrapped in a track
//!   that counts the frames the application reads (by RTP marker bit).
//!
//! - [`signaling`]: a JSON envelope for offers, answers and candidates that carries the sender's
//!   trace, and a relay for the signaling server that joins that trace and times each message.
//!
//! The metric catalog is [`catalog::CATALOG`]; it registers itself when the first connection is
//! built. Room and participant ids are span attributes, never metric labels, except in the opt-in
//! per-connection gauges ([`InstrumentedBuilder::with_per_connection_gauges`]).
#![deny(missing_docs)]

pub mod catalog;
mod handler;
mod peer;
mod quality;
pub mod signaling;
mod state;
mod stats;
mod track;

pub use peer::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_OFFER_TIMEOUT, DEFAULT_STATS_INTERVAL, InstrumentedBuilder,
    InstrumentedPeerConnection,
};
pub use quality::quality_score;
pub use state::PeerContext;

/// What the criterion bench measures that is not public API. Not covered by semver.
#[doc(hidden)]
pub mod __bench {
    use std::time::Instant;

    use webrtc::peer_connection::RTCStatsReport;

    /// One poll's work after `get_stats()`: read `report`, compute the figures against the
    /// previous reading (`report` again, as taken one second earlier), record them. Returns the
    /// score.
    pub fn poll_work(report: &RTCStatsReport) -> f64 {
        let now = Instant::now();
        let previous = crate::stats::Reading::from_report(
            report,
            now.checked_sub(std::time::Duration::from_secs(1))
                .unwrap_or(now),
        );
        let reading = crate::stats::Reading::from_report(report, now);
        let figures = reading.figures(Some(&previous));
        figures.record();
        figures.score
    }
}
