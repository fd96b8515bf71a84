//! WebSocket tracing for axum (feature `ws`): one span per session, and a span per signaling
//! message that carries its sender's trace context.
//!
//! [`TracedWebSocket`] wraps axum's `WebSocket`; use it like the socket (`recv`, `send`, or as a
//! `Stream` and a `Sink`). It traces:
//!
//! - the **session**: a span named `WebSocket session`, from the upgrade to the close, a child of the
//!   upgrade request's context. When it ends (the peer's close arrives, or the socket is dropped)
//!   it gets `websocket.messages.received`, `websocket.messages.sent`, `websocket.bytes.received`,
//!   `websocket.bytes.sent` (text and binary messages and their payload bytes) and
//!   `websocket.close.code` (the first close frame's code, either way). A receive error marks it
//!   as failed;
//! - **messages**: [`TracedWebSocket::recv_traced`] opens a `WebSocket message` span (kind
//!   `Consumer`) for a text message whose envelope carries a trace context, as a child of the
//!   sender's span and linked to the session span, so signaling joins the caller's trace. The
//!   default envelope is [`json_envelope`] (top-level `traceparent`, `tracestate`, `baggage`);
//!   [`TracedWebSocket::with_envelope`] reads another. A message without a valid context, or one
//!   that is not JSON, is delivered as usual, in the session's context.
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
