//! [`HttpLayer`]: the server layer and its builder.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

use http::HeaderName;
use tower_layer::Layer;

use super::body::{AxumBody, InnerBody};
use super::handles::HandleCache;
use super::service::HttpService;
use super::user::{ObsUser, UserReader, reader};

/// What a per-request sampler sees of the request.
#[derive(Debug)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a http::Method,
    /// The URI.
    pub uri: &'a http::Uri,
    /// The headers.
    pub headers: &'a http::HeaderMap,
    /// The extensions, as the layers before this one left them.
    pub extensions: &'a http::Extensions,
}

type Sampler = Arc<dyn Fn(&RequestHead<'_>) -> Option<f64> + Send + Sync>;
type RouteFn = Arc<dyn Fn(&RequestHead<'_>) -> Option<Cow<'static, str>> + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) spans: bool,
    pub(crate) metrics: bool,
    pub(crate) request_ids: bool,
    pub(crate) propagation: bool,
    pub(crate) skip_spans: Vec<String>,
    pub(crate) skip_metrics: Vec<String>,
    pub(crate) response_traceparent: bool,
    pub(crate) traceresponse: bool,
    pub(crate) trust_forwarded: bool,
    pub(crate) request_headers: Vec<HeaderName>,
    pub(crate) response_headers: Vec<HeaderName>,
    pub(crate) user: Option<UserReader>,
    pub(crate) role_sampling: Vec<(String, f64)>,
    pub(crate) sampler: Option<Sampler>,
    pub(crate) route: Option<RouteFn>,
    pub(crate) access_log: bool,
    pub(crate) skip_access_log: Vec<String>,
    pub(crate) handles: Arc<HandleCache>,
}

/// The server layer: one span, the HTTP metrics, request and correlation ids and W3C propagation
/// for every request. See the [module docs](crate::server) for what it records.
///
/// `K` is the response body type of its service: axum's `Body` by default ([`AxumBody`]), the
/// inner service's own body type in a [`ResponseBody`](super::ResponseBody) with
/// [`HttpLayer::inner_body`] ([`InnerBody`](super::InnerBody)).
pub struct HttpLayer<K = AxumBody> {
    config: Arc<Config>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for HttpLayer<K> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for HttpLayer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpLayer")
            .field("spans", &self.config.spans)
            .field("metrics", &self.config.metrics)
            .field("request_ids", &self.config.request_ids)
            .field("propagation", &self.config.propagation)
            .field("skip_spans", &self.config.skip_spans)
            .field("skip_metrics", &self.config.skip_metrics)
            .field("access_log", &self.config.access_log)
            .finish_non_exhaustive()
    }
}

impl Default for HttpLayer {
    fn default() -> Self {
        Self::new()
    }
}

const DEFAULT_SKIP: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

impl HttpLayer {
    /// Spans and metrics on, `/healthz`, `/readyz` and `/metrics` skipped for both, `traceparent`
    /// on responses, forwarded headers not trusted, no headers recorded.
    pub fn new() -> Self {
        crate::catalog::register();
        Self {
            config: Arc::new(Config {
                spans: true,
                metrics: true,
                request_ids: true,
                propagation: true,
                skip_spans: DEFAULT_SKIP.iter().map(|s| (*s).to_owned()).collect(),
                skip_metrics: DEFAULT_SKIP.iter().map(|s| (*s).to_owned()).collect(),
                response_traceparent: true,
                traceresponse: false,
                trust_forwarded: false,
                request_headers: Vec::new(),
                response_headers: Vec::new(),
                user: None,
                role_sampling: Vec::new(),
                sampler: None,
                route: None,
                access_log: false,
                skip_access_log: DEFAULT_SKIP.iter().map(|s| (*s).to_owned()).collect(),
                handles: Arc::default(),
            }),
            kind: PhantomData,
        }
    }
}

impl<K> HttpLayer<K> {
    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Records metrics only: no span, no request or correlation id, no context extraction. The
    /// cheapest configuration, for services that only want the RED metrics.
    pub fn metrics_only(self) -> Self {
        self.edit(|c| {
            c.spans = false;
            c.request_ids = false;
            c.propagation = false;
        })
    }

    /// Turns request and correlation ids on or off (default on).
    pub fn request_ids(self, on: bool) -> Self {
        self.edit(|c| c.request_ids = on)
    }

    /// Turns the extraction of the caller's `traceparent`, `tracestate` and `baggage` on or off
    /// (default on). Off, every request starts a new trace.
    pub fn propagation(self, on: bool) -> Self {
        self.edit(|c| c.propagation = on)
    }

    /// Turns span creation on or off (default on).
    pub fn spans(self, on: bool) -> Self {
        self.edit(|c| c.spans = on)
    }

    /// Turns metrics on or off (default on).
    pub fn metrics(self, on: bool) -> Self {
        self.edit(|c| c.metrics = on)
    }

    /// Paths (exact) that get no span (default `/healthz`, `/readyz`, `/metrics`).
    pub fn skip_spans_for<I: IntoIterator<Item = S>, S: Into<String>>(self, paths: I) -> Self {
        self.edit(|c| c.skip_spans = paths.into_iter().map(Into::into).collect())
    }

    /// Paths (exact) that are not counted in metrics (default `/healthz`, `/readyz`, `/metrics`).
    pub fn skip_metrics_for<I: IntoIterator<Item = S>, S: Into<String>>(self, paths: I) -> Self {
        self.edit(|c| c.skip_metrics = paths.into_iter().map(Into::into).collect())
    }

