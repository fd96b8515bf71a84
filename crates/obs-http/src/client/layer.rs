//! The [`ClientLayer`].

use std::fmt;

use tower_layer::Layer;

use super::Client;

/// Traces outgoing HTTP requests and records their duration; see the [module docs](super).
#[derive(Clone)]
pub struct ClientLayer {
    propagate: bool,
}

impl ClientLayer {
    /// A layer that opens a client span per request and injects its context into the request's
    /// headers.
    pub const fn new() -> Self {
        Self { propagate: true }
    }

    /// Whether to inject `traceparent`, `tracestate`, `baggage` and `x-correlation-id` into
    /// outgoing requests (default `true`). Turn it off for third-party APIs that must not learn
    /// your trace or correlation ids; the span and the metric are recorded either way.
    pub const fn with_propagation(mut self, propagate: bool) -> Self {
        self.propagate = propagate;
        self
    }
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ClientLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientLayer")
            .field("propagate", &self.propagate)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = Client<S>;

    fn layer(&self, inner: S) -> Self::Service {
        crate::catalog::register();
        Client::wrap(inner, self.propagate)
    }
}
