//! `errors_total{type="connection_timeout"}` and `{type="offer_expired"}`: a connection that does
//! not connect in time, an offer whose answer comes late, an answer to no offer; and neither for
//! a connection that connects in time or is closed first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use obs_testkit::{OtlpReceiver, isolated};
use obs_webrtc::{InstrumentedPeerConnection, PeerContext};

use crate::peers::{STATUS_ERROR, WAIT, app, init, loopback, runtime, span, sum, wait_connected};

const SHORT: Duration = Duration::from_millis(300);

async fn peer(name: &'static str, timeout: Duration) -> Arc<InstrumentedPeerConnection> {
    let (handler, _events) = app();
    let pc = InstrumentedPeerConnection::builder(PeerContext::new("room-6", name, "publisher"))
        .without_stats()
        .with_connect_timeout(Some(timeout))
        .with_offer_timeout(Some(timeout))
        .build(loopback(), handler)
        .await
        .unwrap();
    Arc::new(pc)
}

#[test]
fn late_connections_and_offers_are_errors() {
    isolated("timeouts::late_connections_and_offers_are_errors", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(&receiver);
        runtime().block_on(async {
            // judy offers to kim, whose answer comes after both timeouts.
            let judy = peer("judy", SHORT).await;
            let kim = peer("kim", SHORT).await;
            judy.create_data_channel("chat", None).await.unwrap();
            let offer = judy.create_offer().await.unwrap();
            judy.set_local_description(offer.clone()).await.unwrap();
            // Closed before its timeout: nothing counted for it.
            let closed = peer("leo", SHORT).await;
            let offer_of_closed = closed.create_offer().await;
            if let Ok(offer) = offer_of_closed {
                closed.set_local_description(offer).await.unwrap();
            }
            closed.close().await.unwrap();

            // kim never connected either (no remote description): judy's offer expires, and
            // judy and kim time out.
            let start = Instant::now();
            while sum("errors_total", &[("type", "offer_expired")]) < 1.0
                || sum("errors_total", &[("type", "connection_timeout")]) < 2.0
            {
                assert!(start.elapsed() < WAIT, "the timers fire");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(SHORT).await;
            assert_eq!(sum("errors_total", &[("type", "offer_expired")]), 1.0);
            assert_eq!(sum("errors_total", &[("type", "connection_timeout")]), 2.0);

            // The late answer is applied as usual and not counted again.
            kim.set_remote_description(offer).await.unwrap();
            let answer = kim.create_answer().await.unwrap();
            kim.set_local_description(answer.clone()).await.unwrap();
            judy.set_remote_description(answer.clone()).await.unwrap();
            assert_eq!(sum("errors_total", &[("type", "offer_expired")]), 1.0);

            // The same answer again: judy has no offer pending, webrtc-rs refuses it, and it is
            // counted as the answer to a stale offer.
            let error = judy.set_remote_description(answer).await;
            assert!(error.is_err(), "a second answer is refused");
            assert_eq!(sum("errors_total", &[("type", "offer_expired")]), 2.0);
            judy.close().await.unwrap();
            kim.close().await.unwrap();
        });
        assert_eq!(sum("errors_total", &[("type", "connection_timeout")]), 2.0);

        guard.force_flush().unwrap();
        let spans = receiver.wait_for(WAIT, |s| {
            s.iter().filter(|s| s.name == "webrtc.connection").count() >= 3
        });
        let judy = span(&spans, "webrtc.connection", "judy");
        assert_eq!(judy.status_code, STATUS_ERROR);
        for event in [
            "connection.timeout",
            "signaling.offer_expired",
            "signaling.stale_answer",
        ] {
            assert!(
                judy.events.iter().any(|e| e == event),
                "{event} in {:?}",
                judy.events
            );
        }
        let leo = span(&spans, "webrtc.connection", "leo");
        assert_ne!(leo.status_code, STATUS_ERROR);
        assert!(!leo.events.iter().any(|e| e == "connection.timeout"));
    });
}

#[test]
fn a_connection_made_in_time_is_no_error() {
    isolated("timeouts::a_connection_made_in_time_is_no_error", || {
        let receiver = OtlpReceiver::start().unwrap();
        let _guard = init(&receiver);
        runtime().block_on(async {
            let timeout = Duration::from_secs(5);
            let start = Instant::now();
            let (app_a, mut events_a) = app();
            let (app_b, mut events_b) = app();
            let build = |name, handler| {
                InstrumentedPeerConnection::builder(PeerContext::new("room-7", name, "peer"))
                    .without_stats()
                    .with_connect_timeout(Some(timeout))
                    .with_offer_timeout(Some(timeout))
                    .build(loopback(), handler)
            };
            let a = Arc::new(build("mia", app_a).await.unwrap());
            let b = Arc::new(build("ned", app_b).await.unwrap());
            a.create_data_channel("chat", None).await.unwrap();
            let offer = a.create_offer().await.unwrap();
            a.set_local_description(offer.clone()).await.unwrap();
            b.set_remote_description(offer).await.unwrap();
            let answer = b.create_answer().await.unwrap();
            b.set_local_description(answer.clone()).await.unwrap();
            a.set_remote_description(answer).await.unwrap();
            let mut forwarders = Vec::new();
            for (mut from, to) in [
                (events_a.candidates, Arc::clone(&b)),
                (events_b.candidates, Arc::clone(&a)),
            ] {
                forwarders.push(tokio::spawn(async move {
                    while let Some(c) = from.recv().await {
                        let _ = to.add_ice_candidate(c).await;
                    }
                }));
            }
            wait_connected(&mut events_a.states).await;
            wait_connected(&mut events_b.states).await;
            assert!(
                start.elapsed() < timeout,
                "connected before the timeout, so the test means something"
            );
            // Past both timeouts: the timers were stopped when the answer and the connection
            // arrived.
            tokio::time::sleep_until((start + timeout + SHORT).into()).await;
            assert_eq!(sum("errors_total", &[]), 0.0);
            for forwarder in forwarders {
                forwarder.abort();
            }
            a.close().await.unwrap();
            b.close().await.unwrap();
        });
        assert_eq!(sum("connections_total", &[("status", "connected")]), 2.0);
    });
}
