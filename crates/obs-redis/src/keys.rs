//! Key patterns: what a span may say about the keys a command touches.

use std::fmt;
use std::sync::Arc;

/// The longest segment kept as a word; longer ones become `*`.
const MAX_WORD: usize = 24;
/// The most segments a pattern shows; the rest of the key becomes one `*`.
const MAX_SEGMENTS: usize = 8;

/// Turns keys into patterns for spans.
///
/// A key is never recorded as it is: it may hold a user id, an email address or a session token.
/// [`KeyPatterns`] turns it into a low-cardinality pattern. Rules given with
/// [`KeyPatterns::with_pattern`] are tried first (`user:*:profile` names every key of that shape);
/// a key no rule matches goes through the default normalizer, which splits it at `:`, `/`, `|`
/// and `#` and keeps only segments that are short lowercase words (`session`, `profile`,
/// `rate_limit`), turning the rest into `*`: numbers, ids, UUIDs, hashes, tokens, email
/// addresses, anything with a digit, a capital, a dot or a non-ASCII byte.
///
/// A lowercase word is shown as it is, so a key that holds a user name in lowercase letters
/// (`user:alice`) shows it. Where keys hold such names, add rules for them, or start from
/// [`KeyPatterns::opaque`], which shows no unmatched key at all.
///
/// ```
/// use obs_redis::KeyPatterns;
///
/// let keys = KeyPatterns::default().with_pattern("tenant:*:user:*");
/// assert_eq!(keys.normalize(b"session:3f2a9c0d5e6b7a8f9e0d1c2b3a4f5e6d"), "session:*");
/// assert_eq!(keys.normalize(b"user:42:profile"), "user:*:profile");
/// assert_eq!(keys.normalize(b"order/550e8400-e29b-41d4-a716-446655440000"), "order/*");
/// assert_eq!(keys.normalize(b"tenant:acme:user:bob"), "tenant:*:user:*");
/// assert_eq!(KeyPatterns::opaque().normalize(b"user:42"), "*");
/// ```
///
/// Cheap to clone (the rules are shared).
#[derive(Clone)]
pub struct KeyPatterns {
    rules: Arc<[Rule]>,
    fallback: Fallback,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fallback {
    Normalize,
    Opaque,
}

#[derive(Clone)]
struct Rule {
    text: String,
    delimiter: u8,
    segments: Vec<Segment>,
}

#[derive(Clone, PartialEq, Eq)]
enum Segment {
    Literal(Vec<u8>),
    /// `*`: any one segment.
    Any,
    /// A trailing `**`: any rest, including nothing.
    Rest,
}

impl Default for KeyPatterns {
    /// No rules; every key through the default normalizer.
    fn default() -> Self {
        Self {
            rules: Arc::from(Vec::new()),
            fallback: Fallback::Normalize,
        }
    }
}

impl KeyPatterns {
    /// The default: no rules, the default normalizer (segments that are not short lowercase
    /// words become `*`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records no key shape at all: every key becomes `*` unless a rule matches it.
    pub fn opaque() -> Self {
        Self {
            fallback: Fallback::Opaque,
            ..Self::default()
        }
    }

    /// Adds a rule: a key with the same segments as `pattern` (split at the first of `:`, `/`,
    /// `.`, `|` found in it, `:` otherwise), where `*` matches any one segment and a final `**`
    /// any rest, is recorded as `pattern` itself. Rules are tried in the order they were added.
    pub fn with_pattern(mut self, pattern: impl Into<String>) -> Self {
        let text = pattern.into();
        let delimiter = text
            .bytes()
            .find(|b| matches!(b, b':' | b'/' | b'.' | b'|'))
            .unwrap_or(b':');
        let segments = text
            .as_bytes()
            .split(|b| *b == delimiter)
            .map(|s| match s {
                b"*" => Segment::Any,
                b"**" => Segment::Rest,
                other => Segment::Literal(other.to_vec()),
            })
            .collect();
        let mut rules = self.rules.to_vec();
        rules.push(Rule {
            text,
            delimiter,
            segments,
        });
        self.rules = Arc::from(rules);
        self
    }

    /// The pattern of `key`.
    pub fn normalize(&self, key: &[u8]) -> String {
        let mut out = String::new();
        self.normalize_into(key, &mut out);
        out
    }

