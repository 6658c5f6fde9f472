//! The PostgreSQL store when the network to PostgreSQL is cut (a TCP proxy
//! closes every connection and refuses new ones): requests get 503 with
//! `Retry-After` quickly, nothing panics, and the first request after the
//! network is back works, with the session intact, without a restart.
#![cfg(feature = "postgres")]

mod common;

use common::counter_server::{n, serve_counter};

use std::time::{Duration, Instant};

use common::pg_env::Scratch;
use common::pg_proxy::PgProxy;
use common::{browser, plain};
use hyper_session::PgStore;

/// The counter on a PostgreSQL store that reaches PostgreSQL through a
/// proxy the test can cut, with several connections open in its pool
/// (all of which a cut kills).
async fn counter_behind_a_proxy(scratch: &Scratch) -> (PgProxy, String) {
    let proxy = PgProxy::start(scratch.upstream());
    let store = PgStore::connect(&scratch.url_via(Some(proxy.addr)))
        .await
        .expect("connect through the proxy");
    store.migrate().await.expect("migrate");
    let url = serve_counter(store).await;
    let warm: Vec<_> = (0..4).map(|_| plain().get(&url).send()).collect();
    for response in futures_util::future::join_all(warm).await {
        assert_eq!(response.expect("request").status(), 200);
    }
    (proxy, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_to_postgres_gives_503_fast_and_the_next_request_after_it_works() {
    let Some(scratch) = Scratch::new("outage").await else {
        return;
    };
    let (proxy, url) = counter_behind_a_proxy(&scratch).await;
    let client = browser();
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 1);
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 2);

    proxy.cut();
    let mut slowest = Duration::ZERO;
    for attempt in 0..3 {
        // With a cookie (the load fails) and without one (the create fails).
        for c in [&client, &plain()] {
            let started = Instant::now();
            let response = c.get(&url).send().await.expect("a response, not a hang");
            let took = started.elapsed();
            assert_eq!(response.status(), 503, "attempt {attempt}");
            assert_eq!(
                response.headers().get("retry-after").map(|v| v.as_bytes()),
                Some(&b"1"[..]),
                "a 503 says when to retry"
            );
            assert!(
                took < Duration::from_secs(3),
                "a cut must fail a request fast, took {took:?}"
            );
            slowest = slowest.max(took);
        }
    }
    println!("slowest 503 while PostgreSQL was cut off: {slowest:?}");

    // Back: the very next request works, on the same session.
    proxy.restore();
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 3);
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_killed_while_nobody_asked_are_replaced_without_a_failed_request() {
    let Some(scratch) = Scratch::new("killed").await else {
        return;
    };
    let (proxy, url) = counter_behind_a_proxy(&scratch).await;
    let client = browser();
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 1);
    // A blip: every connection dies, and the network is back before the
    // next request (a PostgreSQL restart looks the same to the pool).
    proxy.cut();
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 2);
    assert_eq!(n(client.get(&url).send().await.expect("request")).await, 3);
}
