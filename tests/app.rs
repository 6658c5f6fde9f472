//! `examples/app.rs` over a real server and real clients: every route.

mod common;

// The example brings its own copy of `support`, as `common` does.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/app.rs"]
mod app;

use common::app_contract::{self, send};
use common::{browser, cookie_in, plain, spawn};
use serde_json::json;

async fn start() -> String {
    spawn(app::route).await
}

#[tokio::test]
async fn session_test_counts_and_the_skip_header_skips() {
    app_contract::session_test_counts_and_the_skip_header_skips(&start().await).await;
}

#[tokio::test]
async fn login_me_logout() {
    app_contract::login_me_logout(&start().await).await;
}

#[tokio::test]
async fn login_refuses_bad_names() {
    app_contract::login_refuses_bad_names(&start().await).await;
}

#[tokio::test]
async fn short_lives_one_second() {
    let base = start().await;
    let client = browser();
    let url = format!("{base}/short");
    let (first, body) = send(client.get(&url)).await;
    assert_eq!(body, json!({ "test_counter": 1 }));
    let cookie = first.last().cloned().expect("a cookie");
    assert!(
        cookie.starts_with("short_sid=") && cookie.contains("Max-Age=1"),
        "{cookie}"
    );
    assert_eq!(send(client.get(&url)).await.1, json!({ "test_counter": 2 }));
    // The server ends it too: replay the cookie after its lifetime.
    let value = cookie_in(&first, "short_sid").expect("value");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (_, body) = send(
        plain()
            .get(&url)
            .header("cookie", format!("short_sid={value}")),
    )
    .await;
    assert_eq!(
        body,
        json!({ "test_counter": 1 }),
        "an expired session is not served"
    );
}

#[tokio::test]
async fn unknown_routes_are_404() {
    app_contract::unknown_routes_are_404(&start().await).await;
}

/// A start-up error never repeats the store URL's credentials.
#[tokio::test]
async fn a_bad_store_url_fails_at_start_up_without_its_password() {
    for url in [
        "mongodb://admin:hunter2@127.0.0.1:27017",
        "redis://admin:hunter2@127.0.0.1:1/0",
        "admin:hunter2@localhost",
    ] {
        std::env::set_var("SESSION_STORE", url);
        let err = app::sessions_from_env().await.expect_err("no such store");
        std::env::remove_var("SESSION_STORE");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{url}: {text}");
        assert!(!text.is_empty());
    }
}
