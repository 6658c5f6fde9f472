//! One server with a route per lifecycle behaviour (expiry, renewal,
//! rotation, destroy, skip headers, limits, store failures), on a memory
//! store that can be switched off: shared by the behaviour tests.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::{plain, spawn};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_session::store::{Record, SessionStore, Update};
use hyper_session::{
    with_session, MemoryStore, RequestError, Session, Sessions, StoreError, StoreKey,
};
use serde_json::{json, Value};

pub const SECRET: &str = "lifecycle test secret, long enough to sign";
pub const OLD_SECRET: &str = "the previous secret, also long enough!!";

/// A memory store that can be switched off, and counts its writes.
#[derive(Default)]
pub struct Switchable {
    pub inner: MemoryStore,
    pub down: AtomicBool,
    /// Loads never answer while set.
    pub hang: AtomicBool,
    pub loads: AtomicUsize,
    pub writes: AtomicUsize,
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
        self.loads.fetch_add(1, Ordering::SeqCst);
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
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

pub fn manager(store: &Arc<Switchable>, secret: &str, older: Option<&str>) -> Sessions {
    let mut builder = Sessions::builder()
        .secret(secret)
        .store(store.clone())
        .max_session_bytes(1024);
    if let Some(old) = older {
        builder = builder.older_secret(old);
    }
    builder.build().expect("valid manager")
}

pub fn json_response(value: Value) -> Response<Full<Bytes>> {
    Response::new(Full::from(value.to_string()))
}

/// Counts, and reports the session's server-side expiry.
pub async fn count(session: &mut Session) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = session.get::<u64>("n").expect("a number").unwrap_or(0) + 1;
    session.insert("n", n).expect("fits");
    Ok(json_response(json!({ "n": n })))
}

/// Writes `n = 1` on the first visit only; afterwards it only reads.
pub fn read(session: &mut Session) -> Result<Response<Full<Bytes>>, Infallible> {
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
pub async fn idle_count(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    count(session).await
}

#[with_session(secure = false, idle_timeout = 2, absolute_timeout = 60, manager = m)]
pub async fn idle_read(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    read(session)
}

#[with_session(secure = false, idle_timeout = 1, absolute_timeout = 2, manager = m)]
pub async fn absolute_read(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    read(session)
}

#[with_session(secure = false, renew_after = 1, manager = m)]
pub async fn renewing(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    count(session).await
}

#[with_session(secure = false, manager = m)]
pub async fn plain_count(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    count(session).await
}

#[with_session(secure = false, manager = m)]
pub async fn login(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    session.cycle_id();
    session.insert("user", "ada").expect("fits");
    Ok(json_response(json!({ "user": "ada" })))
}

#[with_session(secure = false, manager = m)]
pub async fn logout(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    session.destroy();
    Ok(json_response(json!({ "user": null })))
}

#[with_session(secure = false, manager = m)]
pub async fn me(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let user = session.get::<String>("user").expect("a string");
    Ok(json_response(json!({ "user": user })))
}

/// Sets a cookie of its own, and writes the session.
#[with_session(secure = false, manager = m)]
pub async fn own_cookie(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    session.insert("n", 1).expect("fits");
    let mut response = json_response(json!({}));
    response.headers_mut().append(
        hyper::header::SET_COOKIE,
        hyper::header::HeaderValue::from_static("theme=dark; Path=/"),
    );
    Ok(response)
}

/// Writes the session, then panics.
#[with_session(secure = false, manager = m)]
pub async fn panics(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    session.insert("n", 1000).expect("fits");
    session.insert("poison", true).expect("fits");
    panic!("the handler failed half-way");
}

#[with_session(cookie = "scoped", path = "/account", domain = "localhost", same_site = "strict", secure, manager = m)]
pub async fn scoped_logout(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    session.destroy();
    Ok(json_response(json!({ "user": null })))
}

#[with_session(secure = false, skip_session_header = ["x-health", ("x-probe", "yes")], manager = m)]
pub async fn skippable(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    count(session).await
}

#[with_session(secure = false, manager = m)]
pub async fn big(
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

pub fn teapot(error: &RequestError) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::from(format!("custom: {error}")));
    *r.status_mut() = StatusCode::IM_A_TEAPOT;
    r
}

#[with_session(secure = false, on_error = teapot, manager = m)]
pub async fn hooked(
    _r: Request<Incoming>,
    session: &mut Session,
    m: Sessions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    count(session).await
}

/// One server with every route, on one manager.
pub async fn start(m: Sessions) -> String {
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
                "/logout" => logout(req, m).await,
                "/me" => me(req, m).await,
                "/own_cookie" => own_cookie(req, m).await,
                "/panics" => panics(req, m).await,
                _ => Ok(Response::new(Full::default())),
            }
        }
    })
    .await
}

pub async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("json")
}

pub async fn get(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.expect("request");
    assert_eq!(response.status(), 200, "GET {url}");
    body(response).await
}

pub fn with_cookie(url: &str, cookie: &str) -> reqwest::RequestBuilder {
    plain().get(url).header("cookie", cookie.to_owned())
}

/// The answer to a request while the store is down: 503 with
/// `Retry-After: 1`, and an ERROR event that names the failure.
pub fn assert_store_down(response: &reqwest::Response, logs: &super::logs::Logs) {
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(
        logs.any(tracing::Level::ERROR, "connection refused"),
        "{}",
        logs.all_text()
    );
}
