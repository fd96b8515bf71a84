//! Frame counting on remote video tracks.
//!
//! webrtc-rs 0.21 leaves inbound-rtp `frames_per_second` and `frames_received` at 0 (its stats
//! accumulator has the counter, nothing calls it), so obs-webrtc counts frames itself: the
//! application receives its remote video tracks wrapped in a [`FrameCountingTrack`], which
//! counts each RTP packet with the marker bit set (the last packet of a video frame, RFC 7741
//! and the other video payload formats) as the application reads it. The stats poller turns the
//! count into frames per second. Every call and event passes through unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rtc::media_stream::{
    MediaStreamTrackState, MediaTrackCapabilities, MediaTrackConstraints, MediaTrackSettings,
};
use rtc::rtcp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpEncodingParameters, RtpCodecKind};
use rtc::rtp_transceiver::{RtpStreamId, SSRC};
use webrtc::error::Result;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::media_stream::{MediaStreamId, MediaStreamTrackId, Track};

/// A remote video track that counts the frames the application reads from it.
pub(crate) struct FrameCountingTrack {
    pub(crate) inner: Arc<dyn TrackRemote>,
    pub(crate) frames: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl TrackRemote for FrameCountingTrack {
    async fn write_rtcp(&self, packets: Vec<Box<dyn rtcp::Packet>>) -> Result<()> {
        self.inner.write_rtcp(packets).await
    }

    async fn poll(&self) -> Option<TrackRemoteEvent> {
        let event = self.inner.poll().await;
        if let Some(TrackRemoteEvent::OnRtpPacket(packet)) = &event
            && packet.header.marker
        {
            self.frames.fetch_add(1, Ordering::Relaxed);
        }
        event
    }
}

#[async_trait::async_trait]
impl Track for FrameCountingTrack {
    async fn stream_id(&self) -> MediaStreamId {
        self.inner.stream_id().await
    }
    async fn track_id(&self) -> MediaStreamTrackId {
        self.inner.track_id().await
    }
    async fn label(&self) -> String {
        self.inner.label().await
    }
    async fn kind(&self) -> RtpCodecKind {
        self.inner.kind().await
    }
    async fn rid(&self, ssrc: SSRC) -> Option<RtpStreamId> {
        self.inner.rid(ssrc).await
    }
    async fn codec(&self, ssrc: SSRC) -> Option<RTCRtpCodec> {
        self.inner.codec(ssrc).await
    }
    async fn ssrcs(&self) -> Vec<SSRC> {
        self.inner.ssrcs().await
    }
    async fn enabled(&self) -> bool {
        self.inner.enabled().await
    }
    async fn set_enabled(&self, enabled: bool) {
        self.inner.set_enabled(enabled).await;
    }
    async fn muted(&self) -> bool {
        self.inner.muted().await
    }
    async fn set_muted(&self, muted: bool) {
        self.inner.set_muted(muted).await;
    }
    async fn ready_state(&self) -> MediaStreamTrackState {
        self.inner.ready_state().await
    }
    async fn stop(&self) {
        self.inner.stop().await;
    }
    async fn get_capabilities(&self) -> MediaTrackCapabilities {
        self.inner.get_capabilities().await
    }
    async fn get_constraints(&self) -> MediaTrackConstraints {
        self.inner.get_constraints().await
    }
    async fn get_settings(&self) -> MediaTrackSettings {
        self.inner.get_settings().await
    }
    async fn apply_constraints(&self, constraints: Option<MediaTrackConstraints>) {
        self.inner.apply_constraints(constraints).await;
    }
    async fn codings(&self) -> Vec<RTCRtpEncodingParameters> {
        self.inner.codings().await
    }
    async fn add_coding(&self, coding: RTCRtpEncodingParameters) {
        self.inner.add_coding(coding).await;
    }
}
