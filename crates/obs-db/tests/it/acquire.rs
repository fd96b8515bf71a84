//! Code generic over obs-db's `Acquire` (the counterpart of sqlx's) runs with a pool, a
//! connection, a transaction and an acquired connection, and every statement and transaction
//! stays recorded.

use obs_db::{Acquire, InstrumentedPool};
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};
use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

use crate::support::{init, runtime, spans_named};

/// A write in a transaction (a savepoint when `a` is a transaction).
async fn add<'a, A: Acquire<'a, Database = Sqlite>>(a: A, v: i64) -> Result<(), sqlx::Error> {
    let mut tx = a.begin().await?;
    sqlx::query("INSERT INTO t VALUES (?)")
        .bind(v)
        .execute(&mut tx)
        .await?;
    tx.commit().await
}

/// A read on an acquired connection.
async fn count<'a, A: Acquire<'a, Database = Sqlite>>(a: A) -> Result<i64, sqlx::Error> {
    let mut conn = a.acquire().await?;
    sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&mut conn)
        .await
}

#[test]
fn code_generic_over_acquire_stays_instrumented() {
    isolated(
        "acquire::code_generic_over_acquire_stays_instrumented",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let logs = LogCapture::new();
            let guard = init(&receiver, &logs);
            let file =
                std::env::temp_dir().join(format!("obs-db-acquire-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&file);
            runtime().block_on(async {
                let options = SqliteConnectOptions::new()
                    .filename(&file)
                    .create_if_missing(true);
                let pool =
                    InstrumentedPool::builder(SqlitePool::connect_with(options).await.unwrap())
                        .name("acquire")
                        .build();
                sqlx::query("CREATE TABLE t (v INTEGER)")
                    .execute(&pool)
                    .await
                    .unwrap();

                add(&pool, 1).await.unwrap();
                assert_eq!(count(&pool).await.unwrap(), 1);

                let mut conn = pool.acquire().await.unwrap();
                add(&mut conn, 2).await.unwrap();
                assert_eq!(count(&mut conn).await.unwrap(), 2);
                drop(conn);

                // On a transaction: a savepoint, and a read inside the transaction.
                let mut tx = pool.begin().await.unwrap();
                add(&mut tx, 3).await.unwrap();
                assert_eq!(count(&mut tx).await.unwrap(), 3);
                tx.rollback().await.unwrap();
                assert_eq!(count(&pool).await.unwrap(), 2);

                // On a connection acquired through the trait.
                let mut acquired = Acquire::acquire(&pool).await.unwrap();
                add(&mut acquired, 4).await.unwrap();
                assert_eq!(count(&mut acquired).await.unwrap(), 3);
            });
            let _ = std::fs::remove_file(&file);
            guard.force_flush().unwrap();

            let txs = spans_named(&receiver, "transaction", 5);
            let outcome = |o: &str| {
                txs.iter()
                    .filter(|t| t.attr("db.transaction.outcome") == Some(o))
                    .count()
            };
            assert_eq!((outcome("commit"), outcome("rollback")), (4, 1));
            let outer = txs
                .iter()
                .find(|t| t.attr("db.transaction.outcome") == Some("rollback"))
                .unwrap();
            // The savepoint's begin and the read on the transaction's connection.
            assert_eq!(outer.attr("db.transaction.queries"), Some("2"));
            assert!(
                txs.iter().any(|t| t.parent_span_id == outer.span_id),
                "the savepoint is a child of the transaction"
            );
            let inserts = spans_named(&receiver, "INSERT t", 4);
            assert!(
                inserts
                    .iter()
                    .all(|i| txs.iter().any(|t| t.span_id == i.parent_span_id)),
                "every write is a child of its transaction"
            );
            let reads = spans_named(&receiver, "SELECT t", 5);
            assert_eq!(
                reads
                    .iter()
                    .filter(|r| r.parent_span_id == outer.span_id)
                    .count(),
                1,
                "the read on the transaction is its child"
            );

            let metrics = MetricsSnapshot::current();
            let queries = |op: &str| {
                metrics.value(
                    "db_queries_total",
                    &[("operation", op), ("table", "t"), ("status", "ok")],
                )
            };
            assert_eq!(queries("INSERT"), Some(4.0));
            assert_eq!(queries("SELECT"), Some(5.0));
            assert_eq!(
                metrics.value("db_transactions_total", &[("outcome", "commit")]),
                Some(4.0)
            );
        },
    );
}
