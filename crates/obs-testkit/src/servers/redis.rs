//! A private redis-server.

use std::fmt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::{free_port, missing, wait_for_port};

/// A `redis-server` child process on 127.0.0.1 and a free port, without persistence, working in
/// a temporary directory; killed and the directory removed on drop.
///
/// ```no_run
/// let Some(redis) = obs_testkit::servers::Redis::start() else { return };
/// assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.port()));
/// ```
pub struct Redis {
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Whether `redis-server` is on the `PATH`.
    pub fn installed() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok()
    }

    /// Starts a server; see [`start_with`](Self::start_with).
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Starts a server with more arguments (for example `["--cluster-enabled", "yes"]`) and
    /// waits until it accepts connections.
    ///
    /// Returns `None` (with a message) when redis-server is not installed and
    /// `OBS_REQUIRE_TOOLS` is not set.
    ///
    /// # Panics
    /// When redis-server is missing and `OBS_REQUIRE_TOOLS` is set, or when it does not listen
    /// within 10 seconds.
    pub fn start_with(args: &[&str]) -> Option<Self> {
        if !Self::installed() {
            return missing("redis-server", "apt-get install redis-server");
        }
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("obs-testkit-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let mut server = Self {
            port,
            dir,
            extra: args.iter().map(|s| (*s).to_owned()).collect(),
            child: None,
        };
        server.launch();
        Some(server)
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        wait_for_port(self.port, "redis-server");
    }

    /// Kills the server, as a crash would; [`restart`](Self::restart) brings it back.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs and starts it again on the same port (with empty data).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
