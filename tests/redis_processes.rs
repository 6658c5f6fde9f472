//! Two servers, each with its own manager and its own Redis connection,
//! sharing one Redis (env `REDIS_URL`): what one does, the other sees.
//! That is what several server processes behind a load balancer need.
#![cfg(feature = "redis")]

mod common;

use common::redis_env::{redis_url, unique_prefix};

use std::convert::Infallible;

use bytes::Bytes;
use common::{browser, cookie_value, get_json, plain, spawn};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_session::{with_session, RedisStore, Session, Sessions};
use serde_json::{json, Value};

const SECRET: &str = "shared by every process of the site, 32+ bytes";

/// `/count` counts, `/login` records a user and cycles the id, `/logout`
/// destroys, anything else only reads. The sessions end after 60 idle
/// seconds, so Redis reclaims what a test leaves behind.
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

/// One "process": its own manager over its own connection to Redis.
async fn server(url: &str, prefix: &str) -> String {
    let store = RedisStore::connect(url)
        .await
        .expect("connect")
        .with_prefix(prefix);
    let sessions = Sessions::builder()
        .secret(SECRET)
        .store(store)
        .build()
        .expect("valid manager");
    spawn(move |req| app(req, sessions.clone())).await
}

async fn with_cookie(url: &str, value: &str) -> (Value, Option<String>) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_shared_by_two_processes_through_redis() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("processes");
    let a = server(&url, &prefix).await;
    let b = server(&url, &prefix).await;
    assert_ne!(a, b);

    // Created on A, read and changed on B, then on A again. Both servers
    // are on 127.0.0.1, so the browser sends the cookie to both.
    let client = browser();
    assert_eq!(
        get_json(&client, &format!("{a}/count")).await["test_counter"],
        1
    );
    assert_eq!(
        get_json(&client, &format!("{b}/count")).await["test_counter"],
        2
    );
    assert_eq!(
        get_json(&client, &format!("{a}/count")).await["test_counter"],
        3
    );
    assert_eq!(get_json(&client, &format!("{b}/")).await["test_counter"], 3);

    // A logout on B ends the session on A.
    let out = get_json(&client, &format!("{b}/logout")).await;
    assert_eq!(out["test_counter"], 3, "the handler still saw the session");
    let after = get_json(&client, &format!("{a}/")).await;
    assert_eq!(after["new"], true, "A no longer finds the session: {after}");
    assert_eq!(after["test_counter"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_login_on_one_process_the_old_id_finds_nothing_on_the_other() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("cycle");
    let a = server(&url, &prefix).await;
    let b = server(&url, &prefix).await;

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
