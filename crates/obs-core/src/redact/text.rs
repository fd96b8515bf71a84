//! Redaction of free text: log lines, plain-text bodies, error messages.

use std::borrow::Cow;

use super::{REDACTED, is_sensitive_header, is_sensitive_param};

pub(super) fn sensitive_key(key: &str) -> bool {
    !key.is_empty() && (is_sensitive_param(key) || is_sensitive_header(key))
}

/// Free text with secrets replaced by `[REDACTED]`:
/// - values of `key=value` and `key: value` pairs whose key is sensitive (`token=…`,
///   `password: …`, `api_key="…"`, quoted values included);
/// - credentials in URLs and authorities (`scheme://user:pass@host`, `user:pass@host`);
/// - the credential after `Bearer` or `Basic`;
/// - sensitive query parameters in URLs.
///
/// Borrows when there was nothing to replace.
///
/// ```
/// assert_eq!(
///     obs_core::redact::text(r#"login token="a b" for https://u:p@h/x?code=1 Bearer xyz"#),
///     "login token=[REDACTED] for https://[REDACTED]@h/x?code=[REDACTED] Bearer [REDACTED]"
/// );
/// ```
pub fn text(input: &str) -> Cow<'_, str> {
    if !input.contains(['=', '@', ':'])
        && !super::contains_ignore_case(input, "bearer")
        && !super::contains_ignore_case(input, "basic")
    {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut redact_next = false;
    while !rest.is_empty() {
        let ws = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..ws]);
        rest = &rest[ws..];
        if rest.is_empty() {
            break;
        }
        if redact_next {
            redact_next = false;
            let mut end = value_end(rest);
            let word = &rest[..end];
            // `Authorization: Bearer <token>`: the scheme and the credential go together.
            if word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic") {
                let after = &rest[end..];
                let ws = after.len() - after.trim_start().len();
                end += ws + value_end(&after[ws..]);
            }
            out.push_str(REDACTED);
            rest = &rest[end..];
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        let bare = word.trim_matches(|c: char| "\"'(),;{}[]".contains(c));
        if bare.eq_ignore_ascii_case("bearer") || bare.eq_ignore_ascii_case("basic") {
            out.push_str(word);
            redact_next = true;
            rest = &rest[end..];
            continue;
        }
        if let Some(key) = word.strip_suffix(':')
            && sensitive_key(key.trim_start_matches(|c: char| !c.is_alphanumeric()))
        {
            out.push_str(word);
            redact_next = true;
            rest = &rest[end..];
            continue;
        }
        if let Some(eq) = word.find('=') {
            let key = word[..eq].trim_start_matches(|c: char| !c.is_alphanumeric() && c != '_');
            if sensitive_key(key) && !word[..eq].contains("://") {
                out.push_str(&word[..=eq]);
                out.push_str(REDACTED);
                let value_start = eq + 1;
                let consumed = value_start + value_end(&rest[value_start..]);
                rest = &rest[consumed..];
                continue;
            }
        }
        out.push_str(&credentials(word));
        rest = &rest[end..];
    }
    if out == input {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

/// Where a value ends: after its closing quote if quoted, else at the next whitespace.
fn value_end(s: &str) -> usize {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return i + 2,
                _ => escaped = false,
            }
        }
        return s.len();
    }
    s.find(char::is_whitespace).unwrap_or(s.len())
}

/// A word with URL credentials and sensitive query values redacted.
fn credentials(word: &str) -> Cow<'_, str> {
    if word.contains("://") {
        return super::url(word);
    }
    // `user:pass@host` without a scheme, as some libraries print authorities.
    if let Some(at) = word.find('@') {
        let head = &word[..at];
        let start = head
            .rfind(|c: char| "\"'(,;[{=".contains(c))
            .map_or(0, |i| i + 1);
        if head[start..].contains(':') && !head[start..].contains('/') {
            return Cow::Owned(format!("{}{}{}", &word[..start], REDACTED, &word[at..]));
        }
    }
    if word.contains('?') && word.contains('=') {
        return super::url(word);
    }
    Cow::Borrowed(word)
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
            ("api_key=k1, x=1", "api_key=[REDACTED] x=1"),
            ("Authorization: Bearer abc.def", "Authorization: [REDACTED]"),
            ("header bearer abc", "header bearer [REDACTED]"),
            ("password: hunter2 done", "password: [REDACTED] done"),
            (
                "(\"http\", user:pw@127.0.0.1:80)",
                "(\"http\", [REDACTED]@127.0.0.1:80)",
            ),
            (
                "go to https://u:p@h/p?token=t&a=1",
                "go to https://[REDACTED]@h/p?token=[REDACTED]&a=1",
            ),
            ("mail bob@example.com", "mail bob@example.com"),
            ("/cb?code=xyz&state=1", "/cb?code=[REDACTED]&state=1"),
            ("time=12:30:01 ok", "time=12:30:01 ok"),
        ];
        for (input, expected) in cases {
            assert_eq!(text(input), expected, "{input}");
        }
        assert!(matches!(text("plain words"), Cow::Borrowed(_)));
    }
}
