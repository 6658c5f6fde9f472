//! `examples/app.rs` over a real server and real clients: every route.

mod common;

// The example brings its own copy of `support`, as `common` does.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/app.rs"]
mod app;

use common::{browser, cookie_in, plain, set_cookies, spawn};
use serde_json::{json, Value};

async fn start() -> String {
    spawn(app::route).await
}

/// Sends, expects 200, and returns the `Set-Cookie` values and the JSON body.
async fn send(request: reqwest::RequestBuilder) -> (Vec<String>, Value) {
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response);
    (cookies, response.json().await.expect("json"))
}

#[tokio::test]
async fn session_test_counts_and_the_skip_header_skips() {
    let base = start().await;
    let client = browser();
    let url = format!("{base}/session_test");
    for n in 1..=2 {
        assert_eq!(send(client.get(&url)).await.1, json!({ "test_counter": n }));
    }
    // A skipped request sees a detached, empty session and changes nothing.
    let (skipped, body) = send(client.get(&url).header("x-skip-session", "1")).await;
    assert_eq!(body, json!({ "test_counter": 1 }));
    assert!(skipped.is_empty());
    assert_eq!(send(client.get(&url)).await.1, json!({ "test_counter": 3 }));
}

#[tokio::test]
async fn login_me_logout() {
    let base = start().await;
    let client = browser();
    assert_eq!(
        send(client.get(format!("{base}/me"))).await.1,
        json!({ "user": null })
    );

    // A session exists before login (the counter); login must replace its id.
    let (before, _) = send(client.get(format!("{base}/session_test"))).await;
    let pre_login = cookie_in(&before, "sid").expect("a cookie");
    let (login, body) = send(client.post(format!("{base}/login?user=ada"))).await;
    assert_eq!(body, json!({ "user": "ada" }));
    let post_login = cookie_in(&login, "sid").expect("login sets a new cookie");
    assert_ne!(
        pre_login.split('.').next(),
        post_login.split('.').next(),
        "login cycles the id"
    );

    assert_eq!(
        send(client.get(format!("{base}/me"))).await.1,
        json!({ "user": "ada" })
    );
    // Data from before login moved with the session.
    assert_eq!(
        send(client.get(format!("{base}/session_test"))).await.1,
        json!({ "test_counter": 2 })
    );
    // The pre-login id is dead.
    let (_, stale) = send(
        plain()
            .get(format!("{base}/me"))
            .header("cookie", format!("sid={pre_login}")),
    )
    .await;
    assert_eq!(stale, json!({ "user": null }));

    let (logout, body) = send(client.post(format!("{base}/logout"))).await;
    assert_eq!(body, json!({ "user": null }));
    let removal = logout.last().cloned().expect("a removal cookie");
    for part in ["sid=", "Max-Age=0", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(removal.contains(part), "{removal} lacks {part}");
    }
    assert_eq!(
        send(client.get(format!("{base}/me"))).await.1,
        json!({ "user": null })
    );
    // Logging out again with the dead cookie still removes it from the browser.
    let (again, _) = send(
        plain()
            .post(format!("{base}/logout"))
            .header("cookie", format!("sid={post_login}")),
    )
    .await;
    assert!(
        again
            .iter()
            .any(|c| c.starts_with("sid=;") && c.contains("Max-Age=0")),
        "{again:?}"
    );
    // Replaying the logged-out cookie finds nothing.
    let (_, replay) = send(
        plain()
            .get(format!("{base}/me"))
            .header("cookie", format!("sid={post_login}")),
    )
    .await;
    assert_eq!(replay, json!({ "user": null }));
}

#[tokio::test]
async fn login_refuses_bad_names() {
    let base = start().await;
    let response = plain()
        .post(format!("{base}/login?user=a%20b"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    assert!(set_cookies(&response).is_empty());
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
    let base = start().await;
    let response = plain()
        .get(format!("{base}/nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
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
