//! Sweeps 1,000,000 expired sessions and reports how long each sweep
//! statement took: the longest and the 99th percentile matter, since a
//! request that touches the table while a statement runs may wait behind
//! it. A report, not a timed test.
//!
//! ```text
//! POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p hyper-session --features postgres,sqlite --bench sweep
//! ```
//!
//! SQLite always runs (a file in a temp directory, removed after);
//! PostgreSQL when `POSTGRES_URL` is set, in a scratch schema that is
//! dropped after. `ROWS` changes the number of expired rows.

use std::str::FromStr;
use std::time::{Duration, Instant};

use hyper_session::sqlx;
use hyper_session::store::SessionStore;
use hyper_session::{PgStore, SqliteStore};

#[path = "../tests/shared/sqlx_log.rs"]
mod sqlx_log;

fn now_ms() -> i64 {
    i64::try_from(std::time::UNIX_EPOCH.elapsed().expect("clock").as_millis()).expect("ms")
}

async fn sweep_and_report(name: &str, store: &impl SessionStore, rows: u64, filled: Duration) {
    sqlx_log::take();
    let started = Instant::now();
    let swept = store
        .capabilities()
        .sweep()
        .expect("the store sweeps")
        .sweep()
        .await
        .expect("sweep");
    let total = started.elapsed();
    let mut times: Vec<Duration> = sqlx_log::take()
        .into_iter()
        .filter(|s| s.summary.starts_with("DELETE"))
        .map(|s| s.took)
        .collect();
    assert_eq!(swept, rows, "{name}: every expired row swept");
    times.sort();
    let n = times.len();
    let p = |q: f64| times[((n as f64 * q).ceil() as usize).clamp(1, n) - 1];
    println!(
        "{name:<10} rows={rows} filled_in={:.1}s swept_in={:.2}s statements={n} \
         p50={:.2}ms p99={:.2}ms max={:.2}ms",
        filled.as_secs_f64(),
        total.as_secs_f64(),
        p(0.50).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        times[n - 1].as_secs_f64() * 1e3,
    );
}

async fn postgres(url: &str, rows: u64) {
    let schema = format!("hs_bench_sweep_{}", std::process::id());
    let admin = sqlx::PgPool::connect(url)
        .await
        .expect("PostgreSQL answers");
    sqlx::raw_sql(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&admin)
        .await
        .expect("create schema");
    let options = sqlx::postgres::PgConnectOptions::from_str(url)
        .expect("valid URL")
        .options([("search_path", schema.as_str())]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .expect("connect");
    let store = PgStore::builder().no_background_sweep().pool(pool.clone());
    store.migrate().await.expect("migrate");
    let started = Instant::now();
    let t = now_ms();
    sqlx::query(
        "INSERT INTO hyper_sessions (key, data, created_at, renewed_at, expires_at) \
         SELECT sha256(i::text::bytea), '{\"user\":\"\\\"someone\\\"\"}', $1 - 7200000, \
                $1 - 7200000, $1 - 1 - (i % 3600000) \
         FROM generate_series(1, $2::bigint) AS i",
    )
    .bind(t)
    .bind(i64::try_from(rows).expect("rows"))
    .execute(&pool)
    .await
    .expect("fill");
    sqlx::raw_sql("ANALYZE hyper_sessions")
        .execute(&pool)
        .await
        .expect("analyze");
    let filled = started.elapsed();
    sweep_and_report("postgres", &store, rows, filled).await;
    drop(store);
    pool.close().await;
    sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&admin)
        .await
        .expect("drop schema");
}

async fn sqlite(rows: u64) {
    let dir =
        std::env::temp_dir().join(format!("hyper-session-bench-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = SqliteStore::builder()
        .no_background_sweep()
        .open(dir.join("sessions.db"))
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let started = Instant::now();
    sqlx::query(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?1) \
         INSERT INTO hyper_sessions (key, data, created_at, renewed_at, expires_at) \
         SELECT randomblob(32), '{\"user\":\"\\\"someone\\\"\"}', ?2 - 7200000, ?2 - 7200000, \
                ?2 - 1 - (n % 3600000) FROM i",
    )
    .bind(i64::try_from(rows).expect("rows"))
    .bind(now_ms())
    .execute(store.pool())
    .await
    .expect("fill");
    let filled = started.elapsed();
    sweep_and_report("sqlite", &store, rows, filled).await;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    sqlx_log::take(); // starts the log
    let rows: u64 = std::env::var("ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        match std::env::var("POSTGRES_URL") {
            Ok(url) if !url.is_empty() => postgres(&url, rows).await,
            _ => println!("postgres: skipped (POSTGRES_URL not set)"),
        }
        sqlite(rows).await;
    });
}
