//! The shared store conformance suite against a real PostgreSQL (env
//! `POSTGRES_URL`), and what is particular to the PostgreSQL store: its
//! round trips, its indexes, its sweeper, corrupt rows. Every test works
//! in a scratch schema of its own, dropped at the end.
#![cfg(all(feature = "postgres", feature = "conformance"))]

#[allow(dead_code)]
#[path = "shared/steps.rs"]
mod steps;

#[path = "../../tests/common/pg_env.rs"]
mod pg_env;
#[path = "../../tests/common/pg_proxy.rs"]
mod pg_proxy;

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, COOKIE};
use hyper_session::sqlx::{self, Executor as _, Row as _};
use hyper_session::store::{Record, SessionData, SessionStore};
use hyper_session::{PgStore, SessionConfig, Sessions, StoreKey};

#[path = "shared/sql_checks.rs"]
mod sql_checks;
use pg_env::Scratch;
use pg_proxy::{Exchange, PgProxy};

const CONFIG: SessionConfig = SessionConfig::DEFAULT;

fn now() -> u64 {
    u64::try_from(std::time::UNIX_EPOCH.elapsed().expect("clock").as_millis()).expect("ms")
}

/// A migrated store without background sweeper on `pool`.
async fn store_on(pool: sqlx::PgPool) -> PgStore {
    let store = PgStore::builder().no_background_sweep().pool(pool);
    store.migrate().await.expect("migrate");
    store
}

fn manager(store: PgStore) -> Sessions {
    Sessions::builder()
        .secret("postgres store test secret, long enough!")
        .store(store)
        .build()
        .expect("valid manager")
}

fn cookie_header(set_cookie: &HeaderValue) -> HeaderMap {
    let text = set_cookie.to_str().expect("ascii Set-Cookie");
    let pair = text.split(';').next().expect("name=value");
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(pair).expect("cookie pair"));
    headers
}

