//! The value policy: text that looks like a credential whatever name it was given.

use std::borrow::Cow;

/// Known prefixes of API tokens, with the least number of characters that follow them.
const PREFIXES: &[(&str, usize)] = &[
    ("ghp_", 20),
    ("gho_", 20),
    ("ghs_", 20),
    ("ghu_", 20),
    ("ghr_", 20),
    ("github_pat_", 20),
    ("glpat-", 16),
    ("xoxb-", 16),
    ("xoxp-", 16),
    ("xoxa-", 16),
    ("xoxs-", 16),
    ("sk_live_", 16),
    ("sk_test_", 16),
    ("rk_live_", 16),
    ("sk-", 32),
    ("npm_", 30),
    ("AIza", 30),
];

/// The least length of a hex run taken for a credential.
pub(super) const MIN_HEX: usize = 40;
/// The least length of a mixed base64 run taken for a credential.
pub(super) const MIN_BASE64: usize = 24;

fn is_run_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-' | b'.')
}

/// Whether `value` contains text shaped like a credential, or is a `Bearer`/`Basic` credential.
///
/// Recognised shapes (each a whole run of token characters, so a shape inside a longer word
/// does not count):
/// - a JWT: three base64url segments joined by dots, the first starting with `eyJ`;
/// - a token with a well-known prefix: `ghp_`, `gho_`, `ghs_`, `ghu_`, `ghr_`, `github_pat_`,
///   `glpat-`, `xoxb-`, `xoxp-`, `xoxa-`, `xoxs-`, `sk_live_`, `sk_test_`, `rk_live_`, `sk-`,
///   `npm_`, `AIza`, and AWS access key ids (`AKIA`/`ASIA` and 16 more);
/// - a hex run of 40 or more digits (SHA-1 and longer keys and digests). Shorter hex runs stay:
///   a trace id (32), a span id (16) and a UUID are ids obs itself records and logs;
/// - a base64 or base64url run of 24 or more characters that mixes uppercase, lowercase and
///   digits the way random text does (at least one of each, and the character class changes
///   between at least 40 % of neighbouring characters), so `camelCaseIdentifiers` and paths stay.
///
/// A value that is `Bearer …` or `Basic …` counts too; inside longer text, [`text`](super::text)
/// finds the credential after those words wherever they stand.
///
/// ```
/// use obs_core::redact::looks_like_credential;
///
/// assert!(looks_like_credential("Bearer abc"));
/// assert!(looks_like_credential(
///     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
/// ));
/// assert!(looks_like_credential("da39a3ee5e6b4b0d3255bfef95601890afd80709"));
/// assert!(looks_like_credential("ghp_uAN17isQJ6ZNKPTxf18E4g8uSBogCAHb"));
/// // Ids and words stay.
/// assert!(!looks_like_credential("4bf92f3577b34da6a3ce929d0e0e4736"));
/// assert!(!looks_like_credential("550e8400-e29b-41d4-a716-446655440000"));
/// assert!(!looks_like_credential("Unavailable"));
/// assert!(!looks_like_credential("/api/v1/users/42/settings"));
/// ```
pub fn looks_like_credential(value: &str) -> bool {
    let v = value.trim();
    if let Some((scheme, rest)) = v.split_once(' ')
        && (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic"))
        && !rest.trim().is_empty()
    {
        return true;
    }
    let mut found = false;
    shapes(v, |_, _| found = true);
    found
}

/// `text` with every credential-shaped range replaced by [`REDACTED`](super::REDACTED).
pub(super) fn replace_shapes(text: &str) -> Cow<'_, str> {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    shapes(text, |s, e| ranges.push((s, e)));
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    // A JWT is reported before the pieces in front of it.
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in ranges {
        out.push_str(&text[at..start.max(at)]);
        out.push_str(super::REDACTED);
        at = end.max(at);
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Calls `hit(start, end)` for every credential-shaped range in `text`, in order.
pub(super) fn shapes(text: &str, mut hit: impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !is_run_char(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_run_char(bytes[i]) {
            i += 1;
        }
        // Only runs long enough to hold a shape are looked at.
        if i - start >= 20 {
            run(text, start, i, &mut hit);
        }
    }
}

/// One run of token characters: a JWT in it whole, else its dot-separated pieces.
fn run(text: &str, start: usize, end: usize, hit: &mut impl FnMut(usize, usize)) {
    let run = &text[start..end];
    let bytes = run.as_bytes();
    // A JWT starts at `eyJ` after a character that cannot be part of one (`/reset/eyJ…`).
    let jwt = run.match_indices("eyJ").map(|(k, _)| k).find(|&k| {
        (k == 0 || !(bytes[k - 1].is_ascii_alphanumeric() || matches!(bytes[k - 1], b'_' | b'-')))
            && is_jwt(&run[k..])
    });
    let end = match jwt {
        Some(k) => {
            hit(start + k, start + run.trim_end_matches('.').len());
            start + k
        }
        None => end,
    };
    let mut offset = start;
    for piece in text[start..end].split('.') {
        if piece.len() >= 20 {
            piece_shapes(text, offset, offset + piece.len(), hit);
        }
        offset += piece.len() + 1;
    }
}

fn is_jwt(run: &str) -> bool {
    let run = run.trim_end_matches('.');
    let mut parts = run.split('.');
    let (Some(head), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    head.starts_with("eyJ")
        && head.len() >= 10
        && payload.len() >= 4
        && b64url(head)
        && b64url(payload)
        && b64url(signature)
}

/// The end of a run including up to two `=` of base64 padding.
fn padded(text: &str, end: usize) -> usize {
    let bytes = text.as_bytes();
    let mut e = end;
    while e < bytes.len() && e - end < 2 && bytes[e] == b'=' {
        e += 1;
    }
    e
}

/// A dot-free piece: a known prefix, long hex runs, or mixed base64 (per `/` segment, or whole).
fn piece_shapes(text: &str, start: usize, end: usize, hit: &mut impl FnMut(usize, usize)) {
    let piece = &text[start..end];
    for (prefix, min) in PREFIXES {
        if let Some(rest) = piece.strip_prefix(prefix)
            && rest.len() >= *min
        {
            hit(start, padded(text, end));
            return;
        }
    }
    if aws_key_id(piece) {
        hit(start, end);
        return;
    }
    let mut any = false;
    let mut seg_start = start;
    for seg in piece.split('/') {
        let seg_end = seg_start + seg.len();
        if let Some((s, e)) = hex_run(text, seg_start, seg_end) {
            hit(s, e);
            any = true;
        } else if seg.len() >= MIN_BASE64 && mixed(seg) {
            hit(seg_start, padded(text, seg_end));
            any = true;
        }
        seg_start = seg_end + 1;
    }
    // Standard base64 holds `/`: a secret may be cut into short segments. A path starts with
    // `/` or has short word-like segments, so it does not pass `mixed` as a whole.
    if !any && piece.contains('/') && !piece.starts_with('/') && mixed(piece) {
        hit(start, padded(text, end));
    }
}

fn aws_key_id(piece: &str) -> bool {
    piece.len() == 20
        && (piece.starts_with("AKIA") || piece.starts_with("ASIA"))
        && piece
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The first hex run of [`MIN_HEX`] or more digits in a segment, bounded by non-alphanumerics.
fn hex_run(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let bytes = &text.as_bytes()[start..end];
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let s = i;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i - s >= MIN_HEX && bytes[s..i].iter().all(u8::is_ascii_hexdigit) {
            return Some((start + s, start + i));
        }
    }
    None
}

/// Whether a run mixes uppercase, lowercase and digits like random text: one of each, and the
/// class changes between at least 40 % of neighbouring letters and digits.
fn mixed(s: &str) -> bool {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Upper,
        Lower,
        Digit,
        Other,
    }
    let class = |b: u8| {
        if b.is_ascii_uppercase() {
            Class::Upper
        } else if b.is_ascii_lowercase() {
            Class::Lower
        } else if b.is_ascii_digit() {
            Class::Digit
        } else {
            Class::Other
        }
    };
    let (mut upper, mut lower, mut digit) = (false, false, false);
    let (mut pairs, mut changes) = (0usize, 0usize);
    let mut prev = Class::Other;
    let mut alnum = 0usize;
    for b in s.bytes() {
        let c = class(b);
        match c {
            Class::Upper => upper = true,
            Class::Lower => lower = true,
            Class::Digit => digit = true,
            Class::Other => {}
        }
        if c != Class::Other {
            alnum += 1;
            if prev != Class::Other {
                pairs += 1;
                if prev != c {
                    changes += 1;
                }
            }
        }
        prev = c;
    }
    alnum >= MIN_BASE64 - 4 && upper && lower && digit && changes * 5 >= pairs * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        shapes(text, |s, e| out.push(&text[s..e]));
        out
    }

    #[test]
    fn credentials_are_found() {
        let jwt = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAidXNlcjAifQ.uHxP3zGf0_y0DD9RtSKYMm-iIPqg7vAjEJqsbp-vNsU";
        assert_eq!(found(&format!("token {jwt}.")), [jwt]);
        assert_eq!(found(&format!("/reset/{jwt}")), [jwt]);
        for secret in [
            "bb89b0fae22b6e87d78a25169d01c95f4f68e78a",
            "a97c8e0540e36d1792bdf68a43c3d5905544acfdfb5e93092f9712ac5b5c2665",
            "nXe5r08UE0gcvwcmiClDA1GknUgwMDGO",
            "u9aXynzBkMaPpw1M4TzKWqVhZkK5l7as",
            "ghp_uAN17isQJ6ZNKPTxf18E4g8uSBogCAHbft4I",
            "AKIAK8YA6TXT1XUCUBZ9",
            "sk_live_RYGL9Idou7JVRLT3BQBp9iZp",
            "xoxb-329572508534-CuniAtyrBqSpbEjqn98HWeqA",
            "e/wcKeO7jBqa55Ccypzk0xX//BCaXehmo0nPVfYs",
            "dGhpcyBpcyBhIHNlY3JldCBrZXkgMTIzNDU2Nzg5MA==",
        ] {
            assert_eq!(found(&format!("x {secret};")), [secret], "{secret}");
        }
        assert_eq!(
            found("/files/bb89b0fae22b6e87d78a25169d01c95f4f68e78a/x"),
            ["bb89b0fae22b6e87d78a25169d01c95f4f68e78a"]
        );
    }

    #[test]
    fn ids_words_and_paths_stay() {
        for text in [
            "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
            "550e8400-e29b-41d4-a716-446655440000",
            "550E8400-E29B-41D4-A716-446655440000",
            "status: Unavailable, gRPC code: Unavailable",
            "/api/v1/Users/42/Settings/Notifications",
            "getUserAccountSettingsForTenant2",
            "my_really_long_function_name_with_words",
            "obs_core::export::QueueProcessor",
            "https://example.com/a/b/c?page=2&sort=created_at",
            "2026-11-29T19:25:04.123456Z",
            "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/119.0",
            "crates/obs-http/tests/it/secrets.rs",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }
}
