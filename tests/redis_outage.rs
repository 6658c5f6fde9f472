//! The Redis store when Redis fails: a dead Redis answers 503 quickly and
//! the server recovers by itself once Redis is back; a killed connection is
//! replaced without a failed request; a failure is logged as an error event
//! that names the cause but never a session id.
//!
//! The tests that kill Redis start their own throwaway `redis-server` (it
//! must be on `PATH`) on a free loopback port, so the shared Redis at
//! `REDIS_URL` is never stopped.
#![cfg(feature = "redis")]

mod common;

use common::counter_server::{assert_503_fast, n, serially, serve_counter};
use common::redis_env::{free_port, redis_url, unique_prefix, Throwaway};

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::logs::Logs;
use common::{browser, cookie_value, plain};
use hyper_session::RedisStore;
use tracing::Level;

async fn server(url: &str, prefix: &str) -> String {
    let store = RedisStore::connect(url)
        .await
        .expect("connect")
        .with_prefix(prefix);
    serve_counter(store).await
}

#[test]
fn while_redis_is_down_requests_get_503_fast_and_work_again_once_it_is_back() {
    if redis_url().is_some() {
        serially(2, down_then_back());
    }
}

async fn down_then_back() {
    let port = free_port();
    let mut redis = Throwaway::start(port);
    let url = server(&format!("redis://127.0.0.1:{port}"), "outage:").await;
    let client = browser();
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 1);
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 2);

    redis.kill();
    let slowest = assert_503_fast(&url, &client).await;
    println!("slowest 503 while Redis was down: {slowest:?}");

    // Back on the same port, empty (no persistence). The hyper server was
    // not restarted; the first request already gets through, on a new
    // connection, and starts a new session since Redis forgot the old one.
    let _redis = Throwaway::start(port);
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 1);
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 2);
}

#[test]
fn a_hung_redis_fails_requests_within_the_timeouts_and_they_work_again_after() {
    if redis_url().is_some() {
        serially(2, hung_then_resumed());
    }
}

async fn hung_then_resumed() {
    let port = free_port();
    let redis = Throwaway::start(port);
    let url = server(&format!("redis://127.0.0.1:{port}"), "hung:").await;
    let client = browser();
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 1);

    redis.signal("-STOP");
    let mut slowest = Duration::ZERO;
    for attempt in 0..3 {
        let started = Instant::now();
        let response = client
            .get(&url)
            .send()
            .await
            .expect("a response, not a hang");
        let took = started.elapsed();
        assert_eq!(response.status(), 503, "attempt {attempt}");
        // The response timeout (1 s) or the manager's store timeout (2 s),
        // whichever comes first, with room for a slow machine.
        assert!(
            took < Duration::from_secs(4),
            "a hung Redis must not hold a request, took {took:?}"
        );
        slowest = slowest.max(took);
    }
    println!("slowest 503 while Redis hung: {slowest:?}");

    redis.signal("-CONT");
    let mut answered = Vec::new();
    for _ in 0..3 {
        answered.push(client.get(&url).send().await.expect("request").status());
    }
    println!("statuses after Redis resumed: {answered:?}");
    assert!(
        answered.iter().all(|s| *s == 200),
        "requests work again once Redis answers: {answered:?}"
    );
}

/// Runs `redis-cli -u url args...` and returns what it printed.
fn cli(url: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-u")
        .arg(url)
        .args(args)
        .output()
        .expect("redis-cli must be on PATH");
    assert!(out.status.success(), "redis-cli {args:?} failed");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Ids of the ordinary client connections, not counting redis-cli's own.
fn client_ids(url: &str) -> BTreeSet<u64> {
    cli(url, &["CLIENT", "LIST", "TYPE", "normal"])
        .lines()
        .filter(|line| !line.contains(" cmd=client"))
        .filter_map(|line| {
            line.split(' ')
                .find_map(|field| field.strip_prefix("id="))
                .and_then(|id| id.parse().ok())
        })
        .collect()
}

#[test]
fn a_killed_connection_is_replaced_and_no_request_fails() {
    if let Some(redis) = redis_url() {
        serially(2, killed_connection(redis));
    }
}

async fn killed_connection(redis: String) {
    let before = client_ids(&redis);
    let url = server(&redis, &unique_prefix("killed")).await;
    let ours: Vec<u64> = client_ids(&redis).difference(&before).copied().collect();
    assert!(
        !ours.is_empty(),
        "the store's connection shows in CLIENT LIST"
    );

    let client = browser();
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 1);
    for id in &ours {
        cli(&redis, &["CLIENT", "KILL", "ID", &id.to_string()]);
    }
    let now = client_ids(&redis);
    assert!(
        ours.iter().all(|id| !now.contains(id)),
        "the store's connection was killed"
    );

    // The first request finds the connection dead; the store retries it
    // once on a new connection, so it succeeds: no 503 at all.
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 2);
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 3);
    let replaced: Vec<u64> = client_ids(&redis).difference(&now).copied().collect();
    assert!(
        !replaced.is_empty(),
        "a new connection replaced the killed one"
    );
}

#[test]
fn a_store_failure_is_an_error_event_naming_the_cause_and_no_session_id() {
    if redis_url().is_some() {
        // One thread: the server's tasks run on it, so the thread's
        // capturing subscriber sees their events.
        serially(1, store_failure_logs());
    }
}

async fn store_failure_logs() {
    let (logs, _guard) = Logs::capture();

    let port = free_port();
    let mut redis = Throwaway::start(port);
    let url = server(&format!("redis://127.0.0.1:{port}"), "logs:").await;
    let first = plain().get(&url).send().await.expect("request");
    let value = cookie_value(&first, "sid").expect("a new session sets the cookie");
    assert_eq!(n(first).await, 1);
    let again = plain()
        .get(&url)
        .header("cookie", format!("sid={value}"))
        .send()
        .await
        .expect("request");
    assert_eq!(n(again).await, 2);

    redis.kill();
    let failed = plain()
        .get(&url)
        .header("cookie", format!("sid={value}"))
        .send()
        .await
        .expect("a response");
    assert_eq!(failed.status(), 503);

    let text = logs.all_text();
    assert!(
        logs.events().iter().any(|e| e.level == Level::ERROR
            && e.text.contains("could not be loaded or saved")
            && e.text.contains("Redis")),
        "an error event names the store failure and its cause: {text}"
    );
    assert!(
        logs.any(Level::DEBUG, "session loaded"),
        "the subscriber saw the request path's events: {text}"
    );
    let (id, tag) = value.split_once('.').expect("id.tag");
    assert!(
        !text.contains(id) && !text.contains(tag),
        "no event may hold the session id or its tag: {text}"
    );
}
