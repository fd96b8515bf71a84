//! Two real peers connecting over loopback through the instrumented signaling calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use obs_core::{ObsConfig, ObsGuard};
use obs_testkit::{MetricsSnapshot, OtlpReceiver, ReceivedSpan, isolated};
use obs_webrtc::signaling::{SignalEnvelope, SignalPayload, SignalingRelay};
use obs_webrtc::{InstrumentedPeerConnection, PeerContext};
use opentelemetry::context::FutureExt as _;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, SettingEngineBuilder,
};

/// A generous bound for "arrives eventually" waits.
pub(crate) const WAIT: Duration = Duration::from_secs(15);
/// OTLP status code `ERROR`.
pub(crate) const STATUS_ERROR: i32 = 2;

pub(crate) fn init(receiver: &OtlpReceiver) -> ObsGuard {
    let capture = obs_testkit::LogCapture::new();
    obs_core::init(
        ObsConfig::builder()
            .service_name("t")
            .endpoint(receiver.grpc_endpoint())
            .log_writer(capture.writer())
            .build(),
    )
    .expect("init")
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A webrtc-rs builder bound to loopback only, mDNS off, no ICE servers.
pub(crate) fn loopback() -> PeerConnectionBuilder<&'static str> {
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    PeerConnectionBuilder::new()
        .with_setting_engine(settings)
        .with_udp_addrs(vec!["127.0.0.1:0"])
}

/// The application's own handler: hands candidates, channels and states to the test.
pub(crate) struct App {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
    states: mpsc::UnboundedSender<RTCPeerConnectionState>,
}

pub(crate) struct AppEvents {
    pub(crate) candidates: mpsc::UnboundedReceiver<RTCIceCandidateInit>,
    pub(crate) channels: mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
    pub(crate) states: mpsc::UnboundedReceiver<RTCPeerConnectionState>,
}

pub(crate) fn app() -> (Arc<App>, AppEvents) {
    let (candidates, candidates_rx) = mpsc::unbounded_channel();
    let (channels, channels_rx) = mpsc::unbounded_channel();
    let (states, states_rx) = mpsc::unbounded_channel();
    (
        Arc::new(App {
            candidates,
            channels,
            states,
        }),
        AppEvents {
            candidates: candidates_rx,
            channels: channels_rx,
            states: states_rx,
        },
    )
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for App {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(init);
        }
    }
    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        let _ = self.channels.send(data_channel);
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.states.send(state);
    }
}

pub(crate) async fn wait_connected(states: &mut mpsc::UnboundedReceiver<RTCPeerConnectionState>) {
    tokio::time::timeout(WAIT, async {
        while let Some(state) = states.recv().await {
            if state == RTCPeerConnectionState::Connected {
                return;
            }
        }
        panic!("state channel closed before connected");
    })
    .await
    .expect("connected in time");
}

/// Relays `message` through `relay` as a signaling server would, and returns what the recipient
/// receives.
async fn through(relay: &SignalingRelay, message: SignalEnvelope) -> SignalEnvelope {
    let mut delivered = None;
    relay
        .relay(&message.to_json(), |_, json| {
            delivered = Some(json);
            async { Ok::<(), String>(()) }
        })
        .await
        .expect("relayed");
    SignalEnvelope::from_json(&delivered.expect("forwarded")).unwrap()
}

/// Forwards `from`'s gathered candidates to `to` through the relay, counting the ones it sent and
/// the ones `to` added.
fn trickle(
    mut from: mpsc::UnboundedReceiver<RTCIceCandidateInit>,
    to: Arc<InstrumentedPeerConnection>,
    sent: Arc<AtomicUsize>,
    added: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let relay = SignalingRelay::new();
        while let Some(candidate) = from.recv().await {
            sent.fetch_add(1, Ordering::SeqCst);
            let message = SignalEnvelope::new(
                "room-1",
                "peer",
                to.context().participant_id.to_string(),
                SignalPayload::Candidate { candidate },
            );
            let SignalPayload::Candidate { candidate } = through(&relay, message).await.payload
            else {
                panic!("a candidate stays a candidate");
            };
            if to.add_ice_candidate(candidate).await.is_ok() {
                added.fetch_add(1, Ordering::SeqCst);
            }
        }
    })
}

