//! The event-handler decorator: records each peer connection event, then forwards it.
//!
//! webrtc-rs delivers a connection's events through one [`PeerConnectionEventHandler`] slot, so
//! obs-webrtc takes that slot and hands every event on to the application's own handler,
//! after recording it. Remote video tracks reach the application wrapped in a
//! [`FrameCountingTrack`] (see [`crate::track`]); everything else is handed on unchanged.

use std::sync::Arc;

use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceConnectionState, RTCIceGatheringState,
    RTCPeerConnectionIceErrorEvent, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSignalingState,
};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;

use crate::state::ConnectionState;
use crate::track::FrameCountingTrack;

/// Records the events of one instrumented connection and forwards them to `inner`.
pub(crate) struct InstrumentedHandler {
    pub(crate) state: Arc<ConnectionState>,
    pub(crate) inner: Arc<dyn PeerConnectionEventHandler>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for InstrumentedHandler {
    async fn on_negotiation_needed(&self) {
        self.inner.on_negotiation_needed().await;
    }

    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        self.state
            .record_candidate(&event.candidate.typ.to_string(), "local");
        self.inner.on_ice_candidate(event).await;
    }

    async fn on_ice_candidate_error(&self, event: RTCPeerConnectionIceErrorEvent) {
        self.inner.on_ice_candidate_error(event).await;
    }

    async fn on_signaling_state_change(&self, state: RTCSignalingState) {
        self.inner.on_signaling_state_change(state).await;
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.state.record_ice_state(state);
        self.inner.on_ice_connection_state_change(state).await;
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.inner.on_ice_gathering_state_change(state).await;
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.state.record_connection_state(state);
        self.inner.on_connection_state_change(state).await;
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        self.inner.on_data_channel(data_channel).await;
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        self.state
            .record_media(&kind.to_string(), "remote_track_added");
        let track: Arc<dyn TrackRemote> = if kind == RtpCodecKind::Video {
            Arc::new(FrameCountingTrack {
                inner: track,
                frames: self.state.video_frame_counter(),
            })
        } else {
            track
        };
        self.inner.on_track(track).await;
    }
}
