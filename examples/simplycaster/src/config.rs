//! Settings from the environment, with embedded defaults: a SQLite file under a data directory,
//! Redis from `REDIS_URL` or a `redis-server` child, no collector.

use std::net::SocketAddr;
use std::path::PathBuf;

/// How the app is set up.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Where the API listens (`0` for a free port).
    pub addr: SocketAddr,
    /// `DATABASE_URL`: `postgres://...` or `sqlite://...`; `None` takes a SQLite file under
    /// [`data_dir`](Self::data_dir).
    pub database_url: Option<String>,
    /// `REDIS_URL`; `None` starts a `redis-server` child when one is on `PATH`.
    pub redis_url: Option<String>,
    /// Whether to start a `redis-server` child when `REDIS_URL` is not set.
    pub spawn_redis: bool,
    /// `SIMPLYCASTER_DATA_DIR`: the SQLite file and the redis-server's working directory;
    /// default `$TMPDIR/simplycaster`.
    pub data_dir: PathBuf,
    /// `SIMPLYCASTER_MODERATOR_KEY`: what a registration must carry to make a moderator; a random
    /// one (never logged) when unset.
    pub moderator_key: String,
}

impl Config {
    /// The settings from the environment, listening on `addr`.
    pub fn from_env(addr: SocketAddr) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            addr,
            database_url: var("DATABASE_URL"),
            redis_url: var("REDIS_URL"),
            spawn_redis: true,
            data_dir: var("SIMPLYCASTER_DATA_DIR")
                .map_or_else(|| std::env::temp_dir().join("simplycaster"), PathBuf::from),
            moderator_key: var("SIMPLYCASTER_MODERATOR_KEY")
                .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>())),
        }
    }

    /// The database URL in force: `DATABASE_URL`, else the SQLite file under the data directory.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("simplycaster.db").display()
            )
        })
    }
}
