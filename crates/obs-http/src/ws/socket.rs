//! [`TracedWebSocket`]: axum's `WebSocket` with a session span and per-message spans.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::Error;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{Sink, Stream};
use http::{HeaderMap, HeaderValue};
use opentelemetry::Context;

use super::message::{self, Extract, TracedMessage};
use super::session::Session;

/// An axum [`WebSocket`] whose session is traced; see the [module docs](super).
///
/// Use it like the socket it wraps: [`recv`](Self::recv) and [`send`](Self::send), or as a
/// [`Stream`] and a [`Sink`]. [`recv_traced`](Self::recv_traced) also returns the context to process
/// the message in.
pub struct TracedWebSocket {
    inner: WebSocket,
    session: Session,
    extract: Option<Extract>,
}

impl TracedWebSocket {
    /// Wraps `socket` and opens the session span, a child of the current context. Message spans
    /// read the [`json_envelope`](super::json_envelope).
    ///
    /// axum runs `on_upgrade` callbacks in a task of their own, where the upgrade request's context
    /// is no longer current: use [`on_upgrade_traced`](super::WebSocketUpgradeExt::on_upgrade_traced)
    /// or [`new_with_parent`](Self::new_with_parent) to keep the session in the request's trace.
    pub fn new(socket: WebSocket) -> Self {
        Self::new_with_parent(socket, &Context::current())
    }

    /// Wraps `socket` and opens the session span as a child of `parent`.
    pub fn new_with_parent(socket: WebSocket, parent: &Context) -> Self {
        Self {
            inner: socket,
            session: Session::open(parent),
            extract: Some(Arc::new(message::json_envelope)),
        }
    }

    /// Reads the trace context of text messages with `extract` instead of the default JSON
    /// envelope. It returns the propagation headers (`traceparent`, and optionally `tracestate` and
    /// `baggage`) of a message, or `None` for no message span.
    pub fn with_envelope<F>(mut self, extract: F) -> Self
    where
        F: Fn(&str) -> Option<HeaderMap> + Send + Sync + 'static,
    {
        self.extract = Some(Arc::new(extract));
        self
    }

    /// Opens no message spans: [`recv_traced`](Self::recv_traced) returns the session's context.
    pub fn without_message_spans(mut self) -> Self {
        self.extract = None;
        self
    }

    /// The session span's context.
    pub fn session_context(&self) -> &Context {
        self.session.context()
    }

    /// The selected subprotocol, if any.
    pub fn protocol(&self) -> Option<&HeaderValue> {
        self.inner.protocol()
    }

    /// Receives the next message, as [`WebSocket::recv`] does; `None` once the socket is closed,
    /// which ends the session span.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Receives the next message with the context to process it in: a message span in the sender's
    /// trace when a text message carries one, the session's context otherwise.
    pub async fn recv_traced(&mut self) -> Option<Result<TracedMessage, Error>> {
        let message = match self.recv().await? {
            Ok(message) => message,
            Err(error) => return Some(Err(error)),
        };
        let session = self.session.context();
        Some(Ok(
            match message::message_span(&message, self.extract.as_ref(), session) {
                Some(cx) => TracedMessage::new(message, cx, true),
                None => TracedMessage::new(message, session.clone(), false),
            },
        ))
    }

    /// Sends a message, as [`WebSocket::send`] does.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| Pin::new(&mut *self).poll_ready(cx)).await?;
        Pin::new(&mut *self).start_send(message)?;
        poll_fn(|cx| Pin::new(&mut *self).poll_flush(cx)).await
    }

    /// Sends a close frame. The session span ends when the peer's close arrives (`recv` returns
    /// `None`) or when the socket is dropped.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.send(Message::Close(frame)).await
    }
}

impl Drop for TracedWebSocket {
    fn drop(&mut self) {
        self.session.end();
    }
}

impl fmt::Debug for TracedWebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedWebSocket")
            .field("inner", &self.inner)
            .field("message_spans", &self.extract.is_some())
            .finish_non_exhaustive()
    }
}

impl Stream for TracedWebSocket {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = std::task::ready!(Pin::new(&mut this.inner).poll_next(cx));
        match &item {
            Some(Ok(message)) => this.session.on_received(message),
            Some(Err(_)) => this.session.on_error(),
            None => this.session.end(),
        }
        Poll::Ready(item)
    }
}

impl Sink<Message> for TracedWebSocket {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().inner).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        let this = self.get_mut();
        this.session.on_sent(&message);
        Pin::new(&mut this.inner).start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
