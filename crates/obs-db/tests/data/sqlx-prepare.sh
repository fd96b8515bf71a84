#!/bin/sh
# Writes crates/obs-db/.sqlx again: the query data that sqlx's `query!` macros in tests/it/macros.rs
# check against at compile time, so that the tests build offline from a clean clone.
#
# Needs no sqlx-cli: compiled online (DATABASE_URL set, SQLX_OFFLINE unset), sqlx's macros describe
# each query on the database and write its data to SQLX_OFFLINE_DIR. The SQLite database is made
# from tests/data/macros-sqlite.sql with the sqlite3 shell (Debian package sqlite3).
#
# Run from anywhere: sh crates/obs-db/tests/data/sqlx-prepare.sh
set -eu
crate=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sqlite3 "$tmp/macros.db" < "$crate/tests/data/macros-sqlite.sql"
rm -rf "$crate/.sqlx"
mkdir -p "$crate/.sqlx"
# The macros run again only when their file is compiled again.
touch "$crate/tests/it/macros.rs"
cd "$crate"
DATABASE_URL="sqlite:$tmp/macros.db" SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$crate/.sqlx" \
    CARGO_INCREMENTAL=0 cargo build -p obs-db --tests
touch "$crate/tests/it/macros.rs"
echo "wrote $(ls "$crate/.sqlx" | wc -l) files to $crate/.sqlx"