pub(crate) fn sum(name: &str, labels: &[(&str, &str)]) -> f64 {
    MetricsSnapshot::current().sum(name, labels)
}

pub(crate) fn span<'a>(
    spans: &'a [ReceivedSpan],
    name: &str,
    participant: &str,
) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.name == name && s.attr("webrtc.participant.id") == Some(participant))
        .unwrap_or_else(|| panic!("no {name} span of {participant} in {spans:#?}"))
}

#[test]
fn two_peers_connect_and_everything_is_recorded() {
    isolated(
        "peers::two_peers_connect_and_everything_is_recorded",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            let sent = Arc::new(AtomicUsize::new(0));
            let added = Arc::new(AtomicUsize::new(0));
            let offer_traceparent = std::sync::Mutex::new(None::<String>);
            let rt = runtime();
            rt.block_on(async {
                let (app_a, mut events_a) = app();
                let (app_b, mut events_b) = app();
                let a = InstrumentedPeerConnection::builder(PeerContext::new(
                    "room-1",
                    "alice",
                    "publisher",
                ))
                .with_stats_interval(Duration::from_millis(200))
                .with_per_connection_gauges(true)
                .build(loopback(), app_a)
                .await
                .expect("alice builds");
                let b = InstrumentedPeerConnection::builder(PeerContext::new(
                    "room-1",
                    "bob",
                    "subscriber",
                ))
                .with_stats_interval(Duration::from_millis(200))
                .with_per_connection_gauges(true)
                .build(loopback(), app_b)
                .await
                .expect("bob builds");
                let (a, b) = (Arc::new(a), Arc::new(b));

                // Offer and answer travel through the signaling relay; bob applies the offer in
                // the relay's trace, as a receiver does with the message's traceparent.
                let relay = SignalingRelay::new();
                let channel = a.create_data_channel("chat", None).await.unwrap();
                let offer = a.create_offer().await.unwrap();
                a.set_local_description(offer.clone()).await.unwrap();
                let payload = SignalPayload::from_description(&offer).unwrap();
                let received = through(
                    &relay,
                    SignalEnvelope::new("room-1", "alice", "bob", payload),
                )
                .await;
                let relayed_offer = received.payload.to_description().unwrap().unwrap();
                assert_eq!(relayed_offer.sdp, offer.sdp);
                b.set_remote_description(relayed_offer)
                    .with_context(received.parent_context())
                    .await
                    .unwrap();
                *offer_traceparent.lock().unwrap() = received.traceparent.clone();
                let answer = b.create_answer().await.unwrap();
                b.set_local_description(answer.clone()).await.unwrap();
                let payload = SignalPayload::from_description(&answer).unwrap();
                let received = through(
                    &relay,
                    SignalEnvelope::new("room-1", "bob", "alice", payload),
                )
                .await;
                a.set_remote_description(received.payload.to_description().unwrap().unwrap())
                    .await
                    .unwrap();

                let to_b = trickle(
                    events_a.candidates,
                    Arc::clone(&b),
                    Arc::clone(&sent),
                    Arc::clone(&added),
                );
                let to_a = trickle(
                    events_b.candidates,
                    Arc::clone(&a),
                    Arc::clone(&sent),
                    Arc::clone(&added),
                );
                wait_connected(&mut events_a.states).await;
                wait_connected(&mut events_b.states).await;

                // A data channel message goes through, unchanged by the instrumentation.
                tokio::time::timeout(WAIT, async {
                    while let Some(event) = channel.poll().await {
                        if matches!(event, DataChannelEvent::OnOpen) {
                            return;
                        }
                    }
                })
                .await
                .expect("channel opens");
                channel.send_text("hello bob").await.unwrap();
                let remote = tokio::time::timeout(WAIT, events_b.channels.recv())
                    .await
                    .expect("bob gets the channel")
                    .unwrap();
                let message = tokio::time::timeout(WAIT, async {
                    while let Some(event) = remote.poll().await {
                        if let DataChannelEvent::OnMessage(message) = event {
                            return message;
                        }
                    }
                    panic!("channel closed before the message");
                })
                .await
                .expect("bob gets the message");
                assert_eq!(&message.data[..], b"hello bob");

                // Let the pollers run a few times over the connected pair.
                tokio::time::sleep(Duration::from_millis(900)).await;
                let snap = MetricsSnapshot::current();
                let rtt_count = snap.sum("webrtc_connection_rtt_ms_count", &[]);
                let rtt_sum = snap.sum("webrtc_connection_rtt_ms_sum", &[]);
                assert!(rtt_count >= 2.0, "RTT observations: {rtt_count}");
                assert!(
                    rtt_sum / rtt_count < 50.0,
                    "mean loopback RTT {} ms",
                    rtt_sum / rtt_count
                );
                let scores = snap.sum("webrtc_quality_score_count", &[]);
                assert!(scores >= 2.0);
                assert_eq!(
                    snap.sum("webrtc_quality_score_sum", &[]),
                    scores * 5.0,
                    "loopback scores 5"
                );
                for who in ["alice", "bob"] {
                    let labels = [("room_id", "room-1"), ("participant_id", who)];
                    assert_eq!(
                        snap.value("webrtc_peer_quality_score", &labels),
                        Some(5.0),
                        "{who}"
                    );
                    let rtt = snap
                        .value("webrtc_peer_rtt_ms", &labels)
                        .expect("per-connection RTT");
                    assert!(rtt > 0.0 && rtt < 50.0, "{who}: {rtt}");
                }

                to_b.abort();
                to_a.abort();
                a.close().await.unwrap();
                b.close().await.unwrap();

                // The pollers are gone with their series, and record nothing more.
                let after_close = MetricsSnapshot::current();
                assert_eq!(after_close.series_count("webrtc_peer_rtt_ms"), 0);
                assert_eq!(after_close.series_count("webrtc_peer_quality_score"), 0);
                let rtt_at_close = after_close.sum("webrtc_connection_rtt_ms_count", &[]);
                tokio::time::sleep(Duration::from_millis(600)).await;
                assert_eq!(sum("webrtc_connection_rtt_ms_count", &[]), rtt_at_close);
            });
            drop(rt);

            // Signaling: exact counts, one duration per call.
            let ops = "webrtc_signaling_operations_total";
            for (operation, n) in [
                ("create_offer", 1.0),
                ("create_answer", 1.0),
                ("set_local_description", 2.0),
                ("set_remote_description", 2.0),
            ] {
                assert_eq!(
                    sum(ops, &[("operation", operation), ("outcome", "success")]),
                    n,
                    "{operation}"
                );
                assert_eq!(
                    sum(
                        "webrtc_signaling_duration_ms_count",
                        &[("operation", operation)]
                    ),
                    n,
                    "{operation}"
                );
            }
            let added = added.load(Ordering::SeqCst) as f64;
            let sent = sent.load(Ordering::SeqCst) as f64;
            assert!(added >= 2.0, "at least one candidate each way");
            assert_eq!(
                sum(
                    ops,
                    &[("operation", "add_ice_candidate"), ("outcome", "success")]
                ),
                added
            );
            assert_eq!(sum(ops, &[("outcome", "error")]), 0.0);

            // The relay timed every message it carried.
            assert_eq!(sum("signaling_latency_ms_count", &[("type", "offer")]), 1.0);
            assert_eq!(
                sum("signaling_latency_ms_count", &[("type", "answer")]),
                1.0
            );
            assert_eq!(
                sum("signaling_latency_ms_count", &[("type", "candidate")]),
                sent
            );
            assert_eq!(sum("errors_total", &[]), 0.0);

            // ICE: host candidates only, each gathered one counted once on each side.
            let candidates = "webrtc_ice_candidates_total";
            assert_eq!(
                sum(
                    candidates,
                    &[("candidate_type", "host"), ("direction", "local")]
                ),
                sent
            );
            assert_eq!(
                sum(
                    candidates,
                    &[("candidate_type", "host"), ("direction", "remote")]
                ),
                added
            );
            assert_eq!(
                sum(candidates, &[]),
                sent + added,
                "no other candidate types"
            );
            assert_eq!(sum("ice_attempted_total", &[]), 2.0);
            assert_eq!(sum("ice_connected_total", &[]), 2.0);
            assert_eq!(sum("ice_failed_total", &[]), 0.0);
            assert_eq!(sum("turn_relay_total", &[]), 0.0);

            // Connection states.
            assert_eq!(
                sum(
                    "webrtc_connection_operations_total",
                    &[("state", "connected")]
                ),
                2.0
            );
            assert_eq!(sum("connections_total", &[("status", "connected")]), 2.0);
            assert_eq!(sum("connections_total", &[("status", "failed")]), 0.0);
            let established = sum("webrtc_connection_establishment_duration_ms_count", &[]);
            assert_eq!(established, 2.0);
            let mean = sum("webrtc_connection_establishment_duration_ms_sum", &[]) / established;
            assert!(mean > 0.0 && mean < WAIT.as_millis() as f64, "{mean} ms");

            // Spans: a connection span per peer from build to close, the signaling calls inside it.
            guard.force_flush().unwrap();
            let spans = receiver.wait_for(WAIT, |s| {
                s.iter().filter(|s| s.name == "webrtc.connection").count() >= 2
                    && s.iter()
                        .filter(|s| s.name == "webrtc.set_local_description")
                        .count()
                        >= 2
            });
            for (who, role) in [("alice", "publisher"), ("bob", "subscriber")] {
                let connection = span(&spans, "webrtc.connection", who);
                assert_eq!(connection.attr("webrtc.room.id"), Some("room-1"));
                assert_eq!(connection.attr("webrtc.participant.type"), Some(role));
                assert_ne!(connection.status_code, STATUS_ERROR);
                assert!(
                    connection
                        .events
                        .iter()
                        .any(|e| e == "connection.connected"),
                    "{:?}",
                    connection.events
                );
                assert!(connection.events.iter().any(|e| e == "ice.connected"));
                let local = span(&spans, "webrtc.set_local_description", who);
                assert_eq!(local.parent_span_id, connection.span_id);
                assert_eq!(local.trace_id, connection.trace_id);
                assert_eq!(
                    local.attr("webrtc.signaling.type"),
                    Some("set_local_description")
                );
            }
            let offer = span(&spans, "webrtc.create_offer", "alice");
            assert_eq!(offer.attr("webrtc.sdp.type"), Some("offer"));
            let applied = span(&spans, "webrtc.set_remote_description", "bob");
            let tp = offer_traceparent
                .lock()
                .unwrap()
                .clone()
                .expect("relay span traceparent");
            let relay_ids: Vec<&str> = tp.split('-').collect();
            assert_eq!(
                applied.trace_id, relay_ids[1],
                "bob's span joins the relay's trace"
            );
            assert_eq!(applied.parent_span_id, relay_ids[2]);
            assert_eq!(applied.attr("webrtc.sdp.type"), Some("offer"));
            let answer = span(&spans, "webrtc.set_local_description", "bob");
            assert_eq!(answer.attr("webrtc.sdp.type"), Some("answer"));
        },
    );
}

