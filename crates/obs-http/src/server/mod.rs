//! The server layer: [`HttpLayer`] for axum (and any tower HTTP server).
//!
//! For every request it:
//! - opens a server span named `{METHOD} {route}` with the route template of axum's `MatchedPath`
//!   (`{METHOD}` alone, and the route label `unmatched`, when no route matched), as a child of the
//!   caller's `traceparent`/`tracestate`/`baggage` (malformed headers start a new root); attributes
//!   follow the stable OpenTelemetry HTTP conventions and are only built when the span is sampled;
//!   5xx marks the span as error, 4xx does not;
//! - reuses a valid `X-Request-ID` / `X-Correlation-ID` or generates one, puts them in the request
//!   extensions ([`RequestId`], [`CorrelationId`]), on the span, on every log line inside the
//!   request, and on the response, which also carries `traceparent` (and, opted in with
//!   [`HttpLayer::traceresponse`], W3C Trace Context Level 2's `traceresponse`);
//! - records `http_requests_total{method,route,code_class}`, `http_errors_total{route,code}`,
//!   `http_request_latency_ms{route}`, `http_requests_in_flight`, `http_request_size_bytes` and
//!   `http_response_size_bytes`, with handles resolved once per route;
//! - finishes the request (the span's end, the latency, the response size) when the response body
//!   ends or is dropped, or with the response head when the body is small (up to 64 KiB) and of
//!   known length, as a buffered `String` or JSON body is: the server writes it with the head;
//! - answers a panicking handler with a 500 and records the panic on the span.
//!
//! Handlers add their own attributes (tenant, plan) to the request's span with [`RequestSpan`].
//! [`HttpLayer::access_log`] adds one log line per request (off by default).
//!
//! Headers are recorded only from an allow-list ([`HttpLayer::record_request_header`]), redacted
//! even then; bodies only with the opt-in [`BodyCaptureLayer`], size-capped and redacted.
//!
//! Add it with `Router::layer`, so the route template is known. Merged with the
//! [admin router](crate::admin), either order counts requests that match no route (see there for
//! which settings apply to them). A server that does not route with axum (plain hyper, another
//! tower router) gives the route with a [`Route`] request extension or
//! [`HttpLayer::route_with`]; without one, its requests are all `unmatched`.
//!
//! ```
//! use axum::{routing::get, Router};
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "user" }))
//!     .layer(obs_http::HttpLayer::new());
//! ```

mod attributes;
mod body;
mod capture;
mod future;
mod handles;
mod layer;
mod request_id;
mod route;
mod scan;
mod service;
mod span;
mod state;
mod unmatched;
mod user;

/// The route label of requests that matched no route.
pub(crate) const UNMATCHED: &str = "unmatched";

pub use body::{AxumBody, BodyKind, InnerBody, ResponseBody};
pub use capture::{BodyCapture, BodyCaptureLayer, CaptureBody, CaptureFuture};
pub use future::ResponseFuture;
pub use layer::{HttpLayer, RequestHead};
pub use request_id::{CorrelationId, MAX_ID_LEN, RequestId, X_CORRELATION_ID, X_REQUEST_ID};
pub use route::Route;
pub use service::HttpService;
pub use span::RequestSpan;
pub(crate) use unmatched::UnmatchedLayer;
pub use user::ObsUser;
