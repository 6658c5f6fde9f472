//! `examples/app.rs` on a SQLite file: a signed-in user is still signed in
//! after the server restarts (the example's own `main`, run twice in child
//! processes with the same `SESSION_STORE` and `SESSION_SECRET`); and a
//! database that another process keeps locked gives 503, not a hang.
#![cfg(feature = "sqlite")]

mod common;

use common::app_process::AppProcess;
use common::counter_server::serve_counter;
use common::temp_dir::TempDir;

// The example brings its own copy of `support`, as `common` does.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/app.rs"]
mod app;

use std::time::{Duration, Instant};

use common::{browser, plain};
use hyper_session::sqlx::{self, Connection as _};
use hyper_session::SqliteStore;
use serde_json::{json, Value};

app_main_in_a_child_process!();

/// Sends `request`, expects 200, and returns the JSON body.
async fn body(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("a response");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[tokio::test]
async fn a_signed_in_user_is_still_signed_in_after_the_app_restarts() {
    let dir = TempDir::new("restart");
    let db = dir.db();
    let store = format!("sqlite://{}", db.display());
    let addr = format!("127.0.0.1:{}", common::redis_env::free_port());
    let base = format!("http://{addr}");
    // A browser that keeps cookies but no connection: the server it was
    // connected to is gone after the restart.
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");

    let first = AppProcess::start(&store, &addr);
    assert!(db.exists(), "the database file is created at start-up");
    assert_eq!(
        body(client.post(format!("{base}/login?user=ada"))).await,
        json!({ "user": "ada" })
    );
    assert_eq!(
        body(client.get(format!("{base}/session_test"))).await,
        json!({ "test_counter": 1 })
    );
    drop(first);

    let _second = AppProcess::start(&store, &addr);
    assert_eq!(
        body(client.get(format!("{base}/me"))).await,
        json!({ "user": "ada" }),
        "still signed in after the restart"
    );
    assert_eq!(
        body(client.get(format!("{base}/session_test"))).await,
        json!({ "test_counter": 2 })
    );
    body(client.post(format!("{base}/logout"))).await;
    assert_eq!(
        body(client.get(format!("{base}/me"))).await,
        json!({ "user": null })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_past_busy_timeout_gives_503_not_a_hang() {
    let dir = TempDir::new("locked");
    let url = format!("sqlite://{}", dir.db().display());
    let store = SqliteStore::connect(&url).await.expect("open");
    store.migrate().await.expect("migrate");
    let base = serve_counter(store).await;
    let client = browser();
    assert_eq!(body(client.get(&base)).await, json!({ "n": 1 }));

    // Another process takes the write lock and keeps it.
    let mut other = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    sqlx::raw_sql("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .expect("lock");
    for c in [&client, &plain()] {
        let started = Instant::now();
        let response = c.get(&base).send().await.expect("a response, not a hang");
        let took = started.elapsed();
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        assert!(took < Duration::from_secs(3), "took {took:?}");
    }
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("unlock");
    assert_eq!(body(client.get(&base)).await, json!({ "n": 2 }));
}
