//! Redaction: the one place that decides what may leave the process.
//!
//! Values of sensitive headers, sensitive query parameters and URL credentials become
//! [`REDACTED`]; names stay, so a trace still shows that a header or parameter was there.
//!
//! ```
//! use obs_core::redact;
//!
//! assert_eq!(
//!     redact::url("https://bob:hunter2@api.example.com/cb?code=abc&state=1"),
//!     "https://[REDACTED]@api.example.com/cb?code=[REDACTED]&state=1"
//! );
//! assert!(redact::is_sensitive_header("X-Session-Id"));
//! assert!(!redact::is_sensitive_header("Accept"));
//! ```

use std::borrow::Cow;
use std::sync::OnceLock;

use http::HeaderMap;

mod body;
mod text;

pub use body::{body, is_textual};
pub use text::text;

/// What a redacted value becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Header names that are always sensitive.
const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Substrings that make any header name sensitive.
const SENSITIVE_HEADER_PARTS: &[&str] = &["token", "secret", "password", "session", "key"];

/// Query parameter names that are always sensitive (compared without case).
const SENSITIVE_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "code",
    "api_key",
    "apikey",
];

/// Substrings that make any query parameter name sensitive.
const SENSITIVE_PARAM_PARTS: &[&str] = &["token", "secret", "password"];

static EXTRA_PARAMS: OnceLock<Vec<String>> = OnceLock::new();

/// Adds query parameter names (lowercase) to the sensitive list; `init` calls it once.
pub(crate) fn set_extra_sensitive_params(names: Vec<String>) {
    let _ = EXTRA_PARAMS.set(names);
}

pub(super) fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether a header's value must not leave the process: Authorization, Proxy-Authorization, Cookie,
/// Set-Cookie, X-Api-Key, and any name containing token, secret, password, session or key.
pub fn is_sensitive_header(name: &str) -> bool {
    SENSITIVE_HEADERS
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
        || SENSITIVE_HEADER_PARTS
            .iter()
            .any(|p| contains_ignore_case(name, p))
}

/// Whether a query parameter's value must not leave the process.
pub fn is_sensitive_param(name: &str) -> bool {
    SENSITIVE_PARAMS
        .iter()
        .any(|p| name.eq_ignore_ascii_case(p))
        || SENSITIVE_PARAM_PARTS
            .iter()
            .any(|p| contains_ignore_case(name, p))
        || EXTRA_PARAMS
            .get()
            .is_some_and(|extra| extra.iter().any(|p| name.eq_ignore_ascii_case(p)))
}

/// A header's value as it may be recorded: [`REDACTED`] for sensitive headers, the value for others
/// (or a placeholder when it is not visible ASCII).
pub fn header_value<'a>(name: &str, value: &'a http::HeaderValue) -> Cow<'a, str> {
    if is_sensitive_header(name) {
        Cow::Borrowed(REDACTED)
    } else {
        match value.to_str() {
            Ok(v) => Cow::Borrowed(v),
            Err(_) => Cow::Borrowed("[NON-ASCII]"),
        }
    }
}

/// Every header as `(name, value)` pairs that may be recorded.
pub fn headers(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                header_value(name.as_str(), value).into_owned(),
            )
        })
        .collect()
}

/// A query string (without `?`) with sensitive parameter values replaced. Borrows when nothing
/// needed redacting.
pub fn query(query: &str) -> Cow<'_, str> {
    let needs = query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        is_sensitive_param(&decode_name(name))
    });
    if !needs {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if is_sensitive_param(&decode_name(name)) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

/// Query names may be percent-encoded or use `+`; compare their decoded form.
fn decode_name(name: &str) -> Cow<'_, str> {
    if name.contains(['%', '+']) {
        let spaced = name.replace('+', " ");
        Cow::Owned(crate::config::percent_decode(&spaced).unwrap_or(spaced))
    } else {
        Cow::Borrowed(name)
    }
}

