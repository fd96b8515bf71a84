//! Rows in SQLite or PostgreSQL through obs-db: one statement a span, literals never recorded.
//!
//! Every statement binds its values (`$1`, which both drivers accept) and is written once for
//! both databases; `on_pool!` runs it on whichever pool is in use.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use obs_db::InstrumentedPool;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Sqlite};

/// The database: SQLite by default, PostgreSQL when `DATABASE_URL` says so.
#[derive(Clone, Debug)]
pub enum Db {
    /// A SQLite file.
    Sqlite(InstrumentedPool<Sqlite>),
    /// A PostgreSQL server.
    Postgres(InstrumentedPool<Postgres>),
}

/// Runs `$body` with `$pool` bound to the pool in use: the same statement for both drivers.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// The schema, applied at start (idempotent).
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, \
     password_hash TEXT NOT NULL, moderator BIGINT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, name TEXT NOT NULL, \
     host_id TEXT NOT NULL, max_participants BIGINT NOT NULL, status TEXT NOT NULL, \
     created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS participants (room_id TEXT NOT NULL, user_id TEXT NOT NULL, \
     kind TEXT NOT NULL, joined_at BIGINT NOT NULL, left_at BIGINT, \
     PRIMARY KEY (room_id, user_id))",
    "CREATE TABLE IF NOT EXISTS recordings (id TEXT PRIMARY KEY, room_id TEXT NOT NULL, \
     started_at BIGINT NOT NULL, stopped_at BIGINT, packets BIGINT NOT NULL, \
     bytes BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reports (id TEXT PRIMARY KEY, room_id TEXT NOT NULL, \
     reporter_id TEXT NOT NULL, reported_id TEXT NOT NULL, reason TEXT NOT NULL, \
     status TEXT NOT NULL, created_at BIGINT NOT NULL)",
];

/// A user as the login needs it.
#[derive(Clone, Debug)]
pub struct UserRow {
    /// The user id.
    pub id: String,
    /// The argon2 PHC string.
    pub password_hash: String,
    /// Whether the user moderates reports.
    pub moderator: bool,
}

/// A room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomRow {
    /// The room id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The host's user id.
    pub host_id: String,
    /// The most participants it takes.
    pub max_participants: i64,
    /// `open` or `closed`.
    pub status: String,
}

/// A report against a participant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The report id.
    pub id: String,
    /// The room it happened in.
    pub room_id: String,
    /// Who reported.
    pub reporter_id: String,
    /// Who was reported.
    pub reported_id: String,
    /// `spam`, `harassment`, `inappropriate` or `other`.
    pub reason: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
}

