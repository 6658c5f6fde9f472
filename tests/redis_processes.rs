//! Two servers, each with its own manager and its own Redis connection,
//! sharing one Redis (env `REDIS_URL`): what one does, the other sees.
//! That is what several server processes behind a load balancer need.
#![cfg(feature = "redis")]

mod common;

use common::process_app::{
    counts_across, login_on_one_kills_the_old_id_on_the_other, serve_process,
};

use common::redis_env::{redis_url, unique_prefix};

use common::{browser, get_json};
use hyper_session::RedisStore;
use serde_json::Value;

/// One "process": its own manager over its own connection to Redis.
async fn server(url: &str, prefix: &str) -> String {
    let store = RedisStore::connect(url)
        .await
        .expect("connect")
        .with_prefix(prefix);
    serve_process(store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_shared_by_two_processes_through_redis() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("processes");
    let a = server(&url, &prefix).await;
    let b = server(&url, &prefix).await;
    assert_ne!(a, b);

    // Created on A, read and changed on B, then on A again. Both servers
    // are on 127.0.0.1, so the browser sends the cookie to both.
    let client = browser();
    counts_across(&client, &a, &b).await;
    assert_eq!(get_json(&client, &format!("{b}/")).await["test_counter"], 3);

    // A logout on B ends the session on A.
    let out = get_json(&client, &format!("{b}/logout")).await;
    assert_eq!(out["test_counter"], 3, "the handler still saw the session");
    let after = get_json(&client, &format!("{a}/")).await;
    assert_eq!(after["new"], true, "A no longer finds the session: {after}");
    assert_eq!(after["test_counter"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_login_on_one_process_the_old_id_finds_nothing_on_the_other() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("cycle");
    let a = server(&url, &prefix).await;
    let b = server(&url, &prefix).await;

    login_on_one_kills_the_old_id_on_the_other(&a, &b).await;
}