#[test]
fn signaling_errors_are_counted_and_returned_unchanged() {
    isolated(
        "peers::signaling_errors_are_counted_and_returned_unchanged",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            runtime().block_on(async {
                let (handler, _events) = app();
                let pc = InstrumentedPeerConnection::builder(PeerContext::new(
                    "room-2",
                    "carol",
                    "publisher",
                ))
                .without_stats()
                .build(loopback(), handler)
                .await
                .unwrap();
                // No remote offer yet: webrtc-rs refuses, and the caller gets its error.
                let error = pc.create_answer().await.expect_err("no remote description");
                let direct = pc
                    .inner()
                    .create_answer(None)
                    .await
                    .expect_err("same error");
                assert_eq!(error.to_string(), direct.to_string());
                pc.close().await.unwrap();
            });
            let errors = MetricsSnapshot::current();
            let samples = errors.find(
                "webrtc_signaling_operations_total",
                &[("operation", "create_answer"), ("outcome", "error")],
            );
            assert_eq!(samples.len(), 1, "{samples:?}");
            assert_eq!(samples[0].value, 1.0);
            let error_type = samples[0].label("error_type").unwrap();
            assert!(error_type.starts_with("Err"), "{error_type}");

            guard.force_flush().unwrap();
            let spans =
                receiver.wait_for(WAIT, |s| s.iter().any(|s| s.name == "webrtc.create_answer"));
            let failed = span(&spans, "webrtc.create_answer", "carol");
            assert_eq!(failed.status_code, STATUS_ERROR);
        },
    );
}

