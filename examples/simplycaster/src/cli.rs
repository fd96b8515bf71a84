//! The command line: `demo`, `serve`, `simulate`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use obs_core::{ObsConfig, ObsGuard};

use crate::simulate::Simulation;
use crate::{Config, Server};

/// simplycaster: a podcast-recording service in miniature, instrumented with obs.
#[derive(Debug, Parser)]
#[command(name = "simplycaster", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the app on embedded defaults, drive it with virtual users (about 30 s), print what
    /// it saw and one login's trace, and exit.
    Demo {
        /// How long the virtual users run.
        #[arg(long, default_value = "25s", value_parser = parse_duration)]
        duration: Duration,
        /// How many virtual users (plus a moderator and a troll).
        #[arg(long, default_value_t = 6)]
        users: usize,
    },
    /// Run the app until Ctrl-C or SIGTERM.
    Serve {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
    },
    /// Run the app at --addr (serving /metrics there) while virtual users drive it, then print a
    /// summary and exit.
    Simulate {
        /// How many virtual users (plus a moderator and a troll).
        #[arg(long, default_value_t = 20)]
        users: usize,
        /// How long they run: `90s`, `2m`, `500ms`.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        duration: Duration,
        /// Where the app listens.
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// No WebRTC peers: HTTP and WebSocket only.
        #[arg(long)]
        no_media: bool,
    },
}

/// `90s`, `2m`, `500ms`, or a number of seconds.
///
/// # Errors
/// A message saying what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |i| text.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 30s, 2m, 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1_000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("invalid duration {text:?}: the unit is ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("simplycaster: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo { duration, users } => crate::demo::run(duration, users).await,
            Command::Serve { addr } => serve(addr).await,
            Command::Simulate {
                users,
                duration,
                addr,
                no_media,
            } => simulate(addr, users, duration, no_media).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simplycaster: {e}");
            ExitCode::FAILURE
        }
    }
}

/// obs from the environment, with the app's defaults: service `simplycaster`, its catalog, and
/// `quiet_logs` (a filter of `warn` unless `RUST_LOG` says otherwise, so a progress bar stays
/// readable).
///
/// # Errors
/// An invalid `OTEL_*` variable, or an exporter that cannot be built.
pub fn init_obs(
    endpoint: Option<String>,
    quiet_logs: bool,
) -> Result<ObsGuard, Box<dyn std::error::Error>> {
    let mut builder = ObsConfig::builder_from_env()?.catalog(crate::catalog::CATALOG);
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        builder = builder.service_name("simplycaster");
    }
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint(endpoint);
    }
    if quiet_logs && std::env::var_os("RUST_LOG").is_none() {
        builder = builder.log_filter("warn");
    }
    Ok(obs_core::init(builder.build())?)
}

/// Flushes and stops obs, off the async workers (the export may block).
pub fn shutdown_obs(guard: &ObsGuard) {
    if let Err(error) = tokio::task::block_in_place(|| guard.shutdown()) {
        tracing::warn!(lost_spans = error.lost_spans(), "{error}");
    }
}

async fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let guard = init_obs(None, false)?;
    let server = Server::start(&Config::from_env(addr)).await?;
    let base = format!("http://{}", server.addr());
    tracing::info!(
        "open {base}/metrics, {base}/metrics/json, {base}/readyz; Ctrl-C stops the server"
    );
    obs_http::shutdown_signal().await;
    tracing::info!("shutting down: finishing the requests in flight");
    server.shutdown().await;
    shutdown_obs(&guard);
    Ok(())
}

async fn simulate(
    addr: SocketAddr,
    users: usize,
    duration: Duration,
    no_media: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    // As in the demo: without a collector, spans go to an in-process receiver, so the summary
    // can count them.
    let receiver = match std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(_) => None,
        None => Some(obs_testkit::OtlpReceiver::start()?),
    };
    let guard = init_obs(
        receiver
            .as_ref()
            .map(obs_testkit::OtlpReceiver::grpc_endpoint),
        true,
    )?;
    let config = Config::from_env(addr);
    let server = Server::start(&config).await?;
    let base = format!("http://{}", server.addr());
    eprintln!(
        "simplycaster: serving on {base} (/metrics, /metrics/json, /readyz); {users} virtual users for {duration:?}"
    );
    let mut sim = Simulation::new(users, duration, config.moderator_key.clone());
    if no_media {
        sim = sim.without_media();
    }
    let summary = tokio::select! {
        summary = crate::simulate::run(server.addr(), &sim) => Some(summary),
        () = obs_http::shutdown_signal() => None,
    };
    if let Some(summary) = &summary {
        crate::demo::print_summary(summary, &server, &guard);
    }
    server.shutdown().await;
    shutdown_obs(&guard);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        for bad in ["", "s", "10h", "-1s", "abc"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "simplycaster",
            "simulate",
            "--users",
            "20",
            "--duration",
            "90s",
            "--addr",
            "127.0.0.1:9100",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Simulate { users: 20, .. }));
    }
}
