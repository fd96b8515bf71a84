//! `drive`: starts each configuration's server pinned to CPU 0, loads it from CPU 1 over
//! loopback with a closed loop of keep-alive HTTP/1.1 connections, and measures.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::report::{Machine, Report, Sample};
use crate::{Config, Options};

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// The request every connection sends; the 32 zeros are replaced by a fresh trace id each time so
/// that ratio sampling sees different traces.
const REQUEST: &[u8] = b"GET /users/42 HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: obs-load-bench\r\ntraceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01\r\n\r\n";

/// Kills the server when dropped, also on error paths.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start(config: Config, pin: Pin) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = match pin {
        Pin::Taskset => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", "0"]).arg(exe);
            cmd
        }
        Pin::Affinity | Pin::None => Command::new(exe),
    };
    cmd.args(["server", config.name()]);
    if pin == Pin::Affinity {
        cmd.args(["--cpu", "0"]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the {} server: {e}", config.name()))?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    let read = BufReader::new(stdout).read_line(&mut line);
    let mut server = Server { child, port: 0 };
    read.map_err(|e| e.to_string())?;
    server.port = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("the {} server did not start: {line:?}", config.name()))?;
    Ok(server)
}

/// utime + stime of the whole process (all threads), in seconds.
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| format!("unexpected /proc/{pid}/stat: {stat}"))
    };
    // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3.
    Ok((field(11)? + field(12)?) / ticks_per_second)
}

fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
        name.eq_ignore_ascii_case(b"content-length")
            .then(|| std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok())
            .flatten()
    })
}

/// Reads one response; `Ok(true)` for a 200.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            return Err(invalid("response head too large"));
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
        if let Some(end) = find(&buf[..filled], b"\r\n\r\n") {
            let ok = buf.starts_with(b"HTTP/1.1 200 ");
            let total =
                end + 4 + content_length(&buf[..end]).ok_or_else(|| invalid("no length"))?;
            if total > buf.len() {
                buf.resize(total, 0);
            }
            if filled < total {
                stream.read_exact(&mut buf[filled..total]).await?;
            }
            return Ok(ok);
        }
    }
}

/// splitmix64: a cheap, well-mixed trace id source.
pub(crate) fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes `value` as 16 lowercase hex digits, without allocating.
pub(crate) fn write_hex(out: &mut [u8], mut value: u64) {
    for byte in out.iter_mut().rev() {
        *byte = b"0123456789abcdef"[(value & 0xf) as usize];
        value >>= 4;
    }
}

#[derive(Default)]
struct Connection {
    measured: u64,
    completed: u64,
    errors: u64,
}

async fn connection(
    mut stream: TcpStream,
    phase: Arc<AtomicU8>,
    seed: u64,
) -> (Connection, Histogram<u64>) {
    let mut histogram = Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    let mut out = Connection::default();
    let mut request = REQUEST.to_vec();
    let at = find(REQUEST, b"-0000").expect("trace id") + 1;
    let mut buf = vec![0u8; 4096];
    let mut state = seed;
    loop {
        let started_in = phase.load(Ordering::Relaxed);
        if started_in == STOP {
            break;
        }
        write_hex(&mut request[at..at + 16], next(&mut state));
        write_hex(&mut request[at + 16..at + 32], next(&mut state));
        let start = Instant::now();
        if stream.write_all(&request).await.is_err() {
            out.errors += 1;
            break;
        }
        match read_response(&mut stream, &mut buf).await {
            Ok(true) => {}
            Ok(false) => out.errors += 1,
            Err(_) => {
                out.errors += 1;
                break;
            }
        }
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        out.completed += 1;
        if started_in == MEASURE && phase.load(Ordering::Relaxed) == MEASURE {
            out.measured += 1;
            histogram.saturating_record(nanos.max(1));
        }
    }
    (out, histogram)
}

