//! obs-webrtc's metrics, declared once and registered by [`crate::InstrumentedPeerConnection`].
//!
//! Per-connection values (room, participant) are span attributes, not labels: the histograms and
//! counters here have bounded label sets. The only per-connection series are the opt-in gauges
//! ([`PEER_RTT`], [`PEER_QUALITY_SCORE`]), bounded by their series limit and removed when the
//! connection closes.

use obs_core::catalog::{MetricDef, Unit};

/// Buckets for the 0–5 call-quality score.
pub const SCORE_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 3.5, 4.0, 4.5, 5.0];
/// Buckets for packet loss in percent.
pub const LOSS_PERCENT_BUCKETS: &[f64] = &[0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0];
/// Buckets for bitrates in kbit/s.
pub const BITRATE_KBPS_BUCKETS: &[f64] = &[
    8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1_000.0, 2_000.0, 4_000.0, 8_000.0,
];
/// Buckets for frame rates.
pub const FRAME_RATE_BUCKETS: &[f64] = &[5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 50.0, 60.0];

/// Signaling calls by operation.
pub const SIGNALING_DURATION: MetricDef = MetricDef::histogram(
    "webrtc_signaling_duration_ms",
    "Duration of signaling calls on a peer connection (create_offer, create_answer, set_local_description, set_remote_description, add_ice_candidate).",
)
.with_labels(&["operation"]);
/// Signaling calls by operation and outcome.
pub const SIGNALING_OPERATIONS: MetricDef = MetricDef::counter(
    "webrtc_signaling_operations_total",
    "Signaling calls on a peer connection, by operation, outcome and error type.",
)
.with_labels(&["operation", "outcome", "error_type"]);
/// ICE candidates by type and direction.
pub const ICE_CANDIDATES: MetricDef = MetricDef::counter(
    "webrtc_ice_candidates_total",
    "ICE candidates gathered locally or added from the remote peer, by candidate type (host, srflx, prflx, relay) and direction (local, remote).",
)
.with_labels(&["candidate_type", "direction"]);
/// Connections whose ICE agent started checking.
pub const ICE_ATTEMPTED: MetricDef = MetricDef::counter(
    "ice_attempted_total",
    "Peer connections whose ICE agent started connectivity checks.",
);
/// Connections whose ICE agent connected.
pub const ICE_CONNECTED: MetricDef = MetricDef::counter(
    "ice_connected_total",
    "Peer connections whose ICE agent reached the connected state.",
);
/// Connections whose ICE agent failed.
pub const ICE_FAILED: MetricDef = MetricDef::counter(
    "ice_failed_total",
    "Peer connections whose ICE agent reached the failed state.",
);
/// Connections whose selected candidate pair uses a TURN relay.
pub const TURN_RELAY: MetricDef = MetricDef::counter(
    "turn_relay_total",
    "Connected peer connections whose selected candidate pair uses a relay candidate.",
);
/// Peer connection state changes.
pub const CONNECTION_OPERATIONS: MetricDef = MetricDef::counter(
    "webrtc_connection_operations_total",
    "Peer connection state changes, by the state entered.",
)
.with_labels(&["state"]);
/// Time from creation to connected.
pub const CONNECTION_ESTABLISHMENT: MetricDef = MetricDef::histogram(
    "webrtc_connection_establishment_duration_ms",
    "Time from the creation of a peer connection to its first connected state.",
);
/// Connections by final or notable status.
pub const CONNECTIONS: MetricDef = MetricDef::counter(
    "connections_total",
    "Peer connections that became connected, disconnected or failed, by status.",
)
.with_labels(&["status"]);
/// Media track operations.
pub const MEDIA_OPERATIONS: MetricDef = MetricDef::counter(
    "webrtc_media_operations_total",
    "Media track operations (track_added, track_removed, remote_track_added, mute, unmute), by media type.",
)
.with_labels(&["media_type", "operation"]);
/// Round-trip time per poll.
pub const RTT: MetricDef = MetricDef::histogram(
    "webrtc_connection_rtt_ms",
    "Round-trip time of the selected ICE candidate pair, one observation per connection and stats poll.",
);
/// Packet loss per poll.
pub const PACKET_LOSS: MetricDef = MetricDef::histogram(
    "webrtc_connection_packet_loss_percent",
    "Inbound RTP packet loss between two stats polls, in percent.",
)
.with_unit(Unit::Percent)
.with_buckets(LOSS_PERCENT_BUCKETS);
/// Jitter per poll.
pub const JITTER: MetricDef = MetricDef::histogram(
    "webrtc_jitter_ms",
    "Inbound RTP interarrival jitter, converted from RTP clock units to milliseconds, one observation per stream and stats poll.",
);
/// Bitrate per poll.
pub const BITRATE: MetricDef = MetricDef::histogram(
    "webrtc_bitrate_kbps",
    "RTP media bitrate between two stats polls, by direction (inbound, outbound).",
)
.with_unit(Unit::Count)
.with_labels(&["direction"])
.with_buckets(BITRATE_KBPS_BUCKETS);
/// Frame rate per poll.
pub const FRAME_RATE: MetricDef = MetricDef::histogram(
    "webrtc_frame_rate",
    "Frames per second of inbound video tracks (frames the application read, counted by RTP marker bit), one observation per track and stats poll.",
)
.with_unit(Unit::Count)
.with_buckets(FRAME_RATE_BUCKETS);
/// Call-quality score per poll.
pub const QUALITY_SCORE: MetricDef = MetricDef::histogram(
    "webrtc_quality_score",
    "Call-quality score from 0 (unusable) to 5 (excellent), derived from RTT, loss and jitter at each stats poll.",
)
.with_unit(Unit::Count)
.with_buckets(SCORE_BUCKETS);
/// Opt-in per-connection RTT gauge.
pub const PEER_RTT: MetricDef = MetricDef::gauge(
    "webrtc_peer_rtt_ms",
    "Latest round-trip time of one peer connection (opt-in; removed when the connection closes).",
)
.with_unit(Unit::Milliseconds)
.with_labels(&["room_id", "participant_id"])
.with_max_series(500);
/// Opt-in per-connection quality gauge.
pub const PEER_QUALITY_SCORE: MetricDef = MetricDef::gauge(
    "webrtc_peer_quality_score",
    "Latest call-quality score (0-5) of one peer connection (opt-in; removed when the connection closes).",
)
.with_labels(&["room_id", "participant_id"])
.with_max_series(500);

