//! sqlx's `query!` family, checked at compile time against the query data kept in
//! `crates/obs-db/.sqlx` (no database needed to build), running through the instrumented pool on
//! SQLite and PostgreSQL. `tests/data/sqlx-prepare.sh` writes that data again after a query here
//! changes; the two databases' tables have different names (`notes`, `pg_notes`) so that each
//! query is described by its own database.

use obs_db::InstrumentedPool;
use obs_testkit::servers::Postgres;
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};
use sqlx::sqlite::SqlitePoolOptions;

use crate::support::{STATUS_ERROR, init, runtime, spans_named};

/// The schemas the query data was generated against.
const SCHEMA: &str = include_str!("../data/macros-sqlite.sql");
const PG_SCHEMA: &str = include_str!("../data/macros-postgres.sql");

#[derive(Debug, PartialEq)]
struct Note {
    id: i64,
    body: String,
    stars: Option<i64>,
}

#[test]
fn query_macros_run_through_the_instrumented_pool_on_sqlite() {
    isolated(
        "macros::query_macros_run_through_the_instrumented_pool_on_sqlite",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let logs = LogCapture::new();
            let guard = init(&receiver, &logs);
            runtime().block_on(async {
                let raw = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect("sqlite::memory:")
                    .await
                    .unwrap();
                let pool = InstrumentedPool::builder(raw).name("macros").build();
                sqlx::raw_sql(SCHEMA).execute(&pool).await.unwrap();

                let body = "the launch code is 0000";
                let done = sqlx::query!("INSERT INTO notes (body, stars) VALUES (?, 5)", body)
                    .execute(&pool)
                    .await
                    .unwrap();
                assert_eq!(done.rows_affected(), 1);
                let id = done.last_insert_rowid();
                let row = sqlx::query!("SELECT id, body, stars FROM notes WHERE id = ?", id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                assert_eq!((row.id, row.body.as_str(), row.stars), (id, body, Some(5)));
                let notes = sqlx::query_as!(Note, "SELECT id, body, stars FROM notes ORDER BY id")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                assert_eq!(
                    notes,
                    [Note {
                        id,
                        body: body.to_owned(),
                        stars: Some(5)
                    }]
                );
                let mut tx = pool.begin().await.unwrap();
                sqlx::query!("UPDATE notes SET stars = stars + 1 WHERE id = ?", id)
                    .execute(&mut tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                let count = sqlx::query_scalar!(
                    r#"SELECT count(*) AS "count!: i64" FROM notes WHERE stars > 5"#
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                assert_eq!(count, 1);
            });
            guard.force_flush().unwrap();

            let insert = spans_named(&receiver, "INSERT notes", 1).remove(0);
            assert_eq!(
                insert.attr("db.query.text"),
                Some("INSERT INTO notes (body, stars) VALUES (?, ?)")
            );
            assert_eq!(insert.attr("db.system.name"), Some("sqlite"));
            let selects = spans_named(&receiver, "SELECT notes", 3);
            assert!(selects.iter().any(|s| s.attr("db.query.text")
                == Some("SELECT id, body, stars FROM notes WHERE id = ?")));
            let update = spans_named(&receiver, "UPDATE notes", 1).remove(0);
            let tx = spans_named(&receiver, "transaction", 1).remove(0);
            assert_eq!(update.parent_span_id, tx.span_id);
            for span in receiver.spans() {
                assert!(!format!("{:?}", span.attributes).contains("launch code"));
            }
            let metrics = MetricsSnapshot::current();
            assert_eq!(
                metrics.value(
                    "db_queries_total",
                    &[
                        ("operation", "SELECT"),
                        ("table", "notes"),
                        ("status", "ok")
                    ]
                ),
                Some(3.0)
            );
        },
    );
}

#[derive(Debug, PartialEq)]
struct PgNote {
    id: i64,
    body: String,
    stars: Option<i32>,
}

#[test]
fn query_macros_run_through_the_instrumented_pool_on_postgresql() {
    isolated(
        "macros::query_macros_run_through_the_instrumented_pool_on_postgresql",
        || {
            let Some(server) = Postgres::start() else {
                return;
            };
            let receiver = OtlpReceiver::start().unwrap();
            let logs = LogCapture::new();
            let guard = init(&receiver, &logs);
            runtime().block_on(async {
                let raw = sqlx::PgPool::connect(&server.url()).await.unwrap();
                let pool = InstrumentedPool::builder(raw).name("pg_macros").build();
                sqlx::raw_sql(PG_SCHEMA).execute(&pool).await.unwrap();

                let body = "the vault code is 1234";
                let id = sqlx::query_scalar!(
                    "INSERT INTO pg_notes (body, stars) VALUES ($1, 5) RETURNING id",
                    body
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                let note = sqlx::query_as!(
                    PgNote,
                    "SELECT id, body, stars FROM pg_notes WHERE id = $1",
                    id
                )
                .fetch_optional(&pool)
                .await
                .unwrap();
                assert_eq!(
                    note,
                    Some(PgNote {
                        id,
                        body: body.to_owned(),
                        stars: Some(5)
                    })
                );
                let mut tx = pool.begin().await.unwrap();
                let rows = sqlx::query!("SELECT id, stars FROM pg_notes WHERE stars >= $1", 5)
                    .fetch_all(&mut tx)
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 1);
                assert_eq!((rows[0].id, rows[0].stars), (id, Some(5)));
                tx.commit().await.unwrap();
                let dup = sqlx::query!("INSERT INTO pg_notes (id, body) VALUES ($1, $2)", id, body)
                    .execute(&pool)
                    .await;
                let Err(sqlx::Error::Database(db)) = &dup else {
                    panic!("{dup:?}")
                };
                assert_eq!(db.code().as_deref(), Some("23505"));
            });
            guard.force_flush().unwrap();

            let inserts = spans_named(&receiver, "INSERT pg_notes", 2);
            let ok = inserts
                .iter()
                .find(|s| s.status_code != STATUS_ERROR)
                .unwrap();
            assert_eq!(
                ok.attr("db.query.text"),
                Some("INSERT INTO pg_notes (body, stars) VALUES ($1, ?) RETURNING id")
            );
            assert_eq!(ok.attr("db.system.name"), Some("postgresql"));
            let dup = inserts
                .iter()
                .find(|s| s.status_code == STATUS_ERROR)
                .unwrap();
            assert_eq!(dup.attr("error.type"), Some("unique_violation"));
            assert_eq!(dup.attr("db.response.status_code"), Some("23505"));
            let select = spans_named(&receiver, "SELECT pg_notes", 2);
            let tx = spans_named(&receiver, "transaction", 1).remove(0);
            assert!(select.iter().any(|s| s.parent_span_id == tx.span_id));
            for span in receiver.spans() {
                assert!(!format!("{:?}", span.attributes).contains("vault code"));
            }
            let metrics = MetricsSnapshot::current();
            assert_eq!(
                metrics.value(
                    "db_queries_total",
                    &[
                        ("operation", "INSERT"),
                        ("table", "pg_notes"),
                        ("status", "unique_violation")
                    ]
                ),
                Some(1.0)
            );
        },
    );
}
