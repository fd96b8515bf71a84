//! obs-db: instrumented sqlx pools, connections and transactions.
#![deny(missing_docs)]

pub mod sql;
