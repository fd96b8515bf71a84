//! One pass over the request headers for what the layer reads: the ids, the trace context, and
//! the headers a span and the size metric read (`host`, `user-agent`, `content-length`).
//!
//! Looking up `x-request-id`, `x-correlation-id`, `traceparent`, `tracestate`, `baggage` and the
//! others one by one hashes each name and probes the map; a request carries a
//! handful of headers, and comparing their names once is cheaper. A request with many headers
//! is looked up as before.

use http::{HeaderMap, HeaderName, HeaderValue, header};
use obs_core::propagation::W3CPropagator;
use opentelemetry::Context;

use super::request_id::{X_CORRELATION_ID, X_REQUEST_ID};

/// Beyond this many header values, hashed lookups are cheaper than comparing every name.
const MAX_SCAN: usize = 24;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// The request headers the layer reads.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Found<'a> {
    /// The first `x-request-id`.
    pub(crate) request_id: Option<&'a HeaderValue>,
    /// The first `x-correlation-id`.
    pub(crate) correlation_id: Option<&'a HeaderValue>,
    /// The first `traceparent`, and how many there are (more than one is invalid).
    traceparent: Option<&'a HeaderValue>,
    traceparents: usize,
    /// Whether any `tracestate` or `baggage` is present (then the propagator reads them all).
    more_context: bool,
    /// The first `host`.
    pub(crate) host: Option<&'a HeaderValue>,
    /// The first `user-agent`.
    pub(crate) user_agent: Option<&'a HeaderValue>,
    /// The first `content-length`.
    pub(crate) content_length: Option<&'a HeaderValue>,
}

impl<'a> Found<'a> {
    pub(crate) fn scan(headers: &'a HeaderMap) -> Self {
        if headers.len() > MAX_SCAN {
            return Self {
                request_id: headers.get(X_REQUEST_ID),
                correlation_id: headers.get(X_CORRELATION_ID),
                traceparent: headers.get(TRACEPARENT),
                traceparents: headers.get_all(TRACEPARENT).iter().count(),
                more_context: headers.contains_key(TRACESTATE) || headers.contains_key(BAGGAGE),
                host: headers.get(header::HOST),
                user_agent: headers.get(header::USER_AGENT),
                content_length: headers.get(header::CONTENT_LENGTH),
            };
        }
        let mut found = Self::default();
        for (name, value) in headers {
            match name.as_str() {
                "x-request-id" => {
                    found.request_id.get_or_insert(value);
                }
                "x-correlation-id" => {
                    found.correlation_id.get_or_insert(value);
                }
                "traceparent" => {
                    found.traceparents += 1;
                    found.traceparent.get_or_insert(value);
                }
                "tracestate" | "baggage" => found.more_context = true,
                "host" => {
                    found.host.get_or_insert(value);
                }
                "user-agent" => {
                    found.user_agent.get_or_insert(value);
                }
                "content-length" => {
                    found.content_length.get_or_insert(value);
                }
                _ => {}
            }
        }
        found
    }

    /// The caller's context: its `traceparent` when there is exactly one and it is valid.
    pub(crate) fn context(&self, headers: &HeaderMap) -> Context {
        if self.more_context {
            // `tracestate` and `baggage` may repeat and are joined: the propagator reads them.
            return W3CPropagator::new().extract_headers(&Context::new(), headers);
        }
        let lone = self
            .traceparent
            .filter(|_| self.traceparents == 1)
            .map(HeaderValue::as_bytes);
        obs_core::__private::extract_traceparent(&Context::new(), lone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt as _;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn map(pairs: &[(&'static str, &str)], filler: usize) -> HeaderMap {
        let mut map = HeaderMap::new();
        for i in 0..filler {
            map.append(
                HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn one_pass_agrees_with_lookups() {
        let cases: [&[(&'static str, &str)]; 8] = [
            &[],
            &[("traceparent", PARENT)],
            &[("traceparent", PARENT), ("traceparent", PARENT)],
            &[("traceparent", "00-bad")],
            &[
                ("traceparent", PARENT),
                ("tracestate", "a=1"),
                ("tracestate", "b=2"),
            ],
            &[("baggage", "k=v"), ("traceparent", PARENT)],
            &[
                ("x-request-id", "r1"),
                ("x-request-id", "r2"),
                ("x-correlation-id", "c1"),
                ("traceparent", PARENT),
            ],
            &[
                ("host", "a.example"),
                ("user-agent", "ua/1"),
                ("content-length", "12"),
                ("host", "b.example"),
            ],
        ];
        for pairs in cases {
            // Few headers (scanned) and many (looked up) must read the same.
            for filler in [0, MAX_SCAN + 1] {
                let headers = map(pairs, filler);
                let found = Found::scan(&headers);
                assert_eq!(found.request_id, headers.get(X_REQUEST_ID), "{pairs:?}");
                assert_eq!(
                    found.correlation_id,
                    headers.get(X_CORRELATION_ID),
                    "{pairs:?}"
                );
                assert_eq!(found.host, headers.get(header::HOST), "{pairs:?}");
                assert_eq!(found.user_agent, headers.get(header::USER_AGENT));
                assert_eq!(found.content_length, headers.get(header::CONTENT_LENGTH));
                let fast = found.context(&headers);
                let slow = W3CPropagator::new().extract_headers(&Context::new(), &headers);
                assert_eq!(
                    fast.span().span_context(),
                    slow.span().span_context(),
                    "{pairs:?} with {filler} more"
                );
                assert_eq!(
                    opentelemetry::baggage::BaggageExt::baggage(&fast).len(),
                    opentelemetry::baggage::BaggageExt::baggage(&slow).len()
                );
            }
        }
    }
}
