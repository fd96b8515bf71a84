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

/// Every obs-http metric.
pub static CATALOG: &[MetricDef] = &[
    HTTP_REQUESTS,
    HTTP_ERRORS,
    HTTP_REQUEST_LATENCY,
    HTTP_REQUESTS_IN_FLIGHT,
    HTTP_REQUEST_SIZE,
    HTTP_RESPONSE_SIZE,
    HTTP_CLIENT_DURATION,
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
