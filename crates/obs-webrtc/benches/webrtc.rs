//! obs-webrtc's hot calls, each next to its bare webrtc-rs baseline in the same run:
//! - signaling: `create_offer` and `set_local_description` (the same offer again, which also
//!   re-arms the offer-expiry timer) on a real peer connection, bare (`inner().…`) and through
//!   `InstrumentedPeerConnection` (span off: no tracer is installed, so this is the wrapper's
//!   floor; metrics recorded into a real obs recorder);
//! - the stats poller, per connection per poll: `get_stats()` on a connected loopback pair (what
//!   webrtc-rs costs) and the poller's own work on that report (read, deltas, score, record).
//!
//! Run: `cargo bench -p obs-webrtc --bench webrtc`. Report added time as the difference to the bare
//! figure of the same run. Not yet measured on the reference machine (the coordinator runs it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use obs_webrtc::{InstrumentedPeerConnection, PeerContext};
use tokio::sync::mpsc;
use webrtc::peer_connection::{
    PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, SettingEngineBuilder, StatsSelector,
};

struct Forward {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    states: mpsc::UnboundedSender<RTCPeerConnectionState>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Forward {
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

async fn peer(name: &'static str) -> (Arc<InstrumentedPeerConnection>, Events) {
    let (candidates, candidates_rx) = mpsc::unbounded_channel();
    let (states, states_rx) = mpsc::unbounded_channel();
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    let pc = InstrumentedPeerConnection::builder(PeerContext::new("bench", name, "publisher"))
        .without_stats()
        .build(
            PeerConnectionBuilder::new()
                .with_setting_engine(settings)
                .with_udp_addrs(vec!["127.0.0.1:0"]),
            Arc::new(Forward { candidates, states }),
        )
        .await
        .expect("peer builds");
    (Arc::new(pc), (candidates_rx, states_rx))
}

/// A connected loopback pair with a data channel.
async fn connected_pair() -> (
    Arc<InstrumentedPeerConnection>,
    Arc<InstrumentedPeerConnection>,
) {
    let (a, (a_candidates, mut a_states)) = peer("a").await;
    let (b, (b_candidates, _)) = peer("b").await;
    a.create_data_channel("bench", None).await.unwrap();
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
        tokio::spawn(async move {
            while let Some(c) = from.recv().await {
                let _ = to.add_ice_candidate(c).await;
            }
        });
    }
    tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(state) = a_states.recv().await {
            if state == RTCPeerConnectionState::Connected {
                return;
            }
        }
    })
    .await
    .expect("the pair connects");
    (a, b)
}

fn benches(c: &mut Criterion) {
    let recorder = obs_testkit::LocalRecorder::new();
    let _recording = recorder.enter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let (single, _events) = rt.block_on(peer("offerer"));
    rt.block_on(single.create_data_channel("bench", None))
        .unwrap();
    let mut signaling = c.benchmark_group("signaling");
    signaling.bench_function("create_offer/bare", |b| {
        b.to_async(&rt)
            .iter(|| async { single.inner().create_offer(None).await.unwrap() });
    });
    signaling.bench_function("create_offer/instrumented", |b| {
        b.to_async(&rt)
            .iter(|| async { single.create_offer().await.unwrap() });
    });
    // Setting the same local offer again (allowed in have-local-offer). The instrumented call
    // also re-arms the offer-expiry timer, a spawned task: part of the added cost.
    let offer = rt.block_on(single.create_offer()).unwrap();
    signaling.bench_function("set_local_description/bare", |b| {
        b.to_async(&rt).iter(|| async {
            single
                .inner()
                .set_local_description(offer.clone())
                .await
                .unwrap()
        });
    });
    signaling.bench_function("set_local_description/instrumented", |b| {
        b.to_async(&rt)
            .iter(|| async { single.set_local_description(offer.clone()).await.unwrap() });
    });
    signaling.finish();

    let (a, b) = rt.block_on(connected_pair());
    let report = rt.block_on(a.inner().get_stats(Instant::now(), StatsSelector::None));
    let mut stats = c.benchmark_group("stats_poll");
    stats.bench_function("get_stats/bare", |bench| {
        bench.to_async(&rt).iter(|| async {
            a.inner()
                .get_stats(Instant::now(), StatsSelector::None)
                .await
        });
    });
    stats.bench_function("poller_work", |bench| {
        bench.iter(|| obs_webrtc::__bench::poll_work(&report));
    });
    stats.finish();

    rt.block_on(async {
        let _ = a.close().await;
        let _ = b.close().await;
        let _ = single.close().await;
    });
}

criterion_group!(group, benches);
criterion_main!(group);
