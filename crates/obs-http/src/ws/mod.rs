//! WebSocket tracing for axum (feature `ws`): one span per session, and a span per signaling
//! message that carries its sender's trace context.
//!
//! [`TracedWebSocket`] wraps axum's `WebSocket`; use it like the socket (`recv`, `send`, or as a
//! `Stream` and a `Sink`). It traces:
//!
//! - the **session**: a span named `WebSocket session`, from the upgrade to the close, a child of the
//!   upgrade request's context. When it ends (the peer's close arrives, or the socket is dropped)
//!   it gets `websocket.messages.received`, `websocket.messages.sent`, `websocket.bytes.received`,
//!   `websocket.bytes.sent` (text and binary messages and their payload bytes),
//!   `websocket.close.code` (the first close frame's code, either way) and
//!   `websocket.close.cause` (see [Metrics](#metrics));
//! - **messages**: [`TracedWebSocket::recv_traced`] opens a `WebSocket message` span (kind
//!   `Consumer`) for a text message whose envelope carries a trace context, as a child of the
//!   sender's span and linked to the session span, so signaling joins the caller's trace. The
//!   default envelope is [`json_envelope`] (top-level `traceparent`, `tracestate`, `baggage`);
//!   [`TracedWebSocket::with_envelope`] reads another. A message without a valid context, or one
//!   that is not JSON, is delivered as usual, in the session's context. Plain text and binary
//!   messages get a message span under the session span only when sampled:
//!   [`TracedWebSocket::with_message_sample_ratio`] (default 0, none), so a busy socket does not
//!   flood the span queue.
//!
//! # Metrics
//!
//! Every session also records (see [`catalog`](crate::catalog); the handles are resolved once per
//! session, so a message costs a counter add):
//!
//! - `websocket_sessions_active`: sessions open now. It goes back down however the session ends:
//!   close, error, drop of the socket, panic of the handler;
//! - `websocket_messages_total{direction,type}`: messages the application received (`inbound`)
//!   and sent (`outbound`), by type `text`, `binary`, `ping`, `pong`, `close`. The pongs and the
//!   close reply that the WebSocket library sends by itself are not counted;
//! - `websocket_message_bytes_total{direction}`: payload bytes of text and binary messages;
//! - `websocket_session_duration_ms`: from the upgrade to the end of the session;
//! - `websocket_closes_total{code_class,cause}`, once per session. `code_class` is the code of the
//!   session's first close frame, either way: registered codes by number (`1000`, `1001`, `1007`,
//!   `1011`, ...; `1005` for a close frame without a code), else `1xxx`, `3xxx`, `4xxx`, `other`;
//!   `none` when no close frame was exchanged. `cause` is one of:
//!
//! | cause | when |
//! |---|---|
//! | `normal` | a close frame was exchanged (either side first), with any other code |
//! | `peer_vanished` | the connection ended or failed (reset, EOF) before any close frame |
//! | `protocol_error` | the peer broke the protocol (the socket then closes with 1007 for invalid UTF-8, 1009 for a message over the size limit, 1002 otherwise, as RFC 6455 asks), or a close frame said 1002, 1003, 1007, 1009 or 1010 |
//! | `server_shutdown` | the server closed with 1001 or 1012: [`TracedWebSocket::close_for_shutdown`] |
//! | `dropped` | the server dropped the socket without a close frame (the handler returned) |
//! | `error` | the handler panicked (under [`WebSocketUpgradeExt::on_upgrade_traced`]), another error, or a close frame said 1011 |
//!
//! The session span carries the same outcome: `websocket.close.cause`, `websocket.close.code`,
//! and for `protocol_error` and `error`, `error.type` (the cause) and an error status.
//!
//! ```
//! use axum::Router;
//! use axum::extract::ws::{Message, WebSocketUpgrade};
//! use axum::response::Response;
//! use axum::routing::get;
//! use obs_http::ws::WebSocketUpgradeExt;
//!
//! async fn signaling(upgrade: WebSocketUpgrade) -> Response {
//!     upgrade.on_upgrade_traced(|mut socket| async move {
//!         while let Some(Ok(received)) = socket.recv_traced().await {
//!             // Spans and log lines in here join the sender's trace.
//!             let reply = received.in_scope(|message| {
//!                 tracing::info!("handling a signaling message");
//!                 message.clone()
//!             });
//!             if matches!(reply, Message::Close(_)) || socket.send(reply).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! let app: Router = Router::new().route("/ws", get(signaling));
//! ```
//!
//! An envelope with the context in a nested object:
//!
//! ```
//! # fn wrap(socket: obs_http::ws::TracedWebSocket) -> obs_http::ws::TracedWebSocket {
//! socket.with_envelope(|text| {
//!     let value: serde_json::Value = serde_json::from_str(text).ok()?;
//!     let traceparent = value.pointer("/meta/traceparent")?.as_str()?;
//!     let mut headers = http::HeaderMap::new();
//!     headers.insert("traceparent", traceparent.parse().ok()?);
//!     Some(headers)
//! })
//! # }
//! ```

mod close;
mod handles;
mod message;
mod session;
mod socket;
mod upgrade;

pub use message::{TracedMessage, json_envelope};
pub use socket::TracedWebSocket;
pub use upgrade::WebSocketUpgradeExt;
