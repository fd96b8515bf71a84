//! The `tracestate` header (W3C Trace Context, section 3.3).

use opentelemetry::trace::TraceState;

/// The most list-members a `tracestate` may carry.
pub const MAX_MEMBERS: usize = 32;

/// Parses the `tracestate` header values, joined in order as one list.
///
/// Empty list-members are ignored. The whole `tracestate` is dropped (`None`) when any member is
/// invalid (key or value grammar), a key appears twice, or there are more than 32 members; the
/// `traceparent` stays valid in every case. A valid key that opentelemetry's `TraceState` cannot
/// hold (a 14-character system id) is the one member left out.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<TraceState> {
    let mut members: Vec<(&str, &str)> = Vec::new();
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
            if members.len() == MAX_MEMBERS || members.iter().any(|(k, _)| *k == key) {
                return None;
            }
            members.push((key, val));
        }
    }
    if members.is_empty() {
        return Some(TraceState::NONE);
    }
    TraceState::from_key_value(members.iter().copied())
        .ok()
        .or_else(|| representable(&members))
}

/// The members `TraceState` can hold, in order.
///
/// Every member here is valid by the spec, but opentelemetry's `TraceState` rejects a key whose
/// system id (after `@`) has the 14 characters the spec allows (an off-by-one upstream). Dropping
/// that member alone keeps the rest of the vendors' state instead of losing all of it.
fn representable(members: &[(&str, &str)]) -> Option<TraceState> {
    let kept = members
        .iter()
        .filter(|member| TraceState::from_key_value([**member]).is_ok());
    TraceState::from_key_value(kept.copied()).ok()
}

fn key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
}

/// `simple-key` or `multi-tenant-key` (`tenant@system`).
pub(crate) fn valid_key(key: &str) -> bool {
    let k = key.as_bytes();
    match key.split_once('@') {
        None => {
            k.len() <= 256
                && k.first().is_some_and(u8::is_ascii_lowercase)
                && k.iter().copied().all(key_char)
        }
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            (1..=241).contains(&t.len())
                && t.first()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && t.iter().copied().all(key_char)
                && (1..=14).contains(&s.len())
                && s.first().is_some_and(u8::is_ascii_lowercase)
                && s.iter().copied().all(key_char)
        }
    }
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

    #[test]
    fn joins_several_headers_in_order() {
        let ts = parse(["foo=1, bar=2", "baz=3", ""]).unwrap();
        assert_eq!(ts.header(), "foo=1,bar=2,baz=3");
    }

    #[test]
    fn accepts_valid_members() {
        let cases = [
            "a=1",
            "a_b-c*d/e=x",
            "tenant@system=v",
            "0tenant@sys=v",
            "a= leading",
            "a=with space",
            "a=1,,b=2",
            " a=1 ,\tb=2 ",
        ];
        for case in cases {
            assert!(parse([case]).is_some(), "{case}");
        }
        let max: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            parse([max.join(",").as_str()])
                .unwrap()
                .header()
                .split(',')
                .count(),
            32
        );
    }

    #[test]
    fn drops_the_whole_header_on_any_invalid_member() {
        let long_key = format!("{}=v", "a".repeat(257));
        let long_value = format!("a={}", "v".repeat(257));
        let cases = [
            "A=1",
            "1a=1",
            "a",
            "a=",
            "a=1,b",
            "a=x,a=y",
            "a=b=c",
            "@sys=v",
            "tenant@=v",
            "tenant@Sys=v",
            "tenant@systemnametoolong=v",
            "a=\u{7f}",
            "a=é",
            long_key.as_str(),
            long_value.as_str(),
        ];
        for case in cases {
            assert!(parse(["ok=1", case]).is_none(), "{case:?}");
        }
        let too_many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(parse([too_many.join(",").as_str()]).is_none());
    }

    #[test]
    fn key_length_limits() {
        let longest = format!("{}=1", "k".repeat(256));
        let longest_tenant = format!("{}@sys=1", "t".repeat(241));
        for case in [
            longest.as_str(),
            longest_tenant.as_str(),
            "t@vvvvvvvvvvvvvv=1",
        ] {
            assert!(parse(["ok=1", case]).is_some(), "{case}");
        }
        let too_long = format!("{}=1", "k".repeat(257));
        let tenant_too_long = format!("{}@sys=1", "t".repeat(242));
        for case in [
            too_long.as_str(),
            tenant_too_long.as_str(),
            "t@vvvvvvvvvvvvvvv=1",
        ] {
            assert!(parse(["ok=1", case]).is_none(), "{case}");
        }
    }

    #[test]
    fn a_14_character_system_id_keeps_the_other_members() {
        // Valid by the spec, but opentelemetry's TraceState cannot hold it: only that member goes.
        let key = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        assert!(valid_key(&key));
        let ts = parse(["foo=1", &format!("{key}=1"), "bar=2"]).unwrap();
        assert_eq!(ts.header(), "foo=1,bar=2");
    }
}