async fn fetch_stats(port: u16) -> Option<(u64, u64)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream
        .write_all(b"GET /__stats HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await.ok()?;
    let value = |key: &str| -> Option<u64> {
        let rest = &body[body.find(key)? + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    Some((value("exported=")?, value("dropped=")?))
}

async fn load(server: &Server, options: &Options, ticks: f64) -> Result<Sample, String> {
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let mut tasks = Vec::with_capacity(options.connections);
    for i in 0..options.connections {
        let stream = TcpStream::connect(("127.0.0.1", server.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let seed = (i as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ u64::from(server.port);
        tasks.push(tokio::spawn(connection(stream, phase.clone(), seed)));
    }
    let pid = server.child.id();
    tokio::time::sleep(options.warmup).await;
    // Nothing else runs on this current-thread runtime between these lines and the sleep.
    phase.store(MEASURE, Ordering::Relaxed);
    let cpu_before = cpu_seconds(pid, ticks)?;
    let started = Instant::now();
    tokio::time::sleep(options.duration).await;
    phase.store(STOP, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid, ticks)? - cpu_before;

    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    let (mut measured, mut completed, mut errors) = (0, 0, 0);
    for task in tasks {
        let (c, h) = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .map_err(|_| "a connection did not stop within 10 s".to_owned())?
            .map_err(|e| e.to_string())?;
        histogram.add(h).map_err(|e| e.to_string())?;
        measured += c.measured;
        completed += c.completed;
        errors += c.errors;
    }
    if measured == 0 {
        return Err(format!("no request completed (errors: {errors})"));
    }
    let spans = fetch_stats(server.port).await;
    Ok(Sample {
        throughput: measured as f64 / elapsed,
        p50_us: histogram.value_at_quantile(0.5) as f64 / 1000.0,
        p99_us: histogram.value_at_quantile(0.99) as f64 / 1000.0,
        cpu_us: cpu * 1e6 / measured as f64,
        busy: cpu / elapsed,
        spans_per_request: spans.map(|(exported, _)| exported as f64 / completed as f64),
        dropped: spans.map_or(0, |(_, dropped)| dropped),
        errors,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pin {
    Taskset,
    Affinity,
    None,
}

pub(crate) fn run(options: &Options) -> Result<(), String> {
    let machine = Machine::detect();
    let pin = if machine.cpus < 2 {
        Pin::None
    } else if has_taskset() {
        Pin::Taskset
    } else {
        Pin::Affinity
    };
    let pinned_self =
        pin != Pin::None && core_affinity::set_for_current(core_affinity::CoreId { id: 1 });
    let pinning = match (pin, pinned_self) {
        (Pin::Taskset, true) => "server `taskset -c 0`, driver `sched_setaffinity` to CPU 1",
        (Pin::Affinity, true) => "server and driver `sched_setaffinity` (CPU 0 / CPU 1)",
        _ => "NOT pinned (fewer than 2 CPUs or affinity refused): figures are not comparable",
    };
    eprintln!("obs-load-bench: pinning: {pinning}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let ticks = ticks_per_second();
    let mut report = Report::new(options, machine, pinning);
    let measure = |round: usize, config: Config| -> Result<Sample, String> {
        let server = start(config, pin)?;
        let sample = runtime.block_on(load(&server, options, ticks));
        drop(server);
        let sample = sample.map_err(|e| format!("{}: {e}", config.name()))?;
        eprintln!(
            "round {}/{} {:<32} {:>9.0} req/s  p50 {:>7.1} µs  p99 {:>7.1} µs  CPU {:>5.2} µs/req  busy {:>3.0} %",
            round + 1,
            options.rounds,
            config.name(),
            sample.throughput,
            sample.p50_us,
            sample.p99_us,
            sample.cpu_us,
            sample.busy * 100.0
        );
        Ok(sample)
    };
    let others: Vec<Config> = options
        .configs
        .iter()
        .copied()
        .filter(|&c| c != Config::Bare)
        .collect();
    for round in 0..options.rounds {
        // Bare, A, bare, B, bare, …: each configuration is compared with the bare axum measured
        // on either side of it, so the machine's drift over the round cancels. The order of the
        // others is rotated every round, so none always runs first.
        let mut before = measure(round, Config::Bare)?;
        report.add(round, Config::Bare, before);
        for k in 0..others.len() {
            let config = others[(k + round) % others.len()];
            let sample = measure(round, config)?;
            let after = measure(round, Config::Bare)?;
            report.add(round, Config::Bare, after);
            report.add_paired(round, config, sample, Sample::mean(&before, &after));
            before = after;
        }
    }
    let text = report.render();
    println!("{text}");
    if let Some(path) = &options.out {
        std::fs::write(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("obs-load-bench: wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_in_any_case() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-LENGTH: 4\r\nx: y";
        assert_eq!(content_length(head), Some(4));
        assert_eq!(content_length(b"HTTP/1.1 200 OK\r\nx: y"), None);
    }

    #[test]
    fn trace_ids_are_hex_in_place() {
        let mut id = [0u8; 16];
        write_hex(&mut id, 0x00f0_67aa_0ba9_02b7);
        assert_eq!(&id, b"00f067aa0ba902b7");
    }
}
