//! obs-db's hot paths, each next to its bare baseline in the same run:
//! - a point `SELECT` by primary key on SQLite in memory: the raw sqlx pool, and the
//!   `InstrumentedPool` with the span unsampled and sampled (forced per call by obs-core's
//!   sampling override; sampled spans go through obs's queue to an exporter that discards them);
//! - the same on PostgreSQL: the server `OBS_DB_BENCH_PG_URL` names (e.g.
//!   `postgres://postgres@127.0.0.1:5432/postgres`), or else a private one the bench starts on
//!   loopback with obs-testkit's `servers::Postgres` (skipped when PostgreSQL is not installed;
//!   `cargo xtask test` installs it);
//! - the sanitizer alone: a short statement uncached and cached, and a 100 KB statement (never
//!   cached).
//!
//! Run: `cargo bench -p obs-db --bench db`. Report added time as the difference to the raw figure of the same run.
//!
//! Last run: not yet measured (written 2026-11-29; the coordinator runs the benchmarks).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use obs_core::sampler::SamplingOverride;
use obs_db::InstrumentedPool;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use sqlx::Executor as _;

/// Drops every batch: export costs batching, not the network.
#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

/// The point query, with `$1` written for each driver (SQLite takes `$1` too).
const POINT: &str = "SELECT id, email FROM users WHERE id = $1";

/// Runs the point query through `$executor`; `$sampled` forces the span's sampling (`None`: no
/// override, for the raw pool). A macro, as generic bounds over sqlx's executors overflow the
/// trait solver (sqlx's own pool code notes the same).
macro_rules! point_query {
    ($rt:expr, $executor:expr, $sampled:expr) => {{
        let run = || sqlx::query(POINT).bind(1_i64).fetch_one($executor);
        let sampled: Option<bool> = $sampled;
        // sqlx's `fetch_one` is an `async fn`: the span starts at the first poll, so the
        // override covers the whole `block_on` (a current-thread runtime: this thread).
        let row = match sampled {
            None => $rt.block_on(run()),
            Some(on) => {
                let ratio = SamplingOverride::ratio(if on { 1.0 } else { 0.0 });
                obs_core::__private::sampling_scope(ratio, || $rt.block_on(run()))
            }
        };
        black_box(row.unwrap());
    }};
}

/// The raw pool against the instrumented one, in one group.
macro_rules! pools {
    ($c:expr, $rt:expr, $name:expr, $raw:expr) => {{
        let raw = $raw;
        $rt.block_on(async {
            raw.execute("CREATE TABLE IF NOT EXISTS users (id BIGINT PRIMARY KEY, email TEXT)")
                .await
                .unwrap();
            raw.execute("DELETE FROM users").await.unwrap();
            raw.execute("INSERT INTO users VALUES (1, 'ann@example.com')")
                .await
                .unwrap();
        });
        let pool = InstrumentedPool::builder(raw.clone()).name($name).build();
        let mut group = $c.benchmark_group($name);
        group.bench_function("raw", |b| b.iter(|| point_query!($rt, &raw, None)));
        group.bench_function("instrumented_unsampled", |b| {
            b.iter(|| point_query!($rt, &pool, Some(false)))
        });
        group.bench_function("instrumented_sampled", |b| {
            b.iter(|| point_query!($rt, &pool, Some(true)))
        });
        group.finish();
    }};
}

fn sanitizer(c: &mut Criterion) {
    let mut group = c.benchmark_group("sanitizer");
    let short = "SELECT u.id, u.email FROM users u JOIN orders o ON o.user_id = u.id WHERE u.email = 'ann@example.com' AND o.total > 10.5 AND o.state IN (1, 2, 3)";
    group.bench_function("uncached", |b| {
        b.iter(|| black_box(obs_db::sql::analyze(black_box(short))))
    });
    group.bench_function("cached", |b| {
        b.iter(|| black_box(obs_db::sql::analyze_cached(black_box(short))))
    });
    let values: Vec<String> = (0..6_000)
        .map(|i| format!("({i}, 'user{i}@example.com')"))
        .collect();
    let long = format!("INSERT INTO users (id, email) VALUES {}", values.join(", "));
    assert!(long.len() >= 100 * 1024);
    group.bench_function("100KB", |b| {
        b.iter(|| black_box(obs_db::sql::analyze_cached(black_box(&long))))
    });
    group.finish();
}

fn all(c: &mut Criterion) {
    let _guard = obs_core::init(
        obs_core::ObsConfig::builder()
            .catalog(obs_db::catalog::CATALOG)
            .span_exporter(Discard)
            .span_queue_size(65_536)
            .log_filter("error")
            .build(),
    )
    .expect("init");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sqlite = rt
        .block_on(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                // Each in-memory connection is a database of its own: keep the one alive.
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect("sqlite::memory:"),
        )
        .unwrap();
    pools!(c, rt, "sqlite_point_select", sqlite);
    // The private server (if any) lives until the end of the PostgreSQL group.
    let (url, _server) = match std::env::var("OBS_DB_BENCH_PG_URL") {
        Ok(url) => (Some(url), None),
        Err(_) => match obs_testkit::servers::Postgres::start() {
            Some(server) => (Some(server.url()), Some(server)),
            None => (None, None),
        },
    };
    match url {
        Some(url) => {
            let pg = rt.block_on(sqlx::PgPool::connect(&url)).unwrap();
            pools!(c, rt, "postgres_point_select", pg);
        }
        None => eprintln!(
            "postgres_point_select skipped: set OBS_DB_BENCH_PG_URL or install PostgreSQL"
        ),
    }
    sanitizer(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = all
}
criterion_main!(benches);
