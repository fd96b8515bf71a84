//! The instrumented pool on SQLite: every entry point, transactions, errors, gauges, slow
//! queries, readiness.

use std::time::Duration;

use futures_util::TryStreamExt as _;
use obs_core::health::ReadinessCheck;
use obs_db::InstrumentedPool;
use obs_testkit::{LocalRecorder, LogCapture, MetricsSnapshot, OtlpReceiver, isolated};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt as _, TraceContextExt as _, Tracer as _};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::{Executor as _, Row as _, SqlSafeStr as _, Statement as _};

use crate::support::{KIND_CLIENT, STATUS_ERROR, init, runtime, spans_named};

async fn memory_pool(max: u32) -> SqlitePool {
    // One shared in-memory database for every connection of the pool.
    SqlitePoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_millis(300))
        .connect("sqlite:file:obsdb?mode=memory&cache=shared")
        .await
        .unwrap()
}

async fn users(pool: &InstrumentedPool<sqlx::Sqlite>) {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[test]
fn every_entry_point_returns_what_sqlx_returns_and_is_traced() {
    isolated(
        "sqlite::every_entry_point_returns_what_sqlx_returns_and_is_traced",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let logs = LogCapture::new();
            let guard = init(&receiver, &logs);
            let tracer = obs_core::trace::tracer().expect("tracer");
            let parent = Context::current_with_span(tracer.start("caller"));
            let parent_sc = parent.span().span_context().clone();

            runtime().block_on(
                async {
                    let pool = InstrumentedPool::builder(memory_pool(2).await)
                        .name("entry")
                        .build();
                    users(&pool).await;
                    let done = sqlx::query("INSERT INTO users (email) VALUES (?), (?)")
                        .bind("ann@example.com")
                        .bind("bob@example.com")
                        .execute(&pool)
                        .await
                        .unwrap();
                    assert_eq!(done.rows_affected(), 2);
                    let one: (i64, String) = sqlx::query_as(
                        "SELECT id, email FROM users WHERE email = 'ann@example.com'",
                    )
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                    assert_eq!(one.1, "ann@example.com");
                    let none = sqlx::query("SELECT id FROM users WHERE id = ?")
                        .bind(99)
                        .fetch_optional(&pool)
                        .await
                        .unwrap();
                    assert!(none.is_none());
                    let all = sqlx::query("SELECT email FROM users ORDER BY id")
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                    assert_eq!(all.len(), 2);
                    let streamed: Vec<String> =
                        sqlx::query_scalar("SELECT email FROM users ORDER BY id")
                            .fetch(&pool)
                            .try_collect()
                            .await
                            .unwrap();
                    assert_eq!(streamed, ["ann@example.com", "bob@example.com"]);
                    let statement = (&pool)
                        .prepare(
                            sqlx::AssertSqlSafe("SELECT count(*) FROM users WHERE id > ?")
                                .into_sql_str(),
                        )
                        .await
                        .unwrap();
                    let n: i64 = statement
                        .query()
                        .bind(0)
                        .fetch_one(&pool)
                        .await
                        .unwrap()
                        .get(0);
                    assert_eq!(n, 2);
                    let missing = sqlx::query("SELECT id FROM users WHERE id = 99")
                        .fetch_one(&pool)
                        .await;
                    assert!(matches!(missing, Err(sqlx::Error::RowNotFound)));
                    let mut conn = pool.acquire().await.unwrap();
                    let on_conn: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                        .fetch_one(&mut conn)
                        .await
                        .unwrap();
                    assert_eq!(on_conn, 2);
                }
                .with_context(parent.clone()),
            );
            parent.span().end();
            guard.force_flush().unwrap();

            let select = spans_named(&receiver, "SELECT users", 6);
            let insert = spans_named(&receiver, "INSERT users", 1).remove(0);
            for span in select.iter().chain([&insert]) {
                assert_eq!(span.kind, KIND_CLIENT);
                assert_eq!(span.trace_id, parent_sc.trace_id().to_string());
                assert_eq!(span.parent_span_id, parent_sc.span_id().to_string());
                assert_eq!(span.attr("db.system.name"), Some("sqlite"));
                assert_eq!(span.attr("db.collection.name"), Some("users"));
            }
            assert_eq!(insert.attr("db.operation.name"), Some("INSERT"));
            assert_eq!(insert.attr("db.response.affected_rows"), Some("2"));
            assert_eq!(
                insert.attr("db.query.text"),
                Some("INSERT INTO users (email) VALUES (?), (?)")
            );
            let by_text = select
                .iter()
                .find(|s| {
                    s.attr("db.query.text") == Some("SELECT id, email FROM users WHERE email = ?")
                })
                .expect("the literal is sanitized");
            assert_eq!(by_text.attr("db.response.returned_rows"), Some("1"));
            let all = select
                .iter()
                .filter(|s| s.attr("db.query.text") == Some("SELECT email FROM users ORDER BY id"))
                .collect::<Vec<_>>();
            assert_eq!(all.len(), 2, "fetch_all and fetch");
            assert!(
                all.iter()
                    .all(|s| s.attr("db.response.returned_rows") == Some("2"))
            );
            for span in receiver.spans() {
                let text = format!("{:?}", span.attributes);
                assert!(
                    !text.contains("ann@example.com"),
                    "a literal or bound value leaked: {text}"
                );
            }

            let metrics = MetricsSnapshot::current();
            assert_eq!(
                metrics.value(
                    "db_queries_total",
                    &[
                        ("operation", "SELECT"),
                        ("table", "users"),
                        ("status", "ok")
                    ]
                ),
                Some(7.0)
            );
            assert!(
                metrics.sum(
                    "db_query_duration_ms_count",
                    &[("operation", "INSERT"), ("table", "users")]
                ) >= 1.0
            );
            assert!(metrics.sum("db_pool_wait_time_ms_count", &[("pool", "entry")]) >= 8.0);
        },
    );
}

