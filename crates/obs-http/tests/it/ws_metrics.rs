//! WebSocket metrics and sampled message spans against a real axum server and a tokio-tungstenite
//! client over loopback: each way a session ends is counted once, with its close code class.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use obs_http::ws::{TracedWebSocket, WebSocketUpgradeExt};
use obs_testkit::{MetricsSnapshot, OtlpReceiver, ReceivedSpan, isolated};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::{WAIT, init, runtime, serve};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CLOSES: &str = "websocket_closes_total";
const ACTIVE: &str = "websocket_sessions_active";
const MESSAGES: &str = "websocket_messages_total";
const BYTES: &str = "websocket_message_bytes_total";

/// Serves `/ws`, upgrading into `session`.
async fn serve_ws<F, Fut>(session: F) -> SocketAddr
where
    F: Fn(TracedWebSocket) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler =
        move |upgrade: WebSocketUpgrade| async move { upgrade.on_upgrade_traced(session) };
    serve(Router::new().route("/ws", get(handler))).await
}

async fn connect(addr: SocketAddr) -> Client {
    tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .expect("WebSocket handshake")
        .0
}

/// Echoes text and binary messages until the stream ends or fails.
async fn echo(mut socket: TracedWebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && socket.send(message).await.is_err()
        {
            return;
        }
    }
}

/// Waits until `websocket_closes_total` sums to `n`, then returns the metrics.
async fn after_closes(n: f64) -> MetricsSnapshot {
    let deadline = Instant::now() + WAIT;
    loop {
        let snapshot = MetricsSnapshot::current();
        if snapshot.sum(CLOSES, &[]) >= n || Instant::now() > deadline {
            return snapshot;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asserts the sessions ended exactly as `expected` says: (code class, cause, count).
fn assert_closes(metrics: &MetricsSnapshot, expected: &[(&str, &str, f64)]) {
    let total: f64 = expected.iter().map(|(_, _, n)| n).sum();
    assert_eq!(metrics.sum(CLOSES, &[]), total, "{}", metrics.text);
    for (class, cause, n) in expected {
        let labels = [("code_class", *class), ("cause", *cause)];
        assert_eq!(metrics.value(CLOSES, &labels), Some(*n), "{}", metrics.text);
    }
    assert_eq!(metrics.value(ACTIVE, &[]), Some(0.0), "{}", metrics.text);
    assert_eq!(
        metrics.value("websocket_session_duration_ms_count", &[]),
        Some(total),
        "{}",
        metrics.text
    );
}

/// Reads until the client's stream ends; returns the close frame the server sent, if any.
async fn read_to_end(client: &mut Client) -> Option<CloseFrame> {
    let mut close = None;
    while let Some(Ok(message)) = client.next().await {
        if let WsMessage::Close(frame) = message {
            close = close.or(frame);
        }
    }
    close
}

fn session_span(receiver: &OtlpReceiver) -> ReceivedSpan {
    let spans = receiver.wait_for(WAIT, |s| s.iter().any(|s| s.name == "WebSocket session"));
    spans
        .into_iter()
        .find(|s| s.name == "WebSocket session")
        .expect("a session span")
}

#[test]
fn a_normal_close_counts_messages_bytes_and_one_close() {
    isolated(
        "ws_metrics::a_normal_close_counts_messages_bytes_and_one_close",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            let (open, metrics) = runtime().block_on(async {
                let addr = serve_ws(echo).await;
                let mut client = connect(addr).await;
                client.send(WsMessage::Text("hello".into())).await.unwrap();
                client
                    .send(WsMessage::Binary(vec![1, 2, 3].into()))
                    .await
                    .unwrap();
                client.send(WsMessage::Ping(vec![9].into())).await.unwrap();
                let mut echoed = 0;
                while echoed < 2 {
                    if let WsMessage::Text(_) | WsMessage::Binary(_) =
                        client.next().await.unwrap().unwrap()
                    {
                        echoed += 1;
                    }
                }
                let open = MetricsSnapshot::current().value(ACTIVE, &[]);
                client
                    .close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: "done".into(),
                    }))
                    .await
                    .unwrap();
                read_to_end(&mut client).await;
                (open, after_closes(1.0).await)
            });
            guard.force_flush().unwrap();

            assert_eq!(open, Some(1.0), "one session open");
            assert_closes(&metrics, &[("1000", "normal", 1.0)]);
            let messages = [
                ("inbound", "text", Some(1.0)),
                ("inbound", "binary", Some(1.0)),
                ("inbound", "ping", Some(1.0)),
                ("inbound", "close", Some(1.0)),
                ("outbound", "text", Some(1.0)),
                ("outbound", "binary", Some(1.0)),
                // The pong and the close reply are the WebSocket library's, not the application's.
                ("outbound", "pong", None),
                ("outbound", "close", None),
            ];
            for (direction, kind, n) in messages {
                let labels = [("direction", direction), ("type", kind)];
                assert_eq!(metrics.value(MESSAGES, &labels), n, "{direction} {kind}");
            }
            for direction in ["inbound", "outbound"] {
                let labels = [("direction", direction)];
                assert_eq!(
                    metrics.value(BYTES, &labels),
                    Some(8.0),
                    "{direction} bytes"
                );
            }
            let session = session_span(&receiver);
            assert_eq!(session.attr("websocket.close.cause"), Some("normal"));
            assert_eq!(session.attr("websocket.close.code"), Some("1000"));
            assert_eq!(session.attr("error.type"), None);
        },
    );
}

