//! Metrics to assert on: a snapshot of what a recorder holds, as the samples a scraper reads, and
//! a recorder local to a test.

use obs_core::MetricsHandle;
use obs_core::metrics::{ObsRecorder, SeriesValue, Snapshot};

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

/// Samples plus `# TYPE` and `# HELP` lines: read from a recorder's [`Snapshot`] ([`Self::current`],
/// [`LocalRecorder::snapshot`]) or parsed from the text a real scraper reads ([`Self::parse`]).
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
    /// What the recorder `obs_core::init` installed holds now.
    ///
    /// # Panics
    /// When `init` was not called.
    pub fn current() -> Self {
        let handle = obs_core::prometheus_handle().expect("obs_core::init was not called");
        Self::from_snapshot(&handle.snapshot())
    }

    /// The samples of `snapshot`, named as the text exposition names them (`_bucket` with an `le`
    /// label, `_sum`, `_count` for histograms). No text is rendered and parsed back: [`Self::text`]
    /// is the rendering, for failure messages.
    pub fn from_snapshot(snapshot: &Snapshot) -> Self {
        let mut snap = Self {
            text: snapshot.to_prometheus_text(),
            ..Self::default()
        };
        for family in &snapshot.families {
            let name = &family.name;
            snap.types
                .push((name.clone(), family.kind.as_str().to_owned()));
            if let Some(help) = &family.help {
                snap.helps.push((name.clone(), help.clone()));
            }
            for series in &family.series {
                let sample = |suffix: &str, extra: Option<String>, value: f64| {
                    let mut labels = series.labels.clone();
                    labels.extend(extra.map(|le| ("le".to_owned(), le)));
                    Sample {
                        name: format!("{name}{suffix}"),
                        labels,
                        value,
                    }
                };
                match &series.value {
                    SeriesValue::Counter(v) => snap.samples.push(sample("", None, *v as f64)),
                    SeriesValue::Gauge(v) => snap.samples.push(sample("", None, *v)),
                    SeriesValue::Histogram(h) => {
                        for (bound, count) in &h.buckets {
                            let le = Some(bound.to_string());
                            snap.samples.push(sample("_bucket", le, *count as f64));
                        }
                        let inf = Some("+Inf".to_owned());
                        snap.samples.push(sample("_bucket", inf, h.count as f64));
                        snap.samples.push(sample("_sum", None, h.sum));
                        snap.samples.push(sample("_count", None, h.count as f64));
                    }
                    _ => {}
                }
            }
        }
        snap
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

/// A metrics recorder local to a test: no `obs_core::init`, no process globals, so tests that
/// each use one can run in parallel and assert exact counts.
///
/// It is obs's own recorder ([`ObsRecorder`]): catalog families, the `metrics` macros, the
/// cardinality guard and the buckets behave as under `init`. It is in force on the thread that
/// calls [`Self::run`] or holds [`Self::enter`]'s guard, so async code must run on a
/// current-thread runtime on that thread.
///
/// ```
/// use obs_core::catalog::MetricDef;
/// use obs_core::metrics::CounterVec;
/// use obs_testkit::LocalRecorder;
///
/// const JOBS: MetricDef = MetricDef::counter("doc_local_jobs_total", "Jobs.").with_labels(&["queue"]);
/// static JOBS_VEC: CounterVec = CounterVec::new(&JOBS);
///
/// let recorder = LocalRecorder::new();
/// recorder.run(|| {
///     JOBS_VEC.with(&["mail"]).increment(2);
///     metrics::counter!("doc_local_other_total").increment(1);
/// });
/// let snap = recorder.snapshot();
/// assert_eq!(snap.value("doc_local_jobs_total", &[("queue", "mail")]), Some(2.0));
/// assert_eq!(snap.help("doc_local_jobs_total"), Some("Jobs."));
/// assert_eq!(snap.value("doc_local_other_total", &[]), Some(1.0));
/// ```
#[derive(Debug, Default)]
pub struct LocalRecorder {
    recorder: ObsRecorder,
}

impl LocalRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` with this recorder in force on the current thread.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// Puts this recorder in force on the current thread until the guard is dropped.
    pub fn enter(&self) -> metrics::LocalRecorderGuard<'_> {
        metrics::set_default_local_recorder(&self.recorder)
    }

    /// What the recorder holds now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot::from_snapshot(&self.handle().snapshot())
    }

    /// The recorder's handle (Prometheus text, structured snapshot).
    pub fn handle(&self) -> MetricsHandle {
        self.recorder.handle()
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

    #[test]
    fn a_snapshot_reads_like_the_parsed_text() {
        let recorder = LocalRecorder::new();
        recorder.run(|| {
            metrics::counter!("tk_jobs_total", "queue" => "a\"b").increment(3);
            metrics::gauge!("tk_depth").set(-2.5);
            metrics::describe_histogram!("tk_payload_bytes", "Payloads.");
            metrics::histogram!("tk_payload_bytes", "kind" => "json").record(100.0);
        });
        let direct = recorder.snapshot();
        let parsed = MetricsSnapshot::parse(&direct.text);
        assert_eq!(direct.samples, parsed.samples);
        assert_eq!(direct.types, parsed.types);
        assert_eq!(direct.helps, parsed.helps);
        assert_eq!(
            direct.value(
                "tk_payload_bytes_bucket",
                &[("kind", "json"), ("le", "256")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn local_recorders_count_apart_in_parallel() {
        let threads: Vec<_> = (0..4u64)
            .map(|n| {
                std::thread::spawn(move || {
                    let recorder = LocalRecorder::new();
                    let _in_force = recorder.enter();
                    for _ in 0..=n {
                        metrics::counter!("tk_parallel_total").increment(1);
                    }
                    recorder.snapshot().value("tk_parallel_total", &[])
                })
            })
            .collect();
        let counts: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(counts, [Some(1.0), Some(2.0), Some(3.0), Some(4.0)]);
    }
}
