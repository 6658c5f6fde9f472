//! One server "process" of a site served by several: its own manager over
//! the store given. `/count` counts, `/login` records a user and cycles the
//! id, `/logout` destroys, anything else only reads; every route answers
//! `{"test_counter", "user", "new"}`. Sessions end after 60 idle seconds,
//! so a shared store reclaims what a test leaves behind.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_session::store::SessionStore;
use hyper_session::{with_session, Session, Sessions};
use serde_json::{json, Value};

use super::{cookie_value, plain, spawn};

const SECRET: &str = "shared by every process of the site, 32+ bytes";

#[with_session(secure = false, idle_timeout = 60, manager = sessions)]
async fn app(
    req: Request<Incoming>,
    session: &mut Session,
    sessions: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut n = session.get::<u64>("test_counter").expect("a number");
    match req.uri().path() {
        "/count" => {
            let next = n.unwrap_or(0) + 1;
            session.insert("test_counter", next).expect("fits");
            n = Some(next);
        }
        "/login" => {
            session.insert("user", "ada").expect("fits");
            session.cycle_id();
        }
        "/logout" => session.destroy(),
        _ => {}
    }
    let user = session.get::<String>("user").expect("a string");
    let body = json!({ "test_counter": n, "user": user, "new": session.is_new() });
    Ok(Response::new(Full::from(body.to_string())))
}

/// Starts one "process" on `store`; its base URL.
pub async fn serve_process(store: impl SessionStore) -> String {
    let sessions = Sessions::builder()
        .secret(SECRET)
        .store(store)
        .build()
        .expect("valid manager");
    spawn(move |req| app(req, sessions.clone())).await
}

/// GETs `url` with cookie `sid=value`: the JSON body, and the new `sid`
/// the response set, if any.
pub async fn with_cookie(url: &str, value: &str) -> (Value, Option<String>) {
    let response = plain()
        .get(url)
        .header("cookie", format!("sid={value}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "GET {url}");
    let set = cookie_value(&response, "sid");
    (response.json().await.expect("json"), set)
}

/// A login on process `a` moves the session to a new id: `b` knows the new
/// id with the data, and the old id, still validly signed, names nothing.
pub async fn login_on_one_kills_the_old_id_on_the_other(a: &str, b: &str) {
    let first = plain()
        .get(format!("{a}/count"))
        .send()
        .await
        .expect("request");
    let old = cookie_value(&first, "sid").expect("a new session sets the cookie");
    let (seen, _) = with_cookie(&format!("{b}/count"), &old).await;
    assert_eq!(seen["test_counter"], 2, "B shares A's session");

    // Login on A: a new id, data kept.
    let (login, new) = with_cookie(&format!("{a}/login"), &old).await;
    let new = new.expect("login sets the new id's cookie");
    assert_ne!(new, old);
    assert_eq!(login["user"], "ada");

    // The old cookie value is still validly signed, but names nothing on B.
    let (stale, reissued) = with_cookie(&format!("{b}/count"), &old).await;
    assert_eq!(stale["new"], true, "the old id must find nothing: {stale}");
    assert_eq!(stale["user"], Value::Null);
    assert_eq!(stale["test_counter"], 1, "a fresh session");
    let reissued = reissued.expect("the fresh session gets its own cookie");
    assert_ne!(reissued, old, "a client never keeps an id it presented");
    assert_ne!(reissued, new);

    // The new id works on B, with the data moved over.
    let (logged_in, _) = with_cookie(&format!("{b}/"), &new).await;
    assert_eq!(logged_in["user"], "ada");
    assert_eq!(logged_in["test_counter"], 2);
    assert_eq!(logged_in["new"], false);

    for (server, value) in [(&a, &new), (&b, &reissued)] {
        with_cookie(&format!("{server}/logout"), value).await;
    }
}

/// Counts on A, B, then A again with one browser: 1, 2, 3, whichever
/// process serves. Both servers are on 127.0.0.1, so the browser sends
/// the cookie to both.
pub async fn counts_across(client: &reqwest::Client, a: &str, b: &str) {
    for (n, base) in [(1, a), (2, b), (3, a)] {
        assert_eq!(
            super::get_json(client, &format!("{base}/count")).await["test_counter"],
            n,
            "count {n}, on {base}"
        );
    }
}
