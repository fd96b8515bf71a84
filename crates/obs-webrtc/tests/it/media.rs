//! Tracks that send real RTP between two loopback peers: an audio track (Opus silence frames)
//! muted and unmuted on the way, and a VP8 video track at 30 frames per second. Media operations
//! are counted, and the stats poller's figures are plausible for loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use obs_testkit::{MetricsSnapshot, OtlpReceiver, isolated};
use obs_webrtc::{InstrumentedPeerConnection, PeerContext};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::media_stream::Track as _;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
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
    /// RTP packets read from the remote tracks.
    packets: Arc<AtomicU64>,
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
        let packets = Arc::clone(&self.packets);
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if matches!(event, TrackRemoteEvent::OnRtpPacket(_)) {
                    packets.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
}

type Events = (
    mpsc::UnboundedReceiver<RTCIceCandidateInit>,
    mpsc::UnboundedReceiver<RTCPeerConnectionState>,
    Arc<AtomicU64>,
);

async fn peer(name: &'static str) -> (Arc<InstrumentedPeerConnection>, Events) {
    let (candidates, candidates_rx) = mpsc::unbounded_channel();
    let (states, states_rx) = mpsc::unbounded_channel();
    let packets = Arc::new(AtomicU64::new(0));
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
            Arc::new(App {
                candidates,
                states,
                packets: Arc::clone(&packets),
            }),
        )
        .await
        .unwrap();
    (Arc::new(pc), (candidates_rx, states_rx, packets))
}

