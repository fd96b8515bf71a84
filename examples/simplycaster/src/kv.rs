//! Sessions, the room cache, the login rate limit and the blocklist: in Redis through obs-redis
//! when Redis is there (`REDIS_URL`, or a `redis-server` child on a free loopback port), else in
//! this process (and the app says so once at start).

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use obs_redis::{
    Cache, Instrumented, KeyPatterns, RateLimiter, RedisReadiness, SessionId, SessionStore,
};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::storage::RoomRow;

/// The Redis connection every Redis user of the app shares.
pub type RedisCon = Instrumented<ConnectionManager>;

/// How long a session lives without use.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 60);
/// How long a room stays cached.
const ROOM_TTL: Duration = Duration::from_secs(60);
/// Login attempts per user name and minute.
pub const LOGIN_LIMIT: u64 = 10;
const LOGIN_WINDOW: Duration = Duration::from_secs(60);
const BLOCKLIST_KEY: &str = "blocklist";

/// What a session holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The user id.
    pub user_id: String,
    /// Whether the user moderates reports.
    pub moderator: bool,
}

/// Where sessions, cached rooms, rate limits and the blocklist live.
#[derive(Clone, Debug)]
pub enum Kv {
    /// Redis, through obs-redis.
    Redis(Box<RedisKv>),
    /// This process's memory: nothing is shared with other instances.
    Memory(Arc<MemoryKv>),
}

/// The Redis half of [`Kv`].
#[derive(Clone, Debug)]
pub struct RedisKv {
    con: RedisCon,
    /// The blocklist goes through a deadpool-redis pool, the way a service that already pools
    /// its Redis connections wires obs-redis; its size, idle and waiting counts are gauges.
    pool: deadpool_redis::Pool,
    _pool_gauges: Arc<obs_redis::pool::PoolGauges>,
    keys: KeyPatterns,
    sessions: SessionStore<RedisCon>,
    rooms: Cache<RedisCon>,
    login: RateLimiter<RedisCon>,
}

impl RedisKv {
    /// A connection from the pool, instrumented like the others.
    async fn pooled(&self) -> redis::RedisResult<Instrumented<deadpool_redis::Connection>> {
        let con = self.pool.get().await.map_err(|e| match e {
            deadpool_redis::PoolError::Backend(e) => e,
            _ => {
                redis::RedisError::from(std::io::Error::other("no Redis connection from the pool"))
            }
        })?;
        Ok(Instrumented::new(con).with_key_patterns(self.keys.clone()))
    }
}

/// The in-process half of [`Kv`].
#[derive(Debug, Default)]
pub struct MemoryKv {
    sessions: Mutex<HashMap<String, (Session, Instant)>>,
    rooms: Mutex<HashMap<String, (RoomRow, Instant)>>,
    logins: Mutex<HashMap<String, (u64, Instant)>>,
    blocklist: Mutex<HashSet<String>>,
}

