//! `db.query.summary`: the operations of a statement and the tables they name, in order, as the
//! OpenTelemetry database conventions describe it (`SELECT orders customers`).

use super::lexer::{Kind, Token};

/// The longest summary, in bytes, as the conventions recommend.
pub(crate) const MAX_SUMMARY: usize = 255;

pub(crate) struct Summary {
    pub(crate) text: String,
    pub(crate) operation: Option<String>,
    pub(crate) table: Option<String>,
    pub(crate) distinct_tables: usize,
}

const OPERATIONS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "UPSERT", "TRUNCATE", "CALL",
    "CREATE", "ALTER", "DROP", "VACUUM", "ANALYZE", "COPY", "PRAGMA",
];
const DDL: &[&str] = &["CREATE", "ALTER", "DROP"];
const OBJECT_TYPES: &[&str] = &[
    "TABLE",
    "INDEX",
    "VIEW",
    "SEQUENCE",
    "SCHEMA",
    "DATABASE",
    "TRIGGER",
    "FUNCTION",
    "PROCEDURE",
    "TYPE",
    "EXTENSION",
    "ROLE",
    "USER",
    "DOMAIN",
    "MATERIALIZED",
];
/// Words between a DDL verb and its object type, or between the type and the name.
const DDL_MODIFIERS: &[&str] = &[
    "OR",
    "REPLACE",
    "TEMP",
    "TEMPORARY",
    "UNIQUE",
    "UNLOGGED",
    "GLOBAL",
    "LOCAL",
    "IF",
    "NOT",
    "EXISTS",
    "CONCURRENTLY",
    "VIRTUAL",
    "RECURSIVE",
];
/// Words after which a name is a table.
const TABLE_INTRODUCERS: &[&str] = &["FROM", "JOIN", "INTO", "UPDATE", "USING", "TRUNCATE"];
/// Words that come between a table introducer and the table.
const TABLE_PREFIXES: &[&str] = &[
    "ONLY", "LATERAL", "OR", "IGNORE", "ROLLBACK", "ABORT", "FAIL",
];
/// Words that end a `FROM` list item instead of being its alias.
const CLAUSES: &[&str] = &[
    "WHERE",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "CROSS",
    "NATURAL",
    "OUTER",
    "ON",
    "GROUP",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "HAVING",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "SET",
    "VALUES",
    "RETURNING",
    "USING",
    "WINDOW",
    "FOR",
    "DEFAULT",
    "SELECT",
    "WITH",
    "AS",
    "WHEN",
    "FETCH",
];

fn is(word: &str, set: &[&str]) -> bool {
    set.iter().any(|k| word.eq_ignore_ascii_case(k))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Nothing,
    /// A table name next (after `FROM`, `JOIN`, `INTO`…); `list` when a comma adds another.
    Table {
        list: bool,
    },
    /// After a `FROM` list item: an alias, a comma, or the end of the list.
    AfterItem,
    /// After a DDL verb: modifiers, then the object type.
    ObjectType,
    /// After a DDL object type: modifiers, then the object's name.
    ObjectName,
}

struct Builder {
    text: String,
    full: bool,
    operation: Option<String>,
    table: Option<(String, bool)>,
    tables: Vec<String>,
}

impl Builder {
    fn push(&mut self, part: &str) {
        if self.full {
            return;
        }
        let sep = usize::from(!self.text.is_empty());
        if self.text.len() + sep + part.len() > MAX_SUMMARY {
            self.full = true;
            if self.text.is_empty() {
                let mut cut = MAX_SUMMARY;
                while !part.is_char_boundary(cut) {
                    cut -= 1;
                }
                self.text.push_str(&part[..cut]);
            }
            return;
        }
        if sep == 1 {
            self.text.push(' ');
        }
        self.text.push_str(part);
    }

    fn table(&mut self, name: String, depth: usize) {
        self.push(&name);
        let outer = depth == 0;
        match &self.table {
            None => self.table = Some((name.clone(), outer)),
            Some((_, false)) if outer => self.table = Some((name.clone(), true)),
            _ => {}
        }
        if !self.tables.contains(&name) {
            self.tables.push(name);
        }
    }
}

