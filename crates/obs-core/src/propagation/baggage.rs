//! The `baggage` header (W3C Baggage).

use opentelemetry::baggage::{Baggage, KeyValueMetadata};

/// The most list-members propagated (W3C Baggage, "Limits").
pub const MAX_MEMBERS: usize = 64;
/// The most bytes of list-members propagated, separators included (W3C Baggage, "Limits").
pub const MAX_BYTES: usize = 8_192;

/// Parses `baggage` header values, joined in order as one list.
///
/// A list-member that breaks the grammar (a key that is not a token, a value that is not
/// percent-encoded UTF-8) is skipped on its own. Past 64 members or 8,192 bytes, the remaining
/// members are dropped whole: the spec forbids propagating partial list-members.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Baggage {
    let mut members: Vec<KeyValueMetadata> = Vec::new();
    let mut bytes = 0usize;
    'outer: for value in values {
        for member in value.split(',') {
            let member = member.trim_matches(|c| c == ' ' || c == '\t');
            if member.is_empty() {
                continue;
            }
            let Some(parsed) = parse_member(member) else {
                continue;
            };
            let added = member.len() + usize::from(!members.is_empty());
            if members.len() == MAX_MEMBERS || bytes + added > MAX_BYTES {
                break 'outer;
            }
            bytes += added;
            members.push(parsed);
        }
    }
    members.into_iter().collect()
}

fn parse_member(member: &str) -> Option<KeyValueMetadata> {
    let (kv, properties) = match member.split_once(';') {
        Some((kv, props)) => (kv, Some(props)),
        None => (member, None),
    };
    let (key, value) = kv.split_once('=')?;
    let key = key.trim_matches(|c| c == ' ' || c == '\t');
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if !is_token(key) || !value.bytes().all(is_baggage_octet_or_percent) {
        return None;
    }
    let value = crate::config::percent_decode(value)?;
    let mut metadata = String::new();
    if let Some(props) = properties {
        for prop in props.split(';') {
            let prop = prop.trim_matches(|c| c == ' ' || c == '\t');
            let name = prop.split_once('=').map_or(prop, |(k, _)| k).trim();
            if !is_token(name) {
                return None;
            }
            if !metadata.is_empty() {
                metadata.push(';');
            }
            metadata.push_str(prop);
        }
    }
    Some(KeyValueMetadata::new(key.to_owned(), value, metadata))
}

/// RFC 7230 `token`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `baggage-octet`: printable ASCII except space, `"`, `,`, `;` and `\`.
fn is_baggage_octet_or_percent(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Formats baggage for the header: values percent-encoded, members and bytes within the limits.
pub fn format(baggage: &Baggage) -> String {
    let mut out = String::new();
    let mut count = 0;
    for (key, (value, metadata)) in baggage {
        if count == MAX_MEMBERS {
            break;
        }
        let mut member = String::with_capacity(key.as_str().len() + value.as_str().len() + 1);
        member.push_str(key.as_str());
        member.push('=');
        percent_encode_into(value.as_str(), &mut member);
        if !metadata.as_str().is_empty() {
            member.push(';');
            member.push_str(metadata.as_str());
        }
        let added = member.len() + usize::from(!out.is_empty());
        if out.len() + added > MAX_BYTES {
            continue;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&member);
        count += 1;
    }
    out
}

fn percent_encode_into(value: &str, out: &mut String) {
    for b in value.bytes() {
        if is_baggage_octet_or_percent(b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_members_properties_and_percent_encoding() {
        let b = parse([
            "userId=alice, serverNode = DF%2028 ;prop1;p2=v",
            "isProduction=false",
        ]);
        assert_eq!(b.len(), 3);
        assert_eq!(b.get("userId").unwrap().as_str(), "alice");
        let (value, meta) = b.get_with_metadata("serverNode").unwrap();
        assert_eq!(value.as_str(), "DF 28");
        assert_eq!(meta.as_str(), "prop1;p2=v");
    }

    #[test]
    fn skips_invalid_members_only() {
        let b = parse(["good=1,bad key=2,noequals,=x,v=%zz,q=\"quoted\",also=ok"]);
        let mut keys: Vec<_> = b.iter().map(|(k, _)| k.as_str().to_owned()).collect();
        keys.sort();
        assert_eq!(keys, ["also", "good"]);
    }

    #[test]
    fn keeps_at_most_64_members() {
        let header: Vec<String> = (0..100).map(|i| format!("k{i}=v")).collect();
        let b = parse([header.join(",").as_str()]);
        assert_eq!(b.len(), 64);
        assert!(b.get("k63").is_some());
        assert!(b.get("k64").is_none());
    }

    #[test]
    fn keeps_whole_members_within_8192_bytes() {
        let big = "v".repeat(4000);
        let header = format!("a={big},b={big},c={big}");
        let b = parse([header.as_str()]);
        assert_eq!(b.len(), 2);
        assert!(b.get("c").is_none());
        assert!(format(&b).len() <= MAX_BYTES);
    }

    #[test]
    fn format_round_trips() {
        let b = parse(["k=a%2Cb%20c;meta"]);
        let header = format(&b);
        assert_eq!(header, "k=a%2Cb%20c;meta");
        assert_eq!(parse([header.as_str()]).get("k").unwrap().as_str(), "a,b c");
    }
}