#[test]
fn a_client_that_vanishes_is_counted_once() {
    isolated("ws_metrics::a_client_that_vanishes_is_counted_once", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(&receiver);
        let metrics = runtime().block_on(async {
            let addr = serve_ws(echo).await;
            let mut client = connect(addr).await;
            client.send(WsMessage::Text("hi".into())).await.unwrap();
            client.next().await.unwrap().unwrap();
            // The TCP connection goes away without a close frame.
            drop(client);
            after_closes(1.0).await
        });
        guard.force_flush().unwrap();

        assert_closes(&metrics, &[("none", "peer_vanished", 1.0)]);
        let session = session_span(&receiver);
        assert_eq!(session.attr("websocket.close.cause"), Some("peer_vanished"));
        assert_eq!(session.attr("websocket.close.code"), None);
    });
}

#[test]
fn invalid_utf8_closes_with_1007_as_a_protocol_error() {
    isolated(
        "ws_metrics::invalid_utf8_closes_with_1007_as_a_protocol_error",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            let (close, metrics) = runtime().block_on(async {
                let addr = serve_ws(echo).await;
                let mut client = connect(addr).await;
                let invalid =
                    Frame::message(vec![b'o', b'k', 0xff, 0xfe], OpCode::Data(Data::Text), true);
                client.send(WsMessage::Frame(invalid)).await.unwrap();
                let close = read_to_end(&mut client).await;
                (close, after_closes(1.0).await)
            });
            guard.force_flush().unwrap();

            let close = close.expect("the server sends a close frame");
            assert_eq!(close.code, CloseCode::Invalid, "1007, as RFC 6455 says");
            assert_closes(&metrics, &[("1007", "protocol_error", 1.0)]);
            let outbound_close = [("direction", "outbound"), ("type", "close")];
            assert_eq!(metrics.value(MESSAGES, &outbound_close), Some(1.0));
            let session = session_span(&receiver);
            assert_eq!(
                session.attr("websocket.close.cause"),
                Some("protocol_error")
            );
            assert_eq!(session.attr("error.type"), Some("protocol_error"));
            assert_eq!(session.attr("websocket.close.code"), Some("1007"));
        },
    );
}

#[test]
fn a_server_shutdown_closes_with_1001() {
    isolated("ws_metrics::a_server_shutdown_closes_with_1001", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(&receiver);
        let (close, metrics) = runtime().block_on(async {
            let (shutdown, stop) = watch::channel(false);
            let addr = serve_ws(move |mut socket: TracedWebSocket| {
                let mut stop = stop.clone();
                async move {
                    tokio::select! {
                        () = echo_until_error(&mut socket) => {}
                        _ = stop.changed() => {
                            socket.close_for_shutdown().await.unwrap();
                            while let Some(Ok(_)) = socket.recv().await {}
                        }
                    }
                }
            })
            .await;
            let mut client = connect(addr).await;
            client.send(WsMessage::Text("hi".into())).await.unwrap();
            client.next().await.unwrap().unwrap();
            shutdown.send(true).unwrap();
            let close = read_to_end(&mut client).await;
            (close, after_closes(1.0).await)
        });
        guard.force_flush().unwrap();

        assert_eq!(close.expect("a close frame").code, CloseCode::Away);
        assert_closes(&metrics, &[("1001", "server_shutdown", 1.0)]);
        let session = session_span(&receiver);
        assert_eq!(
            session.attr("websocket.close.cause"),
            Some("server_shutdown")
        );
        assert_eq!(session.attr("websocket.close.code"), Some("1001"));
    });
}

async fn echo_until_error(socket: &mut TracedWebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if socket.send(message).await.is_err() {
            return;
        }
    }
}

/// How a session of the concurrency test ends, told by the client's second message.
const ENDINGS: [&str; 4] = ["close", "panic", "drop", "vanish"];