    /// Writes one log line per request, when it ends (default off): at `INFO` with the target
    /// `obs_http::access`, the fields `method`, `route` (the template, `unmatched` when none),
    /// `status`, `latency_ms` and `bytes` (response body), inside the request's context, so the
    /// line carries `trace_id`, `span_id`, `correlation_id` and `request_id` as other log lines
    /// of the request do. Filter it like any target (`RUST_LOG=info,obs_http::access=off`).
    ///
    /// Off, it costs one branch per request. `/healthz`, `/readyz` and `/metrics` are left out
    /// by default ([`HttpLayer::skip_access_log_for`]).
    pub fn access_log(self, on: bool) -> Self {
        self.edit(|c| c.access_log = on)
    }

    /// Paths (exact) that get no access log line (default `/healthz`, `/readyz`, `/metrics`).
    pub fn skip_access_log_for<I: IntoIterator<Item = S>, S: Into<String>>(self, paths: I) -> Self {
        self.edit(|c| c.skip_access_log = paths.into_iter().map(Into::into).collect())
    }

    /// Whether responses carry `traceparent` so a caller can find the trace (default on).
    pub fn response_traceparent(self, on: bool) -> Self {
        self.edit(|c| c.response_traceparent = on)
    }

    /// Whether responses carry the W3C Trace Context Level 2 `traceresponse` header (default
    /// off): `00-<trace id>-<the server span's id>-<flags>`, so a caller learns which span
    /// handled its request and whether it was sampled (obs-http's [`crate::ClientLayer`] reads it
    /// into a [`TraceResponse`](obs_core::propagation::traceresponse::TraceResponse)). Written
    /// only for a request that has a span of this layer, never with the caller's ids.
    ///
    /// ```
    /// let layer = obs_http::HttpLayer::new().traceresponse(true);
    /// ```
    pub fn traceresponse(self, on: bool) -> Self {
        self.edit(|c| c.traceresponse = on)
    }

    /// Trusts `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded` for `client.address` and
    /// `url.scheme` (default off: only when a trusted proxy sets them).
    pub fn trust_forwarded_headers(self, trust: bool) -> Self {
        self.edit(|c| c.trust_forwarded = trust)
    }

    /// Records a request header as `http.request.header.<name>`. Sensitive headers are still
    /// recorded as `[REDACTED]`.
    pub fn record_request_header(self, name: HeaderName) -> Self {
        self.edit(|c| c.request_headers.push(name))
    }

    /// Records a response header as `http.response.header.<name>`, redacted like request headers.
    pub fn record_response_header(self, name: HeaderName) -> Self {
        self.edit(|c| c.response_headers.push(name))
    }

    /// Reads the user of each request from its extensions (type `T`) for `user.id`, `user.roles`
    /// and role-based sampling.
    pub fn user<T: ObsUser>(self) -> Self {
        self.edit(|c| c.user = Some(reader::<T>()))
    }

    /// Samples `ratio` of the requests of users with `role`, whatever the configured sampler says.
    pub fn sample_role(self, role: impl Into<String>, ratio: f64) -> Self {
        self.edit(|c| c.role_sampling.push((role.into(), ratio)))
    }

    /// A per-request sampling ratio; `None` leaves the decision to the configured sampler. Checked
    /// before the role ratios.
    pub fn sampler(
        self,
        sampler: impl Fn(&RequestHead<'_>) -> Option<f64> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|c| c.sampler = Some(Arc::new(sampler)))
    }

    /// Responses keep the inner service's body type, in a [`ResponseBody`](super::ResponseBody)
    /// that counts it, instead of axum's `Body`: for plain hyper and other tower servers, whose
    /// bodies then are never boxed. axum users keep the default: `Router::layer` boxes any other
    /// body type into its own.
    ///
    /// ```
    /// use obs_http::server::ResponseBody;
    /// use tower::{Layer, service_fn};
    ///
    /// let app = service_fn(|_: http::Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
    /// });
    /// let service = obs_http::HttpLayer::new().inner_body().layer(app);
    /// # fn check<S: tower::Service<http::Request<String>, Response = http::Response<ResponseBody<String>>>>(_: S) {}
    /// # check(service);
    /// ```
    pub fn inner_body(self) -> HttpLayer<InnerBody> {
        HttpLayer {
            config: self.config,
            kind: PhantomData,
        }
    }

    /// The route of a request that axum did not route (plain hyper, another tower router), for
    /// the span name, `http.route` and the `route` label; `None` leaves it `unmatched`.
    ///
    /// Asked only when the request has no axum `MatchedPath` and no
    /// [`Route`](crate::server::Route) extension. Return templates (`/users/{id}`), never raw
    /// paths: each distinct route is a metric series and an interned span name.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use obs_http::HttpLayer;
    ///
    /// let layer = HttpLayer::new().route_with(|head| match head.uri.path() {
    ///     "/health" => Some(Cow::Borrowed("/health")),
    ///     path if path.starts_with("/users/") => Some(Cow::Borrowed("/users/{id}")),
    ///     _ => None,
    /// });
    /// ```
    pub fn route_with(
        self,
        route: impl Fn(&RequestHead<'_>) -> Option<Cow<'static, str>> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|c| c.route = Some(Arc::new(route)))
    }
}

impl<S, K> Layer<S> for HttpLayer<K> {
    type Service = HttpService<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpService::new(inner, self.config.clone())
    }
}
