//! What obs-db records of a statement: its text with every literal replaced by `?`, and its
//! summary (operations and tables, in order), both from one pass of a small lexer.
//!
//! ```
//! let q = obs_db::sql::analyze("SELECT name FROM users WHERE email = 'ann@example.com' AND id IN (1, 2, 3)");
//! assert_eq!(q.text(), "SELECT name FROM users WHERE email = ? AND id IN (?)");
//! assert_eq!(q.summary(), "SELECT users");
//! assert_eq!(q.operation(), Some("SELECT"));
//! assert_eq!(q.collection(), Some("users"));
//! ```

mod cache;
mod lexer;
mod summary;

use lexer::{Kind, Token};

pub use cache::{CACHE_CAPACITY, CACHE_MAX_STATEMENT, analyze_cached};

/// A statement as obs-db records it; see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    text: String,
    summary: String,
    operation: Option<String>,
    table: Option<String>,
    single_table: bool,
}

impl Analysis {
    /// The sanitized statement (`db.query.text`): string, numeric, hex, bit, dollar-quoted and
    /// boolean literals are `?`, `IN` lists of literals and parameters are `(?)`, comments are
    /// gone. Parameter markers (`$1`, `?`) stay.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The `db.query.summary`: operations and the tables they name, in order, at most 255 bytes
    /// (e.g. `INSERT shipping_details SELECT orders`). Empty when the statement names no known
    /// operation.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The statement's operation in upper case (`db.operation.name`): the first operation of the
    /// first statement at the outer level, so `WITH … SELECT` is a `SELECT`.
    pub fn operation(&self) -> Option<&str> {
        self.operation.as_deref()
    }

    /// The table the statement is about (`db.collection.name`), when it names exactly one.
    pub fn collection(&self) -> Option<&str> {
        self.table.as_deref().filter(|_| self.single_table)
    }

    /// The first table at the outer level (or else the first anywhere): the `table` label of the
    /// query metrics, also for statements that name several.
    pub fn main_table(&self) -> Option<&str> {
        self.table.as_deref()
    }
}

/// Sanitizes and summarizes `sql` (no cache; see [`analyze_cached`]).
pub fn analyze(sql: &str) -> Analysis {
    let toks: Vec<Token<'_>> = lexer::tokens(sql).collect();
    let summary = summary::summarize(&toks);
    Analysis {
        text: sanitize(&toks, sql.len()),
        summary: summary.text,
        operation: summary.operation,
        single_table: summary.distinct_tables == 1,
        table: summary.table,
    }
}

fn is_boolean(t: &Token<'_>) -> bool {
    t.kind == Kind::Word
        && (t.text.eq_ignore_ascii_case("true") || t.text.eq_ignore_ascii_case("false"))
}

fn is_value(t: &Token<'_>) -> bool {
    matches!(t.kind, Kind::Literal | Kind::Placeholder) || is_boolean(t)
}

fn sanitize(toks: &[Token<'_>], len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        match t.kind {
            Kind::Comment => {}
            Kind::Literal => out.push('?'),
            _ if is_boolean(&t) => out.push('?'),
            Kind::Word if t.text.eq_ignore_ascii_case("in") => {
                out.push_str(t.text);
                if let Some(next) = collapse_in_list(toks, i + 1, &mut out) {
                    i = next;
                    continue;
                }
            }
            _ => out.push_str(t.text),
        }
        i += 1;
    }
    out
}

/// When the tokens from `from` are `(value, value, …)` (spaces and comments allowed), writes
/// the spaces before it and `(?)`, and returns the index after the `)`.
fn collapse_in_list(toks: &[Token<'_>], from: usize, out: &mut String) -> Option<usize> {
    let mut i = from;
    let mut lead = String::new();
    while let Some(t) = toks
        .get(i)
        .filter(|t| matches!(t.kind, Kind::Space | Kind::Comment))
    {
        if t.kind == Kind::Space {
            lead.push_str(t.text);
        }
        i += 1;
    }
    if toks.get(i)?.text != "(" {
        return None;
    }
    i += 1;
    let mut values = 0;
    loop {
        let t = toks.get(i)?;
        match t.kind {
            Kind::Space | Kind::Comment => {}
            _ if is_value(t) => values += 1,
            Kind::Punct if t.text == "," => {}
            Kind::Punct if t.text == ")" && values > 0 => break,
            _ => return None,
        }
        i += 1;
    }
    out.push_str(&lead);
    out.push_str("(?)");
    Some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_list_of_subquery_is_not_collapsed() {
        let q = analyze("SELECT 1 FROM a WHERE id IN (SELECT id FROM b WHERE x = 2)");
        assert_eq!(
            q.text(),
            "SELECT ? FROM a WHERE id IN (SELECT id FROM b WHERE x = ?)"
        );
        assert_eq!(q.summary(), "SELECT a SELECT b");
        assert_eq!(q.collection(), None);
        assert_eq!(q.main_table(), Some("a"));
    }
}
