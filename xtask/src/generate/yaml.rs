//! A small YAML writer: enough for Prometheus, Alertmanager, Grafana provisioning and compose
//! files, with keys in the order they are written (serde_json's maps sort them).

/// A YAML value.
#[derive(Clone, Debug)]
pub(crate) enum Y {
    /// A string, always written double-quoted (JSON escaping, which YAML accepts).
    S(String),
    /// A scalar written as is (numbers, booleans, durations that need no quotes).
    Raw(String),
    /// A sequence.
    L(Vec<Y>),
    /// A mapping, in insertion order.
    M(Vec<(String, Y)>),
}

/// A quoted string.
pub(crate) fn s(v: impl Into<String>) -> Y {
    Y::S(v.into())
}

/// A scalar written without quotes.
pub(crate) fn raw(v: impl ToString) -> Y {
    Y::Raw(v.to_string())
}

/// A mapping from `(key, value)` pairs.
pub(crate) fn m<const N: usize>(pairs: [(&str, Y); N]) -> Y {
    Y::M(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A sequence of quoted strings.
pub(crate) fn strs<S: AsRef<str>>(items: &[S]) -> Y {
    Y::L(items.iter().map(|i| s(i.as_ref())).collect())
}

fn quote(v: &str) -> String {
    serde_json::to_string(v).expect("a string serializes")
}

fn is_block(y: &Y) -> bool {
    matches!(y, Y::L(l) if !l.is_empty()) || matches!(y, Y::M(m) if !m.is_empty())
}

fn scalar(y: &Y) -> String {
    match y {
        Y::S(v) => quote(v),
        Y::Raw(v) => v.clone(),
        Y::L(_) => "[]".to_owned(),
        Y::M(_) => "{}".to_owned(),
    }
}

fn write(out: &mut String, y: &Y, indent: usize) {
    let pad = " ".repeat(indent);
    match y {
        Y::M(pairs) => {
            for (k, v) in pairs {
                if is_block(v) {
                    out.push_str(&format!("{pad}{k}:\n"));
                    let child = if matches!(v, Y::L(_)) {
                        indent
                    } else {
                        indent + 2
                    };
                    write(out, v, child);
                } else {
                    out.push_str(&format!("{pad}{k}: {}\n", scalar(v)));
                }
            }
        }
        Y::L(items) => {
            for item in items {
                if is_block(item) {
                    // The first line of the item goes after the dash, the rest indented under it.
                    let mut inner = String::new();
                    write(&mut inner, item, indent + 2);
                    let trimmed = &inner[indent + 2..];
                    out.push_str(&format!("{pad}- {trimmed}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                }
            }
        }
        _ => out.push_str(&format!("{pad}{}\n", scalar(y))),
    }
}

/// The document, with a `# Generated` comment first.
pub(crate) fn document(y: &Y) -> String {
    let mut out = String::from(crate::generate::PREAMBLE_HASH);
    write(&mut out, y, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_maps_and_lists() {
        let doc = m([
            (
                "groups",
                Y::L(vec![m([
                    ("name", s("a")),
                    (
                        "rules",
                        Y::L(vec![m([("alert", raw("X")), ("for", raw("5m"))])]),
                    ),
                ])]),
            ),
            ("empty", Y::L(vec![])),
        ]);
        let mut out = String::new();
        write(&mut out, &doc, 0);
        assert_eq!(
            out,
            "groups:\n- name: \"a\"\n  rules:\n  - alert: X\n    for: 5m\nempty: []\n"
        );
    }
}
