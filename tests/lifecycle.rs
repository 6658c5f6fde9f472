//! Session lifecycle and security over a real server: expiry, reads as
//! activity, id renewal, key rotation, destroy, skip headers, limits,
//! store failures and what gets logged.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::logs::Logs;
use common::{browser, cookie_value, plain, set_cookies, spawn};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_session::{
    with_session, MemoryStore, Record, Session, SessionStore, Sessions, StoreError, StoreKey,
    Update,
};
use serde_json::{json, Value};
use tracing::Level;

const SECRET: &str = "lifecycle test secret, long enough to sign";
const OLD_SECRET: &str = "the previous secret, also long enough!!";

/// A memory store that can be switched off, and counts its writes.
#[derive(Default)]
struct Switchable {
    inner: MemoryStore,
    down: AtomicBool,
    writes: AtomicUsize,
}

impl Switchable {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::backend("connection refused (test switch)"));
        }
        Ok(())
    }
}

impl SessionStore for Switchable {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.check()?;
        self.inner.load(key).await
    }
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        self.check()?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.create(key, record).await
    }
    async fn update(&self, key: &StoreKey, update: &Update<'_>) -> Result<bool, StoreError> {
        self.check()?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.update(key, update).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.check()?;
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key).await
    }
    fn is_shared(&self) -> bool {
        false
    }
}

fn manager(store: &Arc<Switchable>, secret: &str, older: Option<&str>) -> Sessions {
    let mut builder = Sessions::builder()
        .secret(secret)
        .store(store.clone())
        .max_session_bytes(1024);
    if let Some(old) = older {
        builder = builder.older_secret(old);
    }
    builder.build().expect("valid manager")
}

fn json_response(value: Value) -> Response<Full<Bytes>> {
    Response::new(Full::from(value.to_string()))
}

/// Counts, and reports the session's server-side expiry.
async fn count(session: &mut Session) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = session.get::<u64>("n").expect("a number").unwrap_or(0) + 1;
    session.insert("n", n).expect("fits");
    Ok(json_response(json!({ "n": n })))
}

/// Writes `n = 1` on the first visit only; afterwards it only reads.
fn read(session: &mut Session) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = session.get::<u64>("n").expect("a number");
    let new = session.is_new();
    if n.is_none() {
        session.insert("n", 1).expect("fits");
    }
    let expires = session.expires_at().map(|t| {
        t.duration_since(std::time::UNIX_EPOCH)
            .expect("after epoch")
            .as_millis() as u64
    });
    Ok(json_response(
        json!({ "n": n, "new": new, "expires": expires }),
    ))
}

#[with_session(secure = false, idle_timeout = 1, absolute_timeout = 60, manager = m)]
async fn idle_count(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    count(session).await
}

#[with_session(secure = false, idle_timeout = 2, absolute_timeout = 60, manager = m)]
async fn idle_read(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    read(session)
}

#[with_session(secure = false, idle_timeout = 1, absolute_timeout = 2, manager = m)]
async fn absolute_read(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    read(session)
}

#[with_session(secure = false, renew_after = 1, manager = m)]
async fn renewing(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    count(session).await
}

#[with_session(secure = false, manager = m)]
async fn plain_count(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    count(session).await
}

#[with_session(secure = false, manager = m)]
async fn login(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    session.cycle_id();
    session.insert("user", "ada").expect("fits");
    Ok(json_response(json!({ "user": "ada" })))
}

#[with_session(cookie = "scoped", path = "/account", domain = "localhost", same_site = "strict", secure, manager = m)]
async fn scoped_logout(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    session.destroy();
    Ok(json_response(json!({ "user": null })))
}

#[with_session(secure = false, skip_session_header = ["x-health", ("x-probe", "yes")], manager = m)]
async fn skippable(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    count(session).await
}

#[with_session(secure = false, manager = m)]
async fn big(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    session.insert("small", "fits").expect("fits");
    match session.insert("huge", "x".repeat(4096)) {
        Ok(()) => Ok(json_response(json!({ "stored": true }))),
        Err(e) => {
            let mut r = json_response(json!({ "error": e.to_string() }));
            *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            Ok(r)
        }
    }
}

