//! The `tracestate` header (W3C Trace Context Level 2, "Tracestate Header").
//!
//! Keys follow the Level 2 grammar, `key = ( lcalpha / DIGIT ) 0*255( keychar )` with
//! `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`: up to 256 characters, `@` anywhere
//! but first, with no separate limits on the parts around an `@` (Level 1's `tenant@system`
//! split is gone, so every Level 1 key is still valid).
//!
//! OpenTelemetry's [`TraceState`] checks keys by the Level 1 rules (and allows 13 characters after
//! an `@` where Level 1 allowed 14), so it cannot hold every Level 2 key. A member it cannot hold
//! is kept under the empty key, which no valid `tracestate` has, as `key value` (or, when that
//! is over 256 characters, as two members: the key, then the value). [`header`] writes such
//! members back as they came; always format a `tracestate` for the wire with [`header`], not
//! [`TraceState::header`].

use opentelemetry::trace::TraceState;

/// The most list-members a `tracestate` may carry.
pub const MAX_MEMBERS: usize = 32;

/// The key under which a member OpenTelemetry's `TraceState` cannot hold is kept.
const HELD: &str = "";

/// Parses the `tracestate` header values, joined in order as one list.
///
/// Empty list-members and the optional whitespace around members are ignored. A key that appears
/// again is kept once, with its first (leftmost) value: the spec allows one entry per key, and the
/// leftmost one is the latest, since a vendor moves the entry it updates to the front. The whole
/// `tracestate` is dropped (`None`) when any member breaks the key or value grammar or there
/// are more than 32 members (repeats included); the `traceparent` stays valid in every case.
///
/// ```
/// use obs_core::propagation::tracestate;
///
/// let ts = tracestate::parse(["foo@=1, bar=2", "foo@=3"]).unwrap();
/// assert_eq!(tracestate::header(&ts), "foo@=1,bar=2");
/// assert!(tracestate::parse(["@foo=1,bar=2"]).is_none());
/// ```
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<TraceState> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    let mut count = 0;
    for value in values {
        for member in value.split(',') {
            let member = member.trim_matches(|c| c == ' ' || c == '\t');
            if member.is_empty() {
                continue;
            }
            let (key, val) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(val) {
                return None;
            }
            count += 1;
            if count > MAX_MEMBERS {
                return None;
            }
            if !members.iter().any(|(k, _)| *k == key) {
                members.push((key, val));
            }
        }
    }
    if members.is_empty() {
        return Some(TraceState::NONE);
    }
    TraceState::from_key_value(members.iter().copied())
        .ok()
        .or_else(|| held(&members))
}

/// A `TraceState` with the members OpenTelemetry cannot hold kept under the empty key.
///
/// Each member so kept may take two of `TraceState`'s 32 places; members that no longer fit are
/// dropped whole from the end, as the spec says to truncate.
fn held(members: &[(&str, &str)]) -> Option<TraceState> {
    let mut entries: Vec<(String, String)> = Vec::with_capacity(members.len());
    for &(key, value) in members {
        let before = entries.len();
        if otel_holds(key) {
            entries.push((key.to_owned(), value.to_owned()));
        } else if key.len() + 1 + value.len() <= 256 {
            entries.push((HELD.to_owned(), format!("{key} {value}")));
        } else {
            entries.push((HELD.to_owned(), key.to_owned()));
            entries.push((HELD.to_owned(), value.to_owned()));
        }
        if entries.len() > MAX_MEMBERS {
            entries.truncate(before);
            break;
        }
    }
    TraceState::from_key_value(entries).ok()
}

