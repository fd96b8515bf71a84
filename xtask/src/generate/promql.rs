//! Just enough PromQL to find what an expression reads: metric names, the labels its matchers
//! name, and the labels its aggregations group by. The checks compare those with the catalog.

/// A metric an expression reads, with the labels the expression relies on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reference {
    /// The metric name as written (`http_request_latency_ms_bucket`).
    pub(crate) metric: String,
    /// Labels named in its matchers, or in `by (..)` of an aggregation around it.
    pub(crate) labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str,
    Num,
    Punct(char),
    /// Comparison and matcher operators (`=~`, `!=`, `>=`, ...).
    Op,
}

const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
    "atan2",
];
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
];

fn tokenize(expr: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' || c == '`' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            if j >= chars.len() {
                return Err(format!("unterminated string in {expr:?}"));
            }
            toks.push(Tok::Str);
            i = j + 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // Numbers and durations (0.95, 1e3, 5m, 1h30m).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            toks.push(Tok::Num);
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            toks.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if "=!<>".contains(c) {
            while i < chars.len() && "=!<>~".contains(chars[i]) {
                i += 1;
            }
            toks.push(Tok::Op);
        } else if "(){}[],+-*/%^@".contains(c) {
            toks.push(Tok::Punct(c));
            i += 1;
        } else {
            return Err(format!("unexpected {c:?} in {expr:?}"));
        }
    }
    Ok(toks)
}

/// The index of the parenthesis closing the one at `open`.
fn closing(toks: &[Tok], open: usize) -> Result<usize, String> {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err("unbalanced parentheses".to_owned())
}

/// Label names in a `( a, b )` list starting at `open`; returns them and the index after `)`.
fn label_list(toks: &[Tok], open: usize) -> Result<(Vec<String>, usize), String> {
    if toks.get(open) != Some(&Tok::Punct('(')) {
        return Err("expected a label list after by/without/on".to_owned());
    }
    let close = closing(toks, open)?;
    let labels = toks[open + 1..close]
        .iter()
        .filter_map(|t| match t {
            Tok::Ident(l) => Some(l.clone()),
            _ => None,
        })
        .collect();
    Ok((labels, close + 1))
}

/// The metrics `expr` reads and the labels it relies on for each.
pub(crate) fn references(expr: &str) -> Result<Vec<Reference>, String> {
    let toks = tokenize(expr)?;
    let mut refs: Vec<Reference> = Vec::new();
    // Grouping labels of aggregations, with the token range they apply to.
    let mut groupings: Vec<(usize, usize, Vec<String>)> = Vec::new();
    let mut positions: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let Tok::Ident(name) = &toks[i] else {
            i += 1;
            continue;
        };
        let next = toks.get(i + 1);
        if AGGREGATIONS.contains(&name.as_str())
            && matches!(next, Some(Tok::Punct('(')) | Some(Tok::Ident(_)))
        {
            // agg [by|without (..)] ( args ) [by|without (..)]
            // `without (..)` names labels too: they must exist to be dropped.
            let mut j = i + 1;
            let mut grouping = Vec::new();
            if let Some(Tok::Ident(kw)) = toks.get(j) {
                if kw != "by" && kw != "without" {
                    return Err(format!("unexpected {kw:?} after {name}"));
                }
                let (labels, after) = label_list(&toks, j + 1)?;
                grouping = labels;
                j = after;
            }
            let close = closing(&toks, j)?;
            if let Some(Tok::Ident(kw)) = toks.get(close + 1)
                && grouping.is_empty()
                && (kw == "by" || kw == "without")
            {
                grouping = label_list(&toks, close + 2)?.0;
            }
            if !grouping.is_empty() {
                groupings.push((j, close, grouping));
            }
            i = j;
            continue;
        }
        if matches!(
            name.as_str(),
            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
        ) {
            // Skip the label list; `on`/`group_left` labels are matched between two sides that
            // the checks look at separately.
            i = if next == Some(&Tok::Punct('(')) {
                label_list(&toks, i + 1)?.1
            } else {
                i + 1
            };
            continue;
        }
        if KEYWORDS.contains(&name.as_str()) || next == Some(&Tok::Punct('(')) {
            i += 1; // A keyword or a function call.
            continue;
        }
        let mut labels = Vec::new();
        let mut j = i + 1;
        if next == Some(&Tok::Punct('{')) {
            j += 1;
            while j < toks.len() && toks[j] != Tok::Punct('}') {
                if let (Tok::Ident(l), Some(Tok::Op)) = (&toks[j], toks.get(j + 1)) {
                    labels.push(l.clone());
                }
                j += 1;
            }
            j += 1;
        }
        positions.push(i);
        refs.push(Reference {
            metric: name.clone(),
            labels,
        });
        i = j;
    }
    for (start, end, grouping) in groupings {
        for (r, &pos) in refs.iter_mut().zip(&positions) {
            if pos > start && pos < end {
                for l in &grouping {
                    if !r.labels.contains(l) {
                        r.labels.push(l.clone());
                    }
                }
            }
        }
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(expr: &str) -> Vec<(String, Vec<String>)> {
        references(expr)
            .unwrap()
            .into_iter()
            .map(|r| (r.metric, r.labels))
            .collect()
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn histogram_quantile_with_grouping() {
        assert_eq!(
            refs(
                "histogram_quantile(0.95, sum by (le, route) (rate(http_request_latency_ms_bucket{route!=\"/health\"}[5m])))"
            ),
            vec![("http_request_latency_ms_bucket".into(), v(&["route", "le"]))]
        );
    }

    #[test]
    fn grouping_after_the_arguments_and_ratios() {
        assert_eq!(
            refs(
                "sum(rate(a_total{x=~\"1|2\"}[5m])) by (y) / ignoring(z) sum(rate(b_total[5m] offset 1h))"
            ),
            vec![
                ("a_total".into(), v(&["x", "y"])),
                ("b_total".into(), v(&[]))
            ]
        );
    }

    #[test]
    fn keywords_numbers_and_recording_rules() {
        assert_eq!(
            refs(
                "slo:error_ratio:rate1h > on (slo) group_left () (14.4 * slo:error_budget:ratio) and x > bool 1e3"
            ),
            vec![
                ("slo:error_ratio:rate1h".into(), v(&[])),
                ("slo:error_budget:ratio".into(), v(&[])),
                ("x".into(), v(&[])),
            ]
        );
    }

    #[test]
    fn topk_takes_a_number_first() {
        assert_eq!(
            refs("topk(5, sum by (reason) (increase(reports_by_reason_total[1h])))"),
            vec![("reports_by_reason_total".into(), v(&["reason"]))]
        );
    }

    #[test]
    fn malformed_expressions_are_errors() {
        assert!(references("sum(rate(x[5m])").is_err());
        assert!(references("x{a=\"b}").is_err());
        assert!(references("sum foo (x)").is_err());
    }
}
