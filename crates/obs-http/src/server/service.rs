//! [`HttpService`]: opens the request's span and ids, then calls the inner service.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{HeaderValue, Request, Response};
use obs_core::__private::sampling_scope;
use obs_core::sampler::SamplingOverride;
use opentelemetry::trace::SpanKind;
use tower_service::Service;

use super::attributes;
use super::body::{AxumBody, BodyKind};
use super::future::{Ids, ResponseFuture};
use super::handles::{Resolved, RouteSlot, method_label};
use super::layer::{Config, RequestHead};
use super::request_id::{self, RequestId};
use super::route;
use super::scan::Found;
use super::span::ServerSpan;
use super::state::{Access, RequestState};
use super::unmatched::SeenUnmatched;

/// The service [`crate::HttpLayer`] wraps around the application.
///
/// Its responses carry axum's `Body` ([`AxumBody`], the default), or with
/// [`HttpLayer::inner_body`](crate::HttpLayer::inner_body) a [`ResponseBody`](super::ResponseBody)
/// around the inner service's own body ([`InnerBody`](super::InnerBody)). A small body of known
/// length (a buffered `String`, JSON, an empty body) passes unchanged and the request's span and
/// metrics finish with the response head, unless a [`crate::server::BodyCaptureLayer`] records
/// the bodies on the span; any other body is counted as it is read and the request finishes when
/// it ends or is dropped.
pub struct HttpService<S, K = AxumBody> {
    inner: S,
    shared: Arc<Shared>,
    kind: PhantomData<fn() -> K>,
}

impl<S: Clone, K> Clone for HttpService<S, K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            kind: PhantomData,
        }
    }
}

/// What the clones of one wrapped service share: the layer's configuration and the route slot.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) slot: RouteSlot,
}

impl<S, K> std::fmt::Debug for HttpService<S, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpService").finish_non_exhaustive()
    }
}

impl<S, K> HttpService<S, K> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        let slot = RouteSlot::new();
        Self {
            inner,
            shared: Arc::new(Shared { config, slot }),
            kind: PhantomData,
        }
    }
}