#[test]
fn the_gauge_is_exact_under_concurrency_and_returns_to_zero() {
    isolated(
        "ws_metrics::the_gauge_is_exact_under_concurrency_and_returns_to_zero",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            const PER_ENDING: usize = 6;
            let (open, metrics) = runtime().block_on(async {
                let addr = serve_ws(|mut socket: TracedWebSocket| async move {
                    // Acknowledge the session, then end it as the client asks.
                    let Some(Ok(_)) = socket.recv().await else {
                        return;
                    };
                    let _ = socket.send(Message::Text("ready".into())).await;
                    let Some(Ok(Message::Text(ending))) = socket.recv().await else {
                        return;
                    };
                    match ending.as_str() {
                        "panic" => panic!("a handler that panics"),
                        "drop" => {}
                        _ => echo_until_error(&mut socket).await,
                    }
                })
                .await;
                let clients = (0..ENDINGS.len() * PER_ENDING).map(|_| async move {
                    let mut client = connect(addr).await;
                    client.send(WsMessage::Text("hello".into())).await.unwrap();
                    client.next().await.unwrap().unwrap();
                    client
                });
                let mut clients = futures_util::future::join_all(clients).await;
                let open = MetricsSnapshot::current().value(ACTIVE, &[]);
                let endings = clients
                    .drain(..)
                    .enumerate()
                    .map(|(i, mut client)| async move {
                        let ending = ENDINGS[i % ENDINGS.len()];
                        if ending == "vanish" {
                            drop(client);
                            return;
                        }
                        client.send(WsMessage::Text(ending.into())).await.unwrap();
                        if ending == "close" {
                            client.close(None).await.unwrap();
                        }
                        read_to_end(&mut client).await;
                    });
                futures_util::future::join_all(endings).await;
                (
                    open,
                    after_closes((ENDINGS.len() * PER_ENDING) as f64).await,
                )
            });
            guard.force_flush().unwrap();

            let n = PER_ENDING as f64;
            assert_eq!(open, Some(n * 4.0), "every session open at once");
            assert_closes(
                &metrics,
                &[
                    ("1005", "normal", n),
                    ("none", "error", n),
                    ("none", "dropped", n),
                    ("none", "peer_vanished", n),
                ],
            );
        },
    );
}

#[test]
fn plain_message_spans_are_sampled_by_ratio() {
    isolated(
        "ws_metrics::plain_message_spans_are_sampled_by_ratio",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            runtime().block_on(async {
                let handler = |ratio: f64| {
                    move |upgrade: WebSocketUpgrade| async move {
                        upgrade.on_upgrade_traced(move |socket: TracedWebSocket| async move {
                            let mut socket = socket.with_message_sample_ratio(ratio);
                            while let Some(Ok(received)) = socket.recv_traced().await {
                                let reply = format!("traced={}", received.is_traced());
                                if matches!(received.end(), Message::Close(_)) {
                                    break;
                                }
                                socket.send(Message::Text(reply.into())).await.unwrap();
                            }
                        })
                    }
                };
                let app = Router::new()
                    .route("/ws/all", get(handler(1.0)))
                    .route("/ws/none", get(handler(0.0)));
                let addr = serve(app).await;
                let envelope = format!(
                    r#"{{"traceparent":"00-{}-{}-01"}}"#,
                    "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
                );
                for (path, replies) in [
                    ("all", ["traced=true"; 4]),
                    (
                        "none",
                        [
                            "traced=false",
                            "traced=false",
                            "traced=false",
                            "traced=true",
                        ],
                    ),
                ] {
                    let url = format!("ws://{addr}/ws/{path}");
                    let mut client = tokio_tungstenite::connect_async(url).await.unwrap().0;
                    let messages = [
                        WsMessage::Text("plain".into()),
                        WsMessage::Binary(vec![1, 2].into()),
                        WsMessage::Text("plain again".into()),
                        WsMessage::Text(envelope.clone().into()),
                    ];
                    for (message, expected) in messages.into_iter().zip(replies) {
                        client.send(message).await.unwrap();
                        let reply = client.next().await.unwrap().unwrap();
                        assert_eq!(reply.into_text().unwrap().as_str(), expected, "{path}");
                    }
                    client.close(None).await.unwrap();
                    read_to_end(&mut client).await;
                }
                after_closes(2.0).await;
            });
            guard.force_flush().unwrap();

            let spans = receiver.wait_for(WAIT, |s| {
                s.iter().filter(|s| s.name == "WebSocket session").count() >= 2
            });
            let messages: Vec<_> = spans
                .iter()
                .filter(|s| s.name == "WebSocket message")
                .collect();
            let sessions: Vec<_> = spans
                .iter()
                .filter(|s| s.name == "WebSocket session")
                .collect();
            assert_eq!(
                messages.len(),
                5,
                "3 sampled plain messages and 2 envelopes: {messages:?}"
            );
            let enveloped: Vec<_> = messages
                .iter()
                .filter(|m| m.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736")
                .collect();
            assert_eq!(enveloped.len(), 2, "one envelope per session");
            let plain: Vec<_> = messages
                .iter()
                .filter(|m| m.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736")
                .collect();
            assert_eq!(plain.len(), 3);
            let parent = plain[0].parent_span_id.clone();
            assert!(
                sessions.iter().any(|s| s.span_id == parent),
                "under a session span"
            );
            assert!(
                plain.iter().all(|m| m.parent_span_id == parent),
                "all in one session"
            );
            let mut kinds: Vec<_> = plain
                .iter()
                .filter_map(|m| m.attr("websocket.message.type"))
                .collect();
            kinds.sort_unstable();
            assert_eq!(kinds, ["binary", "text", "text"]);
        },
    );
}
