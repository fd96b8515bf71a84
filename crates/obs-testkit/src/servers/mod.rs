//! Real servers for tests and benchmarks, started on a free loopback port and stopped when
//! their guard is dropped: [`Postgres`] (a private cluster in a temporary directory) and
//! [`Redis`] (a `redis-server` child process).
//!
//! `start` returns `None`, with a message on stderr, when the server's binaries are not
//! installed, so a test can skip on a machine without them; with the environment variable
//! `OBS_REQUIRE_TOOLS` set (as `cargo xtask test` sets it) a missing binary panics instead, so
//! that a skipped test cannot pass unnoticed there.
//!
//! ```no_run
//! use obs_testkit::servers::Redis;
//!
//! let Some(redis) = Redis::start() else { return };
//! println!("{}", redis.url()); // redis://127.0.0.1:PORT/
//! // The server stops when `redis` goes out of scope.
//! ```

mod postgres;
mod redis;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

pub use postgres::Postgres;
pub use redis::Redis;

/// The environment variable that turns a missing server into a panic.
const REQUIRE: &str = "OBS_REQUIRE_TOOLS";

/// A port on 127.0.0.1 that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port on 127.0.0.1")
        .port()
}

/// `None` with a message, or a panic under `OBS_REQUIRE_TOOLS`: the server is not installed.
fn missing<T>(what: &str, install: &str) -> Option<T> {
    assert!(
        std::env::var_os(REQUIRE).is_none(),
        "{what} is required ({install}, or run `cargo xtask test`, which installs it)"
    );
    eprintln!("skipped: {what} is not installed ({install})");
    None
}

/// Waits until something accepts connections on `port`.
fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on 127.0.0.1:{port} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether this process runs as root (PostgreSQL refuses to, so it runs as `postgres` then).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::{Postgres, Redis};

    fn listening(port: u16) -> bool {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }

    #[test]
    fn redis_listens_restarts_and_stops_on_drop() {
        let Some(mut redis) = Redis::start() else {
            return;
        };
        let port = redis.port();
        assert!(listening(port));
        redis.kill();
        assert!(!listening(port));
        redis.restart();
        assert!(listening(port));
        drop(redis);
        assert!(!listening(port));
    }

    #[test]
    fn postgres_listens_and_stops_on_drop() {
        let Some(pg) = Postgres::start() else {
            return;
        };
        let port = pg.port();
        assert!(listening(port));
        assert_eq!(
            pg.url(),
            format!("postgres://postgres@127.0.0.1:{port}/postgres")
        );
        drop(pg);
        assert!(!listening(port));
    }
}
