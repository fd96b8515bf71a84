//! Readiness checks: "can this process serve traffic right now?".
//!
//! A [`ReadinessCheck`] has a name, a timeout and an async `check`. Leaf crates implement it for what
//! they wrap (a pool's saturation, a Redis `PING`); applications build ad-hoc ones with [`check_fn`].
//! obs-http's admin router runs every registered check concurrently, each bounded by its own
//! [`ReadinessCheck::timeout`], and answers `/readyz`. [`ExporterBacklogCheck`] is obs's own check:
//! it fails while the span export queue is nearly full or when spans were dropped (obs-http reports
//! it as information, not as a readiness condition, unless asked).
//!
//! ```
//! use obs_core::health::{check_fn, CheckError, ReadinessCheck};
//! use std::time::Duration;
//!
//! let db = check_fn("db", || async {
//!     let reachable = true; // e.g. `sqlx::query("SELECT 1").execute(&pool).await.is_ok()`
//!     if reachable { Ok(()) } else { Err(CheckError::new("database unreachable")) }
//! })
//! .with_timeout(Duration::from_millis(500));
//! assert_eq!(db.name(), "db");
//! assert_eq!(db.timeout(), Duration::from_millis(500));
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! assert!(rt.block_on(db.check()).is_ok());
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

mod backlog;

pub use backlog::ExporterBacklogCheck;

/// The timeout a check gets unless it says otherwise.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The future a [`ReadinessCheck`] returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CheckError>> + Send + 'a>>;

/// One readiness condition, e.g. "the database answers" or "the export queue has room".
///
/// The trait is object-safe: runners hold `Arc<dyn ReadinessCheck>`. A check should be cheap (it
/// runs on every `/readyz` probe) and must not block the thread; the runner enforces
/// [`timeout`](Self::timeout) and treats a panic as a failure.
///
/// ```
/// use obs_core::health::{CheckError, CheckFuture, ReadinessCheck};
/// use std::borrow::Cow;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// struct Warmup(AtomicBool);
///
/// impl ReadinessCheck for Warmup {
///     fn name(&self) -> Cow<'static, str> {
///         "cache_warmup".into()
///     }
///     fn check(&self) -> CheckFuture<'_> {
///         Box::pin(async move {
///             if self.0.load(Ordering::Relaxed) {
///                 Ok(())
///             } else {
///                 Err(CheckError::new("cache not warmed up yet"))
///             }
///         })
///     }
/// }
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let warmup = Warmup(AtomicBool::new(false));
/// assert!(rt.block_on(warmup.check()).is_err());
/// ```
pub trait ReadinessCheck: Send + Sync {
    /// A short, stable name, reported as `failed_check` (e.g. `db`, `redis`).
    fn name(&self) -> Cow<'static, str>;

    /// How long the check may take before it counts as failed. Defaults to
    /// [`DEFAULT_CHECK_TIMEOUT`] (2 s).
    fn timeout(&self) -> Duration {
        DEFAULT_CHECK_TIMEOUT
    }

    /// Runs the check once.
    fn check(&self) -> CheckFuture<'_>;
}

/// Why a readiness check failed: a message for operators, shown in `/readyz`.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckError {
    message: Cow<'static, str>,
}

impl CheckError {
    /// A failure with this message.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// A failure described by an error's `Display` text.
    pub fn from_error(error: &(dyn std::error::Error + '_)) -> Self {
        Self::new(error.to_string())
    }

    /// The failure of a check that did not finish within `timeout`.
    pub fn timed_out(timeout: Duration) -> Self {
        Self::new(format!("timed out after {} ms", timeout.as_millis()))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CheckError").field(&self.message).finish()
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckError {}

impl From<&'static str> for CheckError {
    fn from(message: &'static str) -> Self {
        Self::new(message)
    }
}

impl From<String> for CheckError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

/// A [`ReadinessCheck`] made of a name and an async closure; built by [`check_fn`].
#[derive(Clone)]
pub struct CheckFn<F> {
    name: Cow<'static, str>,
    timeout: Duration,
    f: F,
}

/// Builds a [`ReadinessCheck`] from a name and a closure returning a future.
///
/// The timeout is [`DEFAULT_CHECK_TIMEOUT`] until [`CheckFn::with_timeout`] changes it.
pub fn check_fn<F, Fut>(name: impl Into<Cow<'static, str>>, f: F) -> CheckFn<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
{
    CheckFn {
        name: name.into(),
        timeout: DEFAULT_CHECK_TIMEOUT,
        f,
    }
}

impl<F> CheckFn<F> {
    /// Sets how long the check may take.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<F, Fut> ReadinessCheck for CheckFn<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
{
    fn name(&self) -> Cow<'static, str> {
        self.name.clone()
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin((self.f)())
    }
}

impl<F> fmt::Debug for CheckFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckFn")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn check_fn_reports_name_timeout_and_result() {
        let ok = check_fn("ok", || async { Ok(()) });
        assert_eq!(ok.name(), "ok");
        assert_eq!(ok.timeout(), DEFAULT_CHECK_TIMEOUT);
        assert_eq!(block_on(ok.check()), Ok(()));

        let failing = check_fn(String::from("db"), || async { Err("down".into()) })
            .with_timeout(Duration::from_millis(10));
        assert_eq!(failing.timeout(), Duration::from_millis(10));
        assert_eq!(block_on(failing.check()), Err(CheckError::new("down")));
    }

    #[test]
    fn checks_are_object_safe() {
        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![
            Arc::new(check_fn("a", || async { Ok(()) })),
            Arc::new(ExporterBacklogCheck::new()),
        ];
        let names: Vec<_> = checks.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["a", "exporter_backlog"]);
    }

    #[test]
    fn check_error_messages() {
        assert_eq!(CheckError::new("x").to_string(), "x");
        assert_eq!(
            CheckError::timed_out(Duration::from_millis(100)).message(),
            "timed out after 100 ms"
        );
        let io = std::io::Error::other("refused");
        assert_eq!(CheckError::from_error(&io).message(), "refused");
        assert_eq!(format!("{:?}", CheckError::new("m")), r#"CheckError("m")"#);
        let debug = format!("{:?}", check_fn("n", || async { Ok(()) }));
        assert!(debug.starts_with("CheckFn { name: \"n\""), "{debug}");
    }
}
