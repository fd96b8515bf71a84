//! The `service` example run as a real process: it serves, drains on SIGTERM, reports the spans a
//! dead collector lost, and still exits 0. The README's quick start is the same code.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// A plain HTTP/1.1 GET: status code and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// Kills the service if the test fails before it exits.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn service_drains_on_sigterm_reports_lost_spans_and_exits_0() {
    let dead_collector = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut service = Service(
        Command::new(env!("CARGO_BIN_EXE_service"))
            .env("OTEL_SERVICE_NAME", "service-example-test")
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{dead_collector}"),
            )
            // No export on the schedule: the request's span is still pending at shutdown.
            .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the service example"),
    );
    let (tx, lines) = mpsc::channel::<String>();
    let stdout = service.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let addr: SocketAddr = loop {
        let line = lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no `listening` line: {log:#?}"));
        let found = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .map(|a| a.parse().unwrap());
        log.push(line);
        if let Some(addr) = found {
            break addr;
        }
    };

    assert_eq!(get(addr, "/users/42"), (200, "user 42".to_owned()));
    assert_eq!(get(addr, "/healthz"), (200, "ok".to_owned()));

    let pid = service.0.id().to_string();
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = service.0.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < WAIT, "the service did not stop: {log:#?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    log.extend(lines.try_iter());
    let mut stderr = String::new();
    service
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{log:#?}\n{stderr}");
    assert!(
        log.iter()
            .any(|l| l.contains("shutdown signal received") && l.contains("SIGTERM")),
        "{log:#?}"
    );
    let lost = log
        .iter()
        .find(|l| l.contains("obs shutdown lost"))
        .unwrap_or_else(|| panic!("no lost-spans line: {log:#?}"));
    assert!(lost.contains(" WARN "), "{lost}");
    assert!(lost.contains("in failed exports"), "{lost}");
    assert!(stderr.is_empty(), "nothing printed as an error: {stderr}");
}

#[test]
fn the_readme_quick_start_is_the_service_example() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../service.rs");
    let quick_start = readme
        .split("## Quick start")
        .nth(1)
        .and_then(|s| s.split("```rust\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("a rust block under ## Quick start");
    // The example without its module docs.
    let code: String = example
        .lines()
        .skip_while(|l| l.starts_with("//!") || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        quick_start, code,
        "README quick start and examples/service.rs differ"
    );
}

#[test]
fn an_invalid_setting_prints_its_message_not_a_struct() {
    let output = Command::new(env!("CARGO_BIN_EXE_service"))
        .env("OTEL_TRACES_SAMPLER", "sometimes")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .output()
        .expect("run the service example");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "Error: invalid value \"sometimes\" for OTEL_TRACES_SAMPLER: expected one of `always_on`"
        ),
        "{stderr}"
    );
}
