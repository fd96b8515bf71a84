//! Request and correlation ids: reused when the caller sent a valid one, generated otherwise.

use std::fmt;

use http::HeaderValue;

use http::HeaderName;

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The correlation id header.
pub const X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");
/// The `traceparent` header, as a name built once.
pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The longest id accepted from a caller.
pub const MAX_ID_LEN: usize = 128;

/// The id of one request, in the request's extensions for handlers.
///
/// ```
/// use axum::{routing::get, Extension, Router};
/// use obs_http::RequestId;
///
/// async fn handler(Extension(id): Extension<RequestId>) -> String {
///     format!("request {id}")
/// }
/// let app: Router = Router::new().route("/", get(handler)).layer(obs_http::HttpLayer::new());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

/// The correlation id of a request (the caller's `X-Correlation-ID`, or the request id), in the
/// request's extensions for handlers: obs-core's, the one log lines and the client layer read.
pub use obs_core::trace::CorrelationId;

macro_rules! id_impls {
    ($t:ident) => {
        impl $t {
            /// The id.
            pub fn as_str(&self) -> &str {
                // Ids are validated (or generated) as visible ASCII.
                self.0.to_str().unwrap_or_default()
            }

            /// The id as a header value (cheap to clone: the bytes are shared).
            pub fn header_value(&self) -> &HeaderValue {
                &self.0
            }

            pub(crate) fn from_value(id: HeaderValue) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($t)).field(&self.as_str()).finish()
            }
        }
    };
}

id_impls!(RequestId);

impl RequestId {
    /// A new request id, as the layer makes one for a request that brings none: 128 random bits
    /// as 32 lowercase hex characters, in one shared allocation (clones share it).
    ///
    /// ```
    /// let id = obs_http::RequestId::generate();
    /// assert_eq!(id.as_str().len(), 32);
    /// assert_ne!(id, obs_http::RequestId::generate());
    /// ```
    pub fn generate() -> Self {
        Self(generate())
    }
}

/// Whether a caller-supplied id may be reused: 1 to 128 characters of `A-Z a-z 0-9 - _ . : /`.
pub(crate) fn valid(value: &HeaderValue) -> Option<&HeaderValue> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'));
    ok.then_some(value)
}

/// A new id: 128 random bits as 32 lowercase hex characters.
pub(crate) fn generate() -> HeaderValue {
    let hex = obs_core::__private::hex_u128(rand::random());
    // One allocation that every clone (extensions, response headers, span) shares; a copied
    // slice would allocate again on its first clone.
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(hex))
        .unwrap_or(HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_only_safe_bounded_ids() {
        let ok = ["abc", "req-1_2.3:4/5", &"a".repeat(128)];
        for id in ok {
            let v = HeaderValue::from_str(id).unwrap();
            assert_eq!(valid(&v), Some(&v));
        }
        let long = "a".repeat(129);
        let bad = [
            "",
            "has space",
            "quote\"",
            "semi;colon",
            "<script>",
            long.as_str(),
        ];
        for id in bad {
            assert_eq!(valid(&HeaderValue::from_str(id).unwrap()), None, "{id:?}");
        }
        assert_eq!(
            valid(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()),
            None
        );
    }

    #[test]
    fn generated_ids_are_unique_hex() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.as_bytes().iter().all(|c| c.is_ascii_hexdigit()));
    }

    /// One correlation id type: the handler's extension is the value log lines and the client
    /// layer read from the context.
    #[test]
    fn the_correlation_id_is_obs_cores() {
        let header = HeaderValue::from_static("order-7");
        let from_core: obs_core::trace::CorrelationId =
            CorrelationId::from_header(&header).unwrap();
        assert_eq!(from_core, CorrelationId::new("order-7"));
        assert_eq!(from_core.to_string(), "order-7");
    }
}
