//! The name policy: which header, parameter, field and key names mark their value as secret.

use std::sync::OnceLock;

/// Words that make a part sensitive wherever they appear in it.
const CONTAINED: &[&str] = &[
    "token",
    "secret",
    "pass",
    "key",
    "auth",
    "session",
    "credential",
    "cookie",
];

/// Parts that are sensitive as a whole.
const WHOLE: &[&str] = &["jwt", "pwd", "csrf", "xsrf", "sig"];

/// Prefixes of a part that make it sensitive (`sig*` without `signal`, `signup`, `sign_in`).
const PREFIXES: &[&str] = &["signature", "sigv"];

/// Common words that contain one of [`CONTAINED`] but name nothing secret.
const EXCEPTIONS: &[&str] = &[
    "author",
    "authors",
    "authored",
    "authority",
    "keyboard",
    "keyword",
    "keywords",
    "monkey",
    "hockey",
    "turkey",
    "passenger",
    "passengers",
    "passage",
    "passive",
    "passed",
    "passes",
    "passing",
    "passthrough",
    "compass",
    "bypass",
];

/// Last parts that make a name a measurement of the thing, not the thing itself
/// (`room.session_duration_s`, `token_count`, `key_size`, `session_ttl`).
const MEASURES: &[&str] = &[
    "count", "total", "size", "len", "length", "duration", "ttl", "ms", "s", "secs", "seconds",
    "bytes",
];

/// Whether the last part of `name` is one of [`MEASURES`].
fn names_a_measure(name: &str) -> bool {
    let mut last_is_measure = false;
    any_part(name, |part| {
        last_is_measure = MEASURES.iter().any(|m| part.eq_ignore_ascii_case(m));
        false
    });
    last_is_measure
}

static EXTRA: OnceLock<Vec<String>> = OnceLock::new();

/// Adds names (compared without case) to the sensitive ones; `init` calls it once.
pub(crate) fn set_extra(names: Vec<String>) {
    let _ = EXTRA.set(names);
}

pub(super) fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn sensitive_part(part: &str) -> bool {
    if part.len() < 3 {
        return false;
    }
    if WHOLE.iter().any(|w| part.eq_ignore_ascii_case(w)) {
        return true;
    }
    if PREFIXES.iter().any(|p| {
        part.len() >= p.len() && part.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    }) {
        return true;
    }
    CONTAINED.iter().any(|w| contains_ignore_case(part, w))
        && !EXCEPTIONS.iter().any(|e| part.eq_ignore_ascii_case(e))
}

/// Calls `f` with each part of `name`; stops at the first `true`.
fn any_part(name: &str, mut f: impl FnMut(&str) -> bool) -> bool {
    let bytes = name.as_bytes();
    let mut start = 0;
    for i in 0..=bytes.len() {
        let split = match bytes.get(i) {
            None => true,
            Some(b) if !b.is_ascii_alphanumeric() => true,
            // camelCase: a lowercase letter or digit followed by an uppercase one.
            Some(b) => {
                b.is_ascii_uppercase()
                    && i > start
                    && (bytes[i - 1].is_ascii_lowercase() || bytes[i - 1].is_ascii_digit())
            }
        };
        if split {
            if i > start && f(&name[start..i]) {
                return true;
            }
            // A separator is skipped; an uppercase letter starts the next part.
            start = if bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                i
            } else {
                i + 1
            };
        }
    }
    false
}

