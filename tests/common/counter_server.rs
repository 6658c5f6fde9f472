//! A counter on a store of the test's choosing: `GET /count` answers
//! `{"n":N}`; for the store tests (outages, TLS) that need a session
//! server and nothing else.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_session::store::SessionStore;
use hyper_session::{with_session, Session, Sessions};

use super::spawn;

#[with_session(secure = false, idle_timeout = 60, manager = sessions)]
async fn count(
    _req: Request<Incoming>,
    session: &mut Session,
    sessions: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = session.get::<u64>("n").expect("a number").unwrap_or(0) + 1;
    session.insert("n", n).expect("fits");
    Ok(Response::new(Full::from(format!("{{\"n\":{n}}}"))))
}

/// Serves the counter on sessions in `store`; its URL.
pub async fn serve_counter(store: impl SessionStore) -> String {
    let sessions = Sessions::builder()
        .secret("store test secret, at least 32 bytes long")
        .store(store)
        .build()
        .expect("valid manager");
    format!(
        "{}/count",
        spawn(move |req| count(req, sessions.clone())).await
    )
}

/// The count a counter response carries; it must be a 200.
pub async fn n(response: reqwest::Response) -> u64 {
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    body["n"].as_u64().expect("n")
}

/// While the store is down: three rounds of a request with `client`'s
/// cookie (the load fails) and one without (the create fails), each a 503
/// within 3 s. Returns the slowest.
pub async fn assert_503_fast(url: &str, client: &reqwest::Client) -> std::time::Duration {
    let mut slowest = std::time::Duration::ZERO;
    for attempt in 0..3 {
        for c in [client, &super::plain()] {
            let started = std::time::Instant::now();
            let response = c.get(url).send().await.expect("a response, not a hang");
            let took = started.elapsed();
            assert_eq!(response.status(), 503, "attempt {attempt}");
            assert_eq!(response.headers()["retry-after"], "1");
            assert!(
                took < std::time::Duration::from_secs(3),
                "a dead store must fail a request fast, took {took:?}"
            );
            slowest = slowest.max(took);
        }
    }
    slowest
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `test` on a runtime of its own (`threads` workers) while no other
/// test of the binary runs through here. One at a time because a
/// thread-scoped `tracing` subscriber (the log tests) misses an event whose
/// callsite another thread registers first while that subscriber is the
/// only one (tracing-core then caches "never" for it), and because tests
/// that kill connections find them by the new entries in `CLIENT LIST`.
pub fn serially(threads: usize, test: impl Future<Output = ()>) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let runtime = match threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    }
    .enable_all()
    .build()
    .expect("a tokio runtime");
    runtime.block_on(test);
}
