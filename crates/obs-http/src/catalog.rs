//! obs-http's metrics, declared once.
//!
//! Nothing to pass to `init`: [`HttpLayer::new`](crate::HttpLayer::new) and every service a
//! [`ClientLayer`](crate::ClientLayer) builds register [`CATALOG`] with
//! [`obs_core::catalog::register`], before or after `init`, so `/metrics` shows these metrics
//! with their help text and buckets (bytes for the size histograms).

use obs_core::catalog::{MetricDef, SIZE_BYTES_BUCKETS, Unit};

/// Server requests by method, route template and status class.
pub const HTTP_REQUESTS: MetricDef = MetricDef::counter(
    "http_requests_total",
    "HTTP requests served, by method, route template and status class (2xx, 4xx, ...).",
)
.with_labels(&["method", "route", "code_class"]);

/// Server responses with a 4xx or 5xx status, by route and exact status.
pub const HTTP_ERRORS: MetricDef = MetricDef::counter(
    "http_errors_total",
    "HTTP error responses (4xx and 5xx), by route template and status code.",
)
.with_labels(&["route", "code"]);

/// Server latency by route template.
pub const HTTP_REQUEST_LATENCY: MetricDef = MetricDef::histogram(
    "http_request_latency_ms",
    "HTTP request latency from the request's arrival to the end of the response body, by route.",
)
.with_labels(&["route"]);

/// Requests being served.
pub const HTTP_REQUESTS_IN_FLIGHT: MetricDef = MetricDef::gauge(
    "http_requests_in_flight",
    "HTTP requests currently being served.",
);

/// Request body sizes.
pub const HTTP_REQUEST_SIZE: MetricDef = MetricDef::histogram(
    "http_request_size_bytes",
    "HTTP request body sizes, by route.",
)
.with_unit(Unit::Bytes)
.with_buckets(SIZE_BYTES_BUCKETS)
.with_labels(&["route"]);

/// Response body sizes.
pub const HTTP_RESPONSE_SIZE: MetricDef = MetricDef::histogram(
    "http_response_size_bytes",
    "HTTP response body sizes, by route.",
)
.with_unit(Unit::Bytes)
.with_buckets(SIZE_BYTES_BUCKETS)
.with_labels(&["route"]);

/// Client request duration by method, server and status class.
pub const HTTP_CLIENT_DURATION: MetricDef = MetricDef::histogram(
    "http_client_request_duration_ms",
    "Outgoing HTTP request duration, by method, server address and status class.",
)
.with_labels(&["method", "server", "code_class"]);

/// WebSocket session durations: seconds to hours.
pub const WEBSOCKET_SESSION_DURATION_BUCKETS: &[f64] = &[
    100.0,
    1_000.0,
    5_000.0,
    15_000.0,
    60_000.0,
    300_000.0,
    900_000.0,
    3_600_000.0,
    14_400_000.0,
];

/// WebSocket sessions open now (feature `ws`).
pub const WEBSOCKET_SESSIONS_ACTIVE: MetricDef = MetricDef::gauge(
    "websocket_sessions_active",
    "WebSocket sessions open now, from the upgrade to the end of the session however it ends.",
);

/// WebSocket messages by direction and type (feature `ws`).
pub const WEBSOCKET_MESSAGES: MetricDef = MetricDef::counter(
    "websocket_messages_total",
    "WebSocket messages received and sent by the application, by direction (inbound, outbound) \
     and type (text, binary, ping, pong, close).",
)
.with_labels(&["direction", "type"]);

/// WebSocket payload bytes of text and binary messages, by direction (feature `ws`).
pub const WEBSOCKET_MESSAGE_BYTES: MetricDef = MetricDef::counter(
    "websocket_message_bytes_total",
    "Payload bytes of WebSocket text and binary messages, by direction (inbound, outbound).",
)
.with_unit(Unit::Bytes)
.with_labels(&["direction"]);

/// WebSocket session durations (feature `ws`).
pub const WEBSOCKET_SESSION_DURATION: MetricDef = MetricDef::histogram(
    "websocket_session_duration_ms",
    "WebSocket session duration from the upgrade to the end of the session.",
)
.with_buckets(WEBSOCKET_SESSION_DURATION_BUCKETS);

/// WebSocket session ends by close code class and cause (feature `ws`).
pub const WEBSOCKET_CLOSES: MetricDef = MetricDef::counter(
    "websocket_closes_total",
    "WebSocket sessions ended, by close code class (1000, 1001, 1007, 4xxx, none, ...) and cause \
     (normal, peer_vanished, protocol_error, server_shutdown, dropped, error).",
)
.with_labels(&["code_class", "cause"]);

/// Every obs-http metric.
pub static CATALOG: &[MetricDef] = &[
    HTTP_REQUESTS,
    HTTP_ERRORS,
    HTTP_REQUEST_LATENCY,
    HTTP_REQUESTS_IN_FLIGHT,
    HTTP_REQUEST_SIZE,
    HTTP_RESPONSE_SIZE,
    HTTP_CLIENT_DURATION,
    WEBSOCKET_SESSIONS_ACTIVE,
    WEBSOCKET_MESSAGES,
    WEBSOCKET_MESSAGE_BYTES,
    WEBSOCKET_SESSION_DURATION,
    WEBSOCKET_CLOSES,
];

/// Registers [`CATALOG`]; idempotent and cheap, called by the layers' constructors.
pub(crate) fn register() {
    if let Err(err) = obs_core::catalog::register(CATALOG) {
        tracing::warn!(%err, "obs-http's metric catalog conflicts with another registration");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn catalog_is_valid() {
        obs_core::catalog::validate(super::CATALOG).unwrap();
    }
}
