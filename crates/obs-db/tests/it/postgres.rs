//! The instrumented pool on a real PostgreSQL server the test starts itself.

use std::time::Duration;

use futures_util::TryStreamExt as _;
use obs_db::InstrumentedPool;
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};
use opentelemetry::Context;
use opentelemetry::trace::{FutureExt as _, TraceContextExt as _, Tracer as _};
use sqlx::Connection as _;
use sqlx::postgres::PgPoolOptions;

use obs_testkit::servers::{Postgres, free_port};

use crate::support::{KIND_CLIENT, STATUS_ERROR, init, runtime, spans_named};

#[test]
fn statements_transactions_and_errors_on_postgresql() {
    isolated(
        "postgres::statements_transactions_and_errors_on_postgresql",
        || {
            let Some(server) = Postgres::start() else {
                return;
            };
            let receiver = OtlpReceiver::start().unwrap();
            let logs = LogCapture::new();
            let guard = init(&receiver, &logs);
            let tracer = obs_core::trace::tracer().expect("tracer");
            let parent = Context::current_with_span(tracer.start("caller"));
            let parent_sc = parent.span().span_context().clone();

            let commented_text = runtime().block_on(
            async {
                let raw = PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_millis(300))
                    .connect(&server.url())
                    .await
                    .unwrap();
                let pool = InstrumentedPool::builder(raw).name("pg").build();
                sqlx::query("CREATE TABLE accounts (id BIGSERIAL PRIMARY KEY, email TEXT UNIQUE NOT NULL, balance BIGINT NOT NULL)")
                    .execute(&pool)
                    .await
                    .unwrap();
                let id: i64 = sqlx::query_scalar("INSERT INTO accounts (email, balance) VALUES ($1, 100) RETURNING id")
                    .bind("ann@example.com")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                let row: Option<(String,)> = sqlx::query_as("SELECT email FROM accounts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&pool)
                    .await
                    .unwrap();
                assert_eq!(row.unwrap().0, "ann@example.com");
                let ids: Vec<i64> = sqlx::query_scalar::<_, i64>("SELECT id FROM accounts WHERE email IN ('ann@example.com', 'x')")
                    .fetch(&pool)
                    .try_collect()
                    .await
                    .unwrap();
                assert_eq!(ids, [id]);

                // A transaction with a savepoint rolled back.
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("UPDATE accounts SET balance = balance - 10 WHERE id = $1").bind(id).execute(&mut tx).await.unwrap();
                {
                    let mut sp = tx.begin().await.unwrap();
                    sqlx::query("UPDATE accounts SET balance = 0").execute(&mut sp).await.unwrap();
                    sp.rollback().await.unwrap();
                }
                tx.commit().await.unwrap();
                let balance: i64 = sqlx::query_scalar("SELECT balance FROM accounts WHERE id = $1").bind(id).fetch_one(&pool).await.unwrap();
                assert_eq!(balance, 90);

                // Errors come back as sqlx made them.
                let dup = sqlx::query("INSERT INTO accounts (email, balance) VALUES ('ann@example.com', 1)").execute(&pool).await;
                let Err(sqlx::Error::Database(db)) = &dup else { panic!("{dup:?}") };
                assert_eq!(db.code().as_deref(), Some("23505"));
                let syntax = sqlx::query("SELECT FROM WHERE").execute(&pool).await;
                let Err(sqlx::Error::Database(db)) = &syntax else { panic!("{syntax:?}") };
                assert_eq!(db.code().as_deref(), Some("42601"));
                let _a = pool.acquire().await.unwrap();
                let _b = pool.acquire().await.unwrap();
                let exhausted = sqlx::query("SELECT 1").execute(&pool).await;
                assert!(matches!(exhausted, Err(sqlx::Error::PoolTimedOut)), "{exhausted:?}");

                // SQLCommenter: the server sees the span's traceparent in the statement's text.
                let commented = InstrumentedPool::builder(sqlx::PgPool::connect(&server.url()).await.unwrap())
                    .name("commented")
                    .sqlcommenter(true)
                    .build();
                let text: String = sqlx::query_scalar("SELECT current_query()").fetch_one(&commented).await.unwrap();
                text
            }
            .with_context(parent.clone()),
        );
            parent.span().end();
            guard.force_flush().unwrap();

            let port = server.port().to_string();
            let commented = spans_named(&receiver, "SELECT", 3)
                .into_iter()
                .find(|s| s.attr("db.query.text") == Some("SELECT current_query()"))
                .expect("the commented statement's span, its text without the comment");
            assert_eq!(
                commented_text,
                format!(
                    "SELECT current_query() /*traceparent='00-{}-{}-01'*/",
                    commented.trace_id, commented.span_id
                )
            );
            let insert = spans_named(&receiver, "INSERT accounts", 2);
            let ok = insert
                .iter()
                .find(|s| s.status_code != STATUS_ERROR)
                .unwrap();
            assert_eq!(ok.kind, KIND_CLIENT);
            assert_eq!(ok.parent_span_id, parent_sc.span_id().to_string());
            assert_eq!(ok.attr("db.system.name"), Some("postgresql"));
            assert_eq!(ok.attr("db.namespace"), Some("postgres"));
            assert_eq!(ok.attr("server.address"), Some("127.0.0.1"));
            assert_eq!(ok.attr("server.port"), Some(port.as_str()));
            assert_eq!(
                ok.attr("db.query.text"),
                Some("INSERT INTO accounts (email, balance) VALUES ($1, ?) RETURNING id")
            );
            assert_eq!(ok.attr("db.response.returned_rows"), Some("1"));
            let dup = insert
                .iter()
                .find(|s| s.status_code == STATUS_ERROR)
                .unwrap();
            assert_eq!(dup.attr("error.type"), Some("unique_violation"));
            assert_eq!(dup.attr("db.response.status_code"), Some("23505"));
            let select = spans_named(&receiver, "SELECT accounts", 3);
            assert!(
                select.iter().any(|s| s.attr("db.query.text")
                    == Some("SELECT id FROM accounts WHERE email IN (?)"))
            );
            let syntax = spans_named(&receiver, "SELECT", 2);
            assert!(
                syntax
                    .iter()
                    .any(|s| s.attr("error.type") == Some("syntax_error")
                        && s.attr("db.response.status_code") == Some("42601"))
            );
            assert!(
                syntax
                    .iter()
                    .any(|s| s.attr("error.type") == Some("pool_timeout"))
            );
            let txs = spans_named(&receiver, "transaction", 2);
            let outer = txs
                .iter()
                .find(|t| t.parent_span_id == parent_sc.span_id().to_string())
                .unwrap();
            let update = spans_named(&receiver, "UPDATE accounts", 2);
            assert!(
                update
                    .iter()
                    .all(|u| txs.iter().any(|t| t.span_id == u.parent_span_id))
            );
            assert!(txs.iter().any(|t| t.parent_span_id == outer.span_id
                && t.attr("db.transaction.outcome") == Some("rollback")));
            for span in receiver.spans() {
                assert!(!format!("{:?}", span.attributes).contains("ann@example.com"));
            }

            let metrics = MetricsSnapshot::current();
            let count = |op: &str, status: &str| {
                metrics.value(
                    "db_queries_total",
                    &[("operation", op), ("table", "accounts"), ("status", status)],
                )
            };
            assert_eq!(count("INSERT", "unique_violation"), Some(1.0));
            assert_eq!(count("INSERT", "ok"), Some(1.0));
            assert_eq!(
                metrics.value("db_transactions_total", &[("outcome", "commit")]),
                Some(1.0)
            );
            // The pool was dropped at the end of the block: its gauges left with it.
            assert_eq!(
                metrics.value("db_pool_connections_active", &[("pool", "pg")]),
                None
            );
        },
    );
}

