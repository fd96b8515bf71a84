//! Redaction of free text: log lines, panic and error messages, plain-text bodies, span
//! attributes.
//!
//! The text is scanned once for each kind of secret; the ranges found are merged and each
//! becomes [`REDACTED`]. Only the secret is replaced: the name before it, the rest of a query
//! string after it, and the words around it stay.

use std::borrow::Cow;

use super::REDACTED;
use super::names::is_sensitive_name;
use super::value::shapes;

/// Values kept under a sensitive name: they are states, not secrets (`token: expired`,
/// `authentication: failed`, `session=none`).
const STATUS_WORDS: &[&str] = &[
    "ok",
    "none",
    "null",
    "nil",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "set",
    "unset",
    "empty",
    "present",
    "absent",
    "missing",
    "required",
    "optional",
    "enabled",
    "disabled",
    "valid",
    "invalid",
    "incorrect",
    "expired",
    "revoked",
    "denied",
    "rejected",
    "refused",
    "failed",
    "failure",
    "success",
    "succeeded",
    "error",
    "unknown",
    "unavailable",
    "unauthenticated",
    "unauthorized",
    "forbidden",
    "cancelled",
    "canceled",
    "aborted",
    "internal",
    "unimplemented",
    "notfound",
    "alreadyexists",
    "permissiondenied",
    "resourceexhausted",
    "failedprecondition",
    "outofrange",
    "dataloss",
    "deadlineexceeded",
    "invalidargument",
    "redacted",
    "[redacted]",
];

/// Free text with secrets replaced by [`REDACTED`]:
/// - the value of every `key=value`, `key: value` and `"key": "value"` pair whose key is
///   sensitive ([`is_sensitive_name`](super::is_sensitive_name); `code` in a query string), quoted
///   and bracketed values (`Some("…")`) whole, unless the value is a status word such as
///   `Unavailable` or `expired`;
/// - the credential after `Bearer` or `Basic`, wherever the word stands (`Some("Bearer …")`);
/// - credentials in URLs and authorities (`scheme://user:pass@host`, `user:pass@host`);
/// - text shaped like a credential ([`looks_like_credential`](super::looks_like_credential)): JWTs,
///   well-known token prefixes, hex runs of 40 or more digits, long mixed base64 runs.
///
/// In a query string only the value is replaced: `?token=x&page=2` keeps `page=2`. Trace ids,
/// span ids and UUIDs stay readable. Borrows when there was nothing to replace.
///
/// ```
/// assert_eq!(
///     obs_core::redact::text(r#"login token="a b" for https://u:p@h/x?code=1&page=2 Bearer xyz"#),
///     "login token=[REDACTED] for https://[REDACTED]@h/x?code=[REDACTED]&page=2 Bearer [REDACTED]"
/// );
/// assert_eq!(
///     obs_core::redact::text(r#"auth header Some("Bearer abc.def")"#),
///     r#"auth header Some("Bearer [REDACTED]")"#
/// );
/// assert_eq!(
///     obs_core::redact::text("export failed: gRPC code: Unavailable"),
///     "export failed: gRPC code: Unavailable"
/// );
/// ```
pub fn text(input: &str) -> Cow<'_, str> {
    if !worth_scanning(input) {
        return Cow::Borrowed(input);
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    pairs(input, &mut ranges);
    schemes(input, &mut ranges);
    authorities(input, &mut ranges);
    shapes(input, |s, e| ranges.push((s, e)));
    if ranges.is_empty() {
        return Cow::Borrowed(input);
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(input.len());
    let mut at = 0;
    for (start, end) in ranges {
        if end <= at {
            continue;
        }
        let start = start.max(at);
        out.push_str(&input[at..start]);
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(&input[at..]);
    Cow::Owned(out)
}

/// One cheap pass: whether anything in the text could be a secret: a `=`, `:` or `@`, a run of 20
/// token characters, or the words `basic` or `bearer` (any case). Most of what it sees (paths, user
/// agents, span names) has none, so it is one table lookup per byte.
fn worth_scanning(input: &str) -> bool {
    let bytes = input.as_bytes();
    let mut run = 0u32;
    let mut saw_b = false;
    for &b in bytes {
        match CLASS[usize::from(b)] {
            TRIGGER => return true,
            TOKEN => {
                saw_b |= b | 0x20 == b'b';
                run += 1;
                if run >= 20 {
                    return true;
                }
            }
            _ => run = 0,
        }
    }
    saw_b && has_scheme_word(bytes)
}

const OTHER: u8 = 0;
const TOKEN: u8 = 1;
const TRIGGER: u8 = 2;

/// Each byte's part in [`worth_scanning`].
static CLASS: [u8; 256] = {
    let mut class = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        class[b] = if matches!(c, b'=' | b':' | b'@') {
            TRIGGER
        } else if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'_' | b'-' | b'.') {
            TOKEN
        } else {
            OTHER
        };
        b += 1;
    }
    class
};

