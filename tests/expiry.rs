//! Server-enforced expiry over a real server: idle and absolute
//! timeouts, reads as activity, replayed cookies.

mod common;

#[allow(unused_imports)]
use common::lifecycle::*;
use common::{browser, cookie_value, plain};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn an_idle_session_ends_and_a_replayed_cookie_finds_nothing() {
    let store = Arc::new(Switchable::default());
    let url = format!("{}/idle", start(manager(&store, SECRET, None)).await);
    let first = plain().get(&url).send().await.expect("request");
    let cookie = format!("sid={}", cookie_value(&first, "sid").expect("a cookie"));
    assert_eq!(
        body(with_cookie(&url, &cookie).send().await.expect("request")).await["n"],
        2
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let replay = with_cookie(&url, &cookie).send().await.expect("request");
    let renewed = cookie_value(&replay, "sid").expect("a fresh session gets a new cookie");
    assert_ne!(
        format!("sid={renewed}"),
        cookie,
        "a new id, not the expired one"
    );
    assert_eq!(
        body(replay).await["n"],
        1,
        "the expired session's data is gone"
    );
}

#[tokio::test]
async fn reads_keep_a_session_alive_without_a_write_per_read() {
    let store = Arc::new(Switchable::default());
    let m = manager(&store, SECRET, None);
    let base = start(m).await;
    let client = browser();
    let url = format!("{base}/idle_read");
    get(&client, &url).await; // creates the session
    let first = get(&client, &url).await;
    let writes_after_first = store.writes.load(Ordering::SeqCst);
    let again = get(&client, &url).await;
    assert_eq!(
        again["expires"], first["expires"],
        "a read right after a refresh does not rewrite"
    );
    assert_eq!(
        store.writes.load(Ordering::SeqCst),
        writes_after_first,
        "no store write for that read"
    );
    // Read every 0.7 s for 3 s: longer than the 2 s idle timeout in total.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let now = get(&client, &url).await;
        assert_eq!(now["n"], 1, "a reader is not logged out: {now}");
    }
    let later = get(&client, &url).await;
    assert!(
        later["expires"].as_u64() > first["expires"].as_u64(),
        "reads moved the expiry out"
    );
    assert!(
        store.writes.load(Ordering::SeqCst) - writes_after_first <= 5,
        "at most one write per quarter window"
    );
}

#[tokio::test]
async fn the_absolute_timeout_ends_even_an_active_session() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let client = browser();
    let url = format!("{base}/absolute_read");
    get(&client, &url).await; // creates the session
    let created = std::time::Instant::now();
    // Read every 0.2 s, well inside the 1 s idle window, until the session
    // ends: that must be the 2 s absolute limit.
    let ended = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if get(&client, &url).await["new"] == true {
            break created.elapsed();
        }
        assert!(
            created.elapsed() < Duration::from_secs(5),
            "the session outlived its absolute timeout"
        );
    };
    assert!(
        ended >= Duration::from_millis(1800),
        "ended after {ended:?}, before the 2 s limit"
    );
    // Not racing the sweeper: whatever it did, after a purge only the
    // fresh session is left.
    store.inner.purge_expired();
    assert_eq!(
        store.inner.len(),
        1,
        "the ended session is not served again"
    );
}

#[tokio::test]
async fn a_stricter_absolute_timeout_ends_a_session_created_under_a_longer_one() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let client = browser();
    // Created by a handler with the default 7-day limit: its stored expiry
    // is a day away, so only the reading handler's own limit can end it.
    assert_eq!(get(&client, &format!("{base}/count")).await["n"], 1);
    assert_eq!(
        get(&client, &format!("{base}/absolute_read")).await["new"],
        false
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        get(&client, &format!("{base}/absolute_read")).await["new"],
        true,
        "a handler with absolute_timeout = 2 must not serve a session created 2 s ago"
    );
}
