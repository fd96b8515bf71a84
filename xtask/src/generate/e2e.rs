//! `cargo xtask e2e-prometheus`: the demo under simulation, scraped every second by a real
//! Prometheus (Debian's `prometheus`) on loopback with the generated SLO rules; then every
//! dashboard panel's queries run through Prometheus's HTTP API, and panels without data fail
//! (except those that count only trouble, such as dropped spans, which a healthy run leaves empty).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Catalog, DEMO, path, prometheus};

/// Kills the child when dropped, so that an early return leaves nothing running.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind loopback: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// GET `target` on `port`, returning the status line and body.
fn get(port: u16, target: &str) -> Result<(String, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let (head, body) = out.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    Ok((
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    ))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn wait_for(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!("{what} not ready after {deadline:?}"))
}

/// Whether `expr` returns at least one sample now.
fn has_data(port: u16, expr: &str) -> Result<bool, String> {
    let (status, body) = get(port, &format!("/api/v1/query?query={}", encode(expr)))?;
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
    if json["status"] != "success" {
        return Err(format!("query failed: {}", json["error"]));
    }
    Ok(json["data"]["result"]
        .as_array()
        .is_some_and(|r| !r.is_empty()))
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let catalog = Catalog::new(super::catalogs());
    if !catalog.has_crate(DEMO) {
        return Err(format!(
            "the demo's catalog ({DEMO}) is not in xtask's catalog list yet: add it to generate::catalogs() once the demo is on main"
        ));
    }
    let settle = args
        .iter()
        .position(|a| a == "--settle")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(45), |v| {
            v.parse::<u64>()
                .map_err(|_| format!("--settle takes seconds, not {v:?}"))
        })?;
    crate::provision::ensure("prometheus", &["--version"], "prometheus")?;

    let mut build = crate::test::cargo();
    build.args(["build", "-p", DEMO]);
    if !build.status().map_err(|e| e.to_string())?.success() {
        return Err("the demo does not build".to_owned());
    }
    let demo_port = free_port()?;
    let prom_port = free_port()?;
    let mut demo = crate::test::cargo();
    demo.args([
        "run",
        "--quiet",
        "-p",
        DEMO,
        "--",
        "simulate",
        "--users",
        "20",
        "--duration",
        "90s",
        "--addr",
        &format!("127.0.0.1:{demo_port}"),
    ])
    .stdout(Stdio::null());
    let _demo = Guard(
        demo.spawn()
            .map_err(|e| format!("cannot start the demo: {e}"))?,
    );
    wait_for("the demo's /metrics", Duration::from_secs(60), || {
        get(demo_port, "/metrics").is_ok_and(|(s, _)| s.contains(" 200"))
    })?;

    let dir = std::env::temp_dir().join(format!("obs-e2e-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).map_err(|e| e.to_string())?;
    std::fs::copy(path("deploy/prometheus/slo.yml"), dir.join("slo.yml"))
        .map_err(|e| format!("deploy/prometheus/slo.yml: {e}"))?;
    let config = prometheus::config_with(
        "1s",
        &["slo.yml"],
        None,
        &[(DEMO, &format!("127.0.0.1:{demo_port}"))],
    );
    std::fs::write(dir.join("prometheus.yml"), config).map_err(|e| e.to_string())?;
    let prom = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start prometheus: {e}"))?;
    let _prom = Guard(prom);
    wait_for("prometheus", Duration::from_secs(30), || {
        get(prom_port, "/-/ready").is_ok_and(|(s, _)| s.contains(" 200"))
    })?;
    eprintln!("xtask: scraping the demo every second for {settle} s");
    std::thread::sleep(Duration::from_secs(settle));

    let mut empty = Vec::new();
    let mut quiet = Vec::new();
    let panels = super::panel_expressions(&catalog);
    for (panel, expr, may_be_empty) in &panels {
        // With a scrape every second, 15 s windows hold enough samples for rate().
        let expr = expr.replace("$__rate_interval", "15s");
        if !has_data(prom_port, &expr)? {
            let line = format!("{panel}: {expr}");
            if *may_be_empty {
                quiet.push(line)
            } else {
                empty.push(line)
            }
        }
    }
    if !quiet.is_empty() {
        eprintln!(
            "xtask: {} queries of panels that count only trouble returned nothing, as expected of a healthy run:\n  {}",
            quiet.len(),
            quiet.join("\n  ")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    if empty.is_empty() {
        eprintln!(
            "xtask: every one of {} panel queries returned data",
            panels.len()
        );
        Ok(())
    } else {
        Err(format!(
            "{} of {} panel queries returned no data:\n  {}",
            empty.len(),
            panels.len(),
            empty.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            super::encode("sum by (le) (x{a=\"b\"}[1m])"),
            "sum%20by%20%28le%29%20%28x%7Ba%3D%22b%22%7D%5B1m%5D%29"
        );
    }
}
