//! The report: medians across rounds, ratios to bare axum measured in the same round, rendered as
//! the Markdown of `docs/performance.md`.

use std::fmt::Write as _;

use crate::{Config, Options};

/// One configuration measured in one round.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sample {
    /// Requests per second in the measured window.
    pub(crate) throughput: f64,
    /// Median latency, µs.
    pub(crate) p50_us: f64,
    /// 99th percentile latency, µs.
    pub(crate) p99_us: f64,
    /// Server CPU time (user + system, all threads) per request, µs.
    pub(crate) cpu_us: f64,
    /// Server CPU time over wall time in the window (1.0: one core fully busy).
    pub(crate) busy: f64,
    /// Spans that reached the exporter per request served (warm-up included), if known.
    pub(crate) spans_per_request: Option<f64>,
    /// Spans obs's export queue dropped.
    pub(crate) dropped: u64,
    /// Failed or non-200 requests.
    pub(crate) errors: u64,
}

/// Where the figures come from.
impl Sample {
    /// The mean of two measurements of one configuration (the bare axum measured just before and
    /// just after another configuration).
    pub(crate) fn mean(a: &Self, b: &Self) -> Self {
        let mid = f64::midpoint;
        Self {
            throughput: mid(a.throughput, b.throughput),
            p50_us: mid(a.p50_us, b.p50_us),
            p99_us: mid(a.p99_us, b.p99_us),
            cpu_us: mid(a.cpu_us, b.cpu_us),
            busy: mid(a.busy, b.busy),
            spans_per_request: None,
            dropped: a.dropped.max(b.dropped),
            errors: a.errors + b.errors,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) cpus: usize,
    pub(crate) model: String,
    load: String,
}

impl Machine {
    /// Reads `/proc/cpuinfo` and `/proc/loadavg` (before the driver pins itself).
    pub(crate) fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpus = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map_or("unknown CPU".into(), |(_, m)| m.trim().to_owned());
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load = load
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let cpus = if cpus == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            cpus
        };
        Self { cpus, model, load }
    }
}

/// Figures measured here earlier with wrk (1 server worker, median of 3 interleaved rounds):
/// added server CPU per request (µs) and throughput as a ratio to bare.
fn earlier(config: Config) -> Option<(f64, f64)> {
    match config {
        Config::TowerHttpTrace => Some((2.2, 0.84)),
        Config::AxumPrometheus => Some((2.5, 0.77)),
        Config::TowerHttpOtel => Some((4.9, 0.64)),
        Config::AxumPrometheusOtel => Some((7.0, 0.57)),
        _ => None,
    }
}

/// Every sample of a run, by configuration and round.
#[derive(Debug)]
pub(crate) struct Report {
    options: Options,
    machine: Machine,
    pinning: &'static str,
    date: String,
    /// Per configuration and round: the configuration's measurement.
    samples: Vec<Vec<Option<Sample>>>,
    /// Per configuration and round: the bare axum it is compared with, the mean of the bare
    /// measurements just before and just after it (`None`: the round's bare measurement).
    baselines: Vec<Vec<Option<Sample>>>,
    /// Every bare measurement, for bare's own figures.
    bares: Vec<Sample>,
}

/// The median; `NaN` for no values.
fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        f64::midpoint(values[mid - 1], values[mid])
    }
}

pub(crate) fn now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown date".into(), |s| s.trim().to_owned())
}

impl Report {
    pub(crate) fn new(options: &Options, machine: Machine, pinning: &'static str) -> Self {
        Self {
            samples: vec![vec![None; options.rounds]; options.configs.len()],
            baselines: vec![vec![None; options.rounds]; options.configs.len()],
            bares: Vec::new(),
            options: options.clone(),
            machine,
            pinning,
            date: now(),
        }
    }

