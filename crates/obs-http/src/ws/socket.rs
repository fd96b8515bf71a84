//! [`TracedWebSocket`]: axum's `WebSocket` with a session span and per-message spans.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};

use axum::Error;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{Sink, Stream};
use http::{HeaderMap, HeaderValue};
use opentelemetry::Context;

use super::close::{self, Failure, GOING_AWAY};
use super::handles::Seen;
use super::message::{self, Extract, TracedMessage};
use super::session::{Ending, Session};

/// An axum [`WebSocket`] whose session is traced; see the [module docs](super).
///
/// Use it like the socket it wraps: [`recv`](Self::recv) and [`send`](Self::send), or as a
/// [`Stream`] and a [`Sink`]. [`recv_traced`](Self::recv_traced) also returns the context to process
/// the message in.
pub struct TracedWebSocket {
    inner: WebSocket,
    session: Session,
    extract: Option<Extract>,
    /// The share of plain messages that get a message span, in `[0, 1]`.
    sample_ratio: f64,
    /// Set by [`on_upgrade_traced`](super::WebSocketUpgradeExt::on_upgrade_traced) when the
    /// handler panicked, before the socket is dropped.
    panicked: Option<Arc<AtomicBool>>,
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
            sample_ratio: 0.0,
            panicked: None,
        }
    }

    /// Opens a message span for this share of the plain text and binary messages that
    /// [`recv_traced`](Self::recv_traced) returns (those without an envelope's trace context), as a
    /// child of the session span. `ratio` is clamped to `[0, 1]`; the default, 0, opens none, so a
    /// busy socket does not flood the span queue. The session's own sampling decision still applies:
    /// an unsampled session's message spans are not recorded.
    ///
    /// ```
    /// # fn wrap(socket: obs_http::ws::TracedWebSocket) -> obs_http::ws::TracedWebSocket {
    /// // One plain message in a hundred gets a `WebSocket message` span.
    /// socket.with_message_sample_ratio(0.01)
    /// # }
    /// ```
    #[must_use]
    pub fn with_message_sample_ratio(mut self, ratio: f64) -> Self {
        self.sample_ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        self
    }

    pub(crate) fn watch_panics(&mut self, flag: Arc<AtomicBool>) {
        self.panicked = Some(flag);
    }

    /// Whether this plain message gets a span.
    fn sample_plain(&self) -> bool {
        self.sample_ratio >= 1.0
            || (self.sample_ratio > 0.0 && rand::random::<f64>() < self.sample_ratio)
    }

    /// Reads the trace context of text messages with `extract` instead of the default JSON
    /// envelope. It returns the propagation headers (`traceparent`, and optionally `tracestate` and
    /// `baggage`) of a message, or `None` for no message span.
    #[must_use]
    pub fn with_envelope<F>(mut self, extract: F) -> Self
    where
        F: Fn(&str) -> Option<HeaderMap> + Send + Sync + 'static,
    {
        self.extract = Some(Arc::new(extract));
        self
    }

    /// Opens no message spans for envelopes: [`recv_traced`](Self::recv_traced) returns the
    /// session's context, or a sampled plain message span (see
    /// [`with_message_sample_ratio`](Self::with_message_sample_ratio)).
    #[must_use]
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
    /// trace when a text message carries one; for other text and binary messages, a message span
    /// under the session span when [sampled](Self::with_message_sample_ratio); the session's
    /// context otherwise.
    pub async fn recv_traced(&mut self) -> Option<Result<TracedMessage, Error>> {
        let message = match self.recv().await? {
            Ok(message) => message,
            Err(error) => return Some(Err(error)),
        };
        let session = self.session.context();
        let span = message::message_span(&message, self.extract.as_ref(), session).or_else(|| {
            self.sample_plain()
                .then(|| message::plain_message_span(&message, session))
                .flatten()
        });
        Some(Ok(match span {
            Some(cx) => TracedMessage::new(message, cx, true),
            None => TracedMessage::new(message, session.clone(), false),
        }))
    }

    /// Sends a message, as [`WebSocket::send`] does.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        poll_fn(|cx| Pin::new(&mut *self).poll_ready(cx)).await?;
        Pin::new(&mut *self).start_send(message)?;
        poll_fn(|cx| Pin::new(&mut *self).poll_flush(cx)).await
    }

    /// Sends a close frame. The session span ends when the peer's close arrives (`recv` returns
    /// `None`) or when the socket is dropped.
    ///
    /// The first close frame of the session, either way, gives `websocket_closes_total` its
    /// `code_class`; from the server, 1001 (going away) and 1012 (service restart) count as the
    /// cause `server_shutdown`.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.send(Message::Close(frame)).await
    }

    /// Closes the session because the server is shutting down: sends a close frame with code 1001
    /// (going away), counted with the cause `server_shutdown`. Keep receiving until `recv` returns
    /// `None` (the peer's close reply) to finish the close handshake, or drop the socket.
    ///
    /// ```
    /// use obs_http::ws::TracedWebSocket;
    /// use tokio::sync::watch;
    ///
    /// async fn session(mut socket: TracedWebSocket, mut shutdown: watch::Receiver<bool>) {
    ///     loop {
    ///         tokio::select! {
    ///             received = socket.recv() => match received {
    ///                 Some(Ok(_message)) => { /* handle it */ }
    ///                 _ => return,
    ///             },
    ///             _ = shutdown.changed() => {
    ///                 let _ = socket.close_for_shutdown().await;
    ///                 // Bounded wait for the peer's close reply.
    ///                 let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
    ///                 let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
    ///                 return;
    ///             }
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn close_for_shutdown(&mut self) -> Result<(), Error> {
        self.close(Some(CloseFrame {
            code: GOING_AWAY,
            reason: Utf8Bytes::from_static("server shutting down"),
        }))
        .await
    }

    /// Fails the connection after the peer broke the protocol, as RFC 6455 asks: sends a close
    /// frame with `code` when the socket can take one now. The error still goes to the caller.
    fn fail(&mut self, cx: &mut TaskContext<'_>, code: u16) {
        let reason = match code {
            close::INVALID_PAYLOAD => "invalid UTF-8",
            close::TOO_BIG => "message too big",
            _ => "protocol error",
        };
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }));
        if let Poll::Ready(Ok(())) = Pin::new(&mut self.inner).poll_ready(cx) {
            let seen = Seen::of(&frame);
            if Pin::new(&mut self.inner).start_send(frame).is_ok() {
                self.session.on_sent(seen);
                // Pending is fine: the frame is buffered and goes out with the next write or flush.
                let _ = Pin::new(&mut self.inner).poll_flush(cx);
            }
        }
    }
}

