//! A parser for the Prometheus text exposition format (version 0.0.4), enough for what
//! metrics-exporter-prometheus renders: `# TYPE` lines, samples with labels, histograms.

use std::collections::{BTreeMap, HashMap};

/// The series of one rendering, grouped by kind. Keys are `name` or `name|k=v,k2=v2`, labels in
/// rendered order (`le` excluded for histograms).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) counters: BTreeMap<String, f64>,
    pub(crate) gauges: BTreeMap<String, f64>,
    pub(crate) histograms: BTreeMap<String, Histogram>,
}

/// One histogram series: `_count`, `_sum` and the cumulative `_bucket` counts by `le`, in rendered
/// order (ascending, `+Inf` last). A summary keeps its count and sum and no buckets.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Histogram {
    pub(crate) count: f64,
    pub(crate) sum: f64,
    pub(crate) buckets: Vec<(String, f64)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

impl Snapshot {
    /// Parses `text`. Lines that do not parse are skipped: a scrape endpoint shows what it can.
    pub(crate) fn parse(text: &str) -> Self {
        let mut kinds = HashMap::new();
        let mut snapshot = Self::default();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                    let kind = match kind {
                        "counter" => Kind::Counter,
                        "histogram" | "summary" => Kind::Histogram,
                        _ => Kind::Gauge,
                    };
                    kinds.insert(name, kind);
                }
            } else if !line.is_empty()
                && !line.starts_with('#')
                && let Some(sample) = parse_sample(line)
            {
                snapshot.add(&kinds, sample);
            }
        }
        snapshot
    }

    fn add(&mut self, kinds: &HashMap<&str, Kind>, sample: Sample<'_>) {
        match kinds.get(sample.name) {
            Some(Kind::Counter) => {
                let key = key(sample.name, &sample.labels);
                self.counters.insert(key, sample.value);
            }
            // The quantile lines of a summary.
            Some(Kind::Histogram) => {}
            Some(Kind::Gauge) | None => {
                let part = ["_bucket", "_sum", "_count"]
                    .into_iter()
                    .find_map(|suffix| {
                        let base = sample.name.strip_suffix(suffix)?;
                        (kinds.get(base) == Some(&Kind::Histogram)).then_some((base, suffix))
                    });
                match part {
                    Some((base, suffix)) => self.add_histogram_part(base, suffix, sample),
                    None => {
                        let key = key(sample.name, &sample.labels);
                        self.gauges.insert(key, sample.value);
                    }
                }
            }
        }
    }

    fn add_histogram_part(&mut self, base: &str, suffix: &str, mut sample: Sample<'_>) {
        let le = sample
            .labels
            .iter()
            .position(|(k, _)| *k == "le")
            .map(|i| sample.labels.remove(i).1);
        let entry = self
            .histograms
            .entry(key(base, &sample.labels))
            .or_default();
        match (suffix, le) {
            ("_bucket", Some(le)) => entry.buckets.push((le, sample.value)),
            ("_sum", _) => entry.sum = sample.value,
            ("_count", _) => entry.count = sample.value,
            _ => {}
        }
    }
}

fn key(name: &str, labels: &[(&str, String)]) -> String {
    let mut key = name.to_owned();
    for (i, (k, v)) in labels.iter().enumerate() {
        key.push(if i == 0 { '|' } else { ',' });
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

/// `name{k="v",...} value [timestamp]` or `name value [timestamp]`.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let name_end = line.find(['{', ' ', '\t'])?;
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (k, after) = rest.split_once('=')?;
            let (v, after) = parse_quoted(after.trim_start())?;
            labels.push((k.trim(), v));
            rest = after;
        }
    }
    let value = parse_value(rest.split_whitespace().next()?)?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// A double-quoted label value with `\\`, `\"` and `\n` escapes; returns it and the rest.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut chars = body.char_indices();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &body[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        s => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/a \"b\"\\c"} 3
http_requests_total 1

# TYPE in_flight gauge
in_flight -2.5
# TYPE lat histogram
lat_bucket{route="/x",le="1"} 1
lat_bucket{route="/x",le="10"} 2
lat_bucket{route="/x",le="+Inf"} 3
lat_sum{route="/x"} 27.5
lat_count{route="/x"} 3
# TYPE q summary
q{quantile="0.5"} 4
q_sum 8
q_count 2
untyped_thing{a="1"} 7 1700000000000
garbage line {
"#;

    #[test]
    fn parses_every_kind() {
        let s = Snapshot::parse(TEXT);
        assert_eq!(
            s.counters[r#"http_requests_total|method=GET,route=/a "b"\c"#],
            3.0
        );
        assert_eq!(s.counters["http_requests_total"], 1.0);
        assert_eq!(s.gauges["in_flight"], -2.5);
        assert_eq!(s.gauges["untyped_thing|a=1"], 7.0);
        let lat = &s.histograms["lat|route=/x"];
        assert_eq!((lat.count, lat.sum), (3.0, 27.5));
        let buckets: Vec<_> = lat
            .buckets
            .iter()
            .map(|(le, n)| (le.as_str(), *n))
            .collect();
        assert_eq!(buckets, [("1", 1.0), ("10", 2.0), ("+Inf", 3.0)]);
        let q = &s.histograms["q"];
        assert_eq!((q.count, q.sum, q.buckets.len()), (2.0, 8.0, 0));
        assert_eq!(s.counters.len() + s.gauges.len() + s.histograms.len(), 6);
    }

    #[test]
    fn malformed_samples_are_skipped() {
        for line in [
            "",
            "name",
            "name{a=\"1\" 2",
            "name{a=1} 2",
            "name{a=\"1\"}",
            "name abc",
            "name{a=\"x\\",
        ] {
            assert!(parse_sample(line).is_none(), "{line:?}");
        }
        let inf = parse_sample("n{a=\"1\",} +Inf").unwrap();
        assert_eq!(inf.value, f64::INFINITY);
        assert_eq!(
            parse_sample("n{a=\"x\\ny\"} 1").unwrap().labels[0].1,
            "x\ny"
        );
    }
}