/// A URL (absolute, or a path with a query) with credentials (`user:pass@`) and sensitive query
/// values replaced. The fragment is dropped, as OpenTelemetry's `url.full` requires.
pub fn url(url: &str) -> Cow<'_, str> {
    let without_fragment = url.split_once('#').map_or(url, |(u, _)| u);
    let (before_query, query_part) = match without_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (without_fragment, None),
    };
    // Credentials sit between "scheme://" and the first '@' of the authority.
    let mut head = Cow::Borrowed(before_query);
    if let Some(scheme_end) = before_query.find("://") {
        let authority_start = scheme_end + 3;
        let rest = &before_query[authority_start..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            head = Cow::Owned(format!(
                "{}{}{}",
                &before_query[..authority_start],
                REDACTED,
                &rest[at..]
            ));
        }
    }
    let redacted_query = query_part.map(query);
    let unchanged = matches!(head, Cow::Borrowed(_))
        && matches!(redacted_query, None | Some(Cow::Borrowed(_)))
        && without_fragment.len() == url.len();
    if unchanged {
        return Cow::Borrowed(url);
    }
    let mut out = head.into_owned();
    if let Some(q) = redacted_query {
        out.push('?');
        out.push_str(&q);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn headers_table() {
        let cases = [
            ("Authorization", true),
            ("authorization", true),
            ("Proxy-Authorization", true),
            ("Cookie", true),
            ("Set-Cookie", true),
            ("X-Api-Key", true),
            ("X-Auth-Token", true),
            ("X-Client-Secret", true),
            ("X-Password", true),
            ("X-Session-Id", true),
            ("Sec-WebSocket-Key", true),
            ("X-KEY-ID", true),
            ("Accept", false),
            ("Content-Type", false),
            ("User-Agent", false),
            ("X-Request-Id", false),
            ("Keep-Alive", false),
            ("traceparent", false),
        ];
        for (name, sensitive) in cases {
            assert_eq!(is_sensitive_header(name), sensitive, "{name}");
        }
        let mut map = HeaderMap::new();
        map.insert("authorization", HeaderValue::from_static("Bearer abc.def"));
        map.insert("accept", HeaderValue::from_static("text/html"));
        let pairs = headers(&map);
        assert!(pairs.contains(&("authorization".into(), REDACTED.into())));
        assert!(pairs.contains(&("accept".into(), "text/html".into())));
    }

    #[test]
    fn query_table() {
        let cases = [
            ("a=1&b=2", "a=1&b=2"),
            ("token=abc", "token=[REDACTED]"),
            ("access_token=abc&x=1", "access_token=[REDACTED]&x=1"),
            ("refresh_token=r", "refresh_token=[REDACTED]"),
            ("PASSWORD=p", "PASSWORD=[REDACTED]"),
            ("secret=s", "secret=[REDACTED]"),
            ("signature=s&sig=t", "signature=[REDACTED]&sig=[REDACTED]"),
            (
                "X-Amz-Signature=s&X-Amz-Credential=c&X-Amz-Date=d",
                "X-Amz-Signature=[REDACTED]&X-Amz-Credential=[REDACTED]&X-Amz-Date=d",
            ),
            ("code=c&state=s", "code=[REDACTED]&state=s"),
            ("api_key=k", "api_key=[REDACTED]"),
            ("client_secret=x", "client_secret=[REDACTED]"),
            ("my_token_v2=x", "my_token_v2=[REDACTED]"),
            ("acc%65ss_token=x", "acc%65ss_token=[REDACTED]"),
            ("token", "token"),
            ("", ""),
            ("a=1&&token=x", "a=1&&token=[REDACTED]"),
            ("zipcode=1", "zipcode=1"),
        ];
        for (input, expected) in cases {
            assert_eq!(query(input), expected, "{input}");
        }
        assert!(matches!(query("a=1"), Cow::Borrowed(_)));
    }

    #[test]
    fn url_table() {
        let cases = [
            ("https://example.com/a?b=1", "https://example.com/a?b=1"),
            (
                "https://user:pass@example.com/a",
                "https://[REDACTED]@example.com/a",
            ),
            (
                "postgres://app:s3cret@db:5432/app?sslmode=require&password=x",
                "postgres://[REDACTED]@db:5432/app?sslmode=require&password=[REDACTED]",
            ),
            (
                "https://example.com/cb?code=abc#frag",
                "https://example.com/cb?code=[REDACTED]",
            ),
            ("https://example.com/p@th", "https://example.com/p@th"),
            ("/search?q=x&token=t", "/search?q=x&token=[REDACTED]"),
            (
                "redis://:pw@127.0.0.1:6379/0",
                "redis://[REDACTED]@127.0.0.1:6379/0",
            ),
            ("https://example.com/#x", "https://example.com/"),
        ];
        for (input, expected) in cases {
            assert_eq!(url(input), expected, "{input}");
        }
    }
}