    /// Adds a measurement; a round's first bare measurement is its baseline for configurations
    /// added without one of their own.
    pub(crate) fn add(&mut self, round: usize, config: Config, sample: Sample) {
        if config == Config::Bare {
            self.bares.push(sample);
        }
        if let Some(i) = self.options.configs.iter().position(|&c| c == config) {
            self.samples[i][round].get_or_insert(sample);
        }
    }

    /// Adds a measurement with the bare axum it is compared with.
    pub(crate) fn add_paired(
        &mut self,
        round: usize,
        config: Config,
        sample: Sample,
        baseline: Sample,
    ) {
        if let Some(i) = self.options.configs.iter().position(|&c| c == config) {
            self.samples[i][round] = Some(sample);
            self.baselines[i][round] = Some(baseline);
        }
    }

    fn values(&self, i: usize, metric: fn(&Sample) -> f64) -> Vec<f64> {
        if i == 0 && !self.bares.is_empty() {
            return self.bares.iter().map(metric).collect();
        }
        self.samples[i].iter().flatten().map(metric).collect()
    }

    /// The median over rounds of `combine(config, its bare)` for the rounds where both were
    /// measured.
    fn versus_bare(
        &self,
        i: usize,
        metric: fn(&Sample) -> f64,
        combine: fn(f64, f64) -> f64,
    ) -> f64 {
        median(
            self.per_round_bare(i, metric, combine)
                .into_iter()
                .flatten()
                .collect(),
        )
    }

    /// `combine(config i, its bare)` in each round; `None` where either is missing.
    fn per_round_bare(
        &self,
        i: usize,
        metric: fn(&Sample) -> f64,
        combine: fn(f64, f64) -> f64,
    ) -> Vec<Option<f64>> {
        (0..self.options.rounds)
            .map(|r| {
                let sample = self.samples[i][r].as_ref()?;
                let bare = self.baselines[i][r]
                    .as_ref()
                    .or(self.samples[0][r].as_ref())?;
                Some(combine(metric(sample), metric(bare)))
            })
            .collect()
    }

    /// The median over rounds of what config `i` adds to its bare beyond what config `j` adds to
    /// its own, in CPU per request.
    fn added_over(&self, i: usize, j: usize) -> f64 {
        let added = |k| self.per_round_bare(k, |s: &Sample| s.cpu_us, |a, b| a - b);
        let per_round = added(i)
            .into_iter()
            .zip(added(j))
            .filter_map(|(a, b)| Some(a? - b?))
            .collect();
        median(per_round)
    }

    /// The lowest and highest per-round difference of config `i`'s CPU to bare's, as
    /// `+a to +b`: how far the rounds of this run disagree.
    fn added_range(&self, i: usize) -> String {
        let added: Vec<f64> = self
            .per_round_bare(i, |s| s.cpu_us, |a, b| a - b)
            .into_iter()
            .flatten()
            .collect();
        let lo = added.iter().copied().reduce(f64::min);
        let hi = added.iter().copied().reduce(f64::max);
        match (lo, hi) {
            (Some(lo), Some(hi)) => format!("{lo:+.2} to {hi:+.2}"),
            _ => String::new(),
        }
    }

    fn command(&self) -> String {
        format!(
            "cargo xtask bench-http --rounds {} --duration {} --connections {}",
            self.options.rounds,
            self.options.duration.as_secs_f64(),
            self.options.connections
        )
    }

