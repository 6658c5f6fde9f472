//! Issue 9, end to end: a logout, a counter update and a login race on one
//! session, on three "processes" (each its own manager over its own
//! connection) sharing one Redis. A logout that ended the session is final:
//! the login's new session, if it gets one, never holds the data from
//! before the logout, and the old cookie finds nothing.
//!
//! The order is forced with `CLIENT PAUSE 600 WRITE`: reads still
//! run, so all three requests load the session, and their writes then run
//! in the order they were queued (logout, update, login). The pause stalls
//! every client of that Redis, so the tests start their own throwaway
//! `redis-server` (it must be on `PATH`) on a free port. Without the pause,
//! 100 natural races cover the other orders.
//!
//! `HYPER_SESSION_MONITOR=/path/file` records Redis `MONITOR` output of the
//! first paused run (log in, race, checks) into that file.
#![cfg(feature = "redis")]

mod common;

use common::redis_env::{free_port, redis_url, Throwaway};

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{cookie_in, plain, set_cookies, spawn};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_session::store::{Capabilities, Record, SessionStore, Update};
use hyper_session::{
    with_session, RedisStore, Session, SessionConfig, Sessions, StoreError, StoreKey,
};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

type Reply = Result<Response<Full<Bytes>>, Infallible>;

const SECRET: &str = "shared by the three processes of issue 9, 32+ bytes";

// The app of examples/app.rs, routes and semantics unchanged, except that
// each server passes its own manager (`manager = sessions`) where the
// example uses the process default.

const APP: SessionConfig = SessionConfig::DEFAULT
    .with_cookie_name("sid")
    .with_secure(false)
    .with_idle_timeout(30 * 60);

#[with_session(config = APP, manager = sessions)]
async fn session_test(_req: Request<Incoming>, session: &mut Session, sessions: Sessions) -> Reply {
    let Ok(previous) = session.get::<u64>("test_counter") else {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let n = previous.unwrap_or(0) + 1;
    if session.insert("test_counter", n).is_err() {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Ok(body(json!({ "test_counter": n })))
}

#[with_session(config = APP, manager = sessions)]
async fn login(req: Request<Incoming>, session: &mut Session, sessions: Sessions) -> Reply {
    let Some(user) = query_param(&req, "user").filter(|u| valid_user(u)) else {
        return status(StatusCode::BAD_REQUEST);
    };
    session.cycle_id();
    if session.insert("user", user).is_err() {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Ok(body(json!({ "user": user })))
}

#[with_session(config = APP, manager = sessions)]
async fn me(_req: Request<Incoming>, session: &mut Session, sessions: Sessions) -> Reply {
    let user = session.get::<String>("user").ok().flatten();
    Ok(body(json!({ "user": user })))
}

#[with_session(config = APP, manager = sessions)]
async fn logout(_req: Request<Incoming>, session: &mut Session, sessions: Sessions) -> Reply {
    session.destroy();
    Ok(body(json!({ "user": null })))
}

async fn route(req: Request<Incoming>, sessions: Sessions) -> Reply {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/session_test") => session_test(req, sessions).await,
        (&Method::POST, "/login") => login(req, sessions).await,
        (&Method::GET, "/me") => me(req, sessions).await,
        (&Method::POST, "/logout") => logout(req, sessions).await,
        _ => status(StatusCode::NOT_FOUND),
    }
}

fn query_param<'r>(req: &'r Request<Incoming>, name: &str) -> Option<&'r str> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn valid_user(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn body(value: Value) -> Response<Full<Bytes>> {
    Response::new(Full::from(value.to_string()))
}

fn status(code: StatusCode) -> Reply {
    let mut response = Response::new(Full::default());
    *response.status_mut() = code;
    Ok(response)
}

/// The Redis store, noting each `delete` that reports it ended a live
/// session. That tells which request of a natural race won: when the login
/// moved the session first, the logout's delete finds nothing to end.
struct Witness {
    store: RedisStore,
    ended: Arc<AtomicUsize>,
}

impl SessionStore for Witness {
    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        self.store.load(key).await
    }
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
        self.store.create(key, record).await
    }
    async fn update(&self, key: &StoreKey, update: &Update<'_>) -> Result<bool, StoreError> {
        self.store.update(key, update).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let ended = self.store.delete(key).await?;
        if ended {
            self.ended.fetch_add(1, Ordering::SeqCst);
        }
        Ok(ended)
    }
    fn capabilities(&self) -> Capabilities<'_> {
        self.store.capabilities()
    }
}

/// One "process": its own manager over its own connection to Redis.
/// Returns its base URL and its count of deletes that ended a session.
async fn process(redis: &str) -> (String, Arc<AtomicUsize>) {
    let ended = Arc::new(AtomicUsize::new(0));
    let store = Witness {
        store: RedisStore::connect(redis).await.expect("connect"),
        ended: ended.clone(),
    };
    let sessions = Sessions::builder()
        .secret(SECRET)
        .store(store)
        .build()
        .expect("valid manager");
    let base = spawn(move |req| route(req, sessions.clone())).await;
    (base, ended)
}

