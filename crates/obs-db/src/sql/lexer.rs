//! A small SQL lexer: just enough of PostgreSQL's and SQLite's lexical rules to tell literals,
//! identifiers, placeholders and comments apart, so that no literal survives sanitizing.
//!
//! It works on bytes. Every byte at or above 0x80 (any part of a non-ASCII character) counts as an
//! identifier byte, and tokens only end at ASCII bytes, so every token is a valid `str` slice.
//! Anything unterminated (a string, a quoted identifier, a comment) runs to the end of the text:
//! a secret after an unbalanced quote is still a literal.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A keyword or an unquoted identifier.
    Word,
    /// A `"quoted"` or `` `quoted` `` identifier.
    Quoted,
    /// A string, numeric, hex, bit or dollar-quoted literal (booleans are words).
    Literal,
    /// A bind parameter: `$1`, `?`, `?1`, `:name`, `@name`.
    Placeholder,
    /// Spaces, tabs, newlines.
    Space,
    /// A `--` or `/* */` comment.
    Comment,
    /// Any other character (or `::`).
    Punct,
}

/// One token: its kind and its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) kind: Kind,
    pub(crate) text: &'a str,
}

/// The tokens of `sql`, in order; their texts concatenated give `sql` back.
pub(crate) fn tokens(sql: &str) -> Tokens<'_> {
    Tokens { sql, pos: 0 }
}

/// The iterator [`tokens`] returns.
#[derive(Debug)]
pub(crate) struct Tokens<'a> {
    sql: &'a str,
    pos: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.sql.as_bytes();
        let start = self.pos;
        let &first = bytes.get(start)?;
        let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
        let (kind, end) = match first {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                let mut i = start + 1;
                while matches!(at(i), b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
                    i += 1;
                }
                (Kind::Space, i)
            }
            b'-' if at(start + 1) == b'-' => {
                // The newline stays: it is whitespace the statement keeps.
                let end = memchr(b'\n', bytes, start).unwrap_or(bytes.len());
                (Kind::Comment, end)
            }
            b'/' if at(start + 1) == b'*' => (Kind::Comment, block_comment_end(bytes, start)),
            b'\'' => (Kind::Literal, quoted_end(bytes, start + 1, b'\'', false)),
            b'"' | b'`' => (Kind::Quoted, quoted_end(bytes, start + 1, first, false)),
            b'$' if at(start + 1).is_ascii_digit() => {
                (Kind::Placeholder, digits_end(bytes, start + 1))
            }
            b'$' => match dollar_quote_end(bytes, start) {
                Some(end) => (Kind::Literal, end),
                None => (Kind::Punct, start + 1),
            },
            b'?' => (Kind::Placeholder, digits_end(bytes, start + 1)),
            b':' if at(start + 1) == b':' => (Kind::Punct, start + 2),
            b':' | b'@' if is_ident_start(at(start + 1)) => {
                (Kind::Placeholder, ident_end(bytes, start + 1))
            }
            b'0'..=b'9' => (Kind::Literal, number_end(bytes, start)),
            b'.' if at(start + 1).is_ascii_digit() => (Kind::Literal, number_end(bytes, start)),
            b'+' | b'-'
                if at(start + 1).is_ascii_digit()
                    || (at(start + 1) == b'.' && at(start + 2).is_ascii_digit()) =>
            {
                // A signed number is one literal, as the conventions' cases want (`99+100` → `??`).
                (Kind::Literal, number_end(bytes, start + 1))
            }
            b if is_ident_start(b) => {
                let end = ident_end(bytes, start);
                let word = &bytes[start..end];
                match (word, at(end)) {
                    // E'…' (backslash escapes), X'…' (hex), B'…' (bits), N'…' (national).
                    ([b'e' | b'E'], b'\'') => {
                        (Kind::Literal, quoted_end(bytes, end + 1, b'\'', true))
                    }
                    ([b'x' | b'X' | b'b' | b'B' | b'n' | b'N'], b'\'') => {
                        (Kind::Literal, quoted_end(bytes, end + 1, b'\'', false))
                    }
                    // U&'…' (Unicode escapes).
                    ([b'u' | b'U'], b'&') if at(end + 1) == b'\'' => {
                        (Kind::Literal, quoted_end(bytes, end + 2, b'\'', false))
                    }
                    _ => (Kind::Word, end),
                }
            }
            _ => (Kind::Punct, start + 1),
        };
        self.pos = end;
        Some(Token {
            kind,
            text: &self.sql[start..end],
        })
    }
}