/// Whether `basic` or `bearer` (any case) starts at some `b` of the text.
fn has_scheme_word(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| {
        b | 0x20 == b'b' && {
            let rest = &bytes[i + 1..];
            rest.get(..4)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"asic"))
                || rest
                    .get(..5)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"earer"))
        }
    })
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// `key=value` and `key: value` pairs with a sensitive key.
fn pairs(input: &str, ranges: &mut Vec<(usize, usize)>) {
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'=' && b != b':' {
            i += 1;
            continue;
        }
        let sep = i;
        i += 1;
        if b == b':' && (bytes.get(i) == Some(&b':') || (sep > 0 && bytes[sep - 1] == b':')) {
            // A Rust path (`auth::session`).
            continue;
        }
        if b == b':' && input[i..].starts_with("//") {
            continue;
        }
        if b == b'='
            && (bytes.get(i) == Some(&b'=') || (sep > 0 && b"=!<>".contains(&bytes[sep - 1])))
        {
            continue;
        }
        let Some((key_start, key)) = key_before(input, sep) else {
            continue;
        };
        // The tail of a Rust path (`my_app::auth: message`) is a target, not a key.
        if key_start >= 2 && &bytes[key_start - 2..key_start] == b"::" {
            continue;
        }
        let in_query = key_start > 0 && matches!(bytes[key_start - 1], b'?' | b'&');
        let sensitive = is_sensitive_name(key) || (in_query && super::is_sensitive_param(key));
        if !sensitive {
            continue;
        }
        let mut start = i;
        while start < bytes.len() && (bytes[start] == b' ' || bytes[start] == b'\t') {
            start += 1;
        }
        if start >= bytes.len() || matches!(bytes[start], b'\n' | b'\r') {
            continue;
        }
        let mut end = start + value_end(&input[start..]);
        let value = &input[start..end];
        let bare = value.trim_matches(|c| c == '"' || c == '\'');
        // A status word, or a wildcard of a key pattern (`session:*`, as obs-redis records keys).
        if bare.is_empty()
            || STATUS_WORDS.iter().any(|w| bare.eq_ignore_ascii_case(w))
            || bare.bytes().all(|b| b == b'*' || b == b':')
        {
            i = end.max(i);
            continue;
        }
        let quoted = value.starts_with(['"', '\'']);
        if !quoted && (bare.eq_ignore_ascii_case("bearer") || bare.eq_ignore_ascii_case("basic")) {
            // `Authorization: Bearer <token>`: the scheme and the credential go together.
            let after = &input[end..];
            let ws = after.len() - after.trim_start_matches([' ', '\t']).len();
            end += ws + value_end(&after[ws..]);
        } else if !quoted && key.to_ascii_lowercase().contains("cookie") {
            // A cookie header holds several `name=value` pairs: the whole line is the value.
            end = input[start..]
                .find(['\n', '\r'])
                .map_or(input.len(), |n| start + n);
        }
        ranges.push((start, end));
        i = end.max(i);
    }
}

