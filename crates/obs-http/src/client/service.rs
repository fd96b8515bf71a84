//! The [`Client`] service: opens the client span, injects its context, calls the inner service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{HeaderValue, Request, Response, Uri, header};
use obs_core::propagation::W3CPropagator;
use obs_core::trace::CorrelationId;
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};
use tower_service::Service;

use super::future::{ResponseFuture, State};
use super::labels::{self, ServerHandles};
use crate::server::X_CORRELATION_ID;

/// Instruments outgoing HTTP requests; see the [module docs](super).
///
/// Built by [`ClientLayer`](super::ClientLayer).
#[derive(Clone)]
pub struct Client<S> {
    inner: S,
    propagate: bool,
}

impl<S> Client<S> {
    pub(crate) fn wrap(inner: S, propagate: bool) -> Self {
        Self { inner, propagate }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("inner", &self.inner)
            .field("propagate", &self.propagate)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for Client<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let (method, method_name) = labels::method(req.method());
        let (host, port) = target(&req);
        let server = labels::server(host.unwrap_or(""));
        let parent = Context::current();
        // The semantic conventions name a span with an unknown method `HTTP`.
        let name = if method_name == "_OTHER" {
            "HTTP"
        } else {
            method_name
        };
        // Attributes are built only for a sampled span, in the `Vec` the span keeps.
        let attributes = || request_attributes(&req, method_name, host.map(|_| &server), port);
        let cx = obs_core::__private::start_span(&parent, name, SpanKind::Client, attributes)
            .map_or(parent, |started| started.cx);
        if self.propagate {
            W3CPropagator::new().inject_headers(&cx, req.headers_mut());
            correlate(&cx, req.headers_mut());
        }
        // Layers below (connection pools, retries, `tracing` spans) run inside the client span.
        let future = {
            let _attached = cx.clone().attach();
            self.inner.call(req)
        };
        ResponseFuture::new(
            future,
            State {
                cx,
                start,
                method,
                server,
            },
        )
    }
}

/// Sends the correlation id of the request being handled as `x-correlation-id`, unless the
/// caller set one, so the next service's logs and spans carry the same id.
fn correlate(cx: &Context, headers: &mut http::HeaderMap) {
    if headers.contains_key(X_CORRELATION_ID) {
        return;
    }
    let value = cx
        .get::<CorrelationId>()
        .and_then(|id| HeaderValue::from_str(id.as_str()).ok());
    if let Some(value) = value {
        headers.insert(X_CORRELATION_ID, value);
    }
}

/// The request's attributes, set only on a recording span.
fn request_attributes<B>(
    req: &Request<B>,
    method_name: &'static str,
    server: Option<&Arc<ServerHandles>>,
    port: Option<u16>,
) -> Vec<KeyValue> {
    // The span keeps this `Vec`: room for the status and error type the response adds.
    let mut attrs = Vec::with_capacity(8);
    attrs.push(KeyValue::new("http.request.method", method_name));
    if method_name == "_OTHER" {
        attrs.push(KeyValue::new(
            "http.request.method_original",
            req.method().as_str().to_owned(),
        ));
    }
    if let Some(server) = server {
        attrs.push(KeyValue::new("server.address", Arc::clone(server.name())));
    }
    if let Some(port) = port {
        attrs.push(KeyValue::new("server.port", i64::from(port)));
    }
    attrs.push(KeyValue::new("url.full", url_full(req.uri())));
    attrs
}

/// `url.full`: the URI as `Display` writes it, sensitive query values redacted, credentials
/// removed. Built from its parts; the general `redact::url` only when there are credentials.
fn url_full(uri: &Uri) -> String {
    let authority = uri.authority().map(http::uri::Authority::as_str);
    if authority.is_some_and(|a| a.contains('@')) {
        return obs_core::redact::url(&uri.to_string()).into_owned();
    }
    let query = uri.query().map(obs_core::redact::query);
    let scheme = uri.scheme_str();
    let len = scheme.map_or(0, |s| s.len() + 3)
        + authority.map_or(0, str::len)
        + uri.path().len()
        + query.as_ref().map_or(0, |q| q.len() + 1);
    let mut url = String::with_capacity(len);
    if let Some(scheme) = scheme {
        url.push_str(scheme);
        url.push_str("://");
    }
    url.push_str(authority.unwrap_or_default());
    url.push_str(uri.path());
    if let Some(query) = query {
        url.push('?');
        url.push_str(&query);
    }
    url
}

fn target<B>(req: &Request<B>) -> (Option<&str>, Option<u16>) {
    let uri = req.uri();
    if let Some(host) = uri.host() {
        return (
            Some(unbracket(host)),
            uri.port_u16().or_else(|| default_port(uri)),
        );
    }
    let Some((host, port)) = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::host::split)
    else {
        return (None, None);
    };
    (Some(host), port.or_else(|| default_port(uri)))
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn default_port(uri: &Uri) -> Option<u16> {
    match uri.scheme_str() {
        Some("http" | "ws") => Some(80),
        Some("https" | "wss") => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_full_is_the_redacted_display() {
        let uris = [
            "http://api.example.com/v1/items?page=2",
            "https://api.example.com:8443/a/b?token=s3cret&x=1",
            "http://user:pass@10.0.0.1/private?password=p",
            "http://example.com",
            "/relative/path?api_key=k",
            "/",
            "example.com:443",
            "http://[::1]:9000/x?%74oken=t",
        ];
        for raw in uris {
            let uri: Uri = raw.parse().unwrap();
            let expected = obs_core::redact::url(&uri.to_string()).into_owned();
            assert_eq!(url_full(&uri), expected, "{raw}");
        }
        let redacted = url_full(&"http://u:p@h/x?token=t".parse().unwrap());
        assert!(
            !redacted.contains("u:p") && !redacted.contains("=t"),
            "{redacted}"
        );
    }

    #[test]
    fn targets_table() {
        type Case = (
            &'static str,
            Option<&'static str>,
            (Option<&'static str>, Option<u16>),
        );
        let cases: [Case; 8] = [
            (
                "http://example.com/a",
                None,
                (Some("example.com"), Some(80)),
            ),
            (
                "https://example.com/a",
                None,
                (Some("example.com"), Some(443)),
            ),
            (
                "http://example.com:8080/",
                None,
                (Some("example.com"), Some(8080)),
            ),
            ("http://[::1]:9000/", None, (Some("::1"), Some(9000))),
            ("http://u:p@10.0.0.1/", None, (Some("10.0.0.1"), Some(80))),
            (
                "/relative",
                Some("api.local:81"),
                (Some("api.local"), Some(81)),
            ),
            ("/relative", Some("not a host"), (None, None)),
            ("/relative", None, (None, None)),
        ];
        for (uri, host_header, expected) in cases {
            let mut builder = Request::get(uri);
            if let Some(h) = host_header {
                builder = builder.header(header::HOST, h);
            }
            let req = builder.body(()).unwrap();
            assert_eq!(target(&req), expected, "{uri} {host_header:?}");
        }
    }
}