/// Whether a value recorded under this name (a log field, a JSON key, a span attribute, a
/// `key=value` pair in text) must not leave the process.
///
/// A name is split into parts (at every character that is not a letter or digit, and where a
/// lowercase letter or digit is followed by an uppercase one: `X-Amz-Signature`, `sessionId`,
/// `db.password`), and it is sensitive when one of its parts
/// - contains `token`, `secret`, `pass`, `key`, `auth`, `session`, `credential` or `cookie`
///   (`access_token`, `passwd`, `x-api-key`, `Authorization`, `session_id`), unless the part is
///   a common word that only contains one of them (`author`, `authority`, `keyword`, `passenger`,
///   `bypass`, …);
/// - is `jwt`, `pwd`, `csrf`, `xsrf`, `sig`, or starts with `signature` or `sigv`;
///
/// unless its last part names a measurement of the thing (`count`, `total`, `size`, `len`,
/// `length`, `duration`, `ttl`, `ms`, `s`, `secs`, `seconds`, `bytes`: `token_count`,
/// `room.session_duration_s`); string values are still checked by their shape wherever they go.
/// A name is also sensitive
/// when it is one the application added with
/// [`ObsConfigBuilder::sensitive_query_param`](crate::ObsConfigBuilder::sensitive_query_param).
///
/// `code` is not sensitive here (status codes); it is as a query parameter
/// ([`is_sensitive_param`]).
///
/// ```
/// use obs_core::redact::is_sensitive_name;
///
/// for name in ["password", "db.pwd", "session_id", "accessKey", "X-Amz-Signature", "jwt", "auth"] {
///     assert!(is_sensitive_name(name), "{name}");
/// }
/// for name in ["author", "keyword", "status_code", "signal", "user", "trace_id", "session_ttl"] {
///     assert!(!is_sensitive_name(name), "{name}");
/// }
/// ```
pub fn is_sensitive_name(name: &str) -> bool {
    (any_part(name, sensitive_part) && !names_a_measure(name))
        || EXTRA
            .get()
            .is_some_and(|extra| extra.iter().any(|p| name.eq_ignore_ascii_case(p)))
}

/// Whether a header's value must not leave the process: `Authorization`,
/// `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key`, and every header whose name is
/// sensitive by [`is_sensitive_name`] (`X-Auth-Token`, `X-Session-Id`, `Sec-WebSocket-Key`).
///
/// ```
/// assert!(obs_core::redact::is_sensitive_header("X-Session-Id"));
/// assert!(!obs_core::redact::is_sensitive_header("Keep-Alive"));
/// ```
pub fn is_sensitive_header(name: &str) -> bool {
    is_sensitive_name(name)
}

/// Whether a query or form parameter's value must not leave the process: names sensitive by
/// [`is_sensitive_name`], and `code` (OAuth authorization codes travel as `?code=`).
///
/// ```
/// assert!(obs_core::redact::is_sensitive_param("code"));
/// assert!(obs_core::redact::is_sensitive_param("access_key"));
/// assert!(!obs_core::redact::is_sensitive_param("zipcode"));
/// ```
pub fn is_sensitive_param(name: &str) -> bool {
    name.eq_ignore_ascii_case("code") || is_sensitive_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        let sensitive = [
            "token",
            "access_token",
            "refreshToken",
            "id_token",
            "password",
            "passwd",
            "pwd",
            "db_pwd",
            "secret",
            "client_secret",
            "signature",
            "sig",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "X-Amz-Security-Token",
            "api_key",
            "apikey",
            "access_key",
            "auth",
            "Authorization",
            "Proxy-Authorization",
            "oauth_state",
            "session_id",
            "sessionId",
            "jwt",
            "user_jwt",
            "Cookie",
            "Set-Cookie",
            "X-Api-Key",
            "Sec-WebSocket-Key",
            "csrf",
            "x-xsrf-token",
            "sigv4",
            "private_key",
        ];
        for name in sensitive {
            assert!(is_sensitive_name(name), "{name}");
        }
        let plain = [
            "user",
            "code",
            "status_code",
            "http.response.status_code",
            "author",
            "authority",
            "keyword",
            "keywords",
            "passenger_count",
            "bypass_cache",
            "room.session_duration_s",
            "token_count",
            "session_ttl",
            "X-Session-Count",
            "keySize",
            "signal",
            "signup",
            "sign_in",
            "Keep-Alive",
            "Accept",
            "traceparent",
            "tracestate",
            "trace_id",
            "span_id",
            "request_id",
            "correlation_id",
            "x-request-id",
            "zipcode",
            "page",
            "state",
            "message",
            "error",
            "uri",
            "",
        ];
        for name in plain {
            assert!(!is_sensitive_name(name), "{name}");
        }
        assert!(is_sensitive_param("code") && is_sensitive_param("CODE"));
        assert!(!is_sensitive_param("zipcode"));
    }
}
