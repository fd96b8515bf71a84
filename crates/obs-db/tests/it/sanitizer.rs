//! The sanitizer and the summary: the OpenTelemetry conventions' SQL cases, then our own table.

use obs_db::sql::analyze;

#[test]
fn every_opentelemetry_sql_case_passes() {
    let cases: serde_json::Value =
        serde_json::from_str(include_str!("../data/semconv-db-sql-test-cases.json")).unwrap();
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 24);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let query = case["input"]["query"].as_str().unwrap();
        let q = analyze(query);
        let accepted: Vec<&str> = case["expected"]["db.query.text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        if !accepted.contains(&q.text()) {
            failures.push(format!("{name}: text {:?} not in {accepted:?}", q.text()));
        }
        if let Some(summary) = case["expected"]["db.query.summary"].as_str()
            && q.summary() != summary
        {
            failures.push(format!("{name}: summary {:?} != {summary:?}", q.summary()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// (statement, sanitized text, summary, operation, collection)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);
const TABLE: &[Case] = &[
    // Plain statements.
    (
        "SELECT * FROM users WHERE id = $1",
        "SELECT * FROM users WHERE id = $1",
        "SELECT users",
        Some("SELECT"),
        Some("users"),
    ),
    (
        "SELECT * FROM users WHERE id = ?",
        "SELECT * FROM users WHERE id = ?",
        "SELECT users",
        Some("SELECT"),
        Some("users"),
    ),
    (
        "SELECT * FROM users WHERE id = ?1",
        "SELECT * FROM users WHERE id = ?1",
        "SELECT users",
        Some("SELECT"),
        Some("users"),
    ),
    (
        "SELECT * FROM users WHERE name = :name",
        "SELECT * FROM users WHERE name = :name",
        "SELECT users",
        Some("SELECT"),
        Some("users"),
    ),
    (
        "SELECT * FROM users WHERE name = @name",
        "SELECT * FROM users WHERE name = @name",
        "SELECT users",
        Some("SELECT"),
        Some("users"),
    ),
    (
        "select id from users where id = 42",
        "select id from users where id = ?",
        "select users",
        Some("SELECT"),
        Some("users"),
    ),
    (
        "INSERT INTO users (name, email) VALUES ('ann', 'ann@example.com')",
        "INSERT INTO users (name, email) VALUES (?, ?)",
        "INSERT users",
        Some("INSERT"),
        Some("users"),
    ),
    (
        "INSERT INTO users (name) VALUES ($1) RETURNING id",
        "INSERT INTO users (name) VALUES ($1) RETURNING id",
        "INSERT users",
        Some("INSERT"),
        Some("users"),
    ),
    (
        "UPDATE users SET name = 'bob' WHERE id = 7",
        "UPDATE users SET name = ? WHERE id = ?",
        "UPDATE users",
        Some("UPDATE"),
        Some("users"),
    ),
    (
        "DELETE FROM sessions WHERE expires < 1700000000",
        "DELETE FROM sessions WHERE expires < ?",
        "DELETE sessions",
        Some("DELETE"),
        Some("sessions"),
    ),
    (
        "UPDATE ONLY accounts SET balance = balance - 10.5",
        "UPDATE ONLY accounts SET balance = balance - ?",
        "UPDATE accounts",
        Some("UPDATE"),
        Some("accounts"),
    ),
    (
        "DELETE FROM ONLY logs",
        "DELETE FROM ONLY logs",
        "DELETE logs",
        Some("DELETE"),
        Some("logs"),
    ),
    (
        "TRUNCATE TABLE audit",
        "TRUNCATE TABLE audit",
        "TRUNCATE audit",
        Some("TRUNCATE"),
        Some("audit"),
    ),
    (
        "TRUNCATE audit",
        "TRUNCATE audit",
        "TRUNCATE audit",
        Some("TRUNCATE"),
        Some("audit"),
    ),
    // Literals of every kind.
    (
        "SELECT E'it\\'s', 'a''b'",
        "SELECT ?, ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT $$dollar 'quoted' text$$",
        "SELECT ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT $fn$ body; with ; semicolons $fn$ FROM t",
        "SELECT ? FROM t",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    (
        "SELECT X'DEADBEEF', x'00'",
        "SELECT ?, ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT B'1010', N'national'",
        "SELECT ?, ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT U&'d\\0061t\\+000061'",
        "SELECT ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT 1e10, 2.5E-3, .5, 0x1F",
        "SELECT ?, ?, ?, ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT * FROM flags WHERE on_call = TRUE AND off = false",
        "SELECT * FROM flags WHERE on_call = ? AND off = ?",
        "SELECT flags",
        Some("SELECT"),
        Some("flags"),
    ),
    (
        "SELECT * FROM t WHERE x IS NULL",
        "SELECT * FROM t WHERE x IS NULL",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    (
        "SELECT '2024-01-01'::date, 3::int",
        "SELECT ?::date, ?::int",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT arr[1:2] FROM t",
        "SELECT arr[?:?] FROM t",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    // IN lists.
    (
        "SELECT * FROM t WHERE id IN (1, 2, 3)",
        "SELECT * FROM t WHERE id IN (?)",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    (
        "SELECT * FROM t WHERE id IN ($1, $2, $3)",
        "SELECT * FROM t WHERE id IN (?)",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    (
        "SELECT * FROM t WHERE name in ('a','b')",
        "SELECT * FROM t WHERE name in (?)",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    (
        "SELECT * FROM t WHERE id NOT IN (1,\n 2)",
        "SELECT * FROM t WHERE id NOT IN (?)",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    (
        "SELECT * FROM t WHERE (a, b) IN ((1, 2))",
        "SELECT * FROM t WHERE (a, b) IN ((?, ?))",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    // Identifiers.
    (
        "SELECT \"Name\" FROM \"Users\" WHERE \"id\" = 1",
        "SELECT \"Name\" FROM \"Users\" WHERE \"id\" = ?",
        "SELECT \"Users\"",
        Some("SELECT"),
        Some("\"Users\""),
    ),
    (
        "SELECT \"a\"\"b\" FROM \"s\".\"t\"",
        "SELECT \"a\"\"b\" FROM \"s\".\"t\"",
        "SELECT \"s\".\"t\"",
        Some("SELECT"),
        Some("\"s\".\"t\""),
    ),
    (
        "SELECT `col` FROM `tbl`",
        "SELECT `col` FROM `tbl`",
        "SELECT `tbl`",
        Some("SELECT"),
        Some("`tbl`"),
    ),
    (
        "SELECT * FROM public.orders",
        "SELECT * FROM public.orders",
        "SELECT public.orders",
        Some("SELECT"),
        Some("public.orders"),
    ),
    (
        "SELECT prix FROM café WHERE nom = 'crème'",
        "SELECT prix FROM café WHERE nom = ?",
        "SELECT café",
        Some("SELECT"),
        Some("café"),
    ),
    (
        "SELECT * FROM 顧客 WHERE 名前 = '山田'",
        "SELECT * FROM 顧客 WHERE 名前 = ?",
        "SELECT 顧客",
        Some("SELECT"),
        Some("顧客"),
    ),
    (
        "SELECT col$1 FROM t",
        "SELECT col$1 FROM t",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    // Joins, subqueries, CTEs, set operations.
    (
        "SELECT * FROM a JOIN b ON a.id = b.a_id LEFT JOIN c ON c.id = 1",
        "SELECT * FROM a JOIN b ON a.id = b.a_id LEFT JOIN c ON c.id = ?",
        "SELECT a b c",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT * FROM a AS x, b AS y WHERE x.id = y.id",
        "SELECT * FROM a AS x, b AS y WHERE x.id = y.id",
        "SELECT a b",
        Some("SELECT"),
        None,
    ),
    (
        "WITH recent AS (SELECT * FROM orders WHERE ts > 5) SELECT * FROM recent",
        "WITH recent AS (SELECT * FROM orders WHERE ts > ?) SELECT * FROM recent",
        "SELECT orders SELECT recent",
        Some("SELECT"),
        None,
    ),
    (
        "WITH d AS (DELETE FROM q WHERE id = 1 RETURNING *) INSERT INTO done SELECT * FROM d",
        "WITH d AS (DELETE FROM q WHERE id = ? RETURNING *) INSERT INTO done SELECT * FROM d",
        "DELETE q INSERT done SELECT d",
        Some("INSERT"),
        None,
    ),
    (
        "SELECT id FROM a UNION ALL SELECT id FROM b",
        "SELECT id FROM a UNION ALL SELECT id FROM b",
        "SELECT a SELECT b",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT (SELECT count(*) FROM b) FROM a",
        "SELECT (SELECT count(*) FROM b) FROM a",
        "SELECT SELECT b a",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT * FROM t FOR UPDATE",
        "SELECT * FROM t FOR UPDATE",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    (
        "INSERT INTO kv (k, v) VALUES ('a', 1) ON CONFLICT (k) DO UPDATE SET v = 2",
        "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = ?",
        "INSERT kv",
        Some("INSERT"),
        Some("kv"),
    ),
    (
        "INSERT OR REPLACE INTO kv VALUES (1, 'x')",
        "INSERT OR REPLACE INTO kv VALUES (?, ?)",
        "INSERT kv",
        Some("INSERT"),
        Some("kv"),
    ),
    (
        "REPLACE INTO kv VALUES (1)",
        "REPLACE INTO kv VALUES (?)",
        "REPLACE kv",
        Some("REPLACE"),
        Some("kv"),
    ),
    (
        "DELETE FROM a USING b WHERE a.id = b.id",
        "DELETE FROM a USING b WHERE a.id = b.id",
        "DELETE a b",
        Some("DELETE"),
        None,
    ),
    // DDL.
    (
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT DEFAULT 'x')",
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT DEFAULT ?)",
        "CREATE TABLE users",
        Some("CREATE"),
        Some("users"),
    ),
    (
        "CREATE TEMP TABLE scratch (v int)",
        "CREATE TEMP TABLE scratch (v int)",
        "CREATE TABLE scratch",
        Some("CREATE"),
        Some("scratch"),
    ),
    (
        "CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email)",
        "CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email)",
        "CREATE INDEX users_email",
        Some("CREATE"),
        Some("users_email"),
    ),
    (
        "CREATE OR REPLACE VIEW v AS SELECT * FROM t",
        "CREATE OR REPLACE VIEW v AS SELECT * FROM t",
        "CREATE VIEW v SELECT t",
        Some("CREATE"),
        None,
    ),
    (
        "CREATE MATERIALIZED VIEW mv AS SELECT 1",
        "CREATE MATERIALIZED VIEW mv AS SELECT ?",
        "CREATE MATERIALIZED VIEW mv SELECT",
        Some("CREATE"),
        Some("mv"),
    ),
    (
        "DROP TABLE IF EXISTS old_users",
        "DROP TABLE IF EXISTS old_users",
        "DROP TABLE old_users",
        Some("DROP"),
        Some("old_users"),
    ),
    (
        "ALTER TABLE t ADD COLUMN c int REFERENCES u(id) ON DELETE CASCADE",
        "ALTER TABLE t ADD COLUMN c int REFERENCES u(id) ON DELETE CASCADE",
        "ALTER TABLE t",
        Some("ALTER"),
        Some("t"),
    ),
    (
        "CREATE FUNCTION f() RETURNS int AS $$ SELECT 'secret' $$ LANGUAGE sql",
        "CREATE FUNCTION f() RETURNS int AS ? LANGUAGE sql",
        "CREATE FUNCTION f",
        Some("CREATE"),
        Some("f"),
    ),
    // Transaction control and others: named by their first keyword.
    ("BEGIN", "BEGIN", "BEGIN", Some("BEGIN"), None),
    (
        "SAVEPOINT sp1",
        "SAVEPOINT sp1",
        "SAVEPOINT",
        Some("SAVEPOINT"),
        None,
    ),
    (
        "SET statement_timeout = 5000",
        "SET statement_timeout = ?",
        "SET",
        Some("SET"),
        None,
    ),
    (
        "PRAGMA journal_mode = 'wal'",
        "PRAGMA journal_mode = ?",
        "PRAGMA",
        Some("PRAGMA"),
        None,
    ),
    (
        "CALL refresh(1)",
        "CALL refresh(?)",
        "CALL",
        Some("CALL"),
        None,
    ),
    // Multiple statements.
    (
        "SELECT 1; SELECT 2 FROM t",
        "SELECT ?; SELECT ? FROM t",
        "SELECT SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    (
        "INSERT INTO a VALUES (1); UPDATE b SET x = 2",
        "INSERT INTO a VALUES (?); UPDATE b SET x = ?",
        "INSERT a UPDATE b",
        Some("INSERT"),
        None,
    ),
    // Comments are dropped wherever they are.
    (
        "/* app=web */ SELECT 1",
        " SELECT ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT 1 /* nested /* 'secret' */ still */ FROM t",
        "SELECT ?  FROM t",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    (
        "SELECT 1 -- password='hunter2'\nFROM t",
        "SELECT ? \nFROM t",
        "SELECT t",
        Some("SELECT"),
        Some("t"),
    ),
    // Hostile statements: no secret survives.
    (
        "SELECT * FROM users WHERE password = 'hunter2' OR '1'='1'",
        "SELECT * FROM users WHERE password = ? OR ?=?",
        "SELECT users",
        Some("SELECT"),
        Some("users"),
    ),
    (
        "SELECT 'unterminated secret",
        "SELECT ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT E'never \\' closed",
        "SELECT ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT $tag$ secret never closed",
        "SELECT ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT 1 /* secret never closed",
        "SELECT ? ",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT '\\' , 'sk_live_123'",
        "SELECT ? , ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "ALTER ROLE app PASSWORD 'p@ss w0rd'",
        "ALTER ROLE app PASSWORD ?",
        "ALTER ROLE app",
        Some("ALTER"),
        Some("app"),
    ),
    (
        "SELECT 4111111111111111, -4111.5e3",
        "SELECT ?, ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT 'a' || 'token' || $q$x$q$",
        "SELECT ? || ? || ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    ("SELECT ''''", "SELECT ?", "SELECT", Some("SELECT"), None),
    (
        "SELECT 'ünïcødé sécret'",
        "SELECT ?",
        "SELECT",
        Some("SELECT"),
        None,
    ),
    ("", "", "", None, None),
    ("   ", "   ", "", None, None),
];

#[test]
fn the_statement_table() {
    assert!(TABLE.len() >= 60, "{} statements", TABLE.len());
    let mut failures = Vec::new();
    for &(sql, text, summary, operation, collection) in TABLE {
        let q = analyze(sql);
        let got = (q.text(), q.summary(), q.operation(), q.collection());
        if got != (text, summary, operation, collection) {
            failures.push(format!(
                "{sql:?}\n  got  {got:?}\n  want {:?}",
                (text, summary, operation, collection)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_secret_survives() {
    let secrets = [
        "hunter2",
        "p@ss",
        "4111111111111111",
        "sécret",
        "token",
        "AKIA1234",
    ];
    for sql in [
        "SELECT * FROM u WHERE p = 'hunter2'",
        "UPDATE u SET card = 4111111111111111",
        "SELECT $$p@ss$$",
        "SELECT E'\\\\' || 'sécret'",
        "SELECT 'x' FROM t WHERE k IN ('token', 'AKIA1234')",
        "INSERT INTO k VALUES (X'AKIA1234')",
        "SELECT /* 'hunter2' */ 1",
        "SELECT 1 -- hunter2",
    ] {
        let q = analyze(sql);
        for s in secrets {
            assert!(
                !q.text().contains(s) && !q.summary().contains(s),
                "{s} in {:?} / {:?}",
                q.text(),
                q.summary()
            );
        }
    }
}

#[test]
fn the_summary_is_at_most_255_bytes() {
    let sql: String = (0..100)
        .map(|i| format!("SELECT * FROM table_number_{i}; "))
        .collect();
    let q = analyze(&sql);
    assert!(
        q.summary().len() <= 255 && q.summary().len() > 200,
        "{}",
        q.summary().len()
    );
    let long_name = format!("SELECT * FROM {}", "é".repeat(300));
    assert!(analyze(&long_name).summary().len() <= 255);
}

mod properties {
    use obs_db::sql::analyze;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any text at all: no panic, a bounded summary, never longer than the input plus
        /// nothing (a literal shrinks to `?`, a comment disappears).
        #[test]
        fn any_text_is_handled(sql in "\\PC{0,200}") {
            let q = analyze(&sql);
            prop_assert!(q.summary().len() <= 255);
            prop_assert!(q.text().len() <= sql.len());
        }

        /// Text made of SQL's troublesome characters.
        #[test]
        fn quote_soup_is_handled(sql in "[-'\"$/*`E ()x0-9a-z;:?.,\\\\\n]{0,80}") {
            let q = analyze(&sql);
            prop_assert!(q.text().len() <= sql.len());
        }

        /// A secret in any kind of literal never reaches the text or the summary.
        #[test]
        fn secrets_in_literals_never_survive(
            secret in "zq[a-zA-Z0-9 _@.]{4,24}",
            form in 0..6_usize,
            prefix in "(SELECT a FROM t WHERE b = |INSERT INTO t VALUES \\(|UPDATE t SET c = )",
        ) {
            let literal = match form {
                0 => format!("'{secret}'"),
                1 => format!("E'{secret}\\''"),
                2 => format!("$${secret}$$"),
                3 => format!("$tag${secret}$tag$"),
                4 => format!("'{}'", secret.replace(' ', "''")),
                _ => format!("'{secret}"), // unterminated
            };
            let q = analyze(&format!("{prefix}{literal}"));
            prop_assert!(!q.text().contains(&secret), "{:?}", q.text());
            prop_assert!(!q.summary().contains("zq"), "{:?}", q.summary());
        }
    }
}