/// The key just before a separator: letters, digits, `_`, `-` and `.`, after an optional closing
/// quote and spaces (`"password" : …`).
fn key_before(input: &str, sep: usize) -> Option<(usize, &str)> {
    let bytes = input.as_bytes();
    let mut end = sep;
    while end > 0 && bytes[end - 1] == b' ' {
        end -= 1;
    }
    if end > 0 && matches!(bytes[end - 1], b'"' | b'\'') {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && is_key_char(bytes[start - 1]) {
        start -= 1;
    }
    (start < end).then(|| (start, &input[start..end]))
}

/// Where a value ends: after its closing quote if quoted; else at whitespace, `,`, `;` or `&`,
/// or at a closing bracket that it did not open, with quotes and brackets inside it kept whole
/// (`Some("a b")`, `[1, 2]`).
fn value_end(s: &str) -> usize {
    let bytes = s.as_bytes();
    if let Some(&q) = bytes.first()
        && (q == b'"' || q == b'\'')
    {
        return quoted_end(bytes, 0);
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = quoted_end(bytes, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
            }
            b' ' | b'\t' | b'\n' | b'\r' | b',' | b';' | b'&' if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The index just past the quoted string that starts at `start`, or the end of the text.
fn quoted_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut j = start + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

/// The credential after `Bearer` or `Basic`, wherever the word stands.
fn schemes(input: &str, ranges: &mut Vec<(usize, usize)>) {
    let bytes = input.as_bytes();
    for (scheme, basic) in [("bearer", false), ("basic", true)] {
        let mut from = 0;
        while let Some(found) = find_ignore_case(&input[from..], scheme) {
            let at = from + found;
            from = at + scheme.len();
            if at > 0 && bytes[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let mut start = from;
            // `Bearer x`, and `Bearer%20x` / `Bearer+x` in URLs.
            if input[start..].starts_with("%20") {
                start += 3;
            } else {
                while start < bytes.len() && matches!(bytes[start], b' ' | b'+') {
                    start += 1;
                }
            }
            if start == from {
                continue;
            }
            let mut end = start;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || b"-._~+/=".contains(&bytes[end]))
            {
                end += 1;
            }
            let token = &input[start..end];
            if token.is_empty() || token == REDACTED {
                continue;
            }
            // "a basic example", "Basic Plan": after `Basic` only base64 that is not a word counts.
            if basic && !base64_like(token) {
                continue;
            }
            ranges.push((start, end));
        }
    }
}

/// Base64 of at least 8 characters that is not a word: a digit, `+`, `/` or `=`, or an
/// uppercase letter after the first character.
fn base64_like(token: &str) -> bool {
    token.len() >= 8
        && token.bytes().enumerate().any(|(i, b)| {
            b.is_ascii_digit() || b"+/=".contains(&b) || (i > 0 && b.is_ascii_uppercase())
        })
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// `scheme://user:pass@host` and `user:pass@host`: the user information.
fn authorities(input: &str, ranges: &mut Vec<(usize, usize)>) {
    let bytes = input.as_bytes();
    for (at, _) in input.match_indices('@') {
        let mut start = at;
        while start > 0
            && !bytes[start - 1].is_ascii_whitespace()
            && !b"\"'(,;[{=<>/".contains(&bytes[start - 1])
        {
            start -= 1;
        }
        let userinfo = &input[start..at];
        // `mailto:bob@example.com` and `bob@example.com` are addresses, not credentials.
        if userinfo.contains(':')
            && !userinfo.starts_with("mailto:")
            && !userinfo.contains("//")
            && userinfo != REDACTED
        {
            ranges.push((start, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("nothing to see", "nothing to see"),
            ("user=bob status=200", "user=bob status=200"),
            ("token=abc next", "token=[REDACTED] next"),
            ("password=\"two words\" ok", "password=[REDACTED] ok"),
            ("api_key=k1, x=1", "api_key=[REDACTED], x=1"),
            ("Authorization: Bearer abc.def", "Authorization: [REDACTED]"),
            ("header bearer abc", "header bearer [REDACTED]"),
            ("password: hunter2 done", "password: [REDACTED] done"),
            ("password:hunter2", "password:[REDACTED]"),
            ("GET session:*", "GET session:*"),
            ("GET apikey:*:*", "GET apikey:*:*"),
            ("session:*hunter2", "session:[REDACTED]"),
            (
                "(\"http\", user:pw@127.0.0.1:80)",
                "(\"http\", [REDACTED]@127.0.0.1:80)",
            ),
            (
                "go to https://u:p@h/p?token=t&a=1",
                "go to https://[REDACTED]@h/p?token=[REDACTED]&a=1",
            ),
            ("mail bob@example.com", "mail bob@example.com"),
            ("mailto:bob@example.com", "mailto:bob@example.com"),
            ("/cb?code=xyz&state=1", "/cb?code=[REDACTED]&state=1"),
            ("time=12:30:01 ok", "time=12:30:01 ok"),
            // Only the value: the rest of the query stays (the `uri` field of JSON logs).
            (
                "/search?q=shoes&token=abc&pwd=p&session_id=s&page=2",
                "/search?q=shoes&token=[REDACTED]&pwd=[REDACTED]&session_id=[REDACTED]&page=2",
            ),
            // Names matched by parts.
            (
                "access_key=a auth=b jwt=c sigv4=d db.pwd=e refreshToken=f",
                "access_key=[REDACTED] auth=[REDACTED] jwt=[REDACTED] sigv4=[REDACTED] db.pwd=[REDACTED] refreshToken=[REDACTED]",
            ),
            // Debug-formatted headers and structs.
            (
                r#"auth header Some("Bearer eyJabc.def")"#,
                r#"auth header Some("Bearer [REDACTED]")"#,
            ),
            (
                r#"headers={"authorization": "Bearer x y", "cookie": "a=1; sid=2", "accept": "*/*"}"#,
                r#"headers={"authorization": [REDACTED], "cookie": [REDACTED], "accept": "*/*"}"#,
            ),
            (
                r#"Config { user: "bob", password: "hunter 2", api_key: Some("k") }"#,
                r#"Config { user: "bob", password: [REDACTED], api_key: [REDACTED] }"#,
            ),
            ("auth = Some(\"x y\") done", "auth = [REDACTED] done"),
            (
                "Cookie: theme=dark; sid=abc\nnext",
                "Cookie: [REDACTED]\nnext",
            ),
            // Status words and obs's own words stay.
            (
                "export failed: status: Unavailable, gRPC code: Unavailable",
                "export failed: status: Unavailable, gRPC code: Unavailable",
            ),
            ("token: expired", "token: expired"),
            ("authentication: failed", "authentication: failed"),
            ("code=503 code: 14", "code=503 code: 14"),
            (
                "my_app::auth::session: user logged in",
                "my_app::auth::session: user logged in",
            ),
            ("a basic example", "a basic example"),
            (
                "Basic Plan, Basic Authentication",
                "Basic Plan, Basic Authentication",
            ),
            (
                "Authorization: Basic dXNlcjpwYXNz",
                "Authorization: [REDACTED]",
            ),
            ("Basic dXNlcjpwYXNz=", "Basic [REDACTED]"),
            (
                "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 request_id=550e8400-e29b-41d4-a716-446655440000",
                "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 request_id=550e8400-e29b-41d4-a716-446655440000",
            ),
            // Shapes, whatever the name.
            (
                "digest da9c8dbf1e8bbf7ba1859c42ec734bd6f5aa17a3 and key AKIAK8YA6TXT1XUCUBZ9.",
                "digest [REDACTED] and key [REDACTED].",
            ),
            (
                "q=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-1&page=2",
                "q=[REDACTED]&page=2",
            ),
            ("x=1 == y", "x=1 == y"),
            ("already [REDACTED] here", "already [REDACTED] here"),
            ("token=[REDACTED]&a=1", "token=[REDACTED]&a=1"),
        ];
        for (input, expected) in cases {
            assert_eq!(text(input), expected, "{input}");
        }
        assert!(matches!(text("plain words"), Cow::Borrowed(_)));
        assert!(matches!(
            text("GET /v1/orders status=200"),
            Cow::Borrowed(_)
        ));
    }

    proptest::proptest! {
        /// Any input, ASCII or not: no panic, and a secret placed in it by name goes.
        #[test]
        fn never_panics_and_named_secrets_go(prefix in "\\PC{0,40}", suffix in "\\PC{0,40}") {
            let _ = text(&prefix);
            let line = format!("{prefix} password=Zq9xK2pLw7 {suffix}");
            let redacted = text(&line);
            proptest::prop_assert!(!redacted.contains("Zq9xK2pLw7"), "{}", redacted);
        }
    }

    #[test]
    fn output_is_stable_when_redacted_again() {
        for input in [
            "Authorization: Bearer abc https://u:p@h/?token=t&a=1 key AKIAK8YA6TXT1XUCUBZ9",
            r#"{"password":"x","note":"Bearer y"}"#,
        ] {
            let once = text(input).into_owned();
            assert_eq!(text(&once), once);
        }
    }
}
