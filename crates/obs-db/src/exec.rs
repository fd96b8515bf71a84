//! The `Executor` of everything that runs statements on one connection (a pooled connection, a
//! transaction, an acquired connection): one implementation, through [`Target`].

use std::sync::Arc;

use opentelemetry::Context;

use crate::driver::Driver;
use crate::query::Shared;

/// A connection that statements run on, with what their spans need.
pub(crate) trait Target<DB: Driver> {
    /// The driver's connection, for what is not recorded (`prepare`, `describe`).
    fn connection(&mut self) -> &mut DB::Connection;

    /// For one statement: the driver's connection, the pool's settings and the parent of the
    /// statement's span; counts the statement where a count is kept (a transaction's).
    fn statement(&mut self) -> (&mut DB::Connection, &Arc<Shared>, Context);
}

/// `impl Executor<'c> for &'c mut $ty` through its [`Target`] impl: statements are recorded by
/// `query::fetch_many`/`query::fetch_optional`; `prepare_with` and the hidden `describe` pass
/// through. A macro, since a blanket impl over `T: Target` would be an impl of a foreign trait
/// for an uncovered type parameter.
macro_rules! executor_via_target {
    ($($lt:lifetime),* ; $ty:ty) => {
        impl<'c, $($lt,)* DB: $crate::driver::Driver> sqlx::Executor<'c> for &'c mut $ty
        where
            for<'x> &'x mut DB::Connection: sqlx::Executor<'x, Database = DB>,
        {
            type Database = DB;

            fn fetch_many<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> futures_util::stream::BoxStream<
                'e,
                Result<sqlx::Either<DB::QueryResult, DB::Row>, sqlx::Error>,
            >
            where
                'c: 'e,
                E: 'q + sqlx::Execute<'q, DB>,
            {
                let (conn, shared, parent) = $crate::exec::Target::<DB>::statement(self);
                $crate::query::fetch_many(
                    conn,
                    shared,
                    &parent,
                    $crate::query::Captured::new(query),
                )
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> futures_util::future::BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
            where
                'c: 'e,
                E: 'q + sqlx::Execute<'q, DB>,
            {
                let (conn, shared, parent) = $crate::exec::Target::<DB>::statement(self);
                $crate::query::fetch_optional(
                    conn,
                    shared,
                    &parent,
                    $crate::query::Captured::new(query),
                )
            }

            fn prepare_with<'e>(
                self,
                sql: sqlx_core::sql_str::SqlStr,
                parameters: &'e [DB::TypeInfo],
            ) -> futures_util::future::BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
            where
                'c: 'e,
            {
                $crate::exec::Target::<DB>::connection(self).prepare_with(sql, parameters)
            }

            fn describe<'e>(
                self,
                sql: sqlx_core::sql_str::SqlStr,
            ) -> futures_util::future::BoxFuture<
                'e,
                Result<sqlx_core::describe::Describe<DB>, sqlx::Error>,
            >
            where
                'c: 'e,
            {
                $crate::exec::Target::<DB>::connection(self).describe(sql)
            }
        }
    };
}

pub(crate) use executor_via_target;
