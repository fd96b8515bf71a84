//! Redaction: the one place that decides what may leave the process.
//!
//! Values of sensitive headers, parameters and fields, URL credentials, and text shaped like a
//! credential become [`REDACTED`]; names stay, so a trace still shows that a header or parameter
//! was there. obs applies it to span attributes and events (at export), log lines (text and
//! JSON), captured bodies, panic messages and URLs; crates that record other text (SQL, Redis
//! commands, connection strings) use the same pieces.
//!
//! # The stable pieces
//!
//! | piece | for |
//! |---|---|
//! | [`is_sensitive_name`] | the name policy: log fields, JSON keys, span attributes, `key=value` |
//! | [`is_sensitive_header`], [`header_value`], [`headers`] | the header policy |
//! | [`is_sensitive_param`], [`query`] | the query and form parameter policy |
//! | [`looks_like_credential`] | the value policy: JWTs, `Bearer …`, token prefixes, long hex or base64 |
//! | [`url`], [`url_credentials`] | URLs and connection strings: user information, query, path |
//! | [`text`] | free text: log lines, error and panic messages, plain-text bodies |
//! | [`body`], [`is_textual`] | captured bodies by content type |
//!
//! Their names and signatures are kept stable for obs's other crates; the rules behind them may
//! grow (more names, more shapes), never shrink.
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
//! assert_eq!(redact::query("pwd=x&jwt=y&page=2"), "pwd=[REDACTED]&jwt=[REDACTED]&page=2");
//! assert_eq!(
//!     redact::text("db login failed: password=hunter2 user=app"),
//!     "db login failed: password=[REDACTED] user=app"
//! );
//! ```
//!
//! What is never redacted: trace ids (32 hex digits), span ids (16), UUIDs, and status words
//! (`Unavailable`, `expired`, `denied`) even under a sensitive name; hex is taken for a secret
//! from 40 digits on, or under a sensitive name.

use std::borrow::Cow;

use http::HeaderMap;

mod body;
mod names;
mod spans;
mod text;
mod value;

pub use body::{body, is_textual};
pub use names::{is_sensitive_header, is_sensitive_name, is_sensitive_param};
pub(crate) use spans::redact_spans;
pub use text::text;
pub use value::looks_like_credential;

/// What a redacted value becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Adds names (lowercase) to the sensitive ones; `init` calls it once.
pub(crate) fn set_extra_sensitive_params(names: Vec<String>) {
    names::set_extra(names);
}

/// A header's value as it may be recorded: [`REDACTED`] for sensitive headers
/// ([`is_sensitive_header`]); for others the value with anything shaped like a credential
/// replaced ([`text`]), or a placeholder when it is not visible ASCII.
///
/// ```
/// use http::HeaderValue;
/// use obs_core::redact::header_value;
///
/// assert_eq!(header_value("authorization", &HeaderValue::from_static("Bearer x")), "[REDACTED]");
/// assert_eq!(header_value("x-upstream", &HeaderValue::from_static("Bearer x")), "Bearer [REDACTED]");
/// assert_eq!(header_value("accept", &HeaderValue::from_static("text/html")), "text/html");
/// ```
pub fn header_value<'a>(name: &str, value: &'a http::HeaderValue) -> Cow<'a, str> {
    if is_sensitive_header(name) {
        Cow::Borrowed(REDACTED)
    } else {
        match value.to_str() {
            Ok(v) => text(v),
            Err(_) => Cow::Borrowed("[NON-ASCII]"),
        }
    }
}

/// Every header as `(name, value)` pairs that may be recorded, each value as [`header_value`]
/// gives it.
///
/// ```
/// let mut map = http::HeaderMap::new();
/// map.insert("cookie", http::HeaderValue::from_static("sid=abc"));
/// map.insert("accept", http::HeaderValue::from_static("*/*"));
/// assert_eq!(
///     obs_core::redact::headers(&map),
///     [("cookie".to_owned(), "[REDACTED]".to_owned()), ("accept".to_owned(), "*/*".to_owned())]
/// );
/// ```
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

/// Whether one `name=value` pair of a query or form must be redacted: its name is sensitive
/// ([`is_sensitive_param`]), or its value looks like a credential.
fn secret_pair(pair: &str) -> bool {
    match pair.split_once('=') {
        Some((name, value)) => {
            is_sensitive_param(&decode_name(name))
                || (value != REDACTED && value_is_credential(value))
        }
        None => false,
    }
}

/// A query value that looks like a credential: `Bearer …` (encoded or not), or a shape.
fn value_is_credential(value: &str) -> bool {
    let scheme = |s: &str| {
        value.len() > s.len() + 1
            && value.as_bytes()[..s.len()].eq_ignore_ascii_case(s.as_bytes())
            && matches!(value.as_bytes()[s.len()], b'+' | b' ' | b'%')
    };
    scheme("bearer") || scheme("basic") || looks_like_credential(value)
}

/// A query string (without `?`) with the values of sensitive parameters
/// ([`is_sensitive_param`]) and values that look like credentials ([`looks_like_credential`])
/// replaced; the other pairs stay as they were. Borrows when nothing needed redacting. Form
/// bodies (`application/x-www-form-urlencoded`) use the same rules.
///
/// ```
/// assert_eq!(
///     obs_core::redact::query("q=shoes&session_id=s1&state=da39a3ee5e6b4b0d3255bfef95601890afd80709&page=2"),
///     "q=shoes&session_id=[REDACTED]&state=[REDACTED]&page=2"
/// );
/// ```
pub fn query(query: &str) -> Cow<'_, str> {
    if !query.split('&').any(secret_pair) {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if secret_pair(pair) => {
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

/// A URL or connection string with its user information (`user:pass@`, `:pass@`) replaced; the
/// rest stays as it is. Borrows when there was none.
///
/// ```
/// assert_eq!(
///     obs_core::redact::url_credentials("redis://:s3cret@cache:6379/0"),
///     "redis://[REDACTED]@cache:6379/0"
/// );
/// assert_eq!(obs_core::redact::url_credentials("https://h/p@th"), "https://h/p@th");
/// ```
pub fn url_credentials(url: &str) -> Cow<'_, str> {
    // Credentials sit between "scheme://" and the last '@' of the authority.
    if let Some(scheme_end) = url.find("://") {
        let authority_start = scheme_end + 3;
        let rest = &url[authority_start..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            return Cow::Owned(format!(
                "{}{}{}",
                &url[..authority_start],
                REDACTED,
                &rest[at..]
            ));
        }
    }
    Cow::Borrowed(url)
}

/// A URL (absolute, or a path with a query) with credentials ([`url_credentials`]), sensitive
/// query values ([`query`]) and path segments that look like credentials (a JWT, a long hex or
/// base64 key) replaced. The fragment is dropped, as OpenTelemetry's `url.full` requires.
///
/// ```
/// assert_eq!(
///     obs_core::redact::url(
///         "https://u:p@h/reset/da39a3ee5e6b4b0d3255bfef95601890afd80709?pwd=x&page=2#top"
///     ),
///     "https://[REDACTED]@h/reset/[REDACTED]?pwd=[REDACTED]&page=2"
/// );
/// ```
pub fn url(url: &str) -> Cow<'_, str> {
    let without_fragment = url.split_once('#').map_or(url, |(u, _)| u);
    let (before_query, query_part) = match without_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (without_fragment, None),
    };
    let head = match url_credentials(before_query) {
        Cow::Borrowed(head) => value::replace_shapes(head),
        Cow::Owned(head) => Cow::Owned(value::replace_shapes(&head).into_owned()),
    };
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
