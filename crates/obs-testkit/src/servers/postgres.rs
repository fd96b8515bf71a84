//! A private PostgreSQL cluster.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{free_port, is_root, missing};

/// A private PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 on a free port
/// with `trust` authentication for the user `postgres`; stopped and removed on drop.
///
/// The binaries come from `/usr/lib/postgresql/<version>/bin` (Debian's `postgresql` package;
/// the newest version there is used). When the process runs as root, the cluster is created and
/// run as the `postgres` user, since the server refuses to run as root.
///
/// ```no_run
/// let Some(pg) = obs_testkit::servers::Postgres::start() else { return };
/// assert!(pg.url().starts_with("postgres://postgres@127.0.0.1:"));
/// ```
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    port: u16,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres")
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`.
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

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary directory")
}

impl Postgres {
    /// Whether the server's binaries are installed.
    pub fn installed() -> bool {
        bin_dir().is_some()
    }

    /// Starts a server with `max_connections=20`; see [`start_with`](Self::start_with).
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Starts a server, passing `options` to `postgres` after obs-testkit's own (for example
    /// `["-c", "max_connections=50"]`, which overrides the default of 20).
    ///
    /// Returns `None` (with a message) when PostgreSQL is not installed and `OBS_REQUIRE_TOOLS`
    /// is not set.
    ///
    /// # Panics
    /// When PostgreSQL is missing and `OBS_REQUIRE_TOOLS` is set, or when `initdb` or `pg_ctl`
    /// fails (their output is in the message).
    pub fn start_with(options: &[&str]) -> Option<Self> {
        let Some(bin) = bin_dir() else {
            return missing("PostgreSQL", "apt-get install postgresql");
        };
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("obs-testkit-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        let pg = Self {
            dir,
            bin,
            as_postgres: is_root(),
            port,
        };
        if pg.as_postgres {
            let chown = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&pg.dir)
                .status()
                .expect("run chown");
            assert!(chown.success(), "chown the data directory to postgres");
        }
        let data = pg.dir.join("data");
        pg.run_checked(
            "initdb",
            &["-D", s(&data), "-A", "trust", "-U", "postgres", "-N"],
        );
        let mut opts = format!(
            "-k {} -h 127.0.0.1 -p {} -F -c max_connections=20",
            pg.dir.display(),
            pg.port
        );
        for option in options {
            opts.push(' ');
            opts.push_str(option);
        }
        let log = pg.dir.join("log");
        pg.run_checked(
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

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the `postgres` database as the `postgres` user.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<Output> {
        let exe = self.bin.join(program);
        if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        }
    }

    fn run_checked(&self, program: &str, args: &[&str]) {
        let output = self
            .run(program, args)
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run("pg_ctl", &["-D", s(&data), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
