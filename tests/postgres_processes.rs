//! Two servers, each with its own manager and its own pool, sharing one
//! PostgreSQL (env `POSTGRES_URL`, a scratch schema): what one does, the
//! other sees, as several server processes behind a load balancer need.
#![cfg(feature = "postgres")]

mod common;

use common::process_app::{
    counts_across, login_on_one_kills_the_old_id_on_the_other, serve_process,
};

use common::pg_env::Scratch;
use common::{browser, get_json};
use hyper_session::PgStore;
use serde_json::Value;

/// One "process": its own store, pool and manager.
async fn server(scratch: &Scratch) -> String {
    let store = PgStore::connect(&scratch.url()).await.expect("connect");
    store.migrate().await.expect("migrate");
    serve_process(store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_shared_by_two_processes_through_postgres() {
    let Some(scratch) = Scratch::new("processes").await else {
        return;
    };
    let a = server(&scratch).await;
    let b = server(&scratch).await;
    assert_ne!(a, b);

    let client = browser();
    counts_across(&client, &a, &b).await;

    // Login on B: known on A, under the new id.
    let login = get_json(&client, &format!("{b}/login")).await;
    assert_eq!(login["user"], "ada");
    let on_a = get_json(&client, &format!("{a}/")).await;
    assert_eq!(on_a["user"], "ada", "A knows the login made on B: {on_a}");
    assert_eq!(on_a["test_counter"], 3);

    // Logout on A ends the session on both.
    let out = get_json(&client, &format!("{a}/logout")).await;
    assert_eq!(out["test_counter"], 3, "the handler still saw the session");
    for server in [&a, &b] {
        let after = get_json(&client, &format!("{server}/")).await;
        assert_eq!(
            after["new"], true,
            "{server} no longer finds the session: {after}"
        );
        assert_eq!(after["user"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_login_on_one_process_the_old_id_finds_nothing_on_the_other() {
    let Some(scratch) = Scratch::new("cycle").await else {
        return;
    };
    let a = server(&scratch).await;
    let b = server(&scratch).await;

    login_on_one_kills_the_old_id_on_the_other(&a, &b).await;
}
