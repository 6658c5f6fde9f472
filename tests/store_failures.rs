//! Store failures and logs over a real server: 503, `on_error`,
//! recovery, timeouts, and what gets logged.

mod common;

#[allow(unused_imports)]
use common::lifecycle::*;
use common::logs::Logs;
use common::{browser, cookie_value, plain};
use hyper::StatusCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing::Level;

#[tokio::test]
async fn a_failing_store_answers_503_logs_an_error_and_recovers() {
    let (logs, _guard) = Logs::capture();
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let client = browser();
    assert_eq!(get(&client, &format!("{base}/count")).await["n"], 1);

    store.down.store(true, Ordering::SeqCst);
    let failed = client
        .get(format!("{base}/count"))
        .send()
        .await
        .expect("a response, not a dropped connection");
    assert_store_down(&failed, &logs);
    let hooked = client
        .get(format!("{base}/hooked"))
        .send()
        .await
        .expect("response");
    assert_eq!(hooked.status(), StatusCode::IM_A_TEAPOT);
    assert!(hooked
        .text()
        .await
        .expect("text")
        .starts_with("custom: session store"));

    store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        get(&client, &format!("{base}/count")).await["n"],
        2,
        "back without a restart, nothing lost"
    );
}

#[tokio::test]
async fn logs_name_sessions_by_fingerprint_only() {
    let (logs, _guard) = Logs::capture();
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let url = format!("{base}/count");
    let first = plain().get(&url).send().await.expect("request");
    let value = cookie_value(&first, "sid").expect("cookie");
    let cookie = format!("sid={value}");
    with_cookie(&url, &cookie).send().await.expect("request");
    let mut tampered = value.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    with_cookie(&url, &format!("sid={tampered}"))
        .send()
        .await
        .expect("request");

    assert!(
        logs.any(Level::DEBUG, "session created"),
        "{}",
        logs.all_text()
    );
    assert!(
        logs.any(Level::DEBUG, "session loaded"),
        "{}",
        logs.all_text()
    );
    assert!(
        logs.any(Level::DEBUG, "session saved"),
        "{}",
        logs.all_text()
    );
    assert!(
        logs.any(Level::WARN, "forged, altered or malformed"),
        "{}",
        logs.all_text()
    );
    let all = logs.all_text();
    let (id, tag) = value.split_once('.').expect("id.tag");
    for secret in [id, tag, &tampered[..43], SECRET] {
        assert!(!all.contains(secret), "a log holds a secret: {all}");
    }
    // The fingerprint is there to follow a session through the log.
    assert!(all.contains("session="), "{all}");
}

#[tokio::test]
async fn a_store_that_never_answers_gets_the_error_response_at_store_timeout() {
    let (logs, _guard) = Logs::capture();
    let store = Arc::new(Switchable::default());
    let m = hyper_session::Sessions::builder()
        .secret(SECRET)
        .store(store.clone())
        .store_timeout(std::time::Duration::from_millis(200))
        .build()
        .expect("manager");
    let base = start(m).await;
    let client = browser();
    assert_eq!(get(&client, &format!("{base}/count")).await["n"], 1);

    store.hang.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let hung = client
        .get(format!("{base}/count"))
        .timeout(std::time::Duration::from_secs(3))
        .send()
        .await
        .expect("a response, not a hang");
    let took = started.elapsed();
    assert_eq!(hung.status(), 503);
    assert!(
        took >= std::time::Duration::from_millis(190)
            && took < std::time::Duration::from_millis(900),
        "the manager's store_timeout (200 ms) must bound a call the store never answers: {took:?}"
    );
    assert!(
        logs.any(Level::ERROR, "did not answer within 200ms"),
        "{}",
        logs.all_text()
    );

    store.hang.store(false, Ordering::SeqCst);
    assert_eq!(get(&client, &format!("{base}/count")).await["n"], 2);
}
