//! `simplycaster demo`: the app on embedded defaults, driven by virtual users for a bounded
//! time, then what it saw: a summary, one login's trace as a tree, and the URLs it served.

use std::time::{Duration, Instant};

use obs_core::ObsGuard;
use obs_testkit::{OtlpReceiver, ReceivedSpan};

use crate::simulate::{Simulation, Summary};
use crate::{Config, Server};

/// Runs the demo.
///
/// # Errors
/// When obs or the server cannot start.
pub async fn run(duration: Duration, users: usize) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    // Without a collector, spans go to an in-process OTLP receiver, to print one trace at the end.
    let receiver = match std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(_) => None,
        None => Some(OtlpReceiver::start()?),
    };
    let guard = crate::cli::init_obs(receiver.as_ref().map(OtlpReceiver::grpc_endpoint), true)?;
    let config = Config::from_env(([127, 0, 0, 1], 0).into());
    let server = Server::start(&config).await?;
    let base = format!("http://{}", server.addr());
    println!("simplycaster demo: the app is serving on {base}");
    println!(
        "  database: {}   sessions, cache, rate limits, blocklist: {}",
        redact_url(&config.database_url()),
        server.state().kv.kind()
    );
    println!(
        "  {users} virtual users (plus a moderator and a troll) for {duration:?}: register, log in, host and join rooms, quick-match, send audio over WebRTC, record, report, leave\n"
    );
    let sim = Simulation::new(users, duration, config.moderator_key.clone());
    let summary = tokio::select! {
        summary = crate::simulate::run(server.addr(), &sim) => summary,
        () = obs_http::shutdown_signal() => {
            println!("interrupted: shutting down");
            server.shutdown().await;
            crate::cli::shutdown_obs(&guard);
            return Ok(());
        }
    };
    let urls = visit_admin_urls(&base).await;
    print_summary(&summary, &server, &guard);
    server.shutdown().await;
    if let Err(e) = tokio::task::block_in_place(|| guard.force_flush()) {
        tracing::warn!("{e}");
    }
    if let Some(receiver) = &receiver {
        print_login_trace(receiver);
    }
    println!("\n== what it served (while it ran) ==");
    for line in urls {
        println!("  {line}");
    }
    println!(
        "\n== next ==\n  \
         keep it running:      cargo run -p simplycaster -- serve   (then open http://127.0.0.1:3000/metrics)\n  \
         more load:            cargo run -p simplycaster -- simulate --users 50 --duration 60s\n  \
         your own collector:   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 cargo run -p simplycaster -- demo\n  \
         PostgreSQL or Redis:  DATABASE_URL=postgres://... REDIS_URL=redis://... cargo run -p simplycaster -- serve"
    );
    println!("\ndemo done in {:.1} s", started.elapsed().as_secs_f64());
    crate::cli::shutdown_obs(&guard);
    Ok(())
}

/// A URL without its credentials: user information and secret query parameters
/// (`?password=…`, which sqlx's connection strings accept), as obs-core redacts them.
fn redact_url(url: &str) -> String {
    obs_core::redact::url(url).into_owned()
}

/// Fetches the admin routes, as a newcomer would open them; one line each.
async fn visit_admin_urls(base: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut lines = Vec::new();
    for (path, what) in [
        ("/metrics", "Prometheus text"),
        ("/metrics/json", "the same as JSON"),
        (
            "/readyz",
            "readiness (database and Redis checked; only failures are listed)",
        ),
    ] {
        let line = match client.get(format!("{base}{path}")).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                let detail = if path == "/metrics" {
                    let series = body
                        .lines()
                        .filter(|l| !l.starts_with('#') && !l.is_empty())
                        .count();
                    format!("{series} series")
                } else if path == "/readyz" {
                    body.trim().chars().take(120).collect()
                } else {
                    format!("{} bytes", body.len())
                };
                format!("{base}{path:<14} {status}  {what}: {detail}")
            }
            Err(e) => format!("{base}{path:<14} failed: {e}"),
        };
        lines.push(line);
    }
    lines
}

