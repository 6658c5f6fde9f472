//! What the cookie says and what a request may do over a real server:
//! destroy's removal cookie, skip headers, the size limit.

mod common;

#[allow(unused_imports)]
use common::lifecycle::*;
use common::{browser, cookie_value, plain, set_cookies};
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[tokio::test]
async fn destroy_removes_the_cookie_with_its_own_attributes() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let response = plain()
        .get(format!("{base}/account/logout"))
        .send()
        .await
        .expect("request");
    // A visitor without a session has nothing to destroy.
    assert!(set_cookies(&response).is_empty());

    // Give the scoped cookie a session to end: same id works under any route
    // only with its own name, so create one through a manager call.
    let m = manager(&store, SECRET, None);
    let config = hyper_session::SessionConfig::DEFAULT
        .with_cookie_name("scoped")
        .with_path("/account")
        .with_domain("localhost")
        .with_same_site(hyper_session::SameSite::Strict);
    let mut s = m
        .load(&config, &hyper::HeaderMap::new())
        .await
        .expect("load");
    s.insert("user", "ada").expect("fits");
    let set = m.commit(&config, s).await.expect("commit").expect("cookie");
    let cookie = hyper_session::__bench::cookie_header(&set);
    let pair = cookie["cookie"].to_str().expect("ascii");
    let response = with_cookie(&format!("{base}/account/logout"), pair)
        .send()
        .await
        .expect("request");
    let removal = set_cookies(&response).pop().expect("a removal cookie");
    for part in [
        "scoped=;",
        "Max-Age=0",
        "Path=/account",
        "Domain=localhost",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
    ] {
        assert!(removal.contains(part), "{removal} lacks {part}");
    }
    assert!(store.inner.is_empty(), "the entry is deleted");
}

#[tokio::test]
async fn skip_headers_by_name_or_exact_value() {
    let store = Arc::new(Switchable::default());
    let url = format!("{}/skippable", start(manager(&store, SECRET, None)).await);
    let client = browser();
    assert_eq!(get(&client, &url).await["n"], 1);
    for (name, value) in [("x-health", "anything"), ("x-probe", "yes")] {
        let response = client
            .get(&url)
            .header(name, value)
            .send()
            .await
            .expect("request");
        assert!(set_cookies(&response).is_empty(), "{name}");
        assert_eq!(
            body(response).await["n"],
            1,
            "{name}: a detached, empty session"
        );
    }
    // A non-matching value does not skip.
    let response = client
        .get(&url)
        .header("x-probe", "no")
        .send()
        .await
        .expect("request");
    assert_eq!(body(response).await["n"], 2);
    assert_eq!(store.inner.len(), 1);
}

#[tokio::test]
async fn an_insert_past_the_size_limit_is_an_error_and_nothing_grows() {
    let store = Arc::new(Switchable::default());
    let url = format!("{}/big", start(manager(&store, SECRET, None)).await);
    let response = plain().get(&url).send().await.expect("request");
    assert_eq!(response.status(), 413);
    let cookie = cookie_value(&response, "sid").expect("the small value was still saved");
    let text = body(response).await["error"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(text.contains("limit of 1024 bytes"), "{text}");
    let m = manager(&store, SECRET, None);
    let mut headers = hyper::HeaderMap::new();
    headers.insert("cookie", format!("sid={cookie}").parse().expect("header"));
    let s = m
        .load(&hyper_session::SessionConfig::DEFAULT, &headers)
        .await
        .expect("load");
    assert!(
        s.contains("small") && !s.contains("huge"),
        "the store never holds the oversized value"
    );
}

#[tokio::test]
async fn the_session_cookie_comes_after_the_handlers_own() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let response = plain()
        .get(format!("{base}/own_cookie"))
        .send()
        .await
        .expect("request");
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies[0].starts_with("theme=dark"), "{cookies:?}");
    assert!(cookies[1].starts_with("sid="), "{cookies:?}");
}

#[tokio::test]
async fn a_handler_that_panics_commits_nothing() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    // A new visitor: nothing is created.
    assert!(plain().get(format!("{base}/panics")).send().await.is_err());
    assert_eq!(store.writes.load(Ordering::SeqCst), 0);
    assert!(store.inner.is_empty());
    // A stored session: nothing of the half-done request is saved.
    let client = browser();
    assert_eq!(get(&client, &format!("{base}/count")).await["n"], 1);
    let writes = store.writes.load(Ordering::SeqCst);
    assert!(client.get(format!("{base}/panics")).send().await.is_err());
    assert_eq!(store.writes.load(Ordering::SeqCst), writes);
    assert_eq!(get(&client, &format!("{base}/count")).await["n"], 2);
}

#[tokio::test]
async fn forged_cookies_cost_no_store_call() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let forged = format!("sid={}.{}", "A".repeat(43), "B".repeat(43));
    for cookie in [forged.as_str(), "sid=garbage", "sid=", "sid=a.b; sid=c.d"] {
        let response = with_cookie(&format!("{base}/me"), cookie)
            .send()
            .await
            .expect("request");
        assert_eq!(body(response).await["user"], serde_json::Value::Null);
    }
    assert_eq!(
        store.loads.load(Ordering::SeqCst),
        0,
        "a forged cookie is refused before the store"
    );
}
