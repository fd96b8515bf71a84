//! [`RequestSpan`]: the server span of the request being handled, for the application's own
//! attributes (tenant, plan, user id).

use std::convert::Infallible;
use std::fmt;

use axum::extract::FromRequestParts;
use http::request::Parts;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, Key, KeyValue, Value};

/// The context of a sampled server span, carried in the request's context so that code nested
/// in the application's own `tracing` spans still finds the request's span.
#[derive(Clone)]
pub(crate) struct ServerSpan(pub(crate) Context);

/// The server span [`HttpLayer`](crate::HttpLayer) opened for the request being handled.
///
/// Take it as a handler argument (an axum extractor that never fails) or call
/// [`RequestSpan::current`] anywhere inside the request, also inside your own `tracing` spans,
/// and set attributes on the request's span: keys and values are string literals, `String`s,
/// integers, floats or booleans, so no `opentelemetry` dependency is needed. Outside a request,
/// or for a request that is not sampled, it is a no-op that costs nothing.
///
/// Attribute values are exported as given: never put secrets or personal data in them.
///
/// ```
/// use axum::{routing::get, Router};
/// use obs_http::server::RequestSpan;
///
/// async fn handler(span: RequestSpan) -> &'static str {
///     span.set_attribute("tenant", "acme");
///     span.set_attribute("plan.seats", 25);
///     "ok"
/// }
///
/// async fn deep_inside() {
///     RequestSpan::current().set_attribute("cache.hit", true);
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(handler))
///     .layer(obs_http::HttpLayer::new());
/// ```
#[derive(Clone, Default)]
pub struct RequestSpan(Option<Context>);

impl RequestSpan {
    /// The span of the request whose handler is running on this task; a no-op outside one.
    pub fn current() -> Self {
        Self(Context::map_current(|cx| {
            cx.get::<ServerSpan>().map(|span| span.0.clone())
        }))
    }

    /// Whether the span records (the request was sampled): skip building costly values if not.
    pub fn is_recording(&self) -> bool {
        self.0.is_some()
    }

    /// Sets an attribute on the request's span, replacing one of the same key.
    pub fn set_attribute(&self, key: impl Into<Key>, value: impl Into<Value>) {
        if let Some(cx) = &self.0 {
            cx.span()
                .set_attribute(KeyValue::new(key.into(), value.into()));
        }
    }
}

impl fmt::Debug for RequestSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSpan")
            .field("recording", &self.is_recording())
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestSpan {
    type Rejection = Infallible;

    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::current())
    }
}
