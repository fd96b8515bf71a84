#!/bin/sh
# Writes crates/obs-db/.sqlx again: the query data that sqlx's `query!` macros in tests/it/macros.rs
# check against at compile time, so that the tests build offline from a clean clone.
#
# Needs no sqlx-cli: compiled online (DATABASE_URL set, SQLX_OFFLINE=false), sqlx's macros describe
# each query on the database and write its data to SQLX_OFFLINE_DIR. The test binary is compiled
# twice, once against SQLite and once against PostgreSQL; in each pass the other database's
# queries fail (their tables, `notes` and `pg_notes`, exist in one database only), which is
# expected. A last offline build checks that every query has its data.
#
# Needs the sqlite3 shell (Debian package sqlite3) and PostgreSQL (package postgresql, started
# here on a private cluster; as root it runs as the postgres user).
#
# Run from anywhere: sh crates/obs-db/tests/data/sqlx-prepare.sh
set -eu
crate=$(cd "$(dirname "$0")/../.." && pwd)
data="$crate/tests/data"
tmp=$(mktemp -d)
chmod 755 "$tmp"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
port=${PGPORT:-55439}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    as_pg "$pgbin/pg_ctl" -D "$tmp/pg" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

sqlite3 "$tmp/macros.db" < "$data/macros-sqlite.sql"
mkdir "$tmp/pg"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$tmp/pg"; fi
as_pg "$pgbin/initdb" -D "$tmp/pg" -A trust -U postgres -N >/dev/null
as_pg "$pgbin/pg_ctl" -D "$tmp/pg" -o "-k $tmp/pg -h 127.0.0.1 -p $port -F" -l "$tmp/pg/log" -w start >/dev/null
pg_url="postgres://postgres@127.0.0.1:$port/postgres"
psql -q "$pg_url" -f "$data/macros-postgres.sql"

rm -rf "$crate/.sqlx"
mkdir -p "$crate/.sqlx"
cd "$crate"
build() {
    # The macros run again only when their file is compiled again.
    touch "$crate/tests/it/macros.rs"
    CARGO_INCREMENTAL=0 cargo build -q -p obs-db --tests
}
DATABASE_URL="sqlite:$tmp/macros.db" SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$crate/.sqlx" build \
    >/dev/null 2>&1 || true
DATABASE_URL="$pg_url" SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$crate/.sqlx" build \
    >/dev/null 2>&1 || true
SQLX_OFFLINE=true build
echo "wrote $(ls "$crate/.sqlx" | wc -l) files to $crate/.sqlx"
