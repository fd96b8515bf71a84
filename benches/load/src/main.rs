//! The load benchmark: bare axum, obs-http's `HttpLayer` and the peer stacks, each served by a
//! process of its own on one pinned CPU and driven over loopback from the other CPU.
//!
//! Run it with `cargo xtask bench-http [--rounds N] [--duration S] [--connections C]`, which builds
//! this binary in release mode and writes `docs/performance.md`. Its modes:
//! - `server <config>`: sets up exactly one configuration (its tracing subscriber, OpenTelemetry
//!   provider and metrics recorder are process globals) and serves on 127.0.0.1:0, printing
//!   `port N` on its first line;
//! - `drive [options]`: for each round, measures bare axum, then each other configuration followed
//!   by bare again (bare, A, bare, B, bare, …; the order rotated every round). Each measurement
//!   starts the server pinned to CPU 0, pins itself to CPU 1, warms up, runs a closed-loop load
//!   with C keep-alive HTTP/1.1 connections, reads the server's CPU time from `/proc/<pid>/stat`
//!   and kills the server. It finally prints the tables: each configuration compared with the
//!   mean of the bare measurements on either side of it;
//! - `inproc <config> <n>`: the configuration's router called `n` times in process, no sockets;
//! - `instructions [options]`: `inproc` under callgrind, instructions per request for each
//!   configuration (`cargo xtask bench-instructions`, which writes `docs/instructions.md`).

mod discard;
mod driver;
mod inproc;
mod instructions;
mod report;
mod server;

use std::process::ExitCode;
use std::time::Duration;

/// One configuration under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    Bare,
    AxumLayer,
    ObsMetrics,
    ObsFull10,
    ObsFull100,
    TowerHttpTrace,
    AxumPrometheus,
    TowerHttpOtel,
    AxumPrometheusOtel,
}

impl Config {
    /// Every configuration, in table order; `Bare` first.
    const ALL: [Config; 9] = [
        Config::Bare,
        Config::AxumLayer,
        Config::ObsMetrics,
        Config::ObsFull10,
        Config::ObsFull100,
        Config::TowerHttpTrace,
        Config::AxumPrometheus,
        Config::TowerHttpOtel,
        Config::AxumPrometheusOtel,
    ];

    fn name(self) -> &'static str {
        match self {
            Config::Bare => "bare",
            Config::AxumLayer => "axum-layer",
            Config::ObsMetrics => "obs-metrics",
            Config::ObsFull10 => "obs-full-10",
            Config::ObsFull100 => "obs-full-100",
            Config::TowerHttpTrace => "tower-http-trace",
            Config::AxumPrometheus => "axum-prometheus",
            Config::TowerHttpOtel => "tower-http-otel",
            Config::AxumPrometheusOtel => "axum-prometheus+tower-http-otel",
        }
    }

    fn from_name(name: &str) -> Option<Config> {
        Config::ALL.into_iter().find(|c| c.name() == name)
    }

    /// What the configuration is, for the report.
    fn describe(self) -> &'static str {
        match self {
            Config::Bare => "axum, no middleware",
            Config::AxumLayer => {
                "axum with one empty layer, `Router::layer(tower::layer::util::Identity::new())`: what axum adds for any layer before the layer does anything: per request, the layered route's service is cloned into a new box and its future boxed (a layer whose body is not axum's `Body` also has the body boxed again)"
            }
            Config::ObsMetrics => "`HttpLayer::new().metrics_only()`",
            Config::ObsFull10 => {
                "`HttpLayer::new()` (metrics, span, propagation, request id), `.sampler(|_| Some(0.1))`, spans to a discarding exporter through obs's queue"
            }
            Config::ObsFull100 => "the same at `Some(1.0)`",
            Config::TowerHttpTrace => {
                "tower-http `TraceLayer::new_for_http()`; subscriber: `tracing_subscriber::fmt()` at its default level, INFO, writing to `std::io::sink` (the layer's default span and events are DEBUG, so they are disabled: it times requests and classifies responses, and logs nothing)"
            }
            Config::AxumPrometheus => "axum-prometheus 0.10 `PrometheusMetricLayer::pair()`",
            Config::TowerHttpOtel => {
                "`TraceLayer` + tracing-opentelemetry 0.34: `make_span_with` extracts the W3C context with the global propagator and calls `set_parent`; `Sampler::AlwaysOn`; SDK `BatchSpanProcessor` to the discarding exporter; an INFO level filter, as in production (the INFO request span is exported, the layer's DEBUG events are not)"
            }
            Config::AxumPrometheusOtel => "axum-prometheus and tower-http-otel together",
        }
    }
}

