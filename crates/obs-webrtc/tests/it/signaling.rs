//! The signaling relay: each relayed message is a span in the sender's trace, timed and counted;
//! malformed and undeliverable messages are errors with a reply, counted by type.

use obs_testkit::{OtlpReceiver, isolated};
use obs_webrtc::signaling::{RelayError, SignalEnvelope, SignalPayload, SignalingRelay};
use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _};

use crate::peers::{WAIT, init, runtime, sum};

/// OTLP span kind `SERVER`.
const KIND_SERVER: i32 = 2;
/// OTLP status code `ERROR`.
const STATUS_ERROR: i32 = 2;

#[test]
fn relayed_messages_join_the_senders_trace() {
    isolated("signaling::relayed_messages_join_the_senders_trace", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(&receiver);
        let tracer = obs_core::trace::tracer().expect("tracer");
        let sender = Context::current_with_span(tracer.start("alice.send_offer"));
        let sender_sc = sender.span().span_context().clone();
        let offer = {
            let _attached = sender.clone().attach();
            SignalEnvelope::new(
                "room-5",
                "alice",
                "bob",
                SignalPayload::Offer {
                    sdp: "v=0 secret-sdp".into(),
                },
            )
        };
        let text = offer.to_json();
        let relay = SignalingRelay::new();

        let (forwarded, malformed, undeliverable) = runtime().block_on(async {
            let mut delivered = Vec::new();
            let ok = relay
                .relay(&text, |to, json| {
                    delivered.push((to, json));
                    async { Ok::<(), String>(()) }
                })
                .await
                .unwrap();
            assert_eq!(ok.payload, offer.payload);
            let malformed = relay
                .relay(r#"{"type":"offer"}"#, |_, _| async {
                    panic!("a malformed message is not forwarded");
                    #[allow(unreachable_code)]
                    Ok::<(), String>(())
                })
                .await
                .expect_err("malformed");
            let undeliverable = relay
                .relay(&text, |_, _| async { Err("bob is not connected") })
                .await
                .expect_err("not delivered");
            (delivered, malformed, undeliverable)
        });
        sender.span().end();

        // The receiver gets the message with the relay span as its parent.
        assert_eq!(forwarded.len(), 1);
        assert_eq!(forwarded[0].0, "bob");
        let received = SignalEnvelope::from_json(&forwarded[0].1).unwrap();
        let tp = received.traceparent.clone().expect("traceparent forwarded");
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts[1], sender_sc.trace_id().to_string());
        assert_ne!(parts[2], sender_sc.span_id().to_string());

        assert!(matches!(malformed, RelayError::Malformed(_)));
        assert!(malformed.reply().contains(r#""error":"malformed_message""#));
        assert!(matches!(undeliverable, RelayError::DeliveryFailed(_)));
        assert!(undeliverable.to_string().contains("bob is not connected"));

        assert_eq!(sum("signaling_latency_ms_count", &[("type", "offer")]), 2.0);
        let relays = "obs_operations_total";
        let relay = ("operation", "webrtc.signaling.relay");
        assert_eq!(sum(relays, &[relay, ("outcome", "success")]), 1.0);
        assert_eq!(sum(relays, &[relay, ("outcome", "error")]), 1.0);
        assert_eq!(sum("errors_total", &[("type", "malformed_message")]), 1.0);
        assert_eq!(sum("errors_total", &[("type", "delivery_failed")]), 1.0);

        guard.force_flush().unwrap();
        let spans = receiver.wait_for(WAIT, |s| {
            s.iter()
                .filter(|s| s.name == "webrtc.signaling.relay")
                .count()
                >= 2
        });
        let relays: Vec<_> = spans
            .iter()
            .filter(|s| s.name == "webrtc.signaling.relay")
            .collect();
        for span in &relays {
            assert_eq!(span.kind, KIND_SERVER);
            assert_eq!(span.trace_id, sender_sc.trace_id().to_string());
            assert_eq!(span.parent_span_id, sender_sc.span_id().to_string());
            assert_eq!(span.attr("webrtc.signaling.type"), Some("offer"));
            assert!(
                span.attributes
                    .iter()
                    .all(|(_, v)| !v.contains("secret-sdp")),
                "no SDP on spans: {:?}",
                span.attributes
            );
        }
        let ok = relays
            .iter()
            .find(|s| s.span_id == parts[2])
            .expect("the forwarded parent");
        assert_ne!(ok.status_code, STATUS_ERROR);
        assert!(relays.iter().any(|s| s.status_code == STATUS_ERROR));
    });
}