fn key(n: u32) -> StoreKey {
    let mut bytes = [0x5a; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    StoreKey::from_bytes(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    let Some(scratch) = Scratch::new("conformance").await else {
        return;
    };
    let store = PgStore::connect(&scratch.url()).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrate is idempotent");
    assert!(store.is_shared(), "PostgreSQL is shared between processes");
    assert_eq!(store.table(), PgStore::DEFAULT_TABLE);
    hyper_session::conformance::run(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_pairs_of_commits_lose_nothing() {
    let Some(scratch) = Scratch::new("pairs").await else {
        return;
    };
    let store = store_on(scratch.pool(16).await).await;
    hyper_session::conformance::concurrent_pairs(Arc::new(store), 1_000).await;
}

#[tokio::test]
async fn the_table_has_the_schema_of_the_docs_and_its_name_is_checked() {
    let Some(scratch) = Scratch::new("schema").await else {
        return;
    };
    for bad in ["Sessions", "s; DROP TABLE x", "a.b", ""] {
        assert!(PgStore::builder().table(bad).is_err(), "{bad}");
    }
    let pool = scratch.pool(2).await;
    let store = PgStore::builder()
        .table("order")
        .expect("a reserved word is fine: the name is quoted")
        .no_background_sweep()
        .pool(pool.clone());
    store.migrate().await.expect("migrate");
    assert_eq!(store.table(), "order");
    assert!(store
        .migration_sql()
        .contains("CREATE TABLE IF NOT EXISTS \"order\""));
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'order' ORDER BY ordinal_position",
    )
    .fetch_all(&pool)
    .await
    .expect("columns");
    let expected = [
        ("key", "bytea", "NO"),
        ("data", "text", "NO"),
        ("created_at", "bigint", "NO"),
        ("renewed_at", "bigint", "NO"),
        ("expires_at", "bigint", "NO"),
        ("owner", "text", "YES"),
        ("handle", "text", "YES"),
        ("label", "text", "YES"),
        ("seen_at", "bigint", "YES"),
    ];
    let got: Vec<(&str, &str, &str)> = columns
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(got, expected);
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'order' ORDER BY indexname",
    )
    .fetch_all(&pool)
    .await
    .expect("indexes");
    let all = indexes.join("\n");
    for part in [
        "UNIQUE INDEX order_pkey ON",
        "INDEX order_expires_at ON",
        "(expires_at)",
        "INDEX order_owner ON",
        "(owner, expires_at) WHERE (owner IS NOT NULL)",
    ] {
        assert!(all.contains(part), "{part} missing from\n{all}");
    }
}

#[tokio::test]
async fn any_json_value_round_trips_exactly() {
    let Some(scratch) = Scratch::new("json").await else {
        return;
    };
    let store = store_on(scratch.pool(2).await).await;
    sql_checks::any_json_value_round_trips(&store, &key(1)).await;
}

#[tokio::test]
async fn corrupt_rows_are_store_errors_that_name_the_session_and_leak_nothing() {
    let Some(scratch) = Scratch::new("corrupt").await else {
        return;
    };
    let pool = scratch.pool(2).await;
    let store = store_on(pool.clone()).await;
    let sessions = manager(store.clone());
    let t = now();
    let good = key(7);
    let data = sql_checks::a_good_session(&store, &good, t).await;
    let (bad_json, negative) = (key(8), key(9));
    let insert = "INSERT INTO hyper_sessions (key, data, created_at, renewed_at, expires_at) \
                  VALUES ($1, $2, $3, $3, $4)";
    for (k, data, expires) in [(&bad_json, "{not json", i64::MAX), (&negative, "{}", -5)] {
        sqlx::query(insert)
            .bind(k.as_bytes().as_slice())
            .bind(data)
            .bind(i64::try_from(t).expect("ms"))
            .bind(expires)
            .execute(&pool)
            .await
            .expect("insert a corrupt row");
    }
    sql_checks::corrupt_rows_are_errors(&store, [&good, &bad_json, &negative], data, t).await;
    let _ = sessions;
}

#[tokio::test]
async fn one_statement_and_one_round_trip_per_load_and_per_commit() {
    let Some(scratch) = Scratch::new("round_trips").await else {
        return;
    };
    let proxy = PgProxy::start(scratch.upstream());
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect(&scratch.url_via(Some(proxy.addr)))
        .await
        .expect("connect through the proxy");
    let store = store_on(pool).await;
    let sessions = manager(store);
    // Let sqlx's pool return a connection (it checks it with a bare Sync
    // after every use, off the request's path) before counting.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Warm up: sqlx prepares each statement once per connection.
    for _ in 0..2 {
        let c = steps::create(
            &sessions,
            &CONFIG,
            &[("n", serde_json::json!(1)), ("gone", serde_json::json!(1))],
        )
        .await;
        steps::write(&sessions, &CONFIG, &c, "n", serde_json::json!(2)).await;
        let mut s = sessions.load(&CONFIG, &c).await.expect("load");
        s.cycle_id();
        let c = cookie_header(
            &sessions
                .commit(&CONFIG, s)
                .await
                .expect("commit")
                .expect("cookie"),
        );
        let mut s = sessions.load(&CONFIG, &c).await.expect("load");
        s.destroy();
        sessions.commit(&CONFIG, s).await.expect("commit");
    }
    settle().await;
    proxy.take();

    let one = |tag: &str| {
        vec![Exchange {
            statements: 1,
            tags: vec![tag.to_owned()],
        }]
    };

    // No cookie, nothing stored: no statement.
    let s = sessions
        .load(&CONFIG, &HeaderMap::new())
        .await
        .expect("load");
    assert_eq!(sessions.commit(&CONFIG, s).await.expect("commit"), None);
    settle().await;
    assert_eq!(proxy.take(), [], "a visitor who stores nothing");

    let cookie = hyper_session::__bench::first_visit(&sessions, &CONFIG, &[("n", 1), ("gone", 1)])
        .await
        .expect("commit")
        .expect("cookie");
    settle().await;
    let exchanges = proxy.take();
    assert_eq!(
        exchanges
            .iter()
            .filter(|e| e.statements > 0)
            .cloned()
            .collect::<Vec<_>>(),
        one("INSERT 0 1"),
        "a new session: one INSERT"
    );
    assert!(
        exchanges.len() <= 2,
        "at most sqlx's release check besides: {exchanges:?}"
    );

    let mut s = sessions.load(&CONFIG, &cookie).await.expect("load");
    settle().await;
    assert_eq!(proxy.take_statements(), one("SELECT 1"), "a load");
    s.insert("n", 2).expect("insert");
    assert!(s.remove("gone"));
    sessions.commit(&CONFIG, s).await.expect("commit");
    settle().await;
    assert_eq!(
        proxy.take_statements(),
        one("UPDATE 1"),
        "a commit of changes"
    );

    let s = sessions.load(&CONFIG, &cookie).await.expect("load");
    assert_eq!(s.get::<u64>("n").expect("type"), Some(2));
    assert_eq!(s.get::<u64>("gone").expect("type"), None);
    sessions.commit(&CONFIG, s).await.expect("commit");
    settle().await;
    assert_eq!(
        proxy.take_statements(),
        one("SELECT 1"),
        "an untouched session writes nothing"
    );

    let cycled = steps::cycle(&sessions, &CONFIG, &cookie).await;
    settle().await;
    let mut expected = one("SELECT 1");
    expected.extend(one("UPDATE 1"));
    assert_eq!(
        proxy.take_statements(),
        expected,
        "cycle_id: one UPDATE moves the row"
    );

    steps::destroy(&sessions, &CONFIG, &cycled).await;
    settle().await;
    let mut expected = one("SELECT 1");
    expected.extend(one("DELETE 1"));
    assert_eq!(proxy.take_statements(), expected, "destroy: one DELETE");

    // Every exchange with a statement had exactly one: none was pipelined
    // behind another, so statements are round trips.
    let raw = proxy.take();
    assert!(raw.iter().all(|e| e.statements <= 1), "{raw:?}");
}

/// Runs `PREPARE` + `EXPLAIN EXECUTE` for `sql` (the text the store sent)
/// and returns the plan. Plain simple-protocol queries, so that sqlx's own
/// prepared statements on the connection are left alone.
async fn explain(conn: &mut sqlx::PgConnection, sql: &str, args: &str) -> String {
    sqlx::raw_sql(&format!("PREPARE probe AS {sql}"))
        .execute(&mut *conn)
        .await
        .expect("prepare");
    let rows = sqlx::raw_sql(&format!("EXPLAIN EXECUTE probe({args})"))
        .fetch_all(&mut *conn)
        .await
        .expect("explain");
    sqlx::raw_sql("DEALLOCATE probe")
        .execute(&mut *conn)
        .await
        .expect("deallocate");
    rows.iter()
        .map(|r| r.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn every_statement_uses_its_index_among_100000_rows() {
    let Some(scratch) = Scratch::new("explain").await else {
        return;
    };
    let pool = scratch.pool(2).await;
    let store = store_on(pool.clone()).await;
    // 100,000 sessions, 2% of them expired (a sweep finds few among many),
    // one in ten signed in (as 10,000 users); "ada" has 3 of them.
    let t = i64::try_from(now()).expect("ms");
    sqlx::query(
        "INSERT INTO hyper_sessions (key, data, created_at, renewed_at, expires_at, owner, handle) \
         SELECT sha256(i::text::bytea), '{\"n\":\"1\"}', $1, $1, \
                CASE WHEN i % 50 = 0 THEN $1 - i ELSE $1 + 3600000 + i END, \
                CASE WHEN i % 10 = 0 THEN 'user' || (i / 10) WHEN i <= 3 THEN 'ada' END, \
                CASE WHEN i % 10 = 0 OR i <= 3 THEN md5(i::text) END \
         FROM generate_series(1, 100000) AS i",
    )
    .bind(t)
    .execute(&pool)
    .await
    .expect("fill");
    pool.execute("ANALYZE hyper_sessions")
        .await
        .expect("analyze");

    // The statements the store really sends: on a pool of one connection,
    // each is left prepared (by sqlx) in pg_prepared_statements.
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(scratch.options())
        .await
        .expect("connect");
    let probe = PgStore::builder().no_background_sweep().pool(one.clone());
    sql_checks::every_statement(&probe, [&key(42), &key(43)], 3).await;
    let mut conn = one.acquire().await.expect("the one connection");
    let texts: Vec<String> =
        sqlx::query_scalar("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'sqlx%'")
            .fetch_all(&mut *conn)
            .await
            .expect("the connection's prepared statements");
    let find = |start: &str| -> String {
        texts
            .iter()
            .find(|t| t.starts_with(start))
            .unwrap_or_else(|| panic!("no statement starting {start:?} in {texts:?}"))
            .clone()
    };
    let pkey = "hyper_sessions_pkey";
    let key_arg = format!("'\\x{}'::bytea", "5a".repeat(32));
    let checks = [
        (find("SELECT data"), key_arg.clone(), vec![pkey]),
        (
            find("UPDATE \"hyper_sessions\" SET data"),
            format!("{key_arg}, '{{}}', 1, NULL, 1, 1, false, NULL, NULL, NULL"),
            vec![pkey],
        ),
        (
            find("UPDATE \"hyper_sessions\" SET key"),
            format!("{key_arg}, NULL, 1, 1, 1, 1, false, NULL, NULL, NULL, '\\x00'::bytea"),
            vec![pkey],
        ),
        (
            find("SELECT handle"),
            format!("'ada', {t}"),
            vec!["hyper_sessions_owner"],
        ),
        (
            find("DELETE FROM \"hyper_sessions\" WHERE owner"),
            format!("'ada', {t}, NULL, NULL"),
            vec!["hyper_sessions_owner"],
        ),
        (
            find("DELETE FROM \"hyper_sessions\" WHERE key"),
            key_arg.clone(),
            vec![pkey],
        ),
        (
            find("DELETE FROM \"hyper_sessions\" WHERE (SELECT pg_try"),
            t.to_string(),
            vec!["hyper_sessions_expires_at", pkey],
        ),
    ];
    for mode in ["auto", "force_generic_plan"] {
        sqlx::raw_sql(&format!("SET plan_cache_mode = {mode}"))
            .execute(&mut *conn)
            .await
            .expect("set");
        for (sql, args, indexes) in &checks {
            let plan = explain(&mut conn, sql, args).await;
            println!("{mode}: {sql}\n{plan}\n");
            for index in indexes {
                // "Index Scan using X", "Bitmap Index Scan on X", ...
                let uses = plan
                    .lines()
                    .any(|line| line.contains("Index") && line.contains(*index));
                assert!(uses, "{mode}: {sql}\nno longer uses {index}:\n{plan}");
            }
            assert!(
                !plan.contains("Seq Scan"),
                "{mode}: {sql}\nscans the table:\n{plan}"
            );
        }
    }
    drop(conn);
    drop(probe);
    one.close().await;
    let _ = store;
}

/// The command tags of the sweep's statements, through a proxy.
fn deleted_per_statement(exchanges: &[Exchange]) -> Vec<u64> {
    exchanges
        .iter()
        .flat_map(|e| &e.tags)
        .filter_map(|tag| tag.strip_prefix("DELETE "))
        .map(|n| n.parse().expect("a row count"))
        .collect()
}

/// Inserts `n` sessions that expired a minute ago, directly.
async fn expired_rows(pool: &sqlx::PgPool, n: i32) {
    let t = i64::try_from(now()).expect("ms");
    sqlx::query(
        "INSERT INTO hyper_sessions (key, data, created_at, renewed_at, expires_at) \
         SELECT sha256(('dead' || i)::bytea), '{}', $1 - 120000, $1 - 120000, $1 - 60000 \
         FROM generate_series(1, $2) AS i",
    )
    .bind(t)
    .bind(n)
    .execute(pool)
    .await
    .expect("insert expired rows");
}

async fn rows(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM hyper_sessions")
        .fetch_one(pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn a_sweep_deletes_at_most_1000_rows_per_statement_and_keeps_live_sessions() {
    let Some(scratch) = Scratch::new("sweep_batch").await else {
        return;
    };
    let pool = scratch.pool(2).await;
    store_on(pool.clone()).await;
    expired_rows(&pool, 2_500).await;
    let t = now();
    let live = key(1);
    let proxy = PgProxy::start(scratch.upstream());
    let through = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&scratch.url_via(Some(proxy.addr)))
        .await
        .expect("connect through the proxy");
    let store = PgStore::builder().no_background_sweep().pool(through);
    assert!(store
        .create(
            &live,
            &Record::new(SessionData::default(), t, t, t + 60_000)
        )
        .await
        .expect("create"));
    proxy.take();
    let swept = store
        .capabilities()
        .sweep()
        .expect("PgStore sweeps")
        .sweep()
        .await
        .expect("sweep");
    assert_eq!(swept, 2_500);
    let per_statement = deleted_per_statement(&proxy.take());
    assert_eq!(
        per_statement,
        [1_000, 1_000, 500],
        "each sweep statement deletes at most 1,000 rows"
    );
    assert_eq!(rows(&pool).await, 1, "the live session stays");
    assert!(store.load(&live).await.expect("load").is_some());
}

#[tokio::test]
async fn only_one_process_sweeps_a_table_at_a_time() {
    let Some(scratch) = Scratch::new("sweep_lock").await else {
        return;
    };
    let pool = scratch.pool(4).await;
    let store = store_on(pool.clone()).await;
    expired_rows(&pool, 10).await;
    // Another process is sweeping: it holds the table's sweep lock.
    let mut other = pool.acquire().await.expect("conn");
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1, 'hyper_sessions'::regclass::oid::int)")
            .bind(PgStore::SWEEP_LOCK_CLASS)
            .fetch_one(&mut *other)
            .await
            .expect("lock");
    assert!(locked);
    let sweep = store.capabilities().sweep().expect("sweep");
    assert_eq!(
        sweep.sweep().await.expect("sweep"),
        0,
        "the lock is taken: no sweep"
    );
    assert_eq!(rows(&pool).await, 10);
    let _: bool =
        sqlx::query_scalar("SELECT pg_advisory_unlock($1, 'hyper_sessions'::regclass::oid::int)")
            .bind(PgStore::SWEEP_LOCK_CLASS)
            .fetch_one(&mut *other)
            .await
            .expect("unlock");
    assert_eq!(sweep.sweep().await.expect("sweep"), 10);
    assert_eq!(rows(&pool).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_sweeper_sweeps_by_itself_and_ends_with_the_store() {
    let Some(scratch) = Scratch::new("sweeper").await else {
        return;
    };
    let pool = scratch.pool(4).await;
    let store = PgStore::builder()
        .sweep_every(Duration::from_millis(200))
        .pool(pool.clone());
    store.migrate().await.expect("migrate");
    expired_rows(&pool, 1_500).await;
    let mut left = rows(&pool).await;
    for _ in 0..50 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = rows(&pool).await;
    }
    assert_eq!(
        left, 0,
        "the sweeper removed expired rows without any request"
    );

    drop(store);
    tokio::time::sleep(Duration::from_millis(100)).await;
    expired_rows(&pool, 5).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rows(&pool).await, 5, "the sweeper ended with its store");
}

#[tokio::test]
async fn store_url_opens_postgres_and_creates_the_table() {
    let Some(scratch) = Scratch::new("store_url").await else {
        return;
    };
    for scheme in ["postgres", "postgresql"] {
        let url = scratch.url();
        let (_, rest) = url.split_once("://").expect("a URL");
        let url = format!("{scheme}://{rest}");
        let sessions = Sessions::builder()
            .secret("postgres store test secret, long enough!")
            .store_url(&url)
            .await
            .expect("store_url")
            .build()
            .expect("build");
        let cookie = steps::create(&sessions, &CONFIG, &[("n", serde_json::json!(1))]).await;
        let s = sessions.load(&CONFIG, &cookie).await.expect("load");
        assert_eq!(s.get::<u64>("n").expect("type"), Some(1), "{scheme}");
    }
    let err = Sessions::builder()
        .store_url(&scratch.url())
        .await
        .expect("store_url")
        .build()
        .expect_err("a shared store needs a secret");
    assert!(err.to_string().contains("secret"), "{err}");
}

/// A commit that changes the data but not the expiry (a write before the
/// refresh is due) touches no indexed column, so PostgreSQL updates the
/// row in place: a HOT update, with no index entry written.
#[tokio::test]
async fn commits_between_expiry_refreshes_are_hot_updates() {
    let Some(scratch) = Scratch::new("hot").await else {
        return;
    };
    let pool = scratch.pool(2).await;
    let sessions = manager(store_on(pool.clone()).await);
    let cookie = steps::create(&sessions, &CONFIG, &[("n", serde_json::json!(0))]).await;
    for n in 1..=20 {
        steps::write(&sessions, &CONFIG, &cookie, "n", serde_json::json!(n)).await;
    }
    // The counters reach the statistics view within a second or so.
    let started = std::time::Instant::now();
    let (updates, hot) = loop {
        let (updates, hot): (i64, i64) = sqlx::query_as(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname = 'hyper_sessions'",
        )
        .fetch_one(&pool)
        .await
        .expect("table statistics");
        if updates >= 20 || started.elapsed() > Duration::from_secs(10) {
            break (updates, hot);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(updates >= 20, "20 commits: {updates} updates counted");
    assert!(
        hot >= 19,
        "{hot} of {updates} updates were HOT: a commit between refreshes must leave the indexed expiry alone"
    );
}
