//! WebSocket session and message tracing against a real axum server and a tokio-tungstenite client.

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use obs_http::ws::{TracedWebSocket, WebSocketUpgradeExt};
use obs_testkit::{OtlpReceiver, ReceivedSpan, isolated};
use opentelemetry::Context;
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::client::{WAIT, init, runtime, serve};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";
/// OTLP span kind `CONSUMER`.
const KIND_CONSUMER: i32 = 5;

type Done = mpsc::UnboundedSender<()>;

/// Routes `/ws` to `session`, upgraded inside an `upgrade` span; `done` fires when it returns.
fn app<F, Fut>(session: F, done: Done) -> Router
where
    F: Fn(TracedWebSocket) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let handler = move |upgrade: WebSocketUpgrade| async move {
        let tracer = obs_core::trace::tracer().expect("tracer");
        let cx = Context::current_with_span(tracer.start("upgrade"));
        let response: Response = {
            let _attached = cx.clone().attach();
            upgrade.on_upgrade_traced(move |socket| async move {
                session(socket).await;
                let _ = done.send(());
            })
        };
        cx.span().end();
        response
    };
    Router::new().route("/ws", get(handler))
}

fn spans_named(receiver: &OtlpReceiver, name: &str, n: usize) -> Vec<ReceivedSpan> {
    let spans = receiver.wait_for(WAIT, |s| s.iter().filter(|s| s.name == name).count() >= n);
    spans.into_iter().filter(|s| s.name == name).collect()
}

#[test]
fn one_session_span_counts_messages_and_bytes() {
    isolated("ws::one_session_span_counts_messages_and_bytes", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(&receiver);
        runtime().block_on(async {
            let (done, mut finished) = mpsc::unbounded_channel();
            let echo = |mut socket: TracedWebSocket| async move {
                while let Some(Ok(message)) = socket.recv().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                    socket.send(message).await.unwrap();
                }
            };
            let addr = serve(app(echo, done)).await;
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                .await
                .unwrap();
            ws.send(WsMessage::Text("hello".into())).await.unwrap();
            ws.send(WsMessage::Binary(vec![1, 2, 3].into()))
                .await
                .unwrap();
            ws.send(WsMessage::Text(r#"{"a":1}"#.into())).await.unwrap();
            for _ in 0..3 {
                ws.next().await.unwrap().unwrap();
            }
            let frame = CloseFrame {
                code: CloseCode::Away,
                reason: "bye".into(),
            };
            ws.close(Some(frame)).await.unwrap();
            while ws.next().await.is_some() {}
            finished.recv().await.unwrap();
        });
        guard.force_flush().unwrap();

        let upgrade = spans_named(&receiver, "upgrade", 1).remove(0);
        let sessions = spans_named(&receiver, "WebSocket session", 1);
        assert_eq!(sessions.len(), 1);
        let session = &sessions[0];
        assert_eq!(session.trace_id, upgrade.trace_id);
        assert_eq!(session.parent_span_id, upgrade.span_id);
        let expected = [
            ("websocket.messages.received", "3"),
            ("websocket.messages.sent", "3"),
            ("websocket.bytes.received", "15"),
            ("websocket.bytes.sent", "15"),
            ("websocket.close.code", "1001"),
        ];
        for (key, value) in expected {
            assert_eq!(
                session.attr(key),
                Some(value),
                "{key} in {:?}",
                session.attributes
            );
        }
    });
}

#[test]
fn a_message_with_a_traceparent_joins_the_senders_trace() {
    isolated(
        "ws::a_message_with_a_traceparent_joins_the_senders_trace",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(&receiver);
            let replies = runtime().block_on(async {
            let (done, mut finished) = mpsc::unbounded_channel();
            let handle = |mut socket: TracedWebSocket| async move {
                while let Some(Ok(received)) = socket.recv_traced().await {
                    if matches!(received.message(), Message::Close(_)) {
                        break;
                    }
                    received.in_scope(|_| {
                        let tracer = obs_core::trace::tracer().unwrap();
                        tracer.start("handle").end();
                    });
                    let reply = format!("traced={}", received.is_traced());
                    drop(received);
                    socket.send(Message::Text(reply.into())).await.unwrap();
                }
            };
            let addr = serve(app(handle, done)).await;
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                .await
                .unwrap();
            let messages = [
                format!(r#"{{"type":"offer","traceparent":"00-{TRACE_ID}-{SPAN_ID}-01","sdp":"v=0"}}"#),
                r#"{"type":"offer","traceparent":"#.to_owned(),
                r#"{"traceparent":"00-zz-zz-01"}"#.to_owned(),
                r#"["traceparent"]"#.to_owned(),
                "not json".to_owned(),
            ];
            let mut replies = Vec::new();
            for message in messages {
                ws.send(WsMessage::Text(message.into())).await.unwrap();
                let reply = ws.next().await.unwrap().unwrap();
                replies.push(reply.into_text().unwrap().to_string());
            }
            ws.close(None).await.unwrap();
            while ws.next().await.is_some() {}
            finished.recv().await.unwrap();
            replies
        });
            guard.force_flush().unwrap();

            assert_eq!(
                replies,
                [
                    "traced=true",
                    "traced=false",
                    "traced=false",
                    "traced=false",
                    "traced=false"
                ],
                "every message is delivered; only the valid envelope opens a span"
            );
            let messages = spans_named(&receiver, "WebSocket message", 1);
            assert_eq!(messages.len(), 1, "{messages:?}");
            let message = &messages[0];
            assert_eq!(message.trace_id, TRACE_ID);
            assert_eq!(message.parent_span_id, SPAN_ID);
            assert_eq!(message.kind, KIND_CONSUMER);
            let handles = spans_named(&receiver, "handle", 5);
            assert!(handles.iter().any(|h| h.parent_span_id == message.span_id));
            let session = spans_named(&receiver, "WebSocket session", 1).remove(0);
            assert_ne!(
                session.trace_id, TRACE_ID,
                "the session stays in the upgrade's trace"
            );
            let in_session = handles
                .iter()
                .filter(|h| h.parent_span_id == session.span_id);
            assert_eq!(
                in_session.count(),
                4,
                "untraced messages run in the session"
            );
            assert_eq!(session.attr("websocket.messages.received"), Some("5"));
        },
    );
}

#[test]
fn dropping_the_socket_ends_the_session_span() {
    isolated("ws::dropping_the_socket_ends_the_session_span", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(&receiver);
        runtime().block_on(async {
            let (done, mut finished) = mpsc::unbounded_channel();
            let one_and_drop = |mut socket: TracedWebSocket| async move {
                let _ = socket.recv().await;
            };
            let addr = serve(app(one_and_drop, done)).await;
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                .await
                .unwrap();
            ws.send(WsMessage::Text("only".into())).await.unwrap();
            finished.recv().await.unwrap();
        });
        guard.force_flush().unwrap();

        let session = spans_named(&receiver, "WebSocket session", 1).remove(0);
        assert_eq!(session.attr("websocket.messages.received"), Some("1"));
        assert_eq!(session.attr("websocket.bytes.received"), Some("4"));
        assert_eq!(session.attr("websocket.close.code"), None);
    });
}
