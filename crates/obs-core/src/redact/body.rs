//! Redaction of captured bodies: JSON values of sensitive keys, form fields, `key=value` pairs in
//! text, and credentials anywhere. Request and response bodies go through the same rules. Bodies
//! are usually captured truncated, so nothing here needs a complete document.

use super::REDACTED;
use super::names::is_sensitive_name;

/// The media type of a `Content-Type` value, lowercase, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a content type is textual, so a body of it may be captured at all.
///
/// ```
/// assert!(obs_core::redact::is_textual("application/problem+json"));
/// assert!(!obs_core::redact::is_textual("image/png"));
/// ```
pub fn is_textual(content_type: &str) -> bool {
    let ct = media_type(content_type);
    ct.starts_with("text/")
        || ct == "application/json"
        || ct.ends_with("+json")
        || ct == "application/x-www-form-urlencoded"
        || ct == "application/xml"
        || ct.ends_with("+xml")
        || ct == "application/graphql"
}

/// A captured body (request or response) as it may be recorded:
/// - JSON: the values of sensitive keys ([`is_sensitive_name`]) replaced whole (objects and
///   arrays included), and every other string value redacted as [`text`](super::text);
/// - forms (`application/x-www-form-urlencoded`): as a [`query`](super::query);
/// - any other textual type (`text/plain`, `text/html`, XML, …): as [`text`](super::text).
///
/// ```
/// use obs_core::redact::body;
///
/// assert_eq!(
///     body("application/json", r#"{"password":"x","note":"Bearer y","n":1}"#),
///     r#"{"password":"[REDACTED]","note":"Bearer [REDACTED]","n":1}"#
/// );
/// assert_eq!(body("text/plain", "your api key: k1\nbye"), "your api key: [REDACTED]\nbye");
/// ```
pub fn body(content_type: &str, text: &str) -> String {
    let ct = media_type(content_type);
    if ct == "application/json" || ct.ends_with("+json") {
        json(text)
    } else if ct == "application/x-www-form-urlencoded" {
        super::query(text).into_owned()
    } else {
        plain(text)
    }
}

/// Replaces the value after every sensitive object key. Works on truncated JSON.
fn json(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut redact_next_value = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' {
            let end = string_end(bytes, i);
            let token = &text[i..end];
            let rest = &text[end..];
            let is_key = rest.trim_start().starts_with(':');
            if redact_next_value && !is_key {
                out.push('"');
                out.push_str(REDACTED);
                out.push('"');
                redact_next_value = false;
            } else if is_key {
                out.push_str(token);
                redact_next_value = is_sensitive_name(token.trim_matches('"'));
            } else {
                // A string value under a plain key: secrets inside it still go.
                let inner = &token[1..];
                // Closed unless the text was cut inside the string (its last quote escaped).
                let closed = inner
                    .strip_suffix('"')
                    .filter(|s| s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 0);
                let (inner, closed) = closed.map_or((inner, false), |s| (s, true));
                out.push('"');
                out.push_str(&super::text(inner));
                if closed {
                    out.push('"');
                }
            }
            i = end;
            continue;
        }
        if redact_next_value && (b == b'-' || b.is_ascii_alphanumeric()) {
            // A number, true, false or null: skip the whole literal.
            let mut j = i;
            while j < bytes.len()
                && (bytes[j] == b'-'
                    || bytes[j] == b'.'
                    || bytes[j] == b'+'
                    || bytes[j].is_ascii_alphanumeric())
            {
                j += 1;
            }
            out.push('"');
            out.push_str(REDACTED);
            out.push('"');
            redact_next_value = false;
            i = j;
            continue;
        }
        if redact_next_value && (b == b'{' || b == b'[') {
            // A nested value under a sensitive key is redacted whole.
            let end = container_end(bytes, i);
            out.push('"');
            out.push_str(REDACTED);
            out.push('"');
            redact_next_value = false;
            i = end;
            continue;
        }
        if b == b',' || b == b'}' || b == b']' {
            redact_next_value = false;
        }
        out.push(char::from(b));
        if !b.is_ascii() {
            // Copy the whole UTF-8 sequence, not a byte as a char.
            out.pop();
            let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + ch_len]);
            i += ch_len;
            continue;
        }
        i += 1;
    }
    out
}

/// The index just past the string starting at `start` (a `"`), or the end of the text.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

/// The index just past the object or array starting at `start`, or the end of the text.
fn container_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut j = start;
    while j < bytes.len() {
        match bytes[j] {
            b'"' => {
                j = string_end(bytes, j);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    bytes.len()
}

fn plain(text: &str) -> String {
    super::text(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_table() {
        let cases = [
            (
                r#"{"user":"bob","password":"hunter2"}"#,
                r#"{"user":"bob","password":"[REDACTED]"}"#,
            ),
            (
                r#"{"a": {"api_key" : "k1"}, "n": 1}"#,
                r#"{"a": {"api_key" : "[REDACTED]"}, "n": 1}"#,
            ),
            (
                r#"{"token": 12345, "ok": true}"#,
                r#"{"token": "[REDACTED]", "ok": true}"#,
            ),
            (
                r#"{"secret": {"nested": "x"}, "b": 2}"#,
                r#"{"secret": "[REDACTED]", "b": 2}"#,
            ),
            (
                r#"{"list": ["password", "x"]}"#,
                r#"{"list": ["password", "x"]}"#,
            ),
            (
                r#"{"access_token":"abc\"def","é":"ü"}"#,
                r#"{"access_token":"[REDACTED]","é":"ü"}"#,
            ),
            (
                r#"{"refresh_token":"trunc"#,
                r#"{"refresh_token":"[REDACTED]""#,
            ),
            (
                r#"[{"Authorization":"Bearer x"}]"#,
                r#"[{"Authorization":"[REDACTED]"}]"#,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                body("application/json; charset=utf-8", input),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn form_and_text() {
        assert_eq!(
            body(
                "application/x-www-form-urlencoded",
                "user=bob&password=p&x=1"
            ),
            "user=bob&password=[REDACTED]&x=1"
        );
        assert_eq!(
            body(
                "text/plain",
                "login ok token=abc123 for https://u:p@h/x\nAuthorization: Bearer zzz"
            ),
            "login ok token=[REDACTED] for https://[REDACTED]@h/x\nAuthorization: [REDACTED]"
        );
        assert!(is_textual("application/json; charset=utf-8"));
        assert!(is_textual("application/problem+json"));
        assert!(is_textual("text/html"));
        assert!(!is_textual("image/png"));
        assert!(!is_textual("application/octet-stream"));
    }
}
