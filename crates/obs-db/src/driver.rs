//! What obs-db needs to know of each database: its name in the conventions, where the server
//! is, how many rows a statement touched, and how to read its errors.

use std::borrow::Cow;

use sqlx::{Database, Postgres, Sqlite};

/// A database obs-db instruments: PostgreSQL or SQLite. Sealed.
pub trait Driver: Database + sealed::Sealed {
    /// `db.system.name`.
    const SYSTEM: &'static str;

    #[doc(hidden)]
    fn rows_affected(result: &Self::QueryResult) -> u64;

    #[doc(hidden)]
    fn server(options: &<Self::Connection as sqlx::Connection>::Options) -> Server;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for sqlx::Postgres {}
    impl Sealed for sqlx::Sqlite {}
}

/// Where the statements go: `db.namespace`, `server.address`, `server.port`.
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct Server {
    pub(crate) namespace: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) port: Option<u16>,
}

impl Driver for Postgres {
    const SYSTEM: &'static str = "postgresql";

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn server(options: &sqlx::postgres::PgConnectOptions) -> Server {
        Server {
            namespace: options.get_database().map(str::to_owned),
            address: Some(options.get_host().to_owned()),
            port: Some(options.get_port()),
        }
    }
}

impl Driver for Sqlite {
    const SYSTEM: &'static str = "sqlite";

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn server(options: &sqlx::sqlite::SqliteConnectOptions) -> Server {
        // The file name is the database; an in-memory one has none worth recording.
        let file = options.get_filename().to_string_lossy();
        Server {
            namespace: (!file.is_empty() && file != ":memory:").then(|| file.into_owned()),
            address: None,
            port: None,
        }
    }
}

/// How an error is recorded: the `status` label of `db_queries_total` and the span's
/// `error.type` (a low-cardinality class), and `db.response.status_code` (the SQLSTATE for
/// PostgreSQL, the extended result code for SQLite).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorClass {
    /// The class: `unique_violation`, `foreign_key_violation`, `not_null_violation`,
    /// `check_violation`, `syntax_error`, `database`, `connection`, `pool_timeout`,
    /// `pool_closed`, `io`, `tls`, `protocol`, `row_not_found`, `decode`, `configuration`,
    /// `other`.
    ///
    /// `connection`: the database could not be reached or opened (a refused or reset
    /// connection, PostgreSQL's SQLSTATE class 08, SQLite's `SQLITE_CANTOPEN`), and, for a
    /// statement run through an [`InstrumentedPool`](crate::InstrumentedPool), a
    /// `PoolTimedOut` while the pool held fewer connections than its maximum: sqlx's pool
    /// retries a refused connection until the acquire timeout and then reports only
    /// `PoolTimedOut`, so a pool that was not full timed out because it could not connect.
    /// `pool_timeout` is left for a pool exhausted by connections in use.
    pub class: Cow<'static, str>,
    /// The database's own code, when the server answered with an error.
    pub status_code: Option<String>,
}

/// Classifies an error of a statement, a transaction or an acquire.
///
/// ```
/// let class = obs_db::classify(&sqlx::Error::PoolTimedOut);
/// assert_eq!(class.class, "pool_timeout");
/// assert_eq!(class.status_code, None);
/// ```
pub fn classify(error: &sqlx::Error) -> ErrorClass {
    use sqlx::error::ErrorKind;
    let class: &'static str = match error {
        sqlx::Error::Database(db) => {
            let code = db.code().map(Cow::into_owned);
            let class = match db.kind() {
                ErrorKind::UniqueViolation => "unique_violation",
                ErrorKind::ForeignKeyViolation => "foreign_key_violation",
                ErrorKind::NotNullViolation => "not_null_violation",
                ErrorKind::CheckViolation => "check_violation",
                // 42601 is PostgreSQL's syntax_error; SQLite reports syntax errors as plain
                // SQLITE_ERROR (1) with a message starting "near".
                _ if code.as_deref() == Some("42601")
                    || (code.as_deref() == Some("1") && db.message().contains("syntax error")) =>
                {
                    "syntax_error"
                }
                _ if is_connection_code(code.as_deref()) => "connection",
                _ => "database",
            };
            return ErrorClass {
                class: Cow::Borrowed(class),
                status_code: code,
            };
        }
        sqlx::Error::PoolTimedOut => "pool_timeout",
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => "pool_closed",
        sqlx::Error::Io(io) if is_connection_io(io.kind()) => "connection",
        sqlx::Error::Io(_) => "io",
        sqlx::Error::Tls(_) => "tls",
        sqlx::Error::Protocol(_) => "protocol",
        sqlx::Error::RowNotFound => "row_not_found",
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::TypeNotFound { .. } => "decode",
        sqlx::Error::Configuration(_) => "configuration",
        _ => "other",
    };
    ErrorClass {
        class: Cow::Borrowed(class),
        status_code: None,
    }
}

/// I/O errors that mean the server could not be reached.
fn is_connection_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::BrokenPipe
    )
}

/// PostgreSQL's SQLSTATE class 08 (connection exception) and SQLite's `SQLITE_CANTOPEN` (14,
/// in the low byte of an extended result code).
fn is_connection_code(code: Option<&str>) -> bool {
    match code {
        Some(code) if code.starts_with("08") => true,
        Some(code) => code.parse::<u32>().is_ok_and(|n| n & 0xff == 14),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn errors_without_a_server_answer_are_classified_by_kind() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(classify(&refused).class, "connection");
        let other = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::InvalidData));
        assert_eq!(classify(&other).class, "io");
        assert_eq!(classify(&sqlx::Error::PoolTimedOut).class, "pool_timeout");
        assert_eq!(classify(&sqlx::Error::PoolClosed).class, "pool_closed");
        assert_eq!(classify(&sqlx::Error::RowNotFound).class, "row_not_found");
        assert_eq!(
            classify(&sqlx::Error::Protocol("x".into())).status_code,
            None
        );
    }
}