impl Drop for TracedWebSocket {
    fn drop(&mut self) {
        let panicked = self
            .panicked
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Acquire))
            || std::thread::panicking();
        self.session.end(if panicked {
            Ending::Panicked
        } else {
            Ending::Dropped
        });
    }
}

impl fmt::Debug for TracedWebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedWebSocket")
            .field("inner", &self.inner)
            .field("message_spans", &self.extract.is_some())
            .field("sample_ratio", &self.sample_ratio)
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
            Some(Err(error)) => {
                let failure = close::classify(error, true);
                if this.session.on_error(failure)
                    && let Failure::Protocol(code) = failure
                {
                    this.fail(cx, code);
                }
            }
            None => this.session.end(Ending::StreamEnded),
        }
        Poll::Ready(item)
    }
}

impl TracedWebSocket {
    /// Records a failed write; the result passes through unchanged.
    fn on_send_result(&mut self, result: Poll<Result<(), Error>>) -> Poll<Result<(), Error>> {
        if let Poll::Ready(Err(error)) = &result {
            self.session.on_error(close::classify(error, false));
        }
        result
    }
}

impl Sink<Message> for TracedWebSocket {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_ready(cx);
        this.on_send_result(result)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        let this = self.get_mut();
        let seen = Seen::of(&message);
        let result = Pin::new(&mut this.inner).start_send(message);
        match &result {
            Ok(()) => this.session.on_sent(seen),
            Err(error) => {
                this.session.on_error(close::classify(error, false));
            }
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.on_send_result(result)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_close(cx);
        this.on_send_result(result)
    }
}