fn memchr(needle: u8, bytes: &[u8], from: usize) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|&b| b == needle)
        .map(|i| from + i)
}

fn ident_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && is_ident(bytes[i]) {
        i += 1;
    }
    i
}

fn digits_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// The end of a number starting at `i`: decimal, `0x` hex, with a fraction and an exponent, and
/// any identifier bytes glued to it (`1e`, `12abc`), which are part of no identifier either.
fn number_end(bytes: &[u8], i: usize) -> usize {
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let mut i = i;
    if at(i) == b'0' && matches!(at(i + 1), b'x' | b'X') {
        return ident_end(bytes, i + 2);
    }
    i = digits_end(bytes, i);
    if at(i) == b'.' {
        i = digits_end(bytes, i + 1);
    }
    if matches!(at(i), b'e' | b'E') {
        let sign = usize::from(matches!(at(i + 1), b'+' | b'-'));
        if at(i + 1 + sign).is_ascii_digit() {
            i = digits_end(bytes, i + 1 + sign);
        }
    }
    ident_end(bytes, i)
}

/// The end of a quoted text whose opening quote precedes `i`: a doubled quote is an escaped
/// one, and with `backslash` a backslash escapes the next byte. Unterminated: the end.
fn quoted_end(bytes: &[u8], mut i: usize, quote: u8, backslash: bool) -> usize {
    while i < bytes.len() {
        let b = bytes[i];
        if backslash && b == b'\\' {
            i += 2;
        } else if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The end of a `/* */` comment starting at `start`; PostgreSQL nests them.
fn block_comment_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0_usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end of a dollar-quoted string (`$$…$$`, `$tag$…$tag$`) starting at `start`, or `None`
/// when the `$` opens none.
fn dollar_quote_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if i < bytes.len() && !bytes[i].is_ascii_digit() {
        while i < bytes.len() && is_ident(bytes[i]) && bytes[i] != b'$' {
            i += 1;
        }
    }
    if bytes.get(i) != Some(&b'$') {
        return None;
    }
    let tag = &bytes[start..=i];
    let body = i + 1;
    Some(
        bytes[body..]
            .windows(tag.len())
            .position(|w| w == tag)
            .map_or(bytes.len(), |p| body + p + tag.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(Kind, &str)> {
        tokens(sql).map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn tokens_concatenate_to_the_input() {
        for sql in [
            "SELECT 'a''b', E'x\\'y', $$z$$, $t$ $ $t$, \"q\"\"i\" -- c\n/* a /* b */ c */ 1",
            "SELECT 'unterminated",
            "SELECT /* unterminated",
            "SELECT $tag$ never closed",
            "SELECT ünïcødé, '日本語' FROM \"tâble\"",
            "x::text, :name, @p, ?1, $12, 1e+, 0x, .5",
        ] {
            assert_eq!(tokens(sql).map(|t| t.text).collect::<String>(), sql);
        }
    }

    #[test]
    fn literal_kinds() {
        assert_eq!(
            kinds("E'a\\'b' x'0F' $q$it's$q$"),
            vec![
                (Kind::Literal, "E'a\\'b'"),
                (Kind::Space, " "),
                (Kind::Literal, "x'0F'"),
                (Kind::Space, " "),
                (Kind::Literal, "$q$it's$q$"),
            ]
        );
        assert_eq!(kinds("$1")[0], (Kind::Placeholder, "$1"));
        assert_eq!(kinds("a::int")[1], (Kind::Punct, "::"));
    }
}