#[test]
fn connection_refused_is_classified_and_returned_unchanged() {
    isolated(
        "postgres::connection_refused_is_classified_and_returned_unchanged",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let logs = LogCapture::new();
            let guard = init(&receiver, &logs);
            runtime().block_on(async {
                // Nothing listens on this port.
                let url = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
                let raw = PgPoolOptions::new()
                    .acquire_timeout(Duration::from_secs(1))
                    .connect_lazy(&url)
                    .unwrap();
                let pool = InstrumentedPool::new(raw);
                // sqlx 0.9's pool retries a refused connection until the acquire timeout and
                // then reports `PoolTimedOut`; obs-db passes that on unchanged, and classifies
                // it `connection`, since the pool was not full.
                let refused = sqlx::query("SELECT 1").execute(&pool).await;
                assert!(
                    matches!(refused, Err(sqlx::Error::PoolTimedOut)),
                    "{refused:?}"
                );
                let tx = pool.begin().await;
                assert!(matches!(tx, Err(sqlx::Error::PoolTimedOut)), "{tx:?}");
                // A connection made without the pool reports the refusal itself.
                let direct = sqlx::PgConnection::connect(&url).await;
                let Err(error) = &direct else {
                    panic!("connected to {url}")
                };
                assert_eq!(obs_db::classify(error).class, "connection", "{error:?}");
            });
            guard.force_flush().unwrap();
            let span = spans_named(&receiver, "SELECT", 1).remove(0);
            assert_eq!(span.attr("error.type"), Some("connection"));
            assert_eq!(span.status_code, STATUS_ERROR);
            let tx = spans_named(&receiver, "transaction", 1).remove(0);
            assert_eq!(tx.attr("error.type"), Some("connection"));
            let metrics = MetricsSnapshot::current();
            let count = |status: &str| {
                metrics.value(
                    "db_queries_total",
                    &[("operation", "SELECT"), ("table", ""), ("status", status)],
                )
            };
            assert_eq!(count("connection"), Some(1.0));
            assert_eq!(count("pool_timeout"), None);
        },
    );
}