/// Connects `a` (the offerer) and `b` over loopback; returns the candidate forwarders.
async fn connect(
    (a, a_events): (&Arc<InstrumentedPeerConnection>, Events),
    (b, b_events): (&Arc<InstrumentedPeerConnection>, Events),
) -> Vec<tokio::task::JoinHandle<()>> {
    let (a_candidates, mut a_states, _) = a_events;
    let (b_candidates, mut b_states, _) = b_events;
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(offer.clone()).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(answer.clone()).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    let mut forwarders = Vec::new();
    for (mut from, to) in [(a_candidates, Arc::clone(b)), (b_candidates, Arc::clone(a))] {
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
    forwarders
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
                let (a, a_events) = peer("frank").await;
                let (b, b_events) = peer("grace").await;
                let received = Arc::clone(&b_events.2);
                let track = audio_track();
                let sender = a
                    .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                    .await
                    .unwrap();
                let forwarders = connect((&a, a_events), (&b, b_events)).await;

                // 20 ms Opus frames for 2.8 s, muted from frame 50 to frame 90: the media loop
                // writes only while the track is enabled, as a webrtc-rs application mutes.
                let payload_type =
                    sender.get_parameters().await.unwrap().rtp_parameters.codecs[0].payload_type;
                let ssrc = *track.ssrcs().await.first().unwrap();
                let mut ticker = tokio::time::interval(Duration::from_millis(20));
                let (mut at_mute, mut before_unmute) = (0, 0);
                for frame in 0..140 {
                    ticker.tick().await;
                    match frame {
                        50 => {
                            assert!(a.mute(&sender).await, "the track was enabled");
                            assert!(!a.mute(&sender).await, "muting twice counts once");
                            assert!(!track.enabled().await);
                        }
                        // Packets sent before the mute have arrived 300 ms later.
                        65 => at_mute = received.load(Ordering::SeqCst),
                        90 => {
                            before_unmute = received.load(Ordering::SeqCst);
                            assert!(a.unmute(&sender).await, "the track was muted");
                            assert!(track.enabled().await);
                        }
                        _ => {}
                    }
                    if !track.enabled().await {
                        continue;
                    }
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
                assert!(at_mute > 0, "packets arrived before the mute");
                assert_eq!(before_unmute, at_mute, "nothing arrives while muted");
                tokio::time::sleep(Duration::from_millis(100)).await;
                assert!(
                    received.load(Ordering::SeqCst) > before_unmute,
                    "packets arrive again after the unmute"
                );
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
            for (operation, n) in [("mute", 1.0), ("unmute", 1.0)] {
                assert_eq!(
                    sum(media, &[("media_type", "audio"), ("operation", operation)]),
                    n,
                    "{operation}"
                );
            }
            assert_eq!(
                sum(media, &[("media_type", "video")]),
                0.0,
                "no video operations"
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

/// A VP8 track with one 1,000-byte sample per frame. The payloader only splits samples into
/// packets (marker bit on each frame's last one) and nobody decodes them, so the bytes need not
/// be a real picture.
fn video_track() -> Arc<TrackLocalStaticSample> {
    let track = MediaStreamTrack::new(
        "video-stream".to_owned(),
        "video-track".to_owned(),
        "video-label".to_owned(),
        RtpCodecKind::Video,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(0x0dec_0de5),
                ..Default::default()
            },
            codec: RTCRtpCodec {
                mime_type: MIME_TYPE_VP8.to_owned(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: vec![],
            },
            ..Default::default()
        }],
    );
    Arc::new(TrackLocalStaticSample::new(Instant::now(), track).unwrap())
}

/// A VP8 frame's payload: a key frame's 3-byte tag and start code, then filler.
static VP8_FRAME: [u8; 1_000] = {
    let mut frame = [0x5a_u8; 1_000];
    frame[0] = 0x10;
    frame[1] = 0x02;
    frame[2] = 0x00;
    frame[3] = 0x9d;
    frame[4] = 0x01;
    frame[5] = 0x2a;
    frame
};

#[test]
fn video_frames_give_a_frame_rate_and_bitrates() {
    isolated("media::video_frames_give_a_frame_rate_and_bitrates", || {
        let receiver = OtlpReceiver::start().unwrap();
        let _guard = init(&receiver);
        let frames_read = runtime().block_on(async {
            let (a, a_events) = peer("heidi").await;
            let (b, b_events) = peer("ivan").await;
            let received = Arc::clone(&b_events.2);
            let track = video_track();
            let sender = a
                .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                .await
                .unwrap();
            let forwarders = connect((&a, a_events), (&b, b_events)).await;

            // 30 frames per second for 3 s: about a dozen polls at 250 ms see frames flowing.
            let payload_type =
                sender.get_parameters().await.unwrap().rtp_parameters.codecs[0].payload_type;
            let ssrc = *track.ssrcs().await.first().unwrap();
            let mut ticker = tokio::time::interval(Duration::from_micros(33_333));
            for _ in 0..90 {
                ticker.tick().await;
                track
                    .sample_writer(ssrc, payload_type)
                    .write_sample(&Sample {
                        data: bytes::Bytes::from_static(&VP8_FRAME),
                        duration: Duration::from_micros(33_333),
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
            received.load(Ordering::SeqCst)
        });
        assert!(frames_read >= 80, "{frames_read} packets read");

        let snap = MetricsSnapshot::current();
        assert_eq!(
            sum(
                "webrtc_media_operations_total",
                &[("media_type", "video"), ("operation", "remote_track_added")]
            ),
            1.0
        );
        // Polls while frames flow see about 30 fps; the first and last polls of the stream see
        // part of an interval, so only a count of plausible observations is asserted.
        let bucket = |le: &str| snap.sum("webrtc_frame_rate_bucket", &[("le", le)]);
        let plausible = bucket("50") - bucket("20");
        assert!(
            plausible >= 3.0,
            "polls at 20-50 fps: {plausible} of {}",
            bucket("+Inf")
        );
        let fps = snap.sum("webrtc_frame_rate_sum", &[]) / bucket("+Inf");
        assert!((15.0..45.0).contains(&fps), "mean {fps} fps");
        // Bitrates: 1,000-byte frames at 30 fps are 240 kbit/s of payload; polls while frames
        // flow fall in 128-512 kbit/s on both sides.
        for direction in ["inbound", "outbound"] {
            let bucket = |le: &str| {
                snap.sum(
                    "webrtc_bitrate_kbps_bucket",
                    &[("direction", direction), ("le", le)],
                )
            };
            let in_range = bucket("512") - bucket("128");
            assert!(
                in_range >= 3.0,
                "{direction}: {in_range} polls at 128-512 kbit/s of {}",
                bucket("+Inf")
            );
            let mean =
                snap.sum("webrtc_bitrate_kbps_sum", &[("direction", direction)]) / bucket("+Inf");
            assert!(
                (100.0..512.0).contains(&mean),
                "{direction}: mean {mean} kbit/s"
            );
            assert_eq!(
                bucket("+Inf") - bucket("2000"),
                0.0,
                "{direction}: nothing above 2 Mbit/s"
            );
        }
    });
}