/// A throwaway Redis and three app servers on it: A takes the logout, B
/// the counter update, C the login.
struct Site {
    _redis: Throwaway,
    port: u16,
    a: String,
    b: String,
    c: String,
    /// Deletes on A that ended a live session.
    a_ended: Arc<AtomicUsize>,
    client: reqwest::Client,
}

impl Site {
    async fn start() -> Self {
        let port = free_port();
        let redis = Throwaway::start(port);
        let url = format!("redis://127.0.0.1:{port}");
        let (a, a_ended) = process(&url).await;
        let (b, _) = process(&url).await;
        let (c, _) = process(&url).await;
        Self {
            _redis: redis,
            port,
            a,
            b,
            c,
            a_ended,
            // No cookie jar: every request carries the cookie it is given.
            client: plain(),
        }
    }

    async fn send(&self, method: Method, url: String, sid: Option<&str>) -> Answer {
        send(self.client.clone(), method, url, sid.map(str::to_owned)).await
    }

    /// [`send`](Self::send) on a task of its own, started now.
    fn start_send(&self, method: Method, url: String, sid: &str) -> JoinHandle<Answer> {
        tokio::spawn(send(self.client.clone(), method, url, Some(sid.to_owned())))
    }

    /// A session counted to 3 across the three servers, then logged in
    /// as alice (a new id); returns its cookie value.
    async fn logged_in(&self) -> String {
        let first = self
            .send(Method::GET, format!("{}/session_test", self.a), None)
            .await;
        let sid = first.sid().expect("a new session sets the cookie");
        for (n, server) in [(2, &self.b), (3, &self.c)] {
            let counted = self
                .send(Method::GET, format!("{server}/session_test"), Some(&sid))
                .await;
            assert_eq!(counted.body, json!({ "test_counter": n }));
        }
        let login = self
            .send(
                Method::POST,
                format!("{}/login?user=alice", self.a),
                Some(&sid),
            )
            .await;
        assert_eq!(login.body, json!({ "user": "alice" }));
        login.sid().expect("login issues the new id")
    }

    /// `POST /logout` to A, `GET /session_test` to B and
    /// `POST /login?user=victim` to C, all with cookie `sid`, started `gap`
    /// apart (at once when zero), on concurrent tasks.
    async fn race(&self, sid: &str, gap: Duration) -> Race {
        let ended_before = self.a_ended.load(Ordering::SeqCst);
        let gap = || async move {
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
        };
        let logout = self.start_send(Method::POST, format!("{}/logout", self.a), sid);
        gap().await;
        let update = self.start_send(Method::GET, format!("{}/session_test", self.b), sid);
        gap().await;
        let login = self.start_send(Method::POST, format!("{}/login?user=victim", self.c), sid);
        let (logout, update, login) = (logout.await, update.await, login.await);
        Race {
            logout: logout.expect("the logout"),
            update: update.expect("the update"),
            login: login.expect("the login"),
            logout_ended: self.a_ended.load(Ordering::SeqCst) > ended_before,
        }
    }

    /// What the race left behind, checked; returns who won.
    async fn check(&self, round: &str, old: &str, race: &Race) -> Winner {
        let removal = race.logout.cookies.iter().find(|c| c.starts_with("sid="));
        assert!(
            removal.is_some_and(|c| c.starts_with("sid=;") && c.contains("Max-Age=0")),
            "{round}: the logout removes the cookie: {:?}",
            race.logout.cookies
        );
        assert_eq!(race.logout.body, json!({ "user": null }), "{round}");
        assert_eq!(race.login.body, json!({ "user": "victim" }), "{round}");
        assert!(
            race.update.body["test_counter"].is_u64(),
            "{round}: {}",
            race.update.body
        );

        // The old id names nothing on any server: a fresh visitor.
        let stale = self
            .send(Method::GET, format!("{}/me", self.b), Some(old))
            .await;
        assert_eq!(stale.body, json!({ "user": null }), "{round}: old id");
        let fresh = self
            .send(Method::GET, format!("{}/session_test", self.c), Some(old))
            .await;
        assert_eq!(
            fresh.body,
            json!({ "test_counter": 1 }),
            "{round}: the old id must find nothing"
        );

        let Some(new) = race.login.sid() else {
            assert!(
                race.logout_ended,
                "{round}: the logout ended nothing, yet the login did not move the session"
            );
            return Winner::Logout { fresh_login: false };
        };
        let me = self
            .send(Method::GET, format!("{}/me", self.a), Some(&new))
            .await;
        let counted = self
            .send(Method::GET, format!("{}/session_test", self.b), Some(&new))
            .await;
        let n = counted.body["test_counter"].as_u64().expect("a count");
        if race.logout_ended {
            // Issue 9: the login's new session held the pre-logout data.
            assert_eq!(
                n, 1,
                "{round}: the logout ended the session, yet the login's new session \
                 holds its test_counter (user {})",
                me.body["user"]
            );
            assert_ne!(me.body["user"], "alice", "{round}");
            Winner::Logout { fresh_login: true }
        } else {
            // The login moved the session before the logout reached it: the
            // logout ended nothing, and the whole session lives on under
            // the new id (counter 3, or 4 if the update came first, so this
            // request counts 4 or 5).
            assert_eq!(me.body, json!({ "user": "victim" }), "{round}");
            assert!(
                n == 4 || n == 5,
                "{round}: the moved session keeps its data: {n}"
            );
            Winner::Login
        }
    }
}