impl<S, ReqB, ResB, K> Service<Request<ReqB>> for HttpService<S, K>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResB::Error: Into<axum::BoxError>,
    K: BodyKind,
{
    type Response = Response<K::Body<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, K>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let start = Instant::now();
        let config = &self.shared.config;
        let path = req.uri().path();
        let want_span = config.spans && !config.skip_spans.iter().any(|p| p == path);
        let want_metrics = config.metrics && !config.skip_metrics.iter().any(|p| p == path);
        let want_access = config.access_log && !config.skip_access_log.iter().any(|p| p == path);
        let method = method_label(req.method());
        // One pass over the headers for everything read below, unless only metrics are on.
        let found = (config.request_ids || config.propagation || want_span)
            .then(|| Found::scan(req.headers()));
        let ids = found
            .as_ref()
            .filter(|_| config.request_ids)
            .map(request_ids);

        // The caller's context; a malformed header yields none and the request goes on as a root.
        let mut parent = found
            .as_ref()
            .filter(|_| config.propagation)
            .map(|found| found.context(req.headers()));
        // Log lines carry the request id too when the caller's correlation id is another.
        let correlation = ids.as_ref().and_then(|(r, c)| {
            let id = obs_core::trace::CorrelationId::from_header(c)?;
            Some(if r == c {
                id
            } else {
                id.with_request_id(r.clone())
            })
        });
        if let Some(id) = &correlation {
            let cx = parent.take().unwrap_or_default();
            parent = Some(id.clone().attach_to(&cx));
        }

        let request_size = match &found {
            Some(found) => found.content_length.and_then(attributes::parse_length),
            None => attributes::content_length(req.headers()),
        };

        let tracer = obs_core::trace::tracer().filter(|_| want_span);
        let matched = req.extensions().get::<MatchedPath>();
        // axum's route first; else the application's, for routers axum does not run.
        let supplied = matched
            .is_none()
            .then(|| route::supplied(config, &req))
            .flatten();
        let has_route = matched.is_some() || supplied.is_some();
        let resolved = (want_metrics || want_access || tracer.is_some()).then(|| match &supplied {
            Some(route) => Resolved::Owned(config.handles.get(method, route)),
            None => self.shared.slot.resolve(&config.handles, method, matched),
        });
        let handles = resolved.as_ref().and_then(|r| self.shared.slot.handles(r));
        let mut recording = false;
        if tracer.is_some() {
            let user = config.user.and_then(|read| read(req.extensions()));
            let base = parent.take().unwrap_or_default();
            // Built only when the span is sampled, in one `Vec` the SDK keeps.
            let request_attributes = || {
                let str_ids =
                    ids.as_ref()
                        .zip(correlation.as_ref())
                        .map(|((r, c), id)| attributes::Ids {
                            request: r,
                            same: r == c,
                            correlation: id,
                        });
                attributes::request(
                    &req,
                    config,
                    attributes::Read {
                        route: handles.filter(|_| has_route).map(|h| h.route()),
                        found: found.as_ref(),
                        request_size,
                        ids: str_ids,
                        user: user.as_ref(),
                    },
                )
            };
            let start_span = || {
                let name = handles.map_or(Cow::Borrowed("HTTP"), |h| h.span_name());
                obs_core::__private::start_span(&base, name, SpanKind::Server, request_attributes)
            };
            // The override is scoped to this thread while the span starts: no Context allocation.
            let started = match sampling_override(config, &req, user.as_ref()) {
                Some(ratio) => sampling_scope(SamplingOverride::ratio(ratio), start_span),
                None => start_span(),
            };
            parent = Some(match started {
                Some(started) => {
                    recording = started.recording;
                    if recording {
                        // For `RequestSpan`, also from inside the application's own spans.
                        let server = ServerSpan(started.cx.clone());
                        started.cx.with_value(server)
                    } else {
                        started.cx
                    }
                }
                None => base,
            });
        }

        let access = want_access
            .then(|| {
                handles.map(|h| {
                    Box::new(Access {
                        method,
                        route: h.route().clone(),
                    })
                })
            })
            .flatten();
        let resolved = resolved.filter(|_| want_metrics);
        let state = RequestState::new(
            parent,
            recording,
            start,
            resolved,
            self.shared.clone(),
            request_size,
            access,
        );
        if let Some(id) = correlation {
            req.extensions_mut().insert(id);
        }
        let ids = Ids {
            // Only a span of ours may be named on the response, never the caller's.
            traceparent: config.response_traceparent && tracer.is_some(),
            traceresponse: config.traceresponse && tracer.is_some(),
            ids: ids.map(|(request, correlation)| {
                req.extensions_mut()
                    .insert(RequestId::from_value(request.clone()));
                (request, correlation)
            }),
        };

        if !has_route {
            // An unmatched request is this layer's: the admin router's fallback must not count it
            // again (see `unmatched`). Matched requests, the hot path, carry no marker.
            req.extensions_mut().insert(SeenUnmatched);
        }
        let called = {
            let _attached = state.cx.as_ref().map(|cx| cx.clone().attach());
            catch_unwind(AssertUnwindSafe(|| self.inner.call(req)))
        };
        ResponseFuture::new(called, state, ids)
    }
}

/// The request id (the caller's if valid, else new) and the correlation id (the caller's if valid,
/// else the request id).
fn request_ids(found: &Found<'_>) -> (HeaderValue, HeaderValue) {
    // Reused ids share the request's bytes; only a generated id allocates.
    let valid = |value: Option<&HeaderValue>| value.and_then(request_id::valid).cloned();
    let request = valid(found.request_id).unwrap_or_else(request_id::generate);
    let correlation = valid(found.correlation_id).unwrap_or_else(|| request.clone());
    (request, correlation)
}

/// The per-request sampling ratio: the user's sampler first, then the role table.
fn sampling_override<B>(
    config: &Config,
    req: &Request<B>,
    user: Option<&(Option<String>, Option<String>)>,
) -> Option<f64> {
    if let Some(sampler) = &config.sampler {
        let head = RequestHead {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
        };
        if let Some(ratio) = sampler(&head) {
            return Some(ratio);
        }
    }
    let role = user.and_then(|(_, role)| role.as_deref())?;
    config
        .role_sampling
        .iter()
        .find(|(r, _)| r == role)
        .map(|(_, ratio)| *ratio)
}
