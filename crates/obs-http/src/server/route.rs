//! The route of a request when axum's router does not give it: a [`Route`] extension, or the
//! extractor given to [`HttpLayer::route_with`](crate::HttpLayer::route_with).

use std::borrow::Cow;
use std::fmt;

use http::Request;

use super::layer::{Config, RequestHead};

/// The route template of a request, for servers that do not route with axum (plain hyper, other
/// tower routers): put it in the request's extensions before [`HttpLayer`](crate::HttpLayer)
/// sees the request, and the span name, the `http.route` attribute and the `route` label use it.
///
/// axum's `MatchedPath` wins when there is one. Give templates (`/users/{id}`), never raw paths:
/// each distinct route is a metric series.
///
/// ```
/// use obs_http::server::Route;
///
/// let mut request = http::Request::get("/users/42").body(()).unwrap();
/// request.extensions_mut().insert(Route::new("/users/{id}"));
/// assert_eq!(request.extensions().get::<Route>().unwrap().as_str(), "/users/{id}");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Route(Cow<'static, str>);

impl Route {
    /// A route template.
    pub fn new(template: impl Into<Cow<'static, str>>) -> Self {
        Self(template.into())
    }

    /// The template.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Route").field(&self.as_str()).finish()
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The route a request without axum's `MatchedPath` brings: its [`Route`] extension, else the
/// layer's extractor's answer.
pub(crate) fn supplied<B>(config: &Config, req: &Request<B>) -> Option<Cow<'static, str>> {
    if let Some(route) = req.extensions().get::<Route>() {
        return Some(route.0.clone());
    }
    let extract = config.route.as_ref()?;
    extract(&RequestHead {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
        extensions: req.extensions(),
    })
}
