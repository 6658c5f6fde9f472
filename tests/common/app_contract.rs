//! The contract of examples/app.rs, route by route, for every example
//! that serves it (app.rs on raw hyper, axum.rs on axum): each check takes
//! the base URL of a running server.

use super::{browser, cookie_in, plain, set_cookies};
use serde_json::{json, Value};

/// Sends, expects 200, and returns the `Set-Cookie` values and the JSON body.
pub async fn send(request: reqwest::RequestBuilder) -> (Vec<String>, Value) {
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response);
    (cookies, response.json().await.expect("json"))
}

pub async fn session_test_counts_and_the_skip_header_skips(base: &str) {
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

pub async fn login_me_logout(base: &str) {
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

pub async fn login_refuses_bad_names(base: &str) {
    let response = plain()
        .post(format!("{base}/login?user=a%20b"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    assert!(set_cookies(&response).is_empty());
}

pub async fn unknown_routes_are_404(base: &str) {
    for (method, path) in [
        ("GET", "/nope"),
        ("GET", "/login"),
        ("POST", "/session_test"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = plain()
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 404, "{method} {path}");
    }
}
