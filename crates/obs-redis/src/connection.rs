//! [`Instrumented`]: a redis-rs connection that records a span and metrics for every command.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use obs_core::metrics::{CounterVec, HistogramVec};
use obs_core::{OpOutcome, Operation, instrument};
use opentelemetry::trace::SpanKind;
use opentelemetry::{StringValue, Value as OtelValue};
use redis::{Cmd, ConnectionAddr, ConnectionInfo, Pipeline, RedisFuture, RedisResult, Value};

use crate::catalog::{self, REDIS_OPERATION_DURATION, REDIS_OPERATIONS};
use crate::describe;
use crate::error::{classify_replies, classify_reply};
use crate::keys::KeyPatterns;

static DURATION: HistogramVec = HistogramVec::new(&REDIS_OPERATION_DURATION);
static OPERATIONS: CounterVec = CounterVec::new(&REDIS_OPERATIONS);

/// A redis-rs connection (async or sync) whose commands, pipelines and transactions are each
/// recorded as a Client span and in `redis_operations_total{command,status}` and
/// `redis_operation_duration_ms{command}`; results and errors pass through unchanged.
///
/// Wrap a connection once and keep using redis-rs's own API (`AsyncCommands`, `Pipeline`,
/// `Script`) on the wrapper. It is `Clone` when the connection is, so a `MultiplexedConnection`
/// or `ConnectionManager` wrapped once can be shared as before.
///
/// The span is named after the command (`GET`, `PIPELINE` for a pipeline, `MULTI` for a
/// transaction) and carries `db.system.name=redis`, `db.operation.name`, `db.namespace` (the
/// database index), `db.query.summary` (the command with the patterns of its keys, from
/// [`KeyPatterns`]: `GET session:*`), `db.operation.batch.size` for batches, `server.address` and
/// `server.port` when known ([`with_connection_info`](Self::with_connection_info)), and
/// `error.type` on error. Values and the arguments of every command but its keys are never
/// recorded, and keys only as patterns. obs-core's export-time redaction still applies to the
/// summary: wildcards stay (`session:*`), but a literal segment after a sensitive word is
/// exported as `[REDACTED]` (`session:[REDACTED]` for a rule that kept `session:abc`).
///
/// ```no_run
/// use redis::AsyncCommands as _;
///
/// # async fn run() -> redis::RedisResult<()> {
/// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
/// let mut con = obs_redis::Instrumented::new(client.get_connection_manager().await?)
///     .with_connection_info(client.get_connection_info());
/// let _: () = con.set("greeting:en", "hello").await?;
/// let hello: String = con.get("greeting:en").await?;
/// let (a, b): (i64, i64) = redis::pipe().atomic().incr("hits:a", 1).incr("hits:b", 1).query_async(&mut con).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Instrumented<C> {
    inner: C,
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    keys: KeyPatterns,
    address: Option<StringValue>,
    port: Option<i64>,
}

impl<C> Instrumented<C> {
    /// Wraps `inner`, with the default [`KeyPatterns`] and no server address.
    pub fn new(inner: C) -> Self {
        catalog::register();
        Self {
            inner,
            shared: Arc::new(Shared {
                keys: KeyPatterns::default(),
                address: None,
                port: None,
            }),
        }
    }

    /// Records keys with `keys` instead of the default normalizer.
    pub fn with_key_patterns(mut self, keys: KeyPatterns) -> Self {
        Arc::make_mut(&mut self.shared).keys = keys;
        self
    }

    /// Sets `server.address` and `server.port` from the client's connection info (host and port;
    /// the socket path for a Unix socket). Credentials in it are never read.
    pub fn with_connection_info(mut self, info: &ConnectionInfo) -> Self {
        let (address, port) = match info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                (host.clone(), Some(i64::from(*port)))
            }
            ConnectionAddr::Unix(path) => (path.display().to_string(), None),
            _ => return self,
        };
        let shared = Arc::make_mut(&mut self.shared);
        shared.address = Some(StringValue::from(address));
        shared.port = port;
        self
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The wrapped connection, mutably (commands sent through it are not recorded).
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// Unwraps the connection.
    pub fn into_inner(self) -> C {
        self.inner
    }

    fn operation<K>(
        &self,
        name: &'static str,
        db: i64,
        summary: String,
        batch: Option<usize>,
        classify: K,
    ) -> Operation<K> {
        let mut op = Operation::new(name)
            .kind(SpanKind::Client)
            .attribute("db.system.name", "redis")
            .attribute("db.operation.name", name)
            .attribute("db.namespace", namespace(db))
            .attribute("db.query.summary", summary)
            .metrics(&DURATION, &OPERATIONS, [name]);
        if let Some(size) = batch {
            op = op.attribute("db.operation.batch.size", size as i64);
        }
        if let Some(address) = &self.shared.address {
            op = op.attribute("server.address", OtelValue::String(address.clone()));
        }
        if let Some(port) = self.shared.port {
            op = op.attribute("server.port", port);
        }
        op.classify_output(classify)
    }
}