impl Kv {
    /// Redis at `url`.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn redis(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let manager = tokio::time::timeout(Duration::from_secs(5), client.get_connection_manager())
            .await
            .map_err(|_| {
                redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
            })??;
        let keys = KeyPatterns::default()
            .with_pattern("ratelimit:login:*")
            .with_pattern("room:*");
        let con = Instrumented::new(manager)
            .with_key_patterns(keys.clone())
            .with_connection_info(client.get_connection_info());
        let pool = deadpool_redis::Config::from_url(url)
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .map_err(|_| {
                redis::RedisError::from(std::io::Error::other("cannot build the Redis pool"))
            })?;
        Ok(Self::Redis(Box::new(RedisKv {
            _pool_gauges: Arc::new(obs_redis::pool::observe("blocklist", &pool)),
            pool,
            keys,
            sessions: SessionStore::new(con.clone(), SESSION_TTL),
            rooms: Cache::new(con.clone(), "room"),
            login: RateLimiter::sliding_window(con.clone(), "login", LOGIN_LIMIT, LOGIN_WINDOW),
            con,
        })))
    }

    /// In this process.
    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    /// `redis` or `memory`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Redis(_) => "redis",
            Self::Memory(_) => "memory",
        }
    }

    /// The `/readyz` check, with Redis.
    pub fn readiness(&self) -> Option<RedisReadiness<RedisCon>> {
        match self {
            Self::Redis(r) => Some(RedisReadiness::new(r.con.clone())),
            Self::Memory(_) => None,
        }
    }

    /// A new session; its token.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn create_session(&self, session: &Session) -> Result<String, obs_redis::CacheError> {
        match self {
            Self::Redis(r) => Ok(r.sessions.create(session).await?.as_str().to_owned()),
            Self::Memory(m) => {
                let token = format!("{:032x}", rand::random::<u128>());
                lock(&m.sessions).insert(
                    token.clone(),
                    (session.clone(), Instant::now() + SESSION_TTL),
                );
                Ok(token)
            }
        }
    }

    /// The session of `token` (and another [`SESSION_TTL`] for it); `None` for an unknown,
    /// expired or malformed token.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn session(&self, token: &str) -> Result<Option<Session>, obs_redis::CacheError> {
        let Some(id) = SessionId::parse(token) else {
            return Ok(None);
        };
        match self {
            Self::Redis(r) => {
                let session = r.sessions.read(&id).await?;
                if session.is_some() {
                    r.sessions.touch(&id).await?;
                }
                Ok(session)
            }
            Self::Memory(m) => {
                let mut sessions = lock(&m.sessions);
                let now = Instant::now();
                match sessions.get_mut(id.as_str()) {
                    Some((session, expires)) if *expires > now => {
                        *expires = now + SESSION_TTL;
                        Ok(Some(session.clone()))
                    }
                    _ => Ok(None),
                }
            }
        }
    }

    /// Ends the session of `token`; whether there was one.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn destroy_session(&self, token: &str) -> Result<bool, obs_redis::CacheError> {
        let Some(id) = SessionId::parse(token) else {
            return Ok(false);
        };
        match self {
            Self::Redis(r) => r.sessions.destroy(&id).await,
            Self::Memory(m) => Ok(lock(&m.sessions).remove(id.as_str()).is_some()),
        }
    }

    /// The room `id` from the cache, else from `load` (then cached).
    ///
    /// # Errors
    /// `load`'s error.
    pub async fn room<E, F, Fut>(&self, id: &str, load: F) -> Result<Option<RoomRow>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<RoomRow>, E>>,
    {
        match self {
            Self::Redis(r) => {
                r.rooms
                    .get_or_load(&format!("room:{id}"), ROOM_TTL, load)
                    .await
            }
            Self::Memory(m) => {
                if let Some((room, expires)) = lock(&m.rooms).get(id)
                    && *expires > Instant::now()
                {
                    return Ok(Some(room.clone()));
                }
                let room = load().await?;
                if let Some(room) = &room {
                    lock(&m.rooms).insert(id.to_owned(), (room.clone(), Instant::now() + ROOM_TTL));
                }
                Ok(room)
            }
        }
    }

    /// Drops the room `id` from the cache (it changed).
    pub async fn forget_room(&self, id: &str) {
        match self {
            Self::Redis(r) => {
                // A failed delete leaves a stale entry for at most ROOM_TTL; the command's span
                // and metrics record the failure.
                let _ = r.rooms.delete(&format!("room:{id}")).await;
            }
            Self::Memory(m) => {
                lock(&m.rooms).remove(id);
            }
        }
    }

    /// Whether another login attempt for `name` is allowed now.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn login_allowed(&self, name: &str) -> redis::RedisResult<bool> {
        match self {
            Self::Redis(r) => Ok(r.login.check(name).await?.is_allowed()),
            Self::Memory(m) => {
                let mut logins = lock(&m.logins);
                let now = Instant::now();
                let entry = logins
                    .entry(name.to_owned())
                    .or_insert((0, now + LOGIN_WINDOW));
                if entry.1 <= now {
                    *entry = (0, now + LOGIN_WINDOW);
                }
                entry.0 += 1;
                Ok(entry.0 <= LOGIN_LIMIT)
            }
        }
    }

    /// Puts `user_id` on the blocklist; the blocklist's size after.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn block(&self, user_id: &str) -> redis::RedisResult<u64> {
        match self {
            Self::Redis(r) => {
                let mut con = r.pooled().await?;
                let (_, size): (u64, u64) = redis::pipe()
                    .cmd("SADD")
                    .arg(BLOCKLIST_KEY)
                    .arg(user_id)
                    .cmd("SCARD")
                    .arg(BLOCKLIST_KEY)
                    .query_async(&mut con)
                    .await?;
                Ok(size)
            }
            Self::Memory(m) => {
                let mut list = lock(&m.blocklist);
                list.insert(user_id.to_owned());
                Ok(list.len() as u64)
            }
        }
    }

    /// Whether `user_id` is on the blocklist.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn is_blocked(&self, user_id: &str) -> redis::RedisResult<bool> {
        match self {
            Self::Redis(r) => {
                let mut con = r.pooled().await?;
                redis::cmd("SISMEMBER")
                    .arg(BLOCKLIST_KEY)
                    .arg(user_id)
                    .query_async(&mut con)
                    .await
            }
            Self::Memory(m) => Ok(lock(&m.blocklist).contains(user_id)),
        }
    }

    /// The blocklist's size.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn blocklist_size(&self) -> redis::RedisResult<u64> {
        match self {
            Self::Redis(r) => {
                let mut con = r.pooled().await?;
                redis::cmd("SCARD")
                    .arg(BLOCKLIST_KEY)
                    .query_async(&mut con)
                    .await
            }
            Self::Memory(m) => Ok(lock(&m.blocklist).len() as u64),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A `redis-server` this process started, on a free loopback port; stopped when dropped.
#[derive(Debug)]
pub struct RedisChild {
    child: Child,
    port: u16,
}

impl RedisChild {
    /// Starts `redis-server` (no persistence) in `dir` when it is on `PATH`; `Ok(None)` when it
    /// is not.
    ///
    /// # Errors
    /// When it is there but does not start.
    pub fn spawn(dir: &Path) -> std::io::Result<Option<Self>> {
        let port = free_port()?;
        std::fs::create_dir_all(dir)?;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(child) => Ok(Some(Self { child, port })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Waits until it answers, up to `timeout`.
    ///
    /// # Errors
    /// When it does not answer in time or exited.
    pub async fn wait_ready(&mut self, timeout: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "redis-server exited: {status}"
                )));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("redis-server did not answer in time"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