pub(crate) fn summarize(all: &[Token<'_>]) -> Summary {
    let toks: Vec<Token<'_>> = all
        .iter()
        .copied()
        .filter(|t| !matches!(t.kind, Kind::Space | Kind::Comment))
        .collect();
    let mut b = Builder {
        text: String::new(),
        full: false,
        operation: None,
        table: None,
        tables: Vec::new(),
    };
    let mut depth = 0_usize;
    let mut expect = Expect::Nothing;
    let mut prev_word = "";
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let word = if t.kind == Kind::Word { t.text } else { "" };
        match expect {
            Expect::Table { list } => {
                if is(word, TABLE_PREFIXES) {
                    i += 1;
                    continue;
                }
                expect = Expect::Nothing;
                if (t.kind == Kind::Word && !is(word, CLAUSES) && !is(word, OPERATIONS))
                    || t.kind == Kind::Quoted
                {
                    let (name, next) = dotted_name(&toks, i);
                    b.table(name, depth);
                    i = next;
                    expect = if list {
                        Expect::AfterItem
                    } else {
                        Expect::Nothing
                    };
                    continue;
                }
            }
            Expect::AfterItem => {
                if t.text == "," {
                    expect = Expect::Table { list: true };
                    i += 1;
                    continue;
                }
                if word.eq_ignore_ascii_case("AS")
                    || (t.kind == Kind::Word && !is(word, CLAUSES) && !is(word, OPERATIONS))
                    || t.kind == Kind::Quoted
                {
                    // An alias.
                    i += 1;
                    continue;
                }
                expect = Expect::Nothing;
            }
            Expect::ObjectType => {
                if is(word, DDL_MODIFIERS) {
                    i += 1;
                    continue;
                }
                expect = Expect::Nothing;
                if is(word, OBJECT_TYPES) {
                    b.push(word);
                    expect = Expect::ObjectName;
                    i += 1;
                    continue;
                }
            }
            Expect::ObjectName => {
                if is(word, DDL_MODIFIERS) || word.eq_ignore_ascii_case("VIEW") {
                    if word.eq_ignore_ascii_case("VIEW") {
                        b.push(word);
                    }
                    i += 1;
                    continue;
                }
                expect = Expect::Nothing;
                if t.kind == Kind::Word || t.kind == Kind::Quoted {
                    let (name, next) = dotted_name(&toks, i);
                    b.table(name, depth);
                    i = next;
                    continue;
                }
            }
            Expect::Nothing => {}
        }
        match t.kind {
            Kind::Punct if t.text == "(" => depth += 1,
            Kind::Punct if t.text == ")" => depth = depth.saturating_sub(1),
            Kind::Punct if t.text == ";" => depth = 0,
            Kind::Word => {
                // `DO UPDATE` (upsert), `FOR UPDATE` (locking), `ON DELETE` (a foreign key's
                // action) and `INSERT OR REPLACE` are no operations of their own.
                let clause_word = is(prev_word, &["DO", "FOR", "ON", "OR"])
                    || (word.eq_ignore_ascii_case("REPLACE") && is(prev_word, &["CREATE"]));
                if is(word, OPERATIONS) && !clause_word {
                    b.push(word);
                    if depth == 0 && b.operation.is_none() {
                        b.operation = Some(word.to_ascii_uppercase());
                    }
                    if is(word, DDL) {
                        expect = Expect::ObjectType;
                    } else if is(word, &["UPDATE", "TRUNCATE"]) {
                        expect = Expect::Table { list: false };
                        // `TRUNCATE TABLE t`; a table named `table` is `FROM table`.
                        if toks
                            .get(i + 1)
                            .is_some_and(|t| t.text.eq_ignore_ascii_case("TABLE"))
                        {
                            i += 1;
                        }
                    }
                } else if is(word, TABLE_INTRODUCERS) && !clause_word {
                    let list =
                        word.eq_ignore_ascii_case("FROM") || word.eq_ignore_ascii_case("USING");
                    expect = Expect::Table { list };
                }
            }
            _ => {}
        }
        prev_word = word;
        i += 1;
    }
    // Statements with no operation of the list (`BEGIN`, `SAVEPOINT`, `SET`, `SHOW`) are named
    // by their first keyword.
    if b.text.is_empty()
        && let Some(first) = toks.first().filter(|t| t.kind == Kind::Word)
    {
        b.push(first.text);
        b.operation = Some(first.text.to_ascii_uppercase());
    }
    let distinct_tables = b.tables.len();
    Summary {
        text: b.text,
        operation: b.operation,
        table: b.table.map(|(name, _)| name),
        distinct_tables,
    }
}

/// A name and its qualifiers (`schema.table`, `"Quoted"."name"`), and the index after it.
fn dotted_name(toks: &[Token<'_>], mut i: usize) -> (String, usize) {
    let mut name = String::from(toks[i].text);
    i += 1;
    while i + 1 < toks.len()
        && toks[i].text == "."
        && matches!(toks[i + 1].kind, Kind::Word | Kind::Quoted)
    {
        name.push('.');
        name.push_str(toks[i + 1].text);
        i += 2;
    }
    (name, i)
}
