//! [`SessionStore`]: sessions in Redis under random ids, with a sliding TTL.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use obs_core::metrics::CounterVec;
use redis::Value;
use redis::aio::ConnectionLike;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{CacheError, ttl_ms};
use crate::catalog::{self, SESSION_OPERATIONS};

static OPERATIONS: CounterVec = CounterVec::new(&SESSION_OPERATIONS);

/// A session id: 128 random bits as 32 lowercase hex digits.
///
/// Its `Debug` output hides the value; only [`as_str`](Self::as_str) shows it, for the cookie.
/// In a key it is a hex segment, which the default [`KeyPatterns`](crate::KeyPatterns) record as
/// `*`, so it does not reach spans either.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    fn random() -> Self {
        let bits: u128 = rand::random();
        Self(format!("{bits:032x}"))
    }

    /// A session id received from a client (a cookie): `None` unless it is 32 lowercase hex
    /// digits, so that no other text is ever used in a key.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(text.to_owned()))
    }

    /// The id, for the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId([REDACTED])")
    }
}

/// Sessions stored as JSON under `{prefix}{id}` with a sliding TTL, and an index of their expiry
/// times (a sorted set under `{prefix}index`) for [`cleanup`](Self::cleanup) and
/// [`active`](Self::active).
///
/// Every call counts in `session_operations_total{operation}` (`create`, `read`, `update`,
/// `touch`, `destroy`, `cleanup`). Session ids never appear in telemetry.
///
/// ```no_run
/// use std::time::Duration;
/// use obs_redis::{Instrumented, SessionStore};
///
/// # async fn run(con: redis::aio::ConnectionManager) -> Result<(), obs_redis::CacheError> {
/// let sessions = SessionStore::new(Instrumented::new(con), Duration::from_secs(1800));
/// let id = sessions.create(&("user", 42)).await?;
/// let data: Option<(String, u32)> = sessions.read(&id).await?;
/// sessions.touch(&id).await?; // another 30 minutes
/// sessions.destroy(&id).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SessionStore<C> {
    con: C,
    prefix: String,
    ttl: Duration,
}

