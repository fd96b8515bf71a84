//! What the catalog's registries share: series created on first use, and the Prometheus text
//! layout of the exporter (`# HELP`, `# TYPE`, escaped label values, sorted families).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, PoisonError, RwLock};

use metrics::Key;

/// A series' label pairs, in the order they were given.
pub(crate) type LabelPairs<'a> = Vec<(&'a str, &'a str)>;

/// The series of `key` in `map`, created by `new` on first use. Looked up by the recorder's own
/// key (name and labels, hashed once when the key is built), so a lookup allocates nothing.
pub(crate) fn series<T>(
    map: &RwLock<HashMap<Key, Arc<T>>>,
    key: &Key,
    new: impl FnOnce() -> T,
) -> Arc<T> {
    if let Some(found) = map.read().unwrap_or_else(PoisonError::into_inner).get(key) {
        return found.clone();
    }
    map.write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key.clone())
        .or_insert_with(|| Arc::new(new()))
        .clone()
}

/// `series` by name, then by label pairs as given: a stable exposition.
pub(crate) fn sorted<T>(
    series: &HashMap<Key, Arc<T>>,
) -> BTreeMap<&str, BTreeMap<LabelPairs<'_>, &T>> {
    let mut sorted: BTreeMap<&str, BTreeMap<LabelPairs<'_>, &T>> = BTreeMap::new();
    for (key, s) in series {
        let labels = key.labels().map(|l| (l.key(), l.value())).collect();
        sorted.entry(key.name()).or_default().insert(labels, s);
    }
    sorted
}

/// A family's `# HELP` and `# TYPE` lines.
pub(crate) fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape(help, false));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `k1="v1",k2="v2"`, values escaped.
pub(crate) fn label_text(labels: &[(&str, &str)]) -> String {
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
pub(crate) fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}