#[test]
fn an_unreachable_remote_fails_ice_and_marks_the_connection_span() {
    isolated(
        "peers::an_unreachable_remote_fails_ice_and_marks_the_connection_span",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            runtime().block_on(async {
                let (app_a, mut events_a) = app();
                let (app_b, _events_b) = app();
                // Checking longer than disconnected + failed timeouts (1.5 s here) fails ICE.
                let impatient = SettingEngineBuilder::new()
                    .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
                    .with_ice_timeouts(
                        Some(Duration::from_millis(500)),
                        Some(Duration::from_secs(1)),
                        Some(Duration::from_millis(200)),
                    )
                    .build();
                let a = InstrumentedPeerConnection::builder(PeerContext::new(
                    "room-3",
                    "dave",
                    "publisher",
                ))
                .without_stats()
                .build(
                    PeerConnectionBuilder::new()
                        .with_setting_engine(impatient)
                        .with_udp_addrs(vec!["127.0.0.1:0"]),
                    app_a,
                )
                .await
                .unwrap();
                let b = InstrumentedPeerConnection::builder(PeerContext::new(
                    "room-3",
                    "erin",
                    "subscriber",
                ))
                .without_stats()
                .build(loopback(), app_b)
                .await
                .unwrap();
                a.create_data_channel("chat", None).await.unwrap();
                let offer = a.create_offer().await.unwrap();
                a.set_local_description(offer.clone()).await.unwrap();
                b.set_remote_description(offer).await.unwrap();
                let answer = b.create_answer().await.unwrap();
                a.set_remote_description(answer).await.unwrap();
                b.close().await.unwrap();
                // The only remote candidate names a port nobody listens on.
                a.add_ice_candidate(RTCIceCandidateInit {
                    candidate: "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host".to_owned(),
                    sdp_mid: Some("0".to_owned()),
                    sdp_mline_index: Some(0),
                    ..RTCIceCandidateInit::default()
                })
                .await
                .unwrap();
                tokio::time::timeout(WAIT, async {
                    while let Some(state) = events_a.states.recv().await {
                        if state == RTCPeerConnectionState::Failed {
                            return;
                        }
                    }
                })
                .await
                .expect("ICE fails in time");
                a.close().await.unwrap();
            });

            assert_eq!(sum("ice_failed_total", &[]), 1.0);
            assert_eq!(sum("errors_total", &[("type", "ice_failed")]), 1.0);
            assert_eq!(sum("ice_connected_total", &[]), 0.0);
            assert_eq!(sum("connections_total", &[("status", "failed")]), 1.0);
            assert_eq!(sum("connections_total", &[("status", "connected")]), 0.0);
            assert_eq!(
                sum("webrtc_connection_establishment_duration_ms_count", &[]),
                0.0
            );
            guard.force_flush().unwrap();
            let spans = receiver.wait_for(WAIT, |s| {
                s.iter().filter(|s| s.name == "webrtc.connection").count() >= 2
            });
            let failed = span(&spans, "webrtc.connection", "dave");
            assert_eq!(failed.status_code, STATUS_ERROR);
            assert!(
                failed.events.iter().any(|e| e == "ice.failed"),
                "{:?}",
                failed.events
            );
            assert!(failed.events.iter().any(|e| e == "connection.failed"));
            let closed_early = span(&spans, "webrtc.connection", "erin");
            assert_ne!(closed_early.status_code, STATUS_ERROR);
        },
    );
}