#[test]
fn transactions_are_spans_counted_by_outcome() {
    isolated("sqlite::transactions_are_spans_counted_by_outcome", || {
        let receiver = OtlpReceiver::start().unwrap();
        let logs = LogCapture::new();
        let guard = init(&receiver, &logs);
        runtime().block_on(async {
            let file = std::env::temp_dir().join(format!("obs-db-tx-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&file);
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&file)
                .create_if_missing(true);
            let pool = InstrumentedPool::new(SqlitePool::connect_with(options).await.unwrap());
            sqlx::query("CREATE TABLE t (v INTEGER)")
                .execute(&pool)
                .await
                .unwrap();

            let mut tx = pool.begin().await.unwrap();
            sqlx::query("INSERT INTO t VALUES (1)")
                .execute(&mut tx)
                .await
                .unwrap();
            {
                let mut inner = tx.begin().await.unwrap();
                sqlx::query("INSERT INTO t VALUES (2)")
                    .execute(&mut inner)
                    .await
                    .unwrap();
                inner.rollback().await.unwrap();
            }
            {
                let mut inner = tx.begin().await.unwrap();
                sqlx::query("INSERT INTO t VALUES (3)")
                    .execute(&mut inner)
                    .await
                    .unwrap();
                inner.commit().await.unwrap();
            }
            tx.commit().await.unwrap();

            let mut tx = pool.begin().await.unwrap();
            sqlx::query("INSERT INTO t VALUES (4)")
                .execute(&mut tx)
                .await
                .unwrap();
            tx.rollback().await.unwrap();

            // A transaction on an acquired connection.
            let mut conn = pool.acquire().await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            sqlx::query("INSERT INTO t VALUES (6)")
                .execute(&mut tx)
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            drop(conn);

            {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("INSERT INTO t VALUES (5)")
                    .execute(&mut tx)
                    .await
                    .unwrap();
            } // dropped: sqlx rolls it back

            let values: Vec<i64> = sqlx::query_scalar("SELECT v FROM t ORDER BY v")
                .fetch_all(&pool)
                .await
                .unwrap();
            assert_eq!(values, [1, 3]);
            drop(pool);
            let _ = std::fs::remove_file(&file);
        });
        guard.force_flush().unwrap();

        let txs = spans_named(&receiver, "transaction", 6);
        let outcome = |o: &str| {
            txs.iter()
                .filter(|s| s.attr("db.transaction.outcome") == Some(o))
                .count()
        };
        assert_eq!(
            (outcome("commit"), outcome("rollback"), outcome("dropped")),
            (2, 3, 1)
        );
        let outer = txs
            .iter()
            .find(|s| {
                s.attr("db.transaction.outcome") == Some("commit") && s.parent_span_id.is_empty()
            })
            .expect("the outer transaction");
        assert_eq!(
            outer.attr("db.transaction.queries"),
            Some("3"),
            "one insert and two savepoints"
        );
        let inserts = spans_named(&receiver, "INSERT t", 6);
        let first = inserts
            .iter()
            .find(|s| s.attr("db.query.text") == Some("INSERT INTO t VALUES (?)"))
            .unwrap();
        assert!(
            txs.iter().any(|t| t.span_id == first.parent_span_id),
            "a statement's parent is its transaction"
        );
        let nested = txs
            .iter()
            .filter(|t| t.parent_span_id == outer.span_id)
            .count();
        assert_eq!(
            nested, 2,
            "savepoints are children of the outer transaction"
        );

        let metrics = MetricsSnapshot::current();
        assert_eq!(
            metrics.value("db_transactions_total", &[("outcome", "commit")]),
            Some(2.0)
        );
        assert_eq!(
            metrics.value("db_transactions_total", &[("outcome", "rollback")]),
            Some(3.0)
        );
        assert_eq!(
            metrics.value("db_transactions_total", &[("outcome", "dropped")]),
            Some(1.0)
        );
    });
}

#[test]
fn errors_are_classified_counted_and_returned_unchanged() {
    isolated(
        "sqlite::errors_are_classified_counted_and_returned_unchanged",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let logs = LogCapture::new();
            let guard = init(&receiver, &logs);
            runtime().block_on(async {
                let pool = InstrumentedPool::builder(memory_pool(1).await)
                    .name("errors")
                    .build();
                users(&pool).await;
                sqlx::query("INSERT INTO users (email) VALUES ('x@example.com')")
                    .execute(&pool)
                    .await
                    .unwrap();

                let dup = sqlx::query("INSERT INTO users (email) VALUES ('x@example.com')")
                    .execute(&pool)
                    .await;
                let Err(sqlx::Error::Database(db)) = &dup else {
                    panic!("{dup:?}")
                };
                assert!(db.is_unique_violation());
                assert_eq!(db.code().as_deref(), Some("2067"));

                let syntax = sqlx::query("SELEC 1").execute(&pool).await;
                let Err(sqlx::Error::Database(db)) = &syntax else {
                    panic!("{syntax:?}")
                };
                assert!(db.message().contains("syntax error"));

                // The one connection is taken: the next statement waits, then times out.
                let held = pool.acquire().await.unwrap();
                let timed_out = sqlx::query("SELECT 1").fetch_one(&pool).await;
                assert!(
                    matches!(timed_out, Err(sqlx::Error::PoolTimedOut)),
                    "{timed_out:?}"
                );
                let acquire = pool.acquire().await;
                assert!(matches!(acquire, Err(sqlx::Error::PoolTimedOut)));
                drop(held);

                // SQLite's "connection refused": a database file that cannot be opened.
                let missing = std::env::temp_dir().join("obs-db-no-such-dir/db.sqlite");
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&missing);
                let unreachable = InstrumentedPool::new(
                    SqlitePoolOptions::new()
                        .acquire_timeout(Duration::from_secs(2))
                        .connect_lazy_with(options),
                );
                let cannot_open = sqlx::query("SELECT 2 AS opened")
                    .fetch_one(&unreachable)
                    .await;
                let Err(sqlx::Error::Database(db)) = &cannot_open else {
                    panic!("{cannot_open:?}")
                };
                assert_eq!(db.code().as_deref(), Some("14"));
            });
            guard.force_flush().unwrap();

            let inserts = spans_named(&receiver, "INSERT users", 2);
            let failed = inserts
                .iter()
                .find(|s| s.status_code == STATUS_ERROR)
                .expect("a failed insert");
            assert_eq!(failed.attr("error.type"), Some("unique_violation"));
            assert_eq!(failed.attr("db.response.status_code"), Some("2067"));
            let syntax = spans_named(&receiver, "SELEC", 1).remove(0);
            assert_eq!(syntax.attr("error.type"), Some("syntax_error"));
            let selects = spans_named(&receiver, "SELECT", 2);
            let class = |sql: &str| {
                let span = selects
                    .iter()
                    .find(|s| s.attr("db.query.text") == Some(sql))
                    .unwrap_or_else(|| panic!("a span for {sql}"));
                (
                    span.attr("error.type"),
                    span.attr("db.response.status_code"),
                )
            };
            assert_eq!(class("SELECT ?"), (Some("pool_timeout"), None));
            assert_eq!(
                class("SELECT ? AS opened"),
                (Some("connection"), Some("14"))
            );

            let metrics = MetricsSnapshot::current();
            let count = |op: &str, table: &str, status: &str| {
                metrics.value(
                    "db_queries_total",
                    &[("operation", op), ("table", table), ("status", status)],
                )
            };
            assert_eq!(count("INSERT", "users", "unique_violation"), Some(1.0));
            assert_eq!(count("SELEC", "", "syntax_error"), Some(1.0));
            assert_eq!(count("SELECT", "", "pool_timeout"), Some(1.0));
            assert_eq!(count("SELECT", "", "connection"), Some(1.0));
            assert!(
                metrics.sum("db_pool_wait_time_ms_sum", &[("pool", "errors")]) >= 500.0,
                "two waits of 300 ms"
            );
        },
    );
}