/// Driver options.
#[derive(Debug, Clone)]
struct Options {
    rounds: usize,
    duration: Duration,
    warmup: Duration,
    connections: usize,
    out: Option<std::path::PathBuf>,
    configs: Vec<Config>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rounds: 3,
            duration: Duration::from_secs(3),
            warmup: Duration::from_secs(1),
            connections: 32,
            out: None,
            configs: Config::ALL.to_vec(),
        }
    }
}

const USAGE: &str = "usage:\n  obs-load-bench drive [--rounds N] [--duration S] [--warmup S] [--connections C] [--configs a,b,...] [--out FILE]\n  obs-load-bench server <config> [--cpu N]\n  obs-load-bench inproc <config> <requests>\n  obs-load-bench instructions [--requests N] [--configs a,b,...] [--out FILE]";

/// A comma-separated list of configurations, `bare` first whether listed or not.
fn configs_with_bare(list: &str) -> Result<Vec<Config>, String> {
    let mut configs = vec![Config::Bare];
    for name in list.split(',') {
        let config =
            Config::from_name(name).ok_or_else(|| format!("unknown configuration {name:?}"))?;
        if !configs.contains(&config) {
            configs.push(config);
        }
    }
    Ok(configs)
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    fn value<'a>(it: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<&'a str, String> {
        it.next()
            .map(String::as_str)
            .ok_or_else(|| format!("{flag} needs a value"))
    }
    fn number<T: std::str::FromStr>(raw: &str, flag: &str) -> Result<T, String> {
        raw.parse()
            .map_err(|_| format!("invalid value {raw:?} for {flag}"))
    }
    fn seconds(raw: &str, flag: &str) -> Result<Duration, String> {
        Duration::try_from_secs_f64(number(raw, flag)?)
            .map_err(|_| format!("invalid value {raw:?} for {flag}"))
    }
    let mut options = Options::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--rounds" => options.rounds = number(value(&mut it, flag)?, flag)?,
            "--duration" => options.duration = seconds(value(&mut it, flag)?, flag)?,
            "--warmup" => options.warmup = seconds(value(&mut it, flag)?, flag)?,
            "--connections" => options.connections = number(value(&mut it, flag)?, flag)?,
            "--out" => options.out = Some(value(&mut it, flag)?.into()),
            "--configs" => options.configs = configs_with_bare(value(&mut it, flag)?)?,
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    // Bounded by construction: every loop of the driver runs a counted number of timed windows.
    if !(1..=50).contains(&options.rounds) {
        return Err("--rounds must be 1..=50".into());
    }
    if options.duration.is_zero() || options.duration > Duration::from_secs(120) {
        return Err("--duration must be in (0, 120] seconds".into());
    }
    if options.warmup > Duration::from_secs(30) {
        return Err("--warmup must be at most 30 seconds".into());
    }
    if !(1..=1024).contains(&options.connections) {
        return Err("--connections must be 1..=1024".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("server") => match args.get(1).and_then(|n| Config::from_name(n)) {
            Some(config) => {
                let cpu = match args.get(2..4) {
                    Some([flag, n]) if flag == "--cpu" => n.parse().ok(),
                    _ => None,
                };
                server::run(config, cpu)
            }
            None => Err(format!("unknown or missing configuration\n{USAGE}")),
        },
        Some("drive") => parse_options(&args[1..]).and_then(|o| driver::run(&o)),
        Some("inproc") => match (
            args.get(1).and_then(|n| Config::from_name(n)),
            args.get(2).and_then(|n| n.parse().ok()),
        ) {
            (Some(config), Some(n)) => inproc::run(config, n),
            _ => Err(format!("inproc needs a configuration and a count\n{USAGE}")),
        },
        Some("instructions") => {
            instructions::Options::parse(&args[1..]).and_then(|o| instructions::run(&o))
        }
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("obs-load-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