/// Prints what the virtual users saw and what the server counted.
pub fn print_summary(summary: &Summary, server: &Server, guard: &ObsGuard) {
    let media = &server.state().media;
    let export = guard.export_stats();
    println!("== summary ==");
    println!(
        "  requests      {} ({} answered 4xx on purpose: wrong password, blocked troll, ...; {} failed)",
        summary.requests, summary.client_errors, summary.server_errors
    );
    println!(
        "  latency       p50 {:.1} ms, p95 {:.1} ms",
        summary.p50_ms, summary.p95_ms
    );
    println!(
        "  rooms         {} created ({} by quick match), {} recordings, {} reports, {} logins",
        summary.rooms + summary.matches,
        summary.matches,
        summary.recordings,
        summary.reports,
        summary.logins
    );
    println!(
        "  connections   {} WebRTC peers connected ({} failed), {} audio packets received by the server",
        media.connected(),
        summary.media_failures,
        media.packets()
    );
    println!(
        "  spans         {} exported, {} dropped (so far; the rest at shutdown)",
        export.exported(),
        export.dropped()
    );
}

/// Prints the trace of one successful login, as the in-process receiver got it.
fn print_login_trace(receiver: &OtlpReceiver) {
    let spans = receiver.wait_for(Duration::from_secs(5), |spans| {
        spans
            .iter()
            .any(|s| s.name == "flow auth_login" && s.attr("flow.outcome") == Some("success"))
    });
    let Some(flow) = spans
        .iter()
        .find(|s| s.name == "flow auth_login" && s.attr("flow.outcome") == Some("success"))
    else {
        println!("\n(no login trace received)");
        return;
    };
    let mut trace: Vec<ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == flow.trace_id)
        .cloned()
        .collect();
    trace.sort_by_key(|s| s.start_time_unix_nano);
    let ids: Vec<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
    let roots: Vec<String> = trace
        .iter()
        .filter(|s| s.parent_span_id.is_empty() || !ids.contains(&s.parent_span_id.as_str()))
        .map(|s| s.parent_span_id.clone())
        .collect();
    println!(
        "\n== one login's trace ({} spans, trace {}): HTTP -> flow -> Redis -> database ==",
        trace.len(),
        flow.trace_id
    );
    let width = roots
        .iter()
        .map(|r| name_width(&trace, r, 0))
        .max()
        .unwrap_or(0);
    let mut printed = Vec::new();
    for root in roots {
        if !printed.contains(&root) {
            print_tree(&trace, &root, 0, width);
            printed.push(root);
        }
    }
}

fn name_width(spans: &[ReceivedSpan], parent: &str, depth: usize) -> usize {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent)
        .map(|s| (depth * 2 + s.name.len()).max(name_width(spans, &s.span_id, depth + 1)))
        .max()
        .unwrap_or(0)
}

fn print_tree(spans: &[ReceivedSpan], parent: &str, depth: usize, width: usize) {
    for span in spans.iter().filter(|s| s.parent_span_id == parent) {
        let detail = span
            .attr("db.query.summary")
            .or_else(|| span.attr("db.query.text"))
            .map(|q| format!("  {q}"))
            .unwrap_or_default();
        let name = format!("{:indent$}{}", "", span.name, indent = depth * 2);
        println!(
            "  {name:width$} {:>8.2} ms{detail}",
            span.duration().as_secs_f64() * 1_000.0
        );
        print_tree(spans, &span.span_id, depth + 1, width);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            super::redact_url("postgres://app:s3cret@db:5432/app"),
            "postgres://[REDACTED]@db:5432/app"
        );
        assert_eq!(
            super::redact_url("sqlite:///tmp/x.db"),
            "sqlite:///tmp/x.db"
        );
        assert!(
            !super::redact_url("postgres://db/app?user=app&password=s3cret").contains("s3cret")
        );
    }
}