#[test]
fn slow_queries_are_counted_and_logged_without_literals() {
    isolated(
        "sqlite::slow_queries_are_counted_and_logged_without_literals",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let logs = LogCapture::new();
            let guard = init(&receiver, &logs);
            runtime().block_on(async {
                let pool = InstrumentedPool::builder(memory_pool(1).await)
                    .slow_query_threshold(Duration::ZERO)
                    .build();
                sqlx::query("SELECT 'sk_live_secret' AS token")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            });
            guard.force_flush().unwrap();
            let lines = logs.lines_containing("slow query");
            assert_eq!(lines.len(), 1, "{}", logs.contents());
            assert!(lines[0].contains("SELECT ? AS token"), "{}", lines[0]);
            assert!(!logs.contents().contains("sk_live_secret"));
            let metrics = MetricsSnapshot::current();
            assert_eq!(
                metrics.value(
                    "db_slow_queries_total",
                    &[("operation", "SELECT"), ("table", "")]
                ),
                Some(1.0)
            );
        },
    );
}

#[test]
fn pool_gauges_are_read_at_scrape_time_and_leave_with_the_pool() {
    let recorder = LocalRecorder::new();
    let rt = runtime();
    let _runtime = rt.enter();
    let pool = rt.block_on(async {
        InstrumentedPool::builder(memory_pool(4).await)
            .name("gauged")
            .build()
    });
    // The pool gauges (`db_pool_connections_total`, `_active`, `_idle`,
    // `db_pool_utilization_percent`) and the wait histogram, each with a `pool` label. Names are
    // taken from the catalog, where a rename happens once.
    use obs_core::catalog::MetricKind;
    use obs_db::catalog::{POOL_ACTIVE, POOL_CONNECTIONS, POOL_IDLE, POOL_UTILIZATION, POOL_WAIT};
    for def in [POOL_CONNECTIONS, POOL_ACTIVE, POOL_IDLE, POOL_UTILIZATION] {
        assert!(matches!(def.kind, MetricKind::Gauge), "{}", def.name);
        assert_eq!(def.labels, ["pool"], "{}", def.name);
    }
    assert_eq!(POOL_WAIT.labels, ["pool"]);
    assert!(POOL_CONNECTIONS.name.starts_with("db_pool_connections"));
    let held = rt.block_on(pool.acquire()).unwrap();
    let snap = recorder.snapshot();
    let g = |name: &str| snap.value(name, &[("pool", "gauged")]);
    assert_eq!(g(POOL_ACTIVE.name), Some(1.0));
    assert_eq!(g(POOL_UTILIZATION.name), Some(25.0));
    assert_eq!(
        g(POOL_CONNECTIONS.name),
        Some(g(POOL_ACTIVE.name).unwrap() + g(POOL_IDLE.name).unwrap())
    );
    drop(held);
    let snap = recorder.snapshot();
    let g = |name: &str| snap.value(name, &[("pool", "gauged")]);
    assert_eq!(g(POOL_ACTIVE.name), Some(0.0));
    assert_eq!(g(POOL_IDLE.name), g(POOL_CONNECTIONS.name));
    let clone = pool.clone();
    drop(pool);
    assert!(
        recorder
            .snapshot()
            .value(POOL_CONNECTIONS.name, &[("pool", "gauged")])
            .is_some()
    );
    drop(clone);
    let after = recorder.snapshot();
    for def in [POOL_CONNECTIONS, POOL_ACTIVE, POOL_IDLE, POOL_UTILIZATION] {
        assert_eq!(after.series_count(def.name), 0, "{}", after.text);
    }
}

