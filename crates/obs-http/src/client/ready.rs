//! [`HttpClient`]: a ready client (feature `client`), hyper-util's pooled client behind
//! [`ClientLayer`](super::ClientLayer).

use std::error::Error;

use axum::body::Body;
use http::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{self, Client as Legacy};
use hyper_util::rt::TokioExecutor;
use tower_layer::Layer as _;
use tower_service::Service as _;

use super::{Client, ClientLayer, ResponseFuture};

/// An instrumented HTTP/1 client for plain `http://` URLs, with a connection pool: hyper-util's
/// legacy client behind [`ClientLayer`], so every call gets its client span, its duration metric
/// and the propagation headers (see the [module docs](super)).
///
/// Cheap to clone (clones share the pool). For HTTPS, build a hyper-util client with a TLS
/// connector (`hyper-rustls`) and wrap it: `ClientLayer::new().layer(client)`.
///
/// ```no_run
/// use obs_http::client::HttpClient;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let client = HttpClient::new();
/// let request = http::Request::get("http://inventory.internal/items/7")
///     .body(axum::body::Body::empty())?;
/// let response = client.request(request).await?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
pub type HttpClient<B = Body> = Client<Legacy<HttpConnector, B>>;

impl<B> Client<Legacy<HttpConnector, B>>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    /// A client with hyper-util's defaults, on the Tokio runtime it is used from.
    pub fn new() -> Self {
        Self::with_builder(&Legacy::builder(TokioExecutor::new()))
    }

    /// A client from a configured hyper-util builder (pool sizes and timeouts, HTTP/1 options).
    pub fn with_builder(builder: &legacy::Builder) -> Self {
        ClientLayer::new().layer(builder.build_http())
    }

    /// Sends `request`; the response and the error are hyper-util's, unchanged.
    pub fn request(&self, request: Request<B>) -> ResponseFuture<legacy::ResponseFuture> {
        // hyper-util's client is always ready and its clones share the pool.
        self.clone().call(request)
    }
}

impl<B> Default for Client<Legacy<HttpConnector, B>>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    fn default() -> Self {
        Self::new()
    }
}