/// Sends a request, with cookie `sid=..` if given; expects 200 and JSON.
async fn send(client: reqwest::Client, method: Method, url: String, sid: Option<String>) -> Answer {
    let mut request = client.request(method, &url);
    if let Some(sid) = sid {
        request = request.header("cookie", format!("sid={sid}"));
    }
    let response = request.send().await.expect("a response");
    assert_eq!(response.status(), 200, "{url}");
    let cookies = set_cookies(&response);
    let body = response.json().await.expect("a JSON body");
    Answer { cookies, body }
}

struct Answer {
    cookies: Vec<String>,
    body: Value,
}

impl Answer {
    /// The session cookie value set, unless it is a removal.
    fn sid(&self) -> Option<String> {
        cookie_in(&self.cookies, "sid").filter(|v| !v.is_empty())
    }
}

struct Race {
    logout: Answer,
    update: Answer,
    login: Answer,
    /// Whether A's delete ended the live session.
    logout_ended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Winner {
    /// The logout ended the session; the login got a new, empty session
    /// (it loaded after the logout) or none (it loaded before).
    Logout { fresh_login: bool },
    /// The login moved the session to a new id first.
    Login,
}

/// Sends one inline command to the Redis on `port`; returns the first line
/// of its answer. (Blocking, and quick: Redis is on the loopback.)
fn redis_command(port: u16, command: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to Redis");
    stream
        .write_all(format!("{command}\r\n").as_bytes())
        .expect("send");
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("an answer");
    line.trim_end().to_owned()
}

/// Writes what Redis executes (`MONITOR`) to a file, until dropped.
struct Monitor {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    /// Starts recording into `$HYPER_SESSION_MONITOR`, if set; returns once
    /// Redis confirmed.
    fn from_env(port: u16) -> Option<Self> {
        let path = std::env::var_os("HYPER_SESSION_MONITOR").filter(|p| !p.is_empty())?;
        let mut file = std::fs::File::create(&path).expect("the MONITOR file");
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to Redis");
        stream.write_all(b"MONITOR\r\n").expect("send MONITOR");
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let mut reader = BufReader::new(stream);
        let mut ok = String::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !ok.ends_with('\n') && Instant::now() < deadline {
            let _ = reader.read_line(&mut ok);
        }
        assert_eq!(ok.trim_end(), "+OK", "MONITOR");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            // A read that times out keeps what it read; a line is written
            // once complete.
            let mut line = Vec::new();
            while !stopped.load(Ordering::SeqCst) {
                if let Ok(0) = reader.read_until(b'\n', &mut line) {
                    break; // Redis went away
                }
                if line.ends_with(b"\n") {
                    file.write_all(&line).expect("write the MONITOR file");
                    line.clear();
                }
            }
        });
        Some(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // Lets the last commands' lines arrive.
        std::thread::sleep(Duration::from_millis(200));
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_queued_before_an_update_and_a_login_stays_final() {
    if redis_url().is_none() {
        return;
    }
    let site = Site::start().await;
    let started = Instant::now();
    for run in 1..=3 {
        let monitor = if run == 1 {
            Monitor::from_env(site.port)
        } else {
            None
        };
        let sid = site.logged_in().await;
        // Writes wait from here for 600 ms, then run in the order they
        // came: the logout's, the update's, the login's.
        assert_eq!(redis_command(site.port, "CLIENT PAUSE 600 WRITE"), "+OK");
        let race = site.race(&sid, Duration::from_millis(100)).await;
        let round = format!("paused run {run}");
        assert!(
            race.logout_ended,
            "{round}: the logout's delete ran first and ended the session"
        );
        let winner = site.check(&round, &sid, &race).await;
        println!("{round}: {winner:?}");
        drop(monitor);
    }
    println!("3 paused runs in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natural_three_way_races_never_undo_a_logout() {
    if redis_url().is_none() {
        return;
    }
    let site = Site::start().await;
    let started = Instant::now();
    let mut outcomes = std::collections::BTreeMap::new();
    for run in 1..=100 {
        let sid = site.logged_in().await;
        let race = site.race(&sid, Duration::ZERO).await;
        let winner = site.check(&format!("race {run}"), &sid, &race).await;
        *outcomes.entry(winner).or_insert(0) += 1;
    }
    println!("100 races in {:?}: {outcomes:?}", started.elapsed());
}