#[test]
fn readiness_fails_when_the_pool_is_full_or_closed() {
    let rt = runtime();
    rt.block_on(async {
        let pool = InstrumentedPool::builder(memory_pool(1).await)
            .name("ready")
            .build();
        let check = pool.readiness_check();
        assert_eq!(check.name(), "db:ready");
        assert!(check.check().await.is_ok());
        let held = pool.acquire().await.unwrap();
        // Not ready: by the utilization bound, or (when the pool's idle count is read while it
        // still changes) by the probe waiting for the one connection in vain.
        let full = check.check().await.unwrap_err();
        assert!(
            full.message().contains("100%") || full.message().contains("timed out"),
            "{}",
            full.message()
        );
        drop(held);
        pool.inner().close().await;
        assert!(check.check().await.is_err());
    });
}

#[test]
fn a_statement_cut_by_the_callers_timeout_is_recorded_as_cancelled() {
    isolated(
        "sqlite::a_statement_cut_by_the_callers_timeout_is_recorded_as_cancelled",
        || {
            // No `init`: metrics are still recorded, no span is built, results are unchanged.
            let recorder = LocalRecorder::new();
            let _recorder = recorder.enter();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let pool = InstrumentedPool::new(memory_pool(1).await);
                let held = pool.acquire().await.unwrap();
                let cut = tokio::time::timeout(
                    Duration::from_millis(50),
                    sqlx::query("SELECT 1").fetch_optional(&pool),
                )
                .await;
                assert!(cut.is_err(), "the caller's timeout fired first");
                drop(held);
                let one: i64 = sqlx::query_scalar("SELECT 1")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                assert_eq!(one, 1);
            });
            let snap = recorder.snapshot();
            let count = |status: &str| {
                snap.value(
                    "db_queries_total",
                    &[("operation", "SELECT"), ("table", ""), ("status", status)],
                )
            };
            assert_eq!(count("cancelled"), Some(1.0), "{}", snap.text);
            assert_eq!(count("ok"), Some(1.0));
        },
    );
}
