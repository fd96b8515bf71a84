//! The Prometheus text exposition (version 0.0.4) of a [`Snapshot`]: `# HELP`, `# TYPE`, escaped
//! label values, families sorted by name.

use std::fmt::Write as _;

use crate::snapshot::{SeriesValue, Snapshot};

/// Appends the text of every family in `snapshot` to `out`.
pub(crate) fn render(snapshot: &Snapshot, out: &mut String) {
    for family in &snapshot.families {
        let name = &family.name;
        if let Some(help) = &family.help {
            let _ = writeln!(out, "# HELP {name} {}", escape(help, false));
        }
        let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
        for series in &family.series {
            let base = label_text(&series.labels);
            let braces = if base.is_empty() {
                String::new()
            } else {
                format!("{{{base}}}")
            };
            match &series.value {
                SeriesValue::Counter(v) => {
                    let _ = writeln!(out, "{name}{braces} {v}");
                }
                SeriesValue::Gauge(v) => {
                    let _ = writeln!(out, "{name}{braces} {}", number(*v));
                }
                SeriesValue::Histogram(h) => {
                    let sep = if base.is_empty() { "" } else { "," };
                    for (bound, count) in &h.buckets {
                        let _ = writeln!(out, "{name}_bucket{{{base}{sep}le=\"{bound}\"}} {count}");
                    }
                    let _ = writeln!(out, "{name}_bucket{{{base}{sep}le=\"+Inf\"}} {}", h.count);
                    let _ = writeln!(out, "{name}_sum{braces} {}", number(h.sum));
                    let _ = writeln!(out, "{name}_count{braces} {}", h.count);
                }
            }
        }
        out.push('\n');
    }
}

/// `k1="v1",k2="v2"`, values escaped.
fn label_text(labels: &[(String, String)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{k}=\"{}\"", escape(v, true));
    }
    s
}

/// Escapes a label value (`\`, `"` and newlines) or a HELP text (`\` and newlines).
fn escape(value: &str, quote: bool) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '\n', '"']) {
        return value.into();
    }
    let mut s = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '"' if quote => s.push_str("\\\""),
            c => s.push(c),
        }
    }
    s.into()
}

/// A sample value as the text format spells it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}
