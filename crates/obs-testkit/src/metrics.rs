//! A snapshot of the Prometheus text exposition, parsed into samples to assert on.

/// One sample line: `name{labels} value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample name (with `_bucket`, `_sum` or `_count` for histogram parts).
    pub name: String,
    /// The labels, in the order rendered.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The value of a label, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn matches(&self, labels: &[(&str, &str)]) -> bool {
        labels.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

/// Parsed Prometheus text: samples plus `# TYPE` and `# HELP` lines.
///
/// ```
/// let snap = obs_testkit::MetricsSnapshot::parse(
///     "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total{queue=\"a\"} 3\n",
/// );
/// assert_eq!(snap.value("jobs_total", &[("queue", "a")]), Some(3.0));
/// assert_eq!(snap.kind("jobs_total"), Some("counter"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct MetricsSnapshot {
    /// Every sample.
    pub samples: Vec<Sample>,
    types: Vec<(String, String)>,
    helps: Vec<(String, String)>,
    /// The text it was parsed from.
    pub text: String,
}

impl MetricsSnapshot {
    /// Renders the recorder `obs_core::init` installed and parses the result.
    ///
    /// # Panics
    /// When `init` was not called.
    pub fn current() -> Self {
        let handle = obs_core::prometheus_handle().expect("obs_core::init was not called");
        Self::parse(&handle.render())
    }

    /// Parses Prometheus text exposition.
    pub fn parse(text: &str) -> Self {
        let mut snap = Self {
            text: text.to_owned(),
            ..Self::default()
        };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                if let Some((name, kind)) = rest.split_once(' ') {
                    snap.types.push((name.to_owned(), kind.trim().to_owned()));
                }
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                if let Some((name, help)) = rest.split_once(' ') {
                    snap.helps.push((name.to_owned(), help.to_owned()));
                }
            } else if !line.starts_with('#')
                && let Some(sample) = parse_sample(line)
            {
                snap.samples.push(sample);
            }
        }
        snap
    }

    /// The `# TYPE` of a metric family.
    pub fn kind(&self, name: &str) -> Option<&str> {
        self.types
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| k.as_str())
    }

    /// The `# HELP` of a metric family.
    pub fn help(&self, name: &str) -> Option<&str> {
        self.helps
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.as_str())
    }

    /// Every sample named `name` whose labels include `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name && s.matches(labels))
            .collect()
    }

    /// The value of the one sample named `name` with `labels`; `None` if there is none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.find(name, labels).first().map(|s| s.value)
    }

    /// The sum over every sample named `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).iter().map(|s| s.value).sum()
    }

    /// The number of distinct series of a counter or gauge (of `_count` for a histogram).
    pub fn series_count(&self, name: &str) -> usize {
        let count_name = format!("{name}_count");
        self.samples
            .iter()
            .filter(|s| s.name == name || s.name == count_name)
            .count()
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (name_and_labels, value) = match line.find('{') {
        Some(_) => {
            let close = line.rfind('}')?;
            (&line[..=close], line[close + 1..].trim())
        }
        None => {
            let (n, v) = line.split_once(' ')?;
            (n, v.trim())
        }
    };
    let value = value.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match name_and_labels.split_once('{') {
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
        None => (name_and_labels, Vec::new()),
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn parse_labels(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next()? != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.push((key.trim().to_owned(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_histograms_and_escapes() {
        let text = "# TYPE h histogram\nh_bucket{le=\"1\",r=\"a\\\"b\"} 2\nh_bucket{le=\"+Inf\",r=\"a\\\"b\"} 3\nh_sum{r=\"a\\\"b\"} 4.5\nh_count{r=\"a\\\"b\"} 3\nplain 7\n";
        let snap = MetricsSnapshot::parse(text);
        assert_eq!(snap.kind("h"), Some("histogram"));
        assert_eq!(
            snap.value("h_bucket", &[("le", "+Inf"), ("r", "a\"b")]),
            Some(3.0)
        );
        assert_eq!(snap.value("h_count", &[]), Some(3.0));
        assert_eq!(snap.value("plain", &[]), Some(7.0));
        assert_eq!(snap.series_count("h"), 1);
    }
}
