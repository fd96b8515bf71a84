//! [`WebSocketUpgradeExt`]: upgrading straight into a [`TracedWebSocket`].

use std::future::Future;

use axum::extract::ws::{OnFailedUpgrade, WebSocketUpgrade};
use axum::response::Response;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;

use super::TracedWebSocket;

mod sealed {
    pub trait Sealed {}
    impl<F> Sealed for axum::extract::ws::WebSocketUpgrade<F> {}
}

/// Upgrades into a [`TracedWebSocket`] whose session span is a child of the upgrade request's
/// context. Sealed: implemented for axum's `WebSocketUpgrade`.
pub trait WebSocketUpgradeExt: sealed::Sealed {
    /// Like `WebSocketUpgrade::on_upgrade`: captures the current context (the request's span,
    /// when a server layer runs), opens the session span under it once the connection is upgraded,
    /// and runs `callback` with the session's context attached.
    fn on_upgrade_traced<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(TracedWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static;
}

impl<F: OnFailedUpgrade> WebSocketUpgradeExt for WebSocketUpgrade<F> {
    fn on_upgrade_traced<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(TracedWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let parent = Context::current();
        self.on_upgrade(move |socket| {
            let socket = TracedWebSocket::new_with_parent(socket, &parent);
            let session = socket.session_context().clone();
            callback(socket).with_context(session)
        })
    }
}
