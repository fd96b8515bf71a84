//! Tracing and metrics for outgoing HTTP requests: [`ClientLayer`].
//!
//! The layer wraps any tower service of `http::Request<B>` to `http::Response<_>`, such as
//! `hyper_util`'s legacy `Client`. For every request it:
//!
//! - opens a span of kind `Client` named after the method (`GET`, or `HTTP` for a method outside the
//!   HTTP specifications), a child of [`opentelemetry::Context::current()`];
//! - when the span is recording, sets the stable HTTP client attributes: `http.request.method`,
//!   `server.address`, `server.port`, `url.full` (with credentials and sensitive query values
//!   redacted by [`obs_core::redact::url`]), then `http.response.status_code`, and `error.type` (the
//!   status code from 400 on, the error's type name when the inner service fails, `cancelled` when
//!   the future is dropped first); a status from 400 on or a failure marks the span as an error;
//! - injects the span's context (`traceparent`, `tracestate`, `baggage`) into the request headers
//!   with the global propagator, so every call carries its own span id in the caller's trace;
//! - sends the correlation id of the request being handled (the one [`HttpLayer`](crate::HttpLayer)
//!   put in the context: the caller's `x-correlation-id`, or the request id) as the
//!   `x-correlation-id` header, unless the request has one, so that the next service logs the same
//!   id. It is a plain header, not W3C baggage: `HttpLayer` reads it back, and baggage stays the
//!   application's. [`ClientLayer::with_propagation(false)`](ClientLayer::with_propagation) sends
//!   neither;
//! - records `http_client_request_duration_ms{method,server,code_class}` until the response head
//!   arrives; `code_class` is `2xx`..`5xx`, or `error` when the call failed or was cancelled.
//!
//! - reads the callee's W3C Trace Context Level 2 `traceresponse` header, when it sent a valid
//!   one (obs-http's server answers with it after [`HttpLayer::traceresponse`](crate::HttpLayer::traceresponse)):
//!   the response gets a [`TraceResponse`] extension with the callee's trace id, span id (`child-id`)
//!   and `sampled`/`random` flags, and a recording client span gets the
//!   `http.response.header.traceresponse` attribute, plus a link to the callee's span when the
//!   callee recorded the request in another trace. An invalid value is ignored.
//!
//! The response and the error pass through unchanged, but for that extension. Metric handles are cached per method, server
//! and class, so the steady state builds no label strings.
//!
//! # A ready client (feature `client`)
//!
//! [`HttpClient`] is hyper-util's pooled client behind the layer, for plain `http://` calls
//! between services; it needs neither tower nor hyper-util in your `Cargo.toml`:
//!
//! ```no_run
//! # #[cfg(feature = "client")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let client = obs_http::client::HttpClient::new();
//! let request = http::Request::get("http://127.0.0.1:3000/health").body(axum::body::Body::empty())?;
//! let response = client.request(request).await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
//!
//! # With hyper-util
//!
//! ```no_run
//! use bytes::Bytes;
//! use http_body_util::Empty;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use obs_http::ClientLayer;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let hyper = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
//! let mut client = ServiceBuilder::new().layer(ClientLayer::new()).service(hyper);
//!
//! let request = http::Request::get("http://127.0.0.1:3000/health").body(Empty::new())?;
//! let response = client.ready().await?.call(request).await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
//!
//! # With any client, through `tower::service_fn`
//!
//! A client that is not a tower service can be wrapped in a closure that sends an
//! `http::Request` and returns an `http::Response`:
//!
//! ```
//! use obs_http::ClientLayer;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let send = service_fn(|request: http::Request<String>| async move {
//!     // Hand `request` to the HTTP client here: its headers carry the client span's context.
//!     let _ = request.headers().get("traceparent");
//!     Ok::<_, std::io::Error>(http::Response::new(String::from("ok")))
//! });
//! let mut client = ServiceBuilder::new().layer(ClientLayer::new()).service(send);
//! let request = http::Request::post("http://api.internal/orders").body(String::new())?;
//! let response = client.ready().await?.call(request).await?;
//! assert_eq!(response.body(), "ok");
//! # Ok(())
//! # }
//! ```
//!
//! # With reqwest
//!
//! `reqwest::Client` is a tower service of `reqwest::Request`, not of `http::Request`. Convert
//! between its types and `http`'s inside a `service_fn` (reqwest converts both ways):
//!
//! ```no_run
//! use obs_http::ClientLayer;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let http = reqwest::Client::new();
//! let mut client = ServiceBuilder::new()
//!     .layer(ClientLayer::new())
//!     .service(service_fn(move |request: http::Request<reqwest::Body>| {
//!         let http = http.clone();
//!         async move {
//!             let request = reqwest::Request::try_from(request)?;
//!             Ok::<_, reqwest::Error>(http::Response::from(http.execute(request).await?))
//!         }
//!     }));
//! let request = http::Request::get("http://api.internal/v1/items").body(reqwest::Body::from(""))?;
//! let response = client.ready().await?.call(request).await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
//!
//! Or, without a client span, propagate the current trace on a single `reqwest::RequestBuilder`:
//!
//! ```no_run
//! # async fn run(url: &str) -> Result<(), reqwest::Error> {
//! let mut headers = http::HeaderMap::new();
//! obs_core::propagation::inject(&opentelemetry::Context::current(), &mut headers);
//! let response = reqwest::Client::new().get(url).headers(headers).send().await?;
//! # Ok(())
//! # }
//! ```