    fn metric_table(&self, out: &mut String, title: &str, unit: &str, metric: fn(&Sample) -> f64) {
        let _ = writeln!(out, "## {title}\n");
        let _ = writeln!(out, "| configuration | {unit} (median) | × bare |");
        let _ = writeln!(out, "|---|---:|---:|");
        for (i, config) in self.options.configs.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {:.1} | {:.2} |",
                config.name(),
                median(self.values(i, metric)),
                self.versus_bare(i, metric, |a, b| a / b),
            );
        }
        out.push('\n');
    }

    /// The Markdown report.
    pub(crate) fn render(&self) -> String {
        let o = &self.options;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<!-- Generated by `cargo xtask bench-http`, do not edit: rerun it to regenerate. -->\n\
             # HTTP server load benchmark\n\n\
             Generated by `cargo xtask bench-http`; regenerate with `cargo xtask bench-http [--rounds N] \
             [--duration S] [--connections C]` (the defaults take about 3–4 minutes).\n\n\
             - command: `{}`\n\
             - date: {}\n\
             - machine: {} CPUs (nproc), {}; load average at start {} (the machine is shared, so \
             compare ratios measured in the same round, not absolute figures across runs)\n\
             - pinning: {}\n\
             - method: each configuration is its own server process (tokio current-thread runtime, \
             so one core); {} rounds; in each, bare axum is measured before the first \
             configuration and again after each one (bare, A, bare, B, bare, …), the order of the \
             others rotated every round; per measurement {} s warm-up then {} s closed-loop load \
             from {} keep-alive HTTP/1.1 connections over 127.0.0.1, `GET /users/42` with a fresh \
             W3C `traceparent` (sampled flag set) on every request. Server CPU is utime + stime of \
             the server process (all threads, export included) from `/proc/<pid>/stat` over the \
             measured window. \"× bare\" and \"added\" compare each measurement with the mean of \
             the bare measurements just before and just after it, so the machine's drift over a \
             round cancels; the tables give the median over rounds.\n\
             - see also: `docs/instructions.md` (`cargo xtask bench-instructions`), the same \
             configurations counted in instructions per request under callgrind, which do not drift \
             with the machine's load.\n",
            self.command(),
            self.date,
            self.machine.cpus,
            self.machine.model,
            self.machine.load,
            self.pinning,
            o.rounds,
            o.warmup.as_secs_f64(),
            o.duration.as_secs_f64(),
            o.connections,
        );
        out.push_str("## Configurations\n\n| name | what |\n|---|---|\n");
        for config in &o.configs {
            // A `|` inside a cell (closures) would end it.
            let what = config.describe().replace('|', "\\|");
            let _ = writeln!(out, "| {} | {what} |", config.name());
        }
        out.push_str(
            "\n## Server CPU per request\n\nThe figure the project's targets are stated in \
             (added server CPU per request). \"over an empty layer\" is what a layer adds beyond \
             what `axum-layer`, axum with one layer that does nothing, adds in the same round: the \
             part of the added CPU that is the layer's own work rather than axum's cost of any \
             layer. \
             \"earlier\" is the figure measured here before with wrk (1 server worker, median of 3 \
             interleaved rounds; bare about 9 µs). \"rounds\" is the lowest and highest added CPU \
             of a single round: the rounds of one run disagree by about as much as the smaller \
             differences here, so read those as the run's median, not as exact.\n\n\
             | configuration | µs/request (median) | added vs bare (µs) | rounds: added (µs) | × bare | over an empty layer (µs) | earlier: added µs |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
        );
        let empty_layer = o.configs.iter().position(|&c| c == Config::AxumLayer);
        for (i, config) in o.configs.iter().enumerate() {
            let cpu = |s: &Sample| s.cpu_us;
            let over_empty = empty_layer
                .filter(|&j| i != j && *config != Config::Bare)
                .map_or(String::new(), |j| format!("{:+.2}", self.added_over(i, j)));
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:+.2} | {} | {:.2} | {over_empty} | {} |",
                config.name(),
                median(self.values(i, cpu)),
                self.versus_bare(i, cpu, |a, b| a - b),
                if i == 0 {
                    String::new()
                } else {
                    self.added_range(i)
                },
                self.versus_bare(i, cpu, |a, b| a / b),
                earlier(*config).map_or("".into(), |(us, _)| format!("{us:+.1}")),
            );
        }
        out.push_str(
            "\n## Throughput\n\n| configuration | requests/s (median) | × bare | earlier: × bare |\n\
             |---|---:|---:|---:|\n",
        );
        for (i, config) in o.configs.iter().enumerate() {
            let rps = |s: &Sample| s.throughput;
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.2} | {} |",
                config.name(),
                median(self.values(i, rps)),
                self.versus_bare(i, rps, |a, b| a / b),
                earlier(*config).map_or("".into(), |(_, r)| format!("{r:.2}")),
            );
        }
        out.push('\n');
        self.metric_table(&mut out, "Latency p50", "µs", |s| s.p50_us);
        self.metric_table(&mut out, "Latency p99", "µs", |s| s.p99_us);
        out.push_str(
            "## Sanity checks\n\nServer busy: server CPU over wall time (100 % means the \
             server, not the driver, was the bottleneck). Spans exported per request: what \
             reached the discarding exporter over the requests served, warm-up included \
             (expect about 0.1 and 1.0 where spans are exported).\n\n\
             | configuration | server busy % (median) | spans exported / request (median) | spans dropped by obs's queue (max) | failed requests (total) |\n\
             |---|---:|---:|---:|---:|\n",
        );
        for (i, config) in o.configs.iter().enumerate() {
            let spans: Vec<f64> = self.samples[i]
                .iter()
                .flatten()
                .filter_map(|s| s.spans_per_request)
                .collect();
            let samples = || self.samples[i].iter().flatten();
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.3} | {} | {} |",
                config.name(),
                median(self.values(i, |s| s.busy)) * 100.0,
                median(spans),
                samples().map(|s| s.dropped).max().unwrap_or(0),
                samples().map(|s| s.errors).sum::<u64>(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    fn sample(throughput: f64, cpu_us: f64) -> Sample {
        Sample {
            throughput,
            cpu_us,
            ..Sample::default()
        }
    }

    #[test]
    fn ratios_compare_with_bare_of_the_same_round() {
        let options = Options {
            rounds: 3,
            duration: Duration::from_secs(1),
            configs: vec![Config::Bare, Config::ObsMetrics],
            ..Options::default()
        };
        let machine = Machine {
            cpus: 2,
            model: "test CPU".into(),
            load: "0 0 0".into(),
        };
        let mut report = Report::new(&options, machine, "test");
        // A noisy machine: bare halves in round 2, and the layer with it; the layer's added CPU
        // is +1.0 in two rounds and +1.5 in the third.
        for (round, bare, layered) in [(0, 100.0, 80.0), (1, 50.0, 40.0), (2, 100.0, 90.0)] {
            let extra = if round == 2 { 0.5 } else { 0.0 };
            report.add(round, Config::Bare, sample(bare, 10.0 + round as f64));
            report.add(
                round,
                Config::ObsMetrics,
                sample(layered, 11.0 + round as f64 + extra),
            );
        }
        let rps = |s: &Sample| s.throughput;
        let cpu = |s: &Sample| s.cpu_us;
        // Per-round ratios 0.8, 0.8, 0.9: the median is 0.8, although the medians of the raw
        // figures (100 and 80) would also give 0.8 only by chance.
        assert!((report.versus_bare(1, rps, |a, b| a / b) - 0.8).abs() < 1e-9);
        assert!((report.versus_bare(1, cpu, |a, b| a - b) - 1.0).abs() < 1e-9);
        assert!((report.versus_bare(0, rps, |a, b| a / b) - 1.0).abs() < 1e-9);

        let text = report.render();
        assert!(text.starts_with("<!-- Generated by `cargo xtask bench-http`"));
        assert!(text.contains("`.sampler(\\|_\\| Some(0.1))`") || !text.contains("obs-full-10"));
        assert!(text.contains("cargo xtask bench-http --rounds 3 --duration 1 --connections 32"));
        assert!(
            text.contains("| obs-metrics | 12.00 | +1.00 | +1.00 to +1.50 | 1.10 |  |  |"),
            "{text}"
        );
        assert!(text.contains("| obs-metrics | 80 | 0.80 |  |"), "{text}");
    }

    #[test]
    fn the_empty_layer_splits_what_a_layer_adds() {
        let options = Options {
            rounds: 2,
            configs: vec![Config::Bare, Config::AxumLayer, Config::ObsMetrics],
            ..Options::default()
        };
        let mut report = Report::new(&options, Machine::detect(), "test");
        for round in 0..2 {
            let drift = round as f64;
            report.add(round, Config::Bare, sample(100.0, 10.0 + drift));
            report.add(round, Config::AxumLayer, sample(90.0, 12.0 + drift));
            report.add(round, Config::ObsMetrics, sample(80.0, 12.5 + drift));
        }
        let text = report.render();
        assert!(
            text.contains("| bare | 10.50 | +0.00 |  | 1.00 |  |  |"),
            "{text}"
        );
        assert!(text.contains("| axum-layer | 12.50 | +2.00 |"), "{text}");
        assert!(
            text.contains("| axum-layer | 12.50 | +2.00 | +2.00 to +2.00 | 1.19 |  |  |"),
            "{text}"
        );
        assert!(
            text.contains("| obs-metrics | 13.00 | +2.50 | +2.50 to +2.50 | 1.24 | +0.50 |  |"),
            "{text}"
        );
    }

    #[test]
    fn each_configuration_is_compared_with_the_bare_runs_around_it() {
        let options = Options {
            rounds: 1,
            configs: vec![Config::Bare, Config::AxumLayer, Config::ObsMetrics],
            ..Options::default()
        };
        let mut report = Report::new(&options, Machine::detect(), "test");
        // The machine slows by 1 us per measurement: bare 10, 12, 14 around the layers, which add
        // 0.5 and 2.0 on top of the drift.
        let bares = [sample(100.0, 10.0), sample(90.0, 12.0), sample(80.0, 14.0)];
        report.add(0, Config::Bare, bares[0]);
        report.add(0, Config::Bare, bares[1]);
        report.add(0, Config::Bare, bares[2]);
        let mean = |a, b| Sample::mean(&bares[a], &bares[b]);
        report.add_paired(0, Config::AxumLayer, sample(90.0, 11.5), mean(0, 1));
        report.add_paired(0, Config::ObsMetrics, sample(80.0, 15.0), mean(1, 2));
        let cpu = |s: &Sample| s.cpu_us;
        assert!((report.versus_bare(1, cpu, |a, b| a - b) - 0.5).abs() < 1e-9);
        assert!((report.versus_bare(2, cpu, |a, b| a - b) - 2.0).abs() < 1e-9);
        // Against the round's first bare alone, the drift would count: +1.5 and +5.0.
        assert!((report.added_over(2, 1) - 1.5).abs() < 1e-9);
        let text = report.render();
        assert!(
            text.contains("| bare | 12.00 | +0.00 |  | 1.00 |"),
            "{text}"
        );
        assert!(
            text.contains("| obs-metrics | 15.00 | +2.00 | +2.00 to +2.00 | 1.15 | +1.50 |  |"),
            "{text}"
        );
    }

    #[test]
    fn missing_rounds_are_left_out() {
        let options = Options {
            rounds: 2,
            configs: vec![Config::Bare, Config::AxumPrometheus],
            ..Options::default()
        };
        let machine = Machine::detect();
        let mut report = Report::new(&options, machine, "test");
        report.add(0, Config::Bare, sample(100.0, 10.0));
        report.add(1, Config::Bare, sample(100.0, 10.0));
        report.add(1, Config::AxumPrometheus, sample(70.0, 13.0));
        let rps = |s: &Sample| s.throughput;
        assert!((report.versus_bare(1, rps, |a, b| a / b) - 0.7).abs() < 1e-9);
        assert!(
            report
                .render()
                .contains("| axum-prometheus | 70 | 0.70 | 0.77 |")
        );
    }
}
