//! Shared test helpers: `init` against the in-process receiver, a runtime, and a private
//! PostgreSQL server started on a free loopback port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use obs_core::{ObsConfig, ObsGuard};
use obs_testkit::{LogCapture, OtlpReceiver, ReceivedSpan};

/// How long to wait for spans to arrive.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// OTLP span kind `CLIENT`.
pub(crate) const KIND_CLIENT: i32 = 3;
/// OTLP status code `ERROR`.
pub(crate) const STATUS_ERROR: i32 = 2;

/// `init` exporting to `receiver`, with obs-db's catalog, logging into `logs`.
pub(crate) fn init(receiver: &OtlpReceiver, logs: &LogCapture) -> ObsGuard {
    obs_core::init(
        ObsConfig::builder()
            .service_name("t")
            .endpoint(receiver.grpc_endpoint())
            .log_writer(logs.writer())
            .catalog(obs_db::catalog::CATALOG)
            .build(),
    )
    .expect("init")
}

/// A multi-threaded runtime for one test.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Waits until `n` spans named `name` arrived, and returns them.
pub(crate) fn spans_named(receiver: &OtlpReceiver, name: &str, n: usize) -> Vec<ReceivedSpan> {
    let spans = receiver.wait_for(WAIT, |s| s.iter().filter(|s| s.name == name).count() >= n);
    let found: Vec<ReceivedSpan> = spans.into_iter().filter(|s| s.name == name).collect();
    assert!(
        found.len() >= n,
        "{} spans named {name:?}, wanted {n}",
        found.len()
    );
    found
}

/// A free port on 127.0.0.1 (bound, then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private PostgreSQL cluster in a temporary directory, stopped and removed on drop. Started as
/// the `postgres` user when the tests run as root (the server refuses to run as root).
pub(crate) struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    pub(crate) port: u16,
}

fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    /// Starts a server, or `None` (with a message) when PostgreSQL is not installed and
    /// `OBS_REQUIRE_TOOLS` is not set; with it set, a missing server fails the test.
    pub(crate) fn start() -> Option<Self> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("OBS_REQUIRE_TOOLS").is_none(),
                "PostgreSQL is required (apt-get install postgresql)"
            );
            eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql)");
            return None;
        };
        let dir =
            std::env::temp_dir().join(format!("obs-db-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let as_postgres = is_root();
        let pg = Self {
            dir,
            bin,
            as_postgres,
            port: free_port(),
        };
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&pg.dir)
                .status()
                .unwrap();
            assert!(ok.success(), "chown the data directory to postgres");
        }
        let data = pg.dir.join("data");
        pg.run(
            "initdb",
            &["-D", s(&data), "-A", "trust", "-U", "postgres", "-N"],
        );
        let opts = format!(
            "-k {} -h 127.0.0.1 -p {} -F -c max_connections=20",
            pg.dir.display(),
            pg.port
        );
        let log = pg.dir.join("log");
        pg.run(
            "pg_ctl",
            &[
                "-D",
                s(&data),
                "-o",
                &opts,
                "-l",
                s(&log),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        Some(pg)
    }

    fn run(&self, program: &str, args: &[&str]) {
        let exe = self.bin.join(program);
        let output = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        }
        .unwrap();
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The connection URL.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let exe = self.bin.join("pg_ctl");
        let args = ["-D", s(&data), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