fn teapot(error: &StoreError) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::from(format!("custom: {error}")));
    *r.status_mut() = StatusCode::IM_A_TEAPOT;
    r
}

#[with_session(secure = false, on_error = teapot, manager = m)]
async fn hooked(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    count(session).await
}

/// One server with every route, on one manager.
async fn start(m: Sessions) -> String {
    spawn(move |req: Request<Incoming>| {
        let m = m.clone();
        async move {
            match req.uri().path() {
                "/idle" => idle_count(req, m).await,
                "/idle_read" => idle_read(req, m).await,
                "/absolute_read" => absolute_read(req, m).await,
                "/renewing" => renewing(req, m).await,
                "/count" => plain_count(req, m).await,
                "/login" => login(req, m).await,
                "/account/logout" => scoped_logout(req, m).await,
                "/skippable" => skippable(req, m).await,
                "/big" => big(req, m).await,
                "/hooked" => hooked(req, m).await,
                _ => Ok(Response::new(Full::default())),
            }
        }
    })
    .await
}

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("json")
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.expect("request");
    assert_eq!(response.status(), 200, "GET {url}");
    body(response).await
}

fn with_cookie(url: &str, cookie: &str) -> reqwest::RequestBuilder {
    plain().get(url).header("cookie", cookie.to_owned())
}

#[tokio::test]
async fn an_idle_session_ends_and_a_replayed_cookie_finds_nothing() {
    let store = Arc::new(Switchable::default());
    let url = format!("{}/idle", start(manager(&store, SECRET, None)).await);
    let first = plain().get(&url).send().await.expect("request");
    let cookie = format!("sid={}", cookie_value(&first, "sid").expect("a cookie"));
    assert_eq!(
        body(with_cookie(&url, &cookie).send().await.expect("request")).await["n"],
        2
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let replay = with_cookie(&url, &cookie).send().await.expect("request");
    let renewed = cookie_value(&replay, "sid").expect("a fresh session gets a new cookie");
    assert_ne!(
        format!("sid={renewed}"),
        cookie,
        "a new id, not the expired one"
    );
    assert_eq!(
        body(replay).await["n"],
        1,
        "the expired session's data is gone"
    );
}

#[tokio::test]
async fn reads_keep_a_session_alive_without_a_write_per_read() {
    let store = Arc::new(Switchable::default());
    let m = manager(&store, SECRET, None);
    let base = start(m).await;
    let client = browser();
    let url = format!("{base}/idle_read");
    get(&client, &url).await; // creates the session
    let first = get(&client, &url).await;
    let writes_after_first = store.writes.load(Ordering::SeqCst);
    let again = get(&client, &url).await;
    assert_eq!(
        again["expires"], first["expires"],
        "a read right after a refresh does not rewrite"
    );
    assert_eq!(
        store.writes.load(Ordering::SeqCst),
        writes_after_first,
        "no store write for that read"
    );
    // Read every 0.7 s for 3 s: longer than the 2 s idle timeout in total.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let now = get(&client, &url).await;
        assert_eq!(now["n"], 1, "a reader is not logged out: {now}");
    }
    let later = get(&client, &url).await;
    assert!(
        later["expires"].as_u64() > first["expires"].as_u64(),
        "reads moved the expiry out"
    );
    assert!(
        store.writes.load(Ordering::SeqCst) - writes_after_first <= 5,
        "at most one write per quarter window"
    );
}

#[tokio::test]
async fn the_absolute_timeout_ends_even_an_active_session() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let client = browser();
    let url = format!("{base}/absolute_read");
    get(&client, &url).await; // creates the session
    let created = std::time::Instant::now();
    // Read every 0.2 s, well inside the 1 s idle window, until the session
    // ends: that must be the 2 s absolute limit.
    let ended = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if get(&client, &url).await["new"] == true {
            break created.elapsed();
        }
        assert!(
            created.elapsed() < Duration::from_secs(5),
            "the session outlived its absolute timeout"
        );
    };
    assert!(
        ended >= Duration::from_millis(1800),
        "ended after {ended:?}, before the 2 s limit"
    );
    assert_eq!(
        store.inner.len(),
        2,
        "the ended session is not served again"
    );
}