mod future;
mod labels;
mod layer;
#[cfg(feature = "client")]
mod ready;
mod service;

pub use future::ResponseFuture;
pub use layer::ClientLayer;
pub use obs_core::propagation::traceresponse::TraceResponse;
#[cfg(feature = "client")]
pub use ready::HttpClient;
pub use service::Client;

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Future;
    use std::task::{Context, Waker};

    use tower::{Layer, Service, ServiceExt, service_fn};

    use super::*;

    fn request() -> http::Request<()> {
        http::Request::get("http://example.com/?token=t")
            .body(())
            .unwrap()
    }

    #[tokio::test]
    async fn results_pass_through_before_init() {
        let ok = service_fn(|_: http::Request<()>| async {
            let mut response = http::Response::new("body");
            *response.status_mut() = http::StatusCode::IM_A_TEAPOT;
            Ok::<_, Infallible>(response)
        });
        let mut client = ClientLayer::new().layer(ok);
        let response = client.ready().await.unwrap().call(request()).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::IM_A_TEAPOT);
        assert_eq!(*response.body(), "body");

        let failing = service_fn(|_: http::Request<()>| async {
            Err::<http::Response<()>, _>(std::io::Error::other("boom"))
        });
        let mut client = ClientLayer::new().with_propagation(false).layer(failing);
        let error = client
            .ready()
            .await
            .unwrap()
            .call(request())
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "boom");
    }

    /// Level 2 "Trace Context HTTP Response Headers Format": a valid `traceresponse` reaches
    /// the caller as a typed extension; "Vendors MUST ignore the `traceresponse` header when the
    /// `child-id` is invalid", and any other invalid value is ignored the same way.
    #[tokio::test]
    async fn traceresponse_reaches_the_caller_and_invalid_ones_are_ignored() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";
        let cases = [
            (valid, true),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                false,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
                false,
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                false,
            ),
            ("garbage", false),
            ("", false),
        ];
        for (value, valid) in cases {
            let answer = service_fn(move |_: http::Request<()>| async move {
                let mut response = http::Response::new(());
                response
                    .headers_mut()
                    .insert("traceresponse", value.parse().unwrap());
                Ok::<_, Infallible>(response)
            });
            let response = ClientLayer::new()
                .layer(answer)
                .oneshot(request())
                .await
                .unwrap();
            let tr = response.extensions().get::<TraceResponse>();
            assert_eq!(tr.is_some(), valid, "{value:?}");
            if let Some(tr) = tr {
                assert_eq!(tr.child_id().to_string(), "00f067aa0ba902b7");
                assert!(tr.is_sampled() && tr.is_random());
                assert_eq!(tr.to_string(), value);
            }
        }
    }

    #[test]
    fn a_dropped_call_does_not_panic() {
        let pending = service_fn(|_: http::Request<()>| {
            std::future::pending::<Result<http::Response<()>, Infallible>>()
        });
        let mut client = ClientLayer::new().layer(pending);
        let mut future = Box::pin(client.call(request()));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending());
        drop(future);
        assert!(format!("{client:?}").starts_with("Client"));
    }
}