impl<C> SessionStore<C>
where
    C: ConnectionLike + Clone + Send + Sync,
{
    /// Sessions that live `ttl` after their last write or touch, under the prefix `session:`.
    pub fn new(con: C, ttl: Duration) -> Self {
        catalog::register();
        Self {
            con,
            prefix: String::from("session:"),
            ttl,
        }
    }

    /// Keys under `prefix` instead of `session:`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.prefix, id.0)
    }

    fn index(&self) -> String {
        format!("{}index", self.prefix)
    }

    fn count(operation: &str) {
        OPERATIONS.with(&[operation]).increment(1);
    }

    fn expiry_score(&self) -> u64 {
        now_ms().saturating_add(ttl_ms(self.ttl))
    }

    /// Stores `data` under a new random id.
    ///
    /// # Errors
    /// When `data` cannot be written as JSON or a command fails.
    pub async fn create<T: Serialize + ?Sized>(&self, data: &T) -> Result<SessionId, CacheError> {
        Self::count("create");
        let bytes = serde_json::to_vec(data)?;
        let id = SessionId::random();
        let mut con = self.con.clone();
        let _: Value = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.key(&id))
            .arg(bytes)
            .arg("PX")
            .arg(ttl_ms(self.ttl))
            .cmd("ZADD")
            .arg(self.index())
            .arg(self.expiry_score())
            .arg(id.as_str())
            .query_async(&mut con)
            .await?;
        Ok(id)
    }

    /// The session's data, or `None` when it expired or never existed. Reading does not extend
    /// the session: call [`touch`](Self::touch) for that.
    ///
    /// # Errors
    /// When the command fails or the data is not JSON of `T`.
    pub async fn read<T: DeserializeOwned>(&self, id: &SessionId) -> Result<Option<T>, CacheError> {
        Self::count("read");
        let mut con = self.con.clone();
        let stored: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.key(id))
            .query_async(&mut con)
            .await?;
        Ok(stored.map(|b| serde_json::from_slice(&b)).transpose()?)
    }

    /// Replaces the data of a live session and restarts its TTL; `false` when it is gone.
    ///
    /// # Errors
    /// When `data` cannot be written as JSON or a command fails.
    pub async fn update<T: Serialize + ?Sized>(
        &self,
        id: &SessionId,
        data: &T,
    ) -> Result<bool, CacheError> {
        Self::count("update");
        let bytes = serde_json::to_vec(data)?;
        let mut con = self.con.clone();
        let written: Option<String> = redis::cmd("SET")
            .arg(self.key(id))
            .arg(bytes)
            .arg("PX")
            .arg(ttl_ms(self.ttl))
            .arg("XX")
            .query_async(&mut con)
            .await?;
        if written.is_some() {
            self.reindex(id).await?;
        }
        Ok(written.is_some())
    }

    /// Restarts a live session's TTL (the sliding expiry); `false` when it is gone.
    ///
    /// # Errors
    /// When a command fails.
    pub async fn touch(&self, id: &SessionId) -> Result<bool, CacheError> {
        Self::count("touch");
        let mut con = self.con.clone();
        let extended: u64 = redis::cmd("PEXPIRE")
            .arg(self.key(id))
            .arg(ttl_ms(self.ttl))
            .query_async(&mut con)
            .await?;
        if extended == 1 {
            self.reindex(id).await?;
        }
        Ok(extended == 1)
    }

    async fn reindex(&self, id: &SessionId) -> Result<(), CacheError> {
        let mut con = self.con.clone();
        let _: Value = redis::cmd("ZADD")
            .arg(self.index())
            .arg("XX")
            .arg(self.expiry_score())
            .arg(id.as_str())
            .query_async(&mut con)
            .await?;
        Ok(())
    }

    /// Ends a session; `false` when it was already gone.
    ///
    /// # Errors
    /// When a command fails.
    pub async fn destroy(&self, id: &SessionId) -> Result<bool, CacheError> {
        Self::count("destroy");
        let mut con = self.con.clone();
        let (removed, _): (u64, u64) = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(self.key(id))
            .cmd("ZREM")
            .arg(self.index())
            .arg(id.as_str())
            .query_async(&mut con)
            .await?;
        Ok(removed == 1)
    }

    /// Removes the sessions whose TTL has passed from the index (and their keys, should any
    /// remain); returns how many. Run it now and then; Redis expires the sessions themselves.
    ///
    /// # Errors
    /// When a command fails.
    pub async fn cleanup(&self) -> Result<usize, CacheError> {
        Self::count("cleanup");
        let mut con = self.con.clone();
        let expired: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.index())
            .arg("-inf")
            .arg(now_ms())
            .query_async(&mut con)
            .await?;
        if expired.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in &expired {
            pipe.cmd("DEL").arg(format!("{}{id}", self.prefix)).ignore();
        }
        pipe.cmd("ZREM").arg(self.index()).arg(&expired).ignore();
        let _: Value = pipe.query_async(&mut con).await?;
        Ok(expired.len())
    }

    /// How many sessions are live (by the index).
    ///
    /// # Errors
    /// When the command fails.
    pub async fn active(&self) -> Result<u64, CacheError> {
        let mut con = self.con.clone();
        Ok(redis::cmd("ZCOUNT")
            .arg(self.index())
            .arg(format!("({}", now_ms()))
            .arg("+inf")
            .query_async(&mut con)
            .await?)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl<C> fmt::Debug for SessionStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex_and_hidden() {
        let a = SessionId::random();
        let b = SessionId::random();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "SessionId([REDACTED])");
        assert_eq!(SessionId::parse("not-an-id"), None);
        assert_eq!(SessionId::parse(&"A".repeat(32)), None);
    }
}