/// Formats a `tracestate` for the wire: members in order, the ones kept under the empty key (see
/// the [module docs](self)) written back as they came.
pub fn header(state: &TraceState) -> String {
    if state.get(HELD).is_none() {
        return state.header();
    }
    let raw = state.header();
    let mut out = String::with_capacity(raw.len());
    let mut entries = raw.split(',');
    while let Some(entry) = entries.next() {
        let member = match entry.strip_prefix('=') {
            None => Some((entry, None)),
            Some(kept) => match kept.split_once(' ') {
                Some((key, value)) => Some((key, Some(value))),
                // The key alone: its value is the next entry, also under the empty key.
                None => entries
                    .next()
                    .and_then(|next| next.strip_prefix('='))
                    .map(|value| (kept, Some(value))),
            },
        };
        let Some((key, value)) = member else { continue };
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(key);
        if let Some(value) = value {
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

/// Whether OpenTelemetry's `TraceState` accepts `key`: its Level 1 check, which allows at most
/// 13 characters after an `@`, one `@`, and a letter or digit right after it. Checked against
/// `TraceState` itself in the tests.
fn otel_holds(key: &str) -> bool {
    let k = key.as_bytes();
    match k.iter().position(|&b| b == b'@') {
        None => true,
        Some(at) => {
            let system = &k[at + 1..];
            system.len() <= 13
                && !system.contains(&b'@')
                && system
                    .first()
                    .is_none_or(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }
    }
}

fn key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
}

/// Level 2 `key`: a lowercase letter or digit, then up to 255 `keychar`s.
pub(crate) fn valid_key(key: &str) -> bool {
    let k = key.as_bytes();
    k.len() <= 256
        && k.first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && k.iter().copied().all(key_char)
}

/// Up to 256 printable ASCII characters except `,` and `=`, not ending in a space.
pub(crate) fn valid_value(value: &str) -> bool {
    let v = value.as_bytes();
    (1..=256).contains(&v.len())
        && v.last() != Some(&b' ')
        && v.iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(values: &[&str]) -> Option<String> {
        parse(values.iter().copied()).map(|ts| header(&ts))
    }

    /// "When receiving multiple `tracestate` header fields, they MUST be combined into a single
    /// header" (RFC 7230 field order).
    #[test]
    fn multiple_headers_are_joined_in_order() {
        assert_eq!(
            round(&["foo=1, bar=2", "baz=3", ""]).as_deref(),
            Some("foo=1,bar=2,baz=3")
        );
    }

    /// "Empty and whitespace-only list members are allowed"; "Spaces and horizontal tabs
    /// surrounding `list-member`s are ignored"; leading spaces of a value are part of it.
    #[test]
    fn ows_and_empty_members() {
        let cases = [
            ("a=1,,b=2", "a=1,b=2"),
            (" a=1 ,\tb=2 ", "a=1,b=2"),
            ("foo=1 \t , \t bar=2", "foo=1,bar=2"),
            (" , ,\t", ""),
            ("a= leading", "a= leading"),
            ("a=with space", "a=with space"),
        ];
        for (input, expected) in cases {
            assert_eq!(round(&[input]).as_deref(), Some(expected), "{input:?}");
        }
        assert_eq!(round(&[""]).as_deref(), Some(""), "empty header accepted");
    }

    /// Level 2 `key = ( lcalpha / DIGIT ) 0*255( keychar )`, `keychar` with `@`: `@` may appear
    /// anywhere but first, any number of times, and the part after it has no length of its own.
    #[test]
    fn level_2_keys_are_kept() {
        let cases = [
            "a=1",
            "0a=1",
            "a_b-c*d/e=x",
            "foo@=1",
            "foo@@bar=1",
            "foo@bar@baz=1",
            "foo@-x=1",
            "tenant@system=v",
            "0tenant@sys=v",
            "t@vvvvvvvvvvvvvvvvvvvvvvvv=1",
        ];
        for case in cases {
            let kept = round(&[case, "bar=2"]);
            assert_eq!(kept, Some(format!("{case},bar=2")), "{case}");
        }
    }

    /// Level 2: "A `key` MUST begin with a lowercase letter or a digit" and holds only `keychar`s.
    #[test]
    fn keys_outside_the_grammar_drop_the_header() {
        let cases = [
            "@foo=1",
            "@=1",
            "A=1",
            "fOo=1",
            "foo.bar=1",
            "foo =1",
            "_a=1",
            "=1",
            "foo\t=1",
        ];
        for case in cases {
            assert_eq!(round(&["ok=1", case]), None, "{case:?}");
        }
    }

    /// Level 2: a key has "up to 256 characters", wherever its `@` is: 256 valid, 257 not.
    #[test]
    fn keys_up_to_256_characters() {
        let valid = [
            "k".repeat(256),
            format!("{}@{}", "t".repeat(241), "v".repeat(14)),
            format!("{}@v", "t".repeat(254)),
            format!("t@{}", "v".repeat(254)),
            format!("{}@", "t".repeat(255)),
        ];
        for key in &valid {
            assert_eq!(key.len().min(256), key.len());
            let member = format!("{key}=1");
            assert_eq!(
                round(&["ok=1", &member]),
                Some(format!("ok=1,{member}")),
                "{} characters",
                key.len()
            );
        }
        for key in [
            "k".repeat(257),
            format!("{}@{}", "t".repeat(128), "v".repeat(128)),
        ] {
            assert_eq!(round(&["ok=1", &format!("{key}=1")]), None, "{}", key.len());
        }
    }

    /// `value = 0*255(chr) nblk-chr`: 1 to 256 printable ASCII characters but `,` and `=`, not
    /// ending in a space (a trailing space is optional whitespace).
    #[test]
    fn value_grammar() {
        let all: String = (0x20u8..=0x7e)
            .filter(|b| !matches!(b, b',' | b'='))
            .map(char::from)
            .collect();
        assert_eq!(round(&[&format!("k={all}")]), Some(format!("k={all}")));
        let longest = format!("a={}", "v".repeat(256));
        assert_eq!(round(&[&longest]).as_deref(), Some(longest.as_str()));
        let long = format!("a={}", "v".repeat(257));
        for case in [
            "a",
            "a=",
            "a=b=c",
            "a=\u{7f}",
            "a=é",
            "a=\tb",
            long.as_str(),
        ] {
            assert_eq!(round(&["ok=1", case]), None, "{case:?}");
        }
    }

    /// "There can be a maximum of 32 `list-member`s in a `list`."
    #[test]
    fn at_most_32_members() {
        let max: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        let header = max.join(",");
        assert_eq!(round(&[&header]), Some(header.clone()));
        let too_many = format!("{header},k32=v");
        assert_eq!(round(&[&too_many]), None);
    }

    /// Level 2 no longer discards a `tracestate` with a repeated key: "Only one entry per key is
    /// allowed", so obs keeps the first (leftmost, the most recent position) and drops the rest.
    #[test]
    fn repeated_keys_keep_the_first_entry() {
        let cases: [(&[&str], &str); 4] = [
            (&["foo=1,foo=1"], "foo=1"),
            (&["foo=1,foo=2"], "foo=1"),
            (&["foo=1", "foo=2"], "foo=1"),
            (&["foo=1,bar=2,foo=3,baz=4"], "foo=1,bar=2,baz=4"),
        ];
        for (input, expected) in cases {
            assert_eq!(round(input).as_deref(), Some(expected), "{input:?}");
        }
    }

    #[test]
    fn held_members_keep_their_place_and_the_limit() {
        // Long key and long value: the member is held as two entries.
        let key = format!("t@{}", "v".repeat(200));
        let value = "x".repeat(200);
        let input = format!("a=1,{key}={value},b=2");
        assert_eq!(round(&[&input]), Some(input.clone()));
        // 32 members that each take two places: the ones that do not fit go, whole, from the end.
        let members: Vec<String> = (0..32)
            .map(|i| format!("k{i}@{}={}", "s".repeat(200), "v".repeat(100)))
            .collect();
        let kept = round(&[&members.join(",")]).unwrap();
        assert_eq!(kept, members[..16].join(","));
    }

    #[test]
    fn otel_holds_matches_trace_state() {
        let keys = [
            "a".to_owned(),
            "foo@".into(),
            "foo@bar".into(),
            "foo@-bar".into(),
            "foo@@bar".into(),
            "a@b@c".into(),
            format!("t@{}", "v".repeat(13)),
            format!("t@{}", "v".repeat(14)),
            format!("{}@v", "t".repeat(254)),
            "k".repeat(256),
        ];
        for key in keys {
            assert!(valid_key(&key), "{key}");
            let otel = TraceState::from_key_value([(key.as_str(), "1")]).is_ok();
            assert_eq!(otel_holds(&key), otel, "{key}");
        }
    }
}