/// The database index as text; the first sixteen without allocating.
fn namespace(db: i64) -> OtelValue {
    const SMALL: [&str; 16] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
    ];
    match usize::try_from(db).ok().and_then(|i| SMALL.get(i)) {
        Some(s) => OtelValue::from(*s),
        None => OtelValue::from(db.to_string()),
    }
}

type ClassifyReply = fn(&RedisResult<Value>) -> OpOutcome;
type ClassifyReplies = fn(&RedisResult<Vec<Value>>) -> OpOutcome;

impl<C: redis::aio::ConnectionLike + Send> redis::aio::ConnectionLike for Instrumented<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let (name, summary) = describe::command(cmd, &self.shared.keys);
        let db = self.inner.get_db();
        let op = self.operation(name, db, summary, None, classify_reply as ClassifyReply);
        Box::pin(instrument(op, self.inner.req_packed_command(cmd)))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let name = if pipeline.is_transaction() {
            "MULTI"
        } else {
            "PIPELINE"
        };
        let summary = describe::pipeline(pipeline, &self.shared.keys);
        let db = self.inner.get_db();
        let op = self.operation(
            name,
            db,
            summary,
            Some(pipeline.len()),
            classify_replies as ClassifyReplies,
        );
        Box::pin(instrument(
            op,
            self.inner.req_packed_commands(pipeline, offset, count),
        ))
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// Runs a blocking call inside an instrumented operation: the call happens in the first poll,
/// with the operation's span attached, so its duration and context are the call's.
fn run_sync<T, K>(op: Operation<K>, call: impl FnOnce() -> T) -> T
where
    K: obs_core::op::Classify<T>,
{
    let mut call = Some(call);
    let future = instrument(
        op,
        std::future::poll_fn(move |_| match call.take() {
            Some(call) => Poll::Ready(call()),
            None => Poll::Pending,
        }),
    );
    let mut future = std::pin::pin!(future);
    let mut task = TaskContext::from_waker(Waker::noop());
    loop {
        // The inner future is ready on its first poll; the loop only satisfies the types.
        if let Poll::Ready(output) = future.as_mut().poll(&mut task) {
            return output;
        }
    }
}

impl<C: redis::ConnectionLike> redis::ConnectionLike for Instrumented<C> {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        let commands = describe::unpack(cmd);
        let (name, summary) = match commands.first() {
            Some(args) => describe::describe(args, &self.shared.keys),
            None => (crate::command::OTHER, String::from(crate::command::OTHER)),
        };
        let op = self.operation(
            name,
            self.inner.get_db(),
            summary,
            None,
            classify_reply as ClassifyReply,
        );
        let inner = &mut self.inner;
        run_sync(op, || inner.req_packed_command(cmd))
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let commands = describe::unpack(cmd);
        let transaction = commands
            .first()
            .is_some_and(|c| c.first().is_some_and(|n| n.eq_ignore_ascii_case(b"MULTI")));
        // A transaction arrives as MULTI, its commands, EXEC: the batch is the commands between.
        let (name, inner_commands) = if transaction && commands.len() >= 2 {
            ("MULTI", &commands[1..commands.len() - 1])
        } else {
            ("PIPELINE", &commands[..])
        };
        let keys = &self.shared.keys;
        let summary = describe::summarize(
            inner_commands
                .iter()
                .map(|args| describe::describe(args, keys).1),
        );
        let op = self.operation(
            name,
            self.inner.get_db(),
            summary,
            Some(inner_commands.len()),
            classify_replies as ClassifyReplies,
        );
        let inner = &mut self.inner;
        run_sync(op, || inner.req_packed_commands(cmd, offset, count))
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }

    fn check_connection(&mut self) -> bool {
        self.inner.check_connection()
    }

    fn is_open(&self) -> bool {
        self.inner.is_open()
    }
}

impl<C> fmt::Debug for Instrumented<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("keys", &self.shared.keys)
            .field("server.address", &self.shared.address)
            .field("server.port", &self.shared.port)
            .finish_non_exhaustive()
    }
}
