//! Signaling over real WebSockets: an axum endpoint on obs-http's traced socket relays offers,
//! answers and candidates between two webrtc-rs peers through a `SignalingHub`, each message a
//! span in its sender's trace; tokio-tungstenite clients on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt as _, StreamExt as _};
use obs_http::ws::{TracedWebSocket, WebSocketUpgradeExt};
use obs_testkit::{OtlpReceiver, isolated};
use obs_webrtc::signaling::{HubMember, SignalEnvelope, SignalPayload, SignalingHub};
use obs_webrtc::{InstrumentedPeerConnection, PeerContext};
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use webrtc::peer_connection::{RTCIceCandidateInit, RTCSessionDescription};

use crate::peers::{WAIT, app, init, loopback, runtime, span, sum, wait_connected};

const ROOM: &str = "room-8";
/// OTLP span kind `SERVER`.
const KIND_SERVER: i32 = 2;

async fn signal(
    upgrade: WebSocketUpgrade,
    Path((room, participant)): Path<(String, String)>,
    State(hub): State<SignalingHub>,
) -> Response {
    let member = hub.join(room, participant);
    upgrade.on_upgrade_traced(move |socket| session(socket, member))
}

/// The endpoint's loop, as in `SignalingHub`'s docs.
async fn session(mut socket: TracedWebSocket, mut member: HubMember) {
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Err(error) = member.relay(&text).await {
                        let reply = Message::Text(error.reply().into());
                        if socket.send(reply).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            Some(json) = member.recv() => {
                if socket.send(Message::Text(json.into())).await.is_err() {
                    break;
                }
            }
        }
    }
}

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a participant's client does with its socket: sends its peer's candidates and the
/// messages the test gives it, applies what it receives to its peer connection, and hands error
/// replies to the test. Offers are answered in the relayed message's trace.
async fn client(
    me: &'static str,
    other: &'static str,
    pc: Arc<InstrumentedPeerConnection>,
    mut ws: Client,
    mut candidates: mpsc::UnboundedReceiver<RTCIceCandidateInit>,
    mut outgoing: mpsc::UnboundedReceiver<String>,
    errors: mpsc::UnboundedSender<serde_json::Value>,
) {
    loop {
        let to_send = tokio::select! {
            incoming = ws.next() => {
                let Some(Ok(WsMessage::Text(text))) = incoming else { break };
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "error" {
                    let _ = errors.send(value);
                    continue;
                }
                let envelope = SignalEnvelope::from_json(&text).expect("a relayed envelope");
                let parent = envelope.parent_context();
                match envelope.payload {
                    SignalPayload::Offer { sdp } => {
                        let offer = RTCSessionDescription::offer(sdp).unwrap();
                        async {
                            pc.set_remote_description(offer).await.unwrap();
                            let answer = pc.create_answer().await.unwrap();
                            pc.set_local_description(answer.clone()).await.unwrap();
                            let payload = SignalPayload::from_description(&answer).unwrap();
                            SignalEnvelope::new(ROOM, me, other, payload).to_json()
                        }
                        .with_context(parent)
                        .await
                    }
                    SignalPayload::Answer { sdp } => {
                        let answer = RTCSessionDescription::answer(sdp).unwrap();
                        pc.set_remote_description(answer).with_context(parent).await.unwrap();
                        continue;
                    }
                    SignalPayload::Candidate { candidate } => {
                        let _ = pc.add_ice_candidate(candidate).with_context(parent).await;
                        continue;
                    }
                }
            }
            Some(candidate) = candidates.recv() => {
                SignalEnvelope::new(ROOM, me, other, SignalPayload::Candidate { candidate }).to_json()
            }
            Some(raw) = outgoing.recv() => raw,
        };
        if ws.send(WsMessage::Text(to_send.into())).await.is_err() {
            break;
        }
    }
    let _ = ws.close(None).await;
}