#[tokio::test]
async fn an_old_id_is_renewed_transparently() {
    let store = Arc::new(Switchable::default());
    let url = format!("{}/renewing", start(manager(&store, SECRET, None)).await);
    let first = plain().get(&url).send().await.expect("request");
    let old = format!("sid={}", cookie_value(&first, "sid").expect("a cookie"));
    let quick = with_cookie(&url, &old).send().await.expect("request");
    assert!(set_cookies(&quick).is_empty(), "a young id is kept");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let renewed = with_cookie(&url, &old).send().await.expect("request");
    let new = format!(
        "sid={}",
        cookie_value(&renewed, "sid").expect("a renewed id")
    );
    assert_ne!(new, old);
    assert_eq!(body(renewed).await["n"], 3, "the data came along");
    assert_eq!(
        body(with_cookie(&url, &new).send().await.expect("request")).await["n"],
        4
    );
    assert_eq!(
        body(with_cookie(&url, &old).send().await.expect("request")).await["n"],
        1,
        "the old id is dead"
    );
}

#[tokio::test]
async fn login_cycles_the_id_and_an_insert_after_it_stays_on_the_new_id() {
    let store = Arc::new(Switchable::default());
    let base = start(manager(&store, SECRET, None)).await;
    let first = plain()
        .get(format!("{base}/count"))
        .send()
        .await
        .expect("request");
    let before = format!("sid={}", cookie_value(&first, "sid").expect("cookie"));
    let login = with_cookie(&format!("{base}/login"), &before)
        .send()
        .await
        .expect("request");
    let after = format!("sid={}", cookie_value(&login, "sid").expect("new cookie"));
    assert_ne!(before, after);
    let count = format!("{base}/count");
    assert_eq!(
        body(with_cookie(&count, &after).send().await.expect("request")).await["n"],
        2
    );
    assert_eq!(
        body(with_cookie(&count, &before).send().await.expect("request")).await["n"],
        1
    );
    assert_eq!(
        store.inner.len(),
        2,
        "the login session and the stale cookie's fresh one"
    );
}

#[tokio::test]
async fn rotated_keys_accept_old_cookies_and_reissue_them() {
    let store = Arc::new(Switchable::default());
    let old_server = start(manager(&store, OLD_SECRET, None)).await;
    let new_server = start(manager(&store, SECRET, Some(OLD_SECRET))).await;
    let only_new = start(manager(&store, SECRET, None)).await;

    let first = plain()
        .get(format!("{old_server}/count"))
        .send()
        .await
        .expect("request");
    let old_value = cookie_value(&first, "sid").expect("cookie");
    let old_cookie = format!("sid={old_value}");

    let rotated = with_cookie(&format!("{new_server}/count"), &old_cookie)
        .send()
        .await
        .expect("request");
    let reissued = cookie_value(&rotated, "sid").expect("re-issued under the current key");
    assert_eq!(
        body(rotated).await["n"],
        2,
        "the old cookie's session is served"
    );
    assert_eq!(
        reissued.split('.').next(),
        old_value.split('.').next(),
        "same id"
    );
    assert_ne!(reissued, old_value, "new tag");

    let reissued_cookie = format!("sid={reissued}");
    let quiet = with_cookie(&format!("{new_server}/count"), &reissued_cookie)
        .send()
        .await
        .expect("request");
    assert!(
        set_cookies(&quiet).is_empty(),
        "a current-key cookie is not re-issued"
    );
    assert_eq!(body(quiet).await["n"], 3);
    // Without the old key, the old cookie is worthless; the new one works.
    assert_eq!(
        body(
            with_cookie(&format!("{only_new}/count"), &old_cookie)
                .send()
                .await
                .expect("request")
        )
        .await["n"],
        1
    );
    assert_eq!(
        body(
            with_cookie(&format!("{only_new}/count"), &reissued_cookie)
                .send()
                .await
                .expect("request")
        )
        .await["n"],
        4
    );
}

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
    let pair = set
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let response = with_cookie(&format!("{base}/account/logout"), &pair)
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
    assert_eq!(failed.status(), 503);
    assert_eq!(failed.headers()["retry-after"], "1");
    assert!(
        logs.any(Level::ERROR, "connection refused"),
        "{}",
        logs.all_text()
    );
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
