//! The shared store conformance suite against SQLite files, and what is
//! particular to the SQLite store: WAL and `busy_timeout`, its indexes,
//! batched sweeping, corrupt rows. Each test uses a database file in a
//! directory of its own, removed at the end.
#![cfg(all(feature = "sqlite", feature = "conformance"))]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_session::sqlx::{self, Row as _};
use hyper_session::store::{Record, SessionData, SessionStore, Update};
use hyper_session::{SqliteStore, StoreError, StoreKey};

#[path = "shared/sql_checks.rs"]
mod sql_checks;
#[path = "shared/sqlx_log.rs"]
mod sqlx_log;

#[path = "../../tests/common/temp_dir.rs"]
mod temp_dir;

use temp_dir::TempDir;

/// A store on table `table` of a database in `dir`, migrated, without
/// the background sweeper (the tests sweep when they mean to).
async fn open_table(dir: &TempDir, table: &str) -> SqliteStore {
    let store = SqliteStore::builder()
        .table(table)
        .expect("valid")
        .no_background_sweep()
        .open(dir.db())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    store
}

fn now() -> u64 {
    u64::try_from(std::time::UNIX_EPOCH.elapsed().expect("clock").as_millis()).expect("ms")
}

fn key(n: u32) -> StoreKey {
    let mut bytes = [0x5a; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    StoreKey::from_bytes(bytes)
}

/// [`open_table`] on the default table.
async fn open(dir: &TempDir) -> SqliteStore {
    open_table(dir, SqliteStore::DEFAULT_TABLE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let dir = TempDir::new("conformance");
    let url = format!("sqlite://{}", dir.db().display()); // an absolute path: sqlite:///tmp/...
    assert!(url.starts_with("sqlite:///"));
    let store = SqliteStore::connect(&url).await.expect("connect");
    assert!(dir.db().exists(), "the database file is created if missing");
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrate is idempotent");
    assert!(
        store.is_shared(),
        "a SQLite file is shared: a secret is required"
    );
    hyper_session::conformance::run(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_pairs_of_commits_lose_nothing() {
    let dir = TempDir::new("pairs");
    // 2,000 commits to one session at once queue up for the one write
    // connection longer than the default second: what is checked here is
    // that none is lost.
    let store = SqliteStore::builder()
        .no_background_sweep()
        .acquire_timeout(Duration::from_secs(60))
        .open(dir.db())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    hyper_session::conformance::concurrent_pairs(Arc::new(store), 1_000).await;
}

#[tokio::test]
async fn the_file_is_created_in_wal_mode_with_a_busy_timeout_and_the_schema_of_the_docs() {
    let dir = TempDir::new("schema");
    // A reserved word is fine: the name is quoted.
    let store = open_table(&dir, "order").await;
    let pool = store.pool();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(pool)
        .await
        .expect("pragma");
    assert_eq!(busy, 1_000);
    let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'order'")
        .fetch_one(pool)
        .await
        .expect("the table");
    for part in [
        "key        BLOB PRIMARY KEY",
        "expires_at INTEGER NOT NULL",
        "owner      TEXT",
        "handle     TEXT",
        "label      TEXT",
        "seen_at    INTEGER",
        "STRICT",
    ] {
        assert!(sql.contains(part), "{part} missing from {sql}");
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'order' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .expect("indexes");
    assert_eq!(
        indexes,
        [
            "CREATE INDEX \"order_expires_at\" ON \"order\" (expires_at)",
            "CREATE INDEX \"order_owner\" ON \"order\" (owner, expires_at) WHERE owner IS NOT NULL",
        ]
    );
    // SQLite keeps the statement's text, less its IF NOT EXISTS.
    let columns = &sql[sql.find('(').expect("columns")..];
    assert!(store.migration_sql().contains(columns), "{sql}");
    for bad in ["Sessions", "s; DROP TABLE x", "a.b", ""] {
        assert!(SqliteStore::builder().table(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn an_in_memory_database_is_not_shared() {
    let store = SqliteStore::connect("sqlite::memory:").await.expect("open");
    assert!(!store.is_shared());
}

#[tokio::test]
async fn any_json_value_round_trips_exactly() {
    let dir = TempDir::new("json");
    let store = open(&dir).await;
    sql_checks::any_json_value_round_trips(&store, &key(1)).await;
}

#[tokio::test]
async fn corrupt_rows_are_store_errors_that_name_the_session_and_leak_nothing() {
    let dir = TempDir::new("corrupt");
    let store = open(&dir).await;
    let t = now();
    let good = key(7);
    let data = sql_checks::a_good_session(&store, &good, t).await;
    let (bad_json, negative) = (key(8), key(9));
    for (k, data, expires) in [(&bad_json, "{not json", i64::MAX), (&negative, "{}", -5)] {
        sqlx::query(
            "INSERT INTO hyper_sessions (key, data, created_at, renewed_at, expires_at) \
             VALUES (?1, ?2, 1, 1, ?3)",
        )
        .bind(k.as_bytes().as_slice())
        .bind(data)
        .bind(expires)
        .execute(store.pool())
        .await
        .expect("insert a corrupt row");
    }
    sql_checks::corrupt_rows_are_errors(&store, [&good, &bad_json, &negative], data, t).await;
}

/// The statements sqlx ran since the last call that name `table`, with
/// the rows each changed.
fn statements_on(table: &str) -> Vec<(String, u64)> {
    let quoted = format!("\"{table}\"");
    sqlx_log::take()
        .into_iter()
        .filter(|s| s.sql.contains(&quoted))
        .map(|s| (s.sql, s.rows))
        .collect()
}

/// Inserts `n` sessions that expired a minute ago, directly.
async fn expired_rows(store: &SqliteStore, table: &str, n: u32) {
    let t = i64::try_from(now()).expect("ms");
    sqlx::query(&format!(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?1) \
         INSERT INTO \"{table}\" (key, data, created_at, renewed_at, expires_at) \
         SELECT randomblob(32), '{{}}', ?2 - 120000, ?2 - 120000, ?2 - 60000 - n FROM i"
    ))
    .bind(n)
    .bind(t)
    .execute(store.pool())
    .await
    .expect("insert expired rows");
}

#[tokio::test]
async fn a_sweep_deletes_at_most_1000_rows_per_statement_and_keeps_live_sessions() {
    let dir = TempDir::new("sweep");
    let table = "sweep_probe";
    let store = open_table(&dir, table).await;
    expired_rows(&store, table, 2_500).await;
    let live = key(1);
    let t = now();
    assert!(store
        .create(
            &live,
            &Record::new(SessionData::default(), t, t, t + 60_000)
        )
        .await
        .expect("create"));
    statements_on(table);
    let swept = store
        .capabilities()
        .sweep()
        .expect("SqliteStore sweeps")
        .sweep()
        .await
        .expect("sweep");
    assert_eq!(swept, 2_500);
    let deletes: Vec<u64> = statements_on(table)
        .into_iter()
        .filter(|(sql, _)| sql.starts_with("DELETE"))
        .map(|(_, rows)| rows)
        .collect();
    assert_eq!(
        deletes,
        [1_000, 1_000, 500],
        "at most 1,000 rows per statement"
    );
    assert!(store.load(&live).await.expect("load").is_some());
}

#[tokio::test]
async fn every_statement_uses_its_index_among_100000_rows() {
    let dir = TempDir::new("explain");
    let table = "explain_probe";
    let store = open_table(&dir, table).await;
    // 100,000 sessions, 2% of them expired, one in ten signed in (as
    // 10,000 users); "ada" has 3 of them.
    let t = i64::try_from(now()).expect("ms");
    sqlx::query(&format!(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < 100000) \
         INSERT INTO \"{table}\" (key, data, created_at, renewed_at, expires_at, owner, handle) \
         SELECT randomblob(32), '{{\"n\":\"1\"}}', ?1, ?1, \
                CASE WHEN n % 50 = 0 THEN ?1 - n ELSE ?1 + 3600000 + n END, \
                CASE WHEN n % 10 = 0 THEN 'user' || (n / 10) WHEN n <= 3 THEN 'ada' END, \
                CASE WHEN n % 10 = 0 OR n <= 3 THEN lower(hex(randomblob(16))) END FROM i"
    ))
    .bind(t)
    .execute(store.pool())
    .await
    .expect("fill");
    sqlx::raw_sql("ANALYZE")
        .execute(store.pool())
        .await
        .expect("analyze");

    statements_on(table);
    sql_checks::every_statement(&store, [&key(42), &key(43)], 3).await;
    let sent = statements_on(table);
    let pk = format!("USING INDEX sqlite_autoindex_{table}_1 (key=?)");
    // "USING INDEX" or "USING COVERING INDEX".
    let expiry = format!("INDEX {table}_expires_at (expires_at<?)");
    let owner = format!("INDEX {table}_owner (owner=? AND expires_at>?)");
    let expected: [(&str, Vec<&str>); 7] = [
        ("SELECT handle", vec![&owner]),
        ("DELETE FROM \"explain_probe\" WHERE owner", vec![&owner]),
        ("SELECT data", vec![&pk]),
        ("UPDATE \"explain_probe\" SET data", vec![&pk]),
        ("UPDATE \"explain_probe\" SET key", vec![&pk]),
        ("DELETE FROM \"explain_probe\" WHERE key", vec![&pk]),
        (
            "DELETE FROM \"explain_probe\" WHERE rowid",
            vec!["USING INTEGER PRIMARY KEY (rowid=?)", &expiry],
        ),
    ];
    for (start, needles) in expected {
        let (sql, _) = sent
            .iter()
            .find(|(sql, _)| sql.starts_with(start))
            .unwrap_or_else(|| panic!("no statement starting {start:?} in {sent:?}"));
        let plan: Vec<String> = sqlx::raw_sql(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(store.pool())
            .await
            .expect("explain")
            .iter()
            .map(|row| row.get::<String, _>(3))
            .collect();
        let plan = plan.join("\n");
        println!("{sql}\n{plan}\n");
        for needle in needles {
            assert!(plan.contains(needle), "{sql}\nno longer {needle}:\n{plan}");
        }
        assert!(
            !plan
                .lines()
                .any(|l| l.starts_with(&format!("SCAN {table}"))),
            "{sql}\nscans the table:\n{plan}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_sweeper_sweeps_by_itself_and_ends_with_the_store() {
    let dir = TempDir::new("sweeper");
    let table = "sweeper_probe";
    let store = SqliteStore::builder()
        .table(table)
        .expect("valid")
        .sweep_every(Duration::from_millis(200))
        .open(dir.db())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let other = open_table(&dir, table).await;
    expired_rows(&other, table, 1_500).await;
    let count = || async {
        sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM \"{table}\""))
            .fetch_one(other.pool())
            .await
            .expect("count")
    };
    let started = Instant::now();
    while count().await > 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count().await,
        0,
        "the sweeper removed expired rows by itself"
    );
    drop(store);
    tokio::time::sleep(Duration::from_millis(100)).await;
    expired_rows(&other, table, 5).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(count().await, 5, "the sweeper ended with its store");
}

#[tokio::test]
async fn a_database_locked_past_busy_timeout_fails_the_call_instead_of_hanging() {
    let dir = TempDir::new("locked");
    let store = open(&dir).await;
    let t = now();
    let k = key(3);
    assert!(store
        .create(&k, &Record::new(SessionData::default(), t, t, t + 60_000))
        .await
        .expect("create"));
    // Another process holds the write lock.
    let mut other = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        dir.db().display()
    ))
    .await
    .expect("another connection");
    sqlx::raw_sql("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .expect("lock");
    // Readers still read (WAL)...
    assert!(store.load(&k).await.expect("a read under WAL").is_some());
    // ...writers give up after busy_timeout.
    let started = Instant::now();
    let err = store
        .update(&k, &Update::new(t + 60_000).set("a", "1"))
        .await
        .expect_err("the database is locked");
    let took = started.elapsed();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "failed after {took:?}"
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("unlock");
    assert!(store
        .update(&k, &Update::new(t + 60_000).set("a", "1"))
        .await
        .expect("works again"));
}
