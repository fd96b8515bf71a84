//! The `method` label and `http.request.method` value, shared by the server and client layers.

use http::Method;

/// The methods named by the OpenTelemetry HTTP conventions, then `_OTHER` for any other method
/// (bounded cardinality).
pub(crate) const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

/// The index of a method in [`METHODS`].
pub(crate) fn index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

/// A known method's own name, or `_OTHER`.
pub(crate) fn label(method: &Method) -> &'static str {
    METHODS[index(method)]
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(super::label(&http::Method::GET), "GET");
        assert_eq!(
            super::label(&http::Method::from_bytes(b"BREW").unwrap()),
            "_OTHER"
        );
    }
}