/// Relay time of signaling messages.
pub const SIGNALING_LATENCY: MetricDef = MetricDef::histogram(
    "signaling_latency_ms",
    "Time a signaling server took to relay one message (parse, forward), by message type (offer, answer, candidate).",
)
.with_labels(&["type"]);
/// Relayed signaling messages.
pub const SIGNALING_RELAYED: MetricDef = MetricDef::counter(
    "signaling_messages_relayed_total",
    "Signaling messages relayed, by message type, outcome and error type.",
)
.with_labels(&["type", "outcome", "error_type"]);
/// Errors by type.
pub const ERRORS: MetricDef = MetricDef::counter(
    "errors_total",
    "WebRTC and signaling errors by type (malformed_message, delivery_failed, ice_failed, connection_timeout, offer_expired).",
)
.with_labels(&["type"]);

/// Every metric obs-webrtc emits.
pub static CATALOG: &[MetricDef] = &[
    SIGNALING_DURATION,
    SIGNALING_OPERATIONS,
    ICE_CANDIDATES,
    ICE_ATTEMPTED,
    ICE_CONNECTED,
    ICE_FAILED,
    TURN_RELAY,
    CONNECTION_OPERATIONS,
    CONNECTION_ESTABLISHMENT,
    CONNECTIONS,
    MEDIA_OPERATIONS,
    RTT,
    PACKET_LOSS,
    JITTER,
    BITRATE,
    FRAME_RATE,
    QUALITY_SCORE,
    PEER_RTT,
    PEER_QUALITY_SCORE,
    SIGNALING_LATENCY,
    SIGNALING_RELAYED,
    ERRORS,
];

#[cfg(test)]
mod tests {
    #[test]
    fn the_catalog_is_valid() {
        obs_core::catalog::validate(super::CATALOG).unwrap();
    }
}
