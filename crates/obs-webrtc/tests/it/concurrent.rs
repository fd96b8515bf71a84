//! Twenty connections at once: bounded series, and nothing left running once they are closed or
//! dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use obs_testkit::{MetricsSnapshot, OtlpReceiver, isolated};
use obs_webrtc::{InstrumentedPeerConnection, PeerContext};
use tokio::sync::mpsc;
use webrtc::peer_connection::{
    PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, SettingEngineBuilder,
};

use crate::peers::{WAIT, init, runtime, sum};

const PAIRS: usize = 10;

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
}

type Events = (
    mpsc::UnboundedReceiver<RTCIceCandidateInit>,
    mpsc::UnboundedReceiver<RTCPeerConnectionState>,
);

async fn peer(room: String, name: String) -> (Arc<InstrumentedPeerConnection>, Events) {
    let (candidates, candidates_rx) = mpsc::unbounded_channel();
    let (states, states_rx) = mpsc::unbounded_channel();
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    let pc = InstrumentedPeerConnection::builder(PeerContext::new(room, name, "participant"))
        .with_stats_interval(Duration::from_millis(100))
        .with_per_connection_gauges(true)
        .build(
            PeerConnectionBuilder::new()
                .with_setting_engine(settings)
                .with_udp_addrs(vec!["127.0.0.1:0"]),
            Arc::new(App { candidates, states }),
        )
        .await
        .unwrap();
    (Arc::new(pc), (candidates_rx, states_rx))
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn twenty_connections_keep_series_bounded_and_leave_no_task_behind() {
    isolated(
        "concurrent::twenty_connections_keep_series_bounded_and_leave_no_task_behind",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let _guard = init(&receiver);
            let rt = runtime();
            let tasks = rt.metrics();
            rt.block_on(async {
                let baseline = tasks.num_alive_tasks();
                let mut pcs = Vec::new();
                let mut forwarders = Vec::new();
                let mut states = Vec::new();
                for pair in 0..PAIRS {
                    let room = format!("room-{pair}");
                    let (a, (a_candidates, a_states)) =
                        peer(room.clone(), format!("a{pair}")).await;
                    let (b, (b_candidates, b_states)) = peer(room, format!("b{pair}")).await;
                    a.create_data_channel("chat", None).await.unwrap();
                    let offer = a.create_offer().await.unwrap();
                    a.set_local_description(offer.clone()).await.unwrap();
                    b.set_remote_description(offer).await.unwrap();
                    let answer = b.create_answer().await.unwrap();
                    b.set_local_description(answer.clone()).await.unwrap();
                    a.set_remote_description(answer).await.unwrap();
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
                    states.extend([a_states, b_states]);
                    pcs.extend([a, b]);
                }
                for s in &mut states {
                    tokio::time::timeout(WAIT, async {
                        while let Some(state) = s.recv().await {
                            if state == RTCPeerConnectionState::Connected {
                                return;
                            }
                        }
                    })
                    .await
                    .expect("every connection connects");
                }
                wait_for("a per-connection RTT for every connection", || {
                    MetricsSnapshot::current().series_count("webrtc_peer_rtt_ms") == 2 * PAIRS
                })
                .await;

                // One series per connection only in the opt-in gauges; the rest stay bounded.
                let snap = MetricsSnapshot::current();
                assert_eq!(snap.series_count("webrtc_peer_quality_score"), 2 * PAIRS);
                assert_eq!(snap.series_count("webrtc_connection_rtt_ms"), 1);
                assert_eq!(snap.series_count("webrtc_quality_score"), 1);
                assert_eq!(
                    snap.series_count("webrtc_connection_establishment_duration_ms"),
                    1
                );
                assert_eq!(snap.series_count("webrtc_signaling_operations_total"), 5);
                assert_eq!(snap.series_count("webrtc_signaling_duration_ms"), 5);
                assert_eq!(snap.series_count("connections_total"), 1);
                assert_eq!(sum("connections_total", &[("status", "connected")]), 20.0);
                assert_eq!(sum("ice_connected_total", &[]), 20.0);

                for forwarder in forwarders {
                    forwarder.abort();
                }
                for pc in &pcs {
                    pc.close().await.unwrap();
                }
                let after_close = MetricsSnapshot::current();
                assert_eq!(after_close.series_count("webrtc_peer_rtt_ms"), 0);
                assert_eq!(after_close.series_count("webrtc_peer_quality_score"), 0);
                drop(pcs);
                wait_for("every task to end after close", || {
                    tasks.num_alive_tasks() <= baseline
                })
                .await;

                // Dropped without close: the poller still stops (removing its series is the
                // last thing its task does). webrtc-rs itself keeps an unclosed connection's
                // driver running on the application's runtime by design (see its
                // `PeerConnectionImpl::drop`), so tasks are not counted here.
                let (dropped, _events) = peer("room-x".into(), "dropped".into()).await;
                wait_for("the dropped connection's first poll", || {
                    MetricsSnapshot::current().series_count("webrtc_peer_quality_score") == 1
                })
                .await;
                drop(dropped);
                wait_for("the dropped connection's series to go", || {
                    MetricsSnapshot::current().series_count("webrtc_peer_quality_score") == 0
                })
                .await;
            });
        },
    );
}