#[test]
fn peers_connect_through_a_websocket_relay_in_the_senders_trace() {
    isolated(
        "ws::peers_connect_through_a_websocket_relay_in_the_senders_trace",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            let tracer = obs_core::trace::tracer().expect("tracer");
            let call = Context::current_with_span(tracer.start("alice.call"));
            let call_sc = call.span().span_context().clone();
            let (malformed, undeliverable) = runtime().block_on(async {
                let hub = SignalingHub::new();
                let app_router = Router::new()
                    .route("/signal/{room}/{participant}", get(signal))
                    .with_state(hub.clone());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = tokio::spawn(async move {
                    axum::serve(listener, app_router).await.unwrap();
                });

                let (app_a, mut events_a) = app();
                let (app_b, mut events_b) = app();
                let build = |name, handler| {
                    InstrumentedPeerConnection::builder(PeerContext::new(ROOM, name, "peer"))
                        .without_stats()
                        .build(loopback(), handler)
                };
                let a = Arc::new(build("alice", app_a).await.unwrap());
                let b = Arc::new(build("bob", app_b).await.unwrap());
                let connect = |who: &str| {
                    tokio_tungstenite::connect_async(format!("ws://{addr}/signal/{ROOM}/{who}"))
                };
                let (ws_a, _) = connect("alice").await.unwrap();
                let (ws_b, _) = connect("bob").await.unwrap();
                let start = Instant::now();
                while hub.len() < 2 {
                    assert!(start.elapsed() < WAIT, "both participants join");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }

                let (to_alice, outgoing_a) = mpsc::unbounded_channel();
                let (_to_bob, outgoing_b) = mpsc::unbounded_channel();
                let (errors_tx, mut errors) = mpsc::unbounded_channel();
                let clients = [
                    tokio::spawn(client(
                        "alice",
                        "bob",
                        Arc::clone(&a),
                        ws_a,
                        events_a.candidates,
                        outgoing_a,
                        errors_tx.clone(),
                    )),
                    tokio::spawn(client(
                        "bob",
                        "alice",
                        Arc::clone(&b),
                        ws_b,
                        events_b.candidates,
                        outgoing_b,
                        errors_tx,
                    )),
                ];

                // Alice offers within her call's span: the relay and bob join that trace.
                a.create_data_channel("chat", None).await.unwrap();
                let offer = async {
                    let offer = a.create_offer().await.unwrap();
                    a.set_local_description(offer.clone()).await.unwrap();
                    let payload = SignalPayload::from_description(&offer).unwrap();
                    SignalEnvelope::new(ROOM, "alice", "bob", payload).to_json()
                }
                .with_context(call.clone())
                .await;
                to_alice.send(offer).unwrap();
                wait_connected(&mut events_a.states).await;
                wait_connected(&mut events_b.states).await;

                // A malformed message and one for nobody: error replies to alice, nothing relayed.
                to_alice.send("not json".to_owned()).unwrap();
                let malformed = tokio::time::timeout(WAIT, errors.recv())
                    .await
                    .unwrap()
                    .unwrap();
                let nobody = SignalEnvelope::new(
                    ROOM,
                    "alice",
                    "nobody",
                    SignalPayload::Offer { sdp: "v=0".into() },
                );
                to_alice.send(nobody.to_json()).unwrap();
                let undeliverable = tokio::time::timeout(WAIT, errors.recv())
                    .await
                    .unwrap()
                    .unwrap();

                drop(to_alice);
                a.close().await.unwrap();
                b.close().await.unwrap();
                for client in clients {
                    client.abort();
                }
                // The server notices the clients are gone: both leave the hub.
                let start = Instant::now();
                while !hub.is_empty() {
                    assert!(
                        start.elapsed() < WAIT,
                        "participants leave when their sockets close"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                server.abort();
                (malformed, undeliverable)
            });
            call.span().end();

            assert_eq!(malformed["error"], "malformed_message");
            assert_eq!(undeliverable["error"], "delivery_failed");
            assert!(
                undeliverable["message"]
                    .as_str()
                    .unwrap()
                    .contains("not connected"),
                "{undeliverable}"
            );
            let latency = "signaling_latency_ms_count";
            assert_eq!(
                sum(latency, &[("type", "offer")]),
                2.0,
                "bob's and nobody's"
            );
            assert_eq!(sum(latency, &[("type", "answer")]), 1.0);
            assert!(sum(latency, &[("type", "candidate")]) >= 2.0);
            assert_eq!(sum("errors_total", &[("type", "malformed_message")]), 1.0);
            assert_eq!(sum("errors_total", &[("type", "delivery_failed")]), 1.0);
            assert_eq!(sum("connections_total", &[("status", "connected")]), 2.0);

            guard.force_flush().unwrap();
            let spans = receiver.wait_for(WAIT, |s| {
                s.iter().any(|s| s.name == "webrtc.set_remote_description")
                    && s.iter()
                        .filter(|s| s.name == "webrtc.signaling.relay")
                        .count()
                        >= 4
                    && s.iter().filter(|s| s.name == "WebSocket session").count() >= 2
            });
            // The offer's relay span is a server span in alice's call; bob applies the offer in
            // the relay span's trace, and his answer's relay span continues it.
            let trace = call_sc.trace_id().to_string();
            let offer_relay = spans
                .iter()
                .find(|s| {
                    s.name == "webrtc.signaling.relay"
                        && s.parent_span_id == call_sc.span_id().to_string()
                        && s.attr("webrtc.signaling.to") == Some("bob")
                })
                .unwrap_or_else(|| panic!("the offer's relay span in {spans:#?}"));
            assert_eq!(offer_relay.kind, KIND_SERVER);
            assert_eq!(offer_relay.trace_id, trace);
            assert_eq!(offer_relay.attr("webrtc.signaling.type"), Some("offer"));
            let applied = span(&spans, "webrtc.set_remote_description", "bob");
            assert_eq!(applied.trace_id, trace);
            assert_eq!(applied.parent_span_id, offer_relay.span_id);
            let answer_relay = spans
                .iter()
                .find(|s| {
                    s.name == "webrtc.signaling.relay"
                        && s.attr("webrtc.signaling.type") == Some("answer")
                })
                .expect("the answer's relay span");
            assert_eq!(
                answer_relay.trace_id, trace,
                "the answer continues the call"
            );
            let sessions = spans
                .iter()
                .filter(|s| s.name == "WebSocket session")
                .count();
            assert_eq!(sessions, 2, "obs-http traced both sockets");
        },
    );
}