    /// Appends the pattern of `key` to `out`.
    pub fn normalize_into(&self, key: &[u8], out: &mut String) {
        if let Some(rule) = self.rules.iter().find(|r| r.matches(key)) {
            out.push_str(&rule.text);
            return;
        }
        match self.fallback {
            Fallback::Opaque => out.push('*'),
            Fallback::Normalize => normalize_default(key, out),
        }
    }
}

impl Rule {
    fn matches(&self, key: &[u8]) -> bool {
        let mut parts = key.split(|b| *b == self.delimiter);
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::Any => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(lit) => match parts.next() {
                    Some(part) if part == lit.as_slice() => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b':' | b'/' | b'|' | b'#')
}

/// Whether a segment may be shown: a short word of lowercase letters, `_` and `-`, with at least
/// one letter. Digits, capitals and anything else mark ids, hashes, tokens, emails, names.
fn is_word(segment: &[u8]) -> bool {
    !segment.is_empty()
        && segment.len() <= MAX_WORD
        && segment
            .iter()
            .all(|b| b.is_ascii_lowercase() || *b == b'_' || *b == b'-')
        && segment.iter().any(u8::is_ascii_lowercase)
        && !looks_like_hex(segment)
}

/// Lowercase hex of 8 characters or more that happens to contain only letters (`deadbeef`).
fn looks_like_hex(segment: &[u8]) -> bool {
    segment.len() >= 8 && segment.iter().all(u8::is_ascii_hexdigit)
}

fn normalize_default(key: &[u8], out: &mut String) {
    let mut start = 0;
    let mut segments = 0;
    for i in 0..=key.len() {
        if i < key.len() && !is_delimiter(key[i]) {
            continue;
        }
        let segment = &key[start..i];
        segments += 1;
        if segments > MAX_SEGMENTS {
            out.push('*');
            return;
        }
        if is_word(segment) {
            // A word is ASCII by construction.
            out.extend(segment.iter().map(|b| char::from(*b)));
        } else if !segment.is_empty() {
            out.push('*');
        }
        if i < key.len() {
            out.push(char::from(key[i]));
        }
        start = i + 1;
    }
}

impl fmt::Debug for KeyPatterns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPatterns")
            .field(
                "rules",
                &self
                    .rules
                    .iter()
                    .map(|r| r.text.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("fallback", &self.fallback)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_normalizer_table() {
        let keys = KeyPatterns::default();
        for (key, pattern) in [
            ("session:abc123", "session:*"),
            ("user:42:profile", "user:*:profile"),
            ("user:alice.secret@example.com", "user:*"),
            (
                "cache:product:9f86d081884c7d659a2feaa0c55ad015",
                "cache:product:*",
            ),
            ("deadbeefcafe", "*"),
            ("rate_limit:login:10.0.0.1", "rate_limit:login:*"),
            ("user:alice", "user:alice"),
            ("Token:XyZ", "*:*"),
            ("jobs", "jobs"),
            ("", ""),
            ("a::b", "a::b"),
            ("feed/2026/11/29", "feed/*/*/*"),
            ("k\u{e9}y:x", "*:x"),
            ("a:b:c:d:e:f:g:h:i:j", "a:b:c:d:e:f:g:h:*"),
            ("averyveryverylongwordthatgoeson:x", "*:x"),
        ] {
            assert_eq!(keys.normalize(key.as_bytes()), pattern, "{key}");
        }
    }

    #[test]
    fn rules_come_first_in_order() {
        let keys = KeyPatterns::opaque()
            .with_pattern("user:*:profile")
            .with_pattern("user/**")
            .with_pattern("user:*");
        assert_eq!(keys.normalize(b"user:Bob:profile"), "user:*:profile");
        assert_eq!(keys.normalize(b"user:Bob"), "user:*");
        assert_eq!(keys.normalize(b"user:Bob:other"), "*");
        assert_eq!(keys.normalize(b"user/a/b/c"), "user/**");
        assert_eq!(keys.normalize(b"user/"), "user/**");
        assert_eq!(keys.normalize(b"order:1"), "*");
    }

    proptest! {
        /// Nothing but words of the key, delimiters and `*` come out, and no digit ever does.
        #[test]
        fn default_never_shows_digits_or_capitals(key in proptest::collection::vec(any::<u8>(), 0..64)) {
            let pattern = KeyPatterns::default().normalize(&key);
            prop_assert!(pattern.bytes().all(|b| b.is_ascii_lowercase() || b"_-*:/|#".contains(&b)), "{}", pattern);
            prop_assert!(pattern.len() <= key.len().max(1) + MAX_SEGMENTS);
        }
    }
}
