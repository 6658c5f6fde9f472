//! Two servers, each with its own manager and its own pool, sharing one
//! PostgreSQL (env `POSTGRES_URL`, a scratch schema): what one does, the
//! other sees, as several server processes behind a load balancer need.
#![cfg(feature = "postgres")]

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::pg_env::Scratch;
use common::{browser, cookie_value, get_json, plain, spawn};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_session::{with_session, PgStore, Session, Sessions};
use serde_json::{json, Value};

const SECRET: &str = "shared by every process of the site, 32+ bytes";

/// `/count` counts, `/login` records a user and cycles the id, `/logout`
/// destroys, anything else only reads.
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

/// One "process": its own store, pool and manager.
async fn server(scratch: &Scratch) -> String {
    let store = PgStore::connect(&scratch.url()).await.expect("connect");
    store.migrate().await.expect("migrate");
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
async fn a_session_is_shared_by_two_processes_through_postgres() {
    let Some(scratch) = Scratch::new("processes").await else {
        return;
    };
    let a = server(&scratch).await;
    let b = server(&scratch).await;
    assert_ne!(a, b);

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

    // Login on B: known on A, under the new id.
    let login = get_json(&client, &format!("{b}/login")).await;
    assert_eq!(login["user"], "ada");
    let on_a = get_json(&client, &format!("{a}/")).await;
    assert_eq!(on_a["user"], "ada", "A knows the login made on B: {on_a}");
    assert_eq!(on_a["test_counter"], 3);

    // Logout on A ends the session on both.
    let out = get_json(&client, &format!("{a}/logout")).await;
    assert_eq!(out["test_counter"], 3, "the handler still saw the session");
    for server in [&a, &b] {
        let after = get_json(&client, &format!("{server}/")).await;
        assert_eq!(
            after["new"], true,
            "{server} no longer finds the session: {after}"
        );
        assert_eq!(after["user"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_login_on_one_process_the_old_id_finds_nothing_on_the_other() {
    let Some(scratch) = Scratch::new("cycle").await else {
        return;
    };
    let a = server(&scratch).await;
    let b = server(&scratch).await;

    let first = plain()
        .get(format!("{a}/count"))
        .send()
        .await
        .expect("request");
    let old = cookie_value(&first, "sid").expect("a new session sets the cookie");
    let (seen, _) = with_cookie(&format!("{b}/count"), &old).await;
    assert_eq!(seen["test_counter"], 2, "B shares A's session");

    let (login, new) = with_cookie(&format!("{a}/login"), &old).await;
    let new = new.expect("login sets the new id's cookie");
    assert_ne!(new, old);
    assert_eq!(login["user"], "ada");

    let (stale, _) = with_cookie(&format!("{b}/"), &old).await;
    assert_eq!(stale["new"], true, "the old id must find nothing: {stale}");
    let (logged_in, _) = with_cookie(&format!("{b}/"), &new).await;
    assert_eq!(logged_in["user"], "ada");
    assert_eq!(logged_in["test_counter"], 2);
}
