//! An audio track that sends real RTP (Opus silence frames) between two loopback peers: media
//! operations counted, and the stats poller's figures plausible for loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use obs_testkit::{MetricsSnapshot, OtlpReceiver, isolated};
use obs_webrtc::{InstrumentedPeerConnection, PeerContext};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::media_stream::Track as _;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, SettingEngineBuilder,
};

use crate::peers::{WAIT, init, runtime, sum};

/// An Opus frame of silence (TOC 0xf8: CELT FB 20 ms, one frame).
const OPUS_SILENCE: [u8; 3] = [0xf8, 0xff, 0xfe];

struct App {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    states: mpsc::UnboundedSender<RTCPeerConnectionState>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for App {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(init);
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.states.send(state);
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        // Read the track like an application would, so its events never back up.
        tokio::spawn(async move { while track.poll().await.is_some() {} });
    }
}

type Events = (
    mpsc::UnboundedReceiver<RTCIceCandidateInit>,
    mpsc::UnboundedReceiver<RTCPeerConnectionState>,
);

async fn peer(name: &'static str) -> (Arc<InstrumentedPeerConnection>, Events) {
    let (candidates, candidates_rx) = mpsc::unbounded_channel();
    let (states, states_rx) = mpsc::unbounded_channel();
    let mut media = MediaEngine::default();
    media.register_default_codecs().unwrap();
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    let pc = InstrumentedPeerConnection::builder(PeerContext::new("room-4", name, "publisher"))
        .with_stats_interval(Duration::from_millis(250))
        .build(
            PeerConnectionBuilder::new()
                .with_media_engine(media)
                .with_setting_engine(settings)
                .with_udp_addrs(vec!["127.0.0.1:0"]),
            Arc::new(App { candidates, states }),
        )
        .await
        .unwrap();
    (Arc::new(pc), (candidates_rx, states_rx))
}

fn audio_track() -> Arc<TrackLocalStaticSample> {
    let track = MediaStreamTrack::new(
        "audio-stream".to_owned(),
        "audio-track".to_owned(),
        "audio-label".to_owned(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(0x0bad_cafe),
                ..Default::default()
            },
            codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: vec![],
            },
            ..Default::default()
        }],
    );
    Arc::new(TrackLocalStaticSample::new(Instant::now(), track).unwrap())
}

#[test]
fn audio_flows_and_the_poller_reads_plausible_quality() {
    isolated(
        "media::audio_flows_and_the_poller_reads_plausible_quality",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let _guard = init(&receiver);
            runtime().block_on(async {
                let (a, (a_candidates, mut a_states)) = peer("frank").await;
                let (b, (b_candidates, mut b_states)) = peer("grace").await;
                let track = audio_track();
                let sender = a
                    .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                    .await
                    .unwrap();

                let offer = a.create_offer().await.unwrap();
                a.set_local_description(offer.clone()).await.unwrap();
                b.set_remote_description(offer).await.unwrap();
                let answer = b.create_answer().await.unwrap();
                b.set_local_description(answer.clone()).await.unwrap();
                a.set_remote_description(answer).await.unwrap();
                let mut forwarders = Vec::new();
                for (mut from, to) in [
                    (a_candidates, Arc::clone(&b)),
                    (b_candidates, Arc::clone(&a)),
                ] {
                    forwarders.push(tokio::spawn(async move {
                        while let Some(c) = from.recv().await {
                            let _ = to.add_ice_candidate(c).await;
                        }
                    }));
                }
                for states in [&mut a_states, &mut b_states] {
                    tokio::time::timeout(WAIT, async {
                        while let Some(state) = states.recv().await {
                            if state == RTCPeerConnectionState::Connected {
                                return;
                            }
                        }
                    })
                    .await
                    .expect("connected in time");
                }

                // 20 ms Opus frames for 1.5 s: several polls see packets flowing.
                let payload_type =
                    sender.get_parameters().await.unwrap().rtp_parameters.codecs[0].payload_type;
                let ssrc = *track.ssrcs().await.first().unwrap();
                let mut ticker = tokio::time::interval(Duration::from_millis(20));
                for _ in 0..75 {
                    ticker.tick().await;
                    track
                        .sample_writer(ssrc, payload_type)
                        .write_sample(&Sample {
                            data: bytes::Bytes::from_static(&OPUS_SILENCE),
                            duration: Duration::from_millis(20),
                            ..Sample::new(Instant::now())
                        })
                        .await
                        .unwrap();
                }
                for forwarder in forwarders {
                    forwarder.abort();
                }
                a.close().await.unwrap();
                b.close().await.unwrap();
            });

            let snap = MetricsSnapshot::current();
            let media = "webrtc_media_operations_total";
            assert_eq!(
                sum(
                    media,
                    &[("media_type", "audio"), ("operation", "track_added")]
                ),
                1.0
            );
            assert_eq!(
                sum(
                    media,
                    &[("media_type", "audio"), ("operation", "remote_track_added")]
                ),
                1.0
            );
            // Loss: every observation is 0 % on loopback.
            let losses = snap.sum("webrtc_connection_packet_loss_percent_count", &[]);
            assert!(losses >= 1.0, "loss observed at least once");
            assert_eq!(
                snap.sum("webrtc_connection_packet_loss_percent_sum", &[]),
                0.0
            );
            // Bitrates: Opus silence at 50 packets/s is a few kbit/s of payload plus headers.
            for direction in ["inbound", "outbound"] {
                let n = snap.sum("webrtc_bitrate_kbps_count", &[("direction", direction)]);
                let total = snap.sum("webrtc_bitrate_kbps_sum", &[("direction", direction)]);
                assert!(n >= 1.0, "{direction} bitrate observed");
                assert!(
                    total > 0.0 && total / n < 100.0,
                    "{direction}: {} kbit/s",
                    total / n
                );
            }
            // Jitter, converted from 48 kHz RTP units to milliseconds, is small on loopback.
            let jitters = snap.sum("webrtc_jitter_ms_count", &[]);
            assert!(jitters >= 1.0);
            assert!(snap.sum("webrtc_jitter_ms_sum", &[]) / jitters < 30.0);
            // No video: no frame rate.
            assert_eq!(snap.sum("webrtc_frame_rate_count", &[]), 0.0);
        },
    );
}