type RoomTuple = (String, String, String, i64, String);
type ReportTuple = (String, String, String, String, String, String);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Db {
    /// Connects to `url` (`sqlite://...` or `postgres://...`) and applies the schema.
    ///
    /// # Errors
    /// When the database cannot be reached or the schema not applied.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let db = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            Self::Postgres(InstrumentedPool::builder(pool).name("main").build())
        } else {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5));
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            Self::Sqlite(InstrumentedPool::builder(pool).name("main").build())
        };
        for statement in MIGRATIONS {
            on_pool!(&db, pool => sqlx::query(*statement).execute(pool).await.map(|_| ())?);
        }
        Ok(db)
    }

    /// `sqlite` or `postgresql`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgresql",
        }
    }

    /// The `/readyz` check of the pool.
    pub fn readiness(&self) -> std::sync::Arc<dyn obs_core::health::ReadinessCheck> {
        match self {
            Self::Sqlite(pool) => std::sync::Arc::new(pool.readiness_check()),
            Self::Postgres(pool) => std::sync::Arc::new(pool.readiness_check()),
        }
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.inner().close().await);
    }

    /// Adds a user; `false` when the name is taken.
    ///
    /// # Errors
    /// When the statement fails for another reason.
    pub async fn insert_user(
        &self,
        id: &str,
        name: &str,
        password_hash: &str,
        moderator: bool,
    ) -> Result<bool, sqlx::Error> {
        let result = on_pool!(self, pool => sqlx::query(
            "INSERT INTO users (id, name, password_hash, moderator, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(password_hash)
        .bind(i64::from(moderator))
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|_| ()));
        match result {
            Ok(()) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The user named `name`.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<UserRow>, sqlx::Error> {
        let row: Option<(String, String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, password_hash, moderator FROM users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(pool)
        .await?);
        Ok(row.map(|(id, password_hash, moderator)| UserRow {
            id,
            password_hash,
            moderator: moderator != 0,
        }))
    }

    /// Adds a room.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn insert_room(&self, room: &RoomRow) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO rooms (id, name, host_id, max_participants, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&room.id)
        .bind(&room.name)
        .bind(&room.host_id)
        .bind(room.max_participants)
        .bind(&room.status)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// The room `id`.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn room(&self, id: &str) -> Result<Option<RoomRow>, sqlx::Error> {
        let row: Option<RoomTuple> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, name, host_id, max_participants, status FROM rooms WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?);
        Ok(
            row.map(|(id, name, host_id, max_participants, status)| RoomRow {
                id,
                name,
                host_id,
                max_participants,
                status,
            }),
        )
    }

    /// Closes a room and marks everyone in it as gone, in one transaction.
    ///
    /// # Errors
    /// When a statement fails.
    pub async fn close_room(&self, id: &str) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE rooms SET status = 'closed' WHERE id = $1")
                .bind(id)
                .execute(&mut tx)
                .await?;
            sqlx::query("UPDATE participants SET left_at = $1 WHERE room_id = $2 AND left_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&mut tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Puts a user in a room (again), with its participant type.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn join(&self, room_id: &str, user_id: &str, kind: &str) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO participants (room_id, user_id, kind, joined_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (room_id, user_id) DO UPDATE SET kind = excluded.kind, \
             joined_at = excluded.joined_at, left_at = NULL",
        )
        .bind(room_id)
        .bind(user_id)
        .bind(kind)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Marks a user as gone from a room; `false` when the user was not in it.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn leave(&self, room_id: &str, user_id: &str) -> Result<bool, sqlx::Error> {
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE participants SET left_at = $1 WHERE room_id = $2 AND user_id = $3 \
             AND left_at IS NULL",
        )
        .bind(now_ms())
        .bind(room_id)
        .bind(user_id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done > 0)
    }

    /// The participant type of a user present in a room.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn participant(
        &self,
        room_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let kind: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT kind FROM participants WHERE room_id = $1 AND user_id = $2 AND left_at IS NULL",
        )
        .bind(room_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await?);
        Ok(kind.map(|(k,)| k))
    }

    /// How many are present in a room.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn participant_count(&self, room_id: &str) -> Result<i64, sqlx::Error> {
        let (n,): (i64,) = on_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM participants WHERE room_id = $1 AND left_at IS NULL",
        )
        .bind(room_id)
        .fetch_one(pool)
        .await?);
        Ok(n)
    }

    /// Starts a recording row.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn insert_recording(&self, id: &str, room_id: &str) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO recordings (id, room_id, started_at, packets, bytes) VALUES ($1, $2, $3, 0, 0)",
        )
        .bind(id)
        .bind(room_id)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Ends a recording with what the recording sink received.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn finish_recording(
        &self,
        id: &str,
        packets: u64,
        bytes: u64,
    ) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE recordings SET stopped_at = $1, packets = $2, bytes = $3 WHERE id = $4",
        )
        .bind(now_ms())
        .bind(i64::try_from(packets).unwrap_or(i64::MAX))
        .bind(i64::try_from(bytes).unwrap_or(i64::MAX))
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Files a report (pending).
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn insert_report(&self, report: &ReportRow) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO reports (id, room_id, reporter_id, reported_id, reason, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&report.id)
        .bind(&report.room_id)
        .bind(&report.reporter_id)
        .bind(&report.reported_id)
        .bind(&report.reason)
        .bind(&report.status)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Decides a pending report; the report as decided, `None` when it is not pending.
    ///
    /// # Errors
    /// When a statement fails.
    pub async fn decide_report(
        &self,
        id: &str,
        status: &str,
    ) -> Result<Option<ReportRow>, sqlx::Error> {
        // One statement, so two moderators deciding the same report cannot both win, and so
        // SQLite never has to upgrade a read transaction to a write one (in WAL mode that fails
        // at once with SQLITE_BUSY when another connection wrote in between: a 500 under load).
        let row: Option<ReportTuple> = on_pool!(self, pool => sqlx::query_as(
            "UPDATE reports SET status = $1 WHERE id = $2 AND status = 'pending' \
             RETURNING id, room_id, reporter_id, reported_id, reason, status",
        )
        .bind(status)
        .bind(id)
        .fetch_optional(pool)
        .await?);
        Ok(row.map(report_row))
    }

    /// The pending reports, oldest first.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn pending_reports(&self, limit: i64) -> Result<Vec<ReportRow>, sqlx::Error> {
        let rows: Vec<ReportTuple> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, room_id, reporter_id, reported_id, reason, status FROM reports \
             WHERE status = 'pending' ORDER BY created_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(report_row).collect())
    }

    /// How many reports are pending.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn pending_count(&self) -> Result<i64, sqlx::Error> {
        let (n,): (i64,) = on_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM reports WHERE status = 'pending'",
        )
        .fetch_one(pool)
        .await?);
        Ok(n)
    }
}

fn report_row((id, room_id, reporter_id, reported_id, reason, status): ReportTuple) -> ReportRow {
    ReportRow {
        id,
        room_id,
        reporter_id,
        reported_id,
        reason,
        status,
    }
}
