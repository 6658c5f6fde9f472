//! The end-to-end scenarios of `SessionLayer`, shared by tests/tower.rs
//! (a tower `ServiceBuilder` stack over hyper) and tests/axum.rs (an axum
//! `Router`). Each serves the same routes its own way, behind
//! `SessionLayer::new(&CONFIG).with_manager(..)`:
//!
//! | route | does (through [`SharedSession::with`] and the helpers here) |
//! | --- | --- |
//! | `GET /count` | [`count`] |
//! | `POST /login` | [`login`]: `cycle_id`, stores the user |
//! | `GET /me` | [`me`] |
//! | `POST /logout` | [`logout`]: `destroy` |
//! | `GET /write?key=K` | [`write`]: inserts `K` |
//! | `GET /keys` | [`keys`] |
//! | `GET /late` | [`spawn_late_write`]: a write after the response |

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::future::join_all;
use hyper_session::{Session, SessionConfig, SessionError, SharedSession, SkipHeader};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tracing::Level;

use super::lifecycle::Switchable;
use super::logs::Logs;
use super::{browser, cookie_in, cookie_value, plain, set_cookies};

/// The layer's options, checked at compile time.
pub const CONFIG: SessionConfig = SessionConfig::DEFAULT
    .with_cookie_name("sid")
    .with_secure(false)
    .with_skip_headers(&[SkipHeader::any("x-skip-session")])
    .validated();

pub fn count(session: &mut Session) -> Value {
    let n = session.get::<u64>("n").expect("a number").unwrap_or(0) + 1;
    session.insert("n", n).expect("fits");
    json!({ "n": n })
}

pub fn login(session: &mut Session) -> Value {
    session.cycle_id();
    session.insert("user", "ada").expect("fits");
    json!({ "user": "ada" })
}

pub fn me(session: &mut Session) -> Value {
    json!({ "user": session.get::<String>("user").expect("a string") })
}

pub fn logout(session: &mut Session) -> Value {
    session.destroy();
    json!({ "user": null })
}

pub fn write(session: &mut Session, key: &str) -> Value {
    session.insert(key, true).expect("fits");
    json!({ "wrote": key })
}

pub fn keys(session: &mut Session) -> Value {
    let mut keys: Vec<&str> = session.keys().collect();
    keys.sort_unstable();
    json!({ "keys": keys })
}

/// The `key` query parameter.
pub fn key_param(query: Option<&str>) -> String {
    query
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("key=")))
        .unwrap_or("none")
        .to_owned()
}

/// A handle kept past the response: the test says when to write through it.
pub struct Late {
    go: Notify,
    result: mpsc::UnboundedSender<Result<(), SessionError>>,
}

impl Late {
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<Result<(), SessionError>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let late = Self {
            go: Notify::new(),
            result: tx,
        };
        (Arc::new(late), rx)
    }
}

/// Keeps `session` in a spawned task that writes once the test says so,
/// after the response.
pub fn spawn_late_write(late: &Arc<Late>, session: SharedSession) -> Value {
    let late = late.clone();
    tokio::spawn(async move {
        late.go.notified().await;
        let _ = late.result.send(session.insert("late", true));
    });
    json!({ "spawned": true })
}

async fn send(request: reqwest::RequestBuilder) -> (Vec<String>, Value) {
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response);
    (cookies, response.json().await.expect("json"))
}

pub async fn counter_counts(base: &str) {
    let client = browser();
    let url = format!("{base}/count");
    let (first, body) = send(client.get(&url)).await;
    assert_eq!(body, json!({ "n": 1 }));
    let cookie = first.first().expect("a new session sets a cookie");
    for part in ["sid=", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(
        !cookie.contains("Secure") && !cookie.contains("Max-Age"),
        "{cookie}"
    );
    for n in 2..=3 {
        let (again, body) = send(client.get(&url)).await;
        assert_eq!(body, json!({ "n": n }));
        assert!(
            again.is_empty(),
            "an unchanged id sends no cookie: {again:?}"
        );
    }
    // A visitor who only reads creates nothing.
    let (cookies, body) = send(plain().get(format!("{base}/me"))).await;
    assert_eq!(body, json!({ "user": null }));
    assert!(cookies.is_empty(), "{cookies:?}");
}

pub async fn cycle_id_moves_the_session(base: &str) {
    let client = browser();
    let (before, _) = send(client.get(format!("{base}/count"))).await;
    let old = cookie_in(&before, "sid").expect("a cookie");
    let (after, body) = send(client.post(format!("{base}/login"))).await;
    assert_eq!(body, json!({ "user": "ada" }));
    let new = cookie_in(&after, "sid").expect("login sets a new cookie");
    assert_ne!(old.split('.').next(), new.split('.').next());
    assert_eq!(
        send(client.get(format!("{base}/me"))).await.1,
        json!({ "user": "ada" })
    );
    assert_eq!(
        send(client.get(format!("{base}/count"))).await.1,
        json!({ "n": 2 }),
        "the data moved with the session"
    );
    let (_, stale) = send(
        plain()
            .get(format!("{base}/me"))
            .header("cookie", format!("sid={old}")),
    )
    .await;
    assert_eq!(stale, json!({ "user": null }), "the old id is dead");
}

pub async fn destroy_ends_the_session(base: &str) {
    let client = browser();
    let (login, _) = send(client.post(format!("{base}/login"))).await;
    let value = cookie_in(&login, "sid").expect("a cookie");
    let (logout, body) = send(client.post(format!("{base}/logout"))).await;
    assert_eq!(body, json!({ "user": null }));
    let removal = logout.last().expect("a removal cookie");
    assert!(
        removal.starts_with("sid=;") && removal.contains("Max-Age=0"),
        "{removal}"
    );
    let (_, replay) = send(
        plain()
            .get(format!("{base}/me"))
            .header("cookie", format!("sid={value}")),
    )
    .await;
    assert_eq!(replay, json!({ "user": null }), "the session is gone");
}

pub async fn concurrent_writes_of_different_keys_all_survive(base: &str) {
    let first = plain()
        .get(format!("{base}/count"))
        .send()
        .await
        .expect("request");
    let cookie = format!("sid={}", cookie_value(&first, "sid").expect("a cookie"));
    let writes = (0..24).map(|i| {
        plain()
            .get(format!("{base}/write?key=k{i:02}"))
            .header("cookie", cookie.clone())
            .send()
    });
    for response in join_all(writes).await {
        assert_eq!(response.expect("request").status(), 200);
    }
    let (_, body) = send(plain().get(format!("{base}/keys")).header("cookie", cookie)).await;
    let mut expected: Vec<String> = (0..24).map(|i| format!("k{i:02}")).collect();
    expected.push("n".into());
    assert_eq!(body, json!({ "keys": expected }));
}

pub async fn skip_header_skips(base: &str, store: &Switchable) {
    let client = browser();
    let url = format!("{base}/count");
    assert_eq!(send(client.get(&url)).await.1, json!({ "n": 1 }));
    let writes = store.writes.load(Ordering::SeqCst);
    let (cookies, body) = send(client.get(&url).header("x-skip-session", "1")).await;
    assert_eq!(body, json!({ "n": 1 }), "a detached, empty session");
    assert!(cookies.is_empty(), "{cookies:?}");
    assert_eq!(store.writes.load(Ordering::SeqCst), writes, "nothing saved");
    assert_eq!(send(client.get(&url)).await.1, json!({ "n": 2 }));
}

pub async fn failing_store_answers_503_and_recovers(base: &str, store: &Switchable) {
    let (logs, _guard) = Logs::capture();
    let client = browser();
    let url = format!("{base}/count");
    assert_eq!(send(client.get(&url)).await.1, json!({ "n": 1 }));
    store.down.store(true, Ordering::SeqCst);
    let failed = client.get(&url).send().await.expect("a response");
    super::lifecycle::assert_store_down(&failed, &logs);
    store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        send(client.get(&url)).await.1,
        json!({ "n": 2 }),
        "back without a restart, nothing lost"
    );
}

pub async fn a_write_after_the_response_fails_loudly(
    base: &str,
    late: &Late,
    results: &mut mpsc::UnboundedReceiver<Result<(), SessionError>>,
) {
    let (logs, _guard) = Logs::capture();
    let client = browser();
    send(client.get(format!("{base}/count"))).await;
    let (_, body) = send(client.get(format!("{base}/late"))).await;
    assert_eq!(body, json!({ "spawned": true }));
    late.go.notify_one();
    let result = results.recv().await.expect("the task reports");
    assert!(matches!(result, Err(SessionError::Committed)), "{result:?}");
    assert!(
        logs.any(Level::WARN, "after the response was sent"),
        "{}",
        logs.all_text()
    );
    let (_, body) = send(client.get(format!("{base}/keys"))).await;
    assert_eq!(
        body,
        json!({ "keys": ["n"] }),
        "the late write is not saved"
    );
}

/// A running server of the layered scenarios: its address, its store, and
/// the late-write probe of [`a_write_after_the_response_fails_loudly`].
pub struct Server {
    pub base: String,
    pub store: Arc<Switchable>,
    pub late: Arc<Late>,
    pub results: mpsc::UnboundedReceiver<Result<(), SessionError>>,
}

/// The scenarios above as `#[tokio::test]`s, each on a fresh server from
/// the including file's `async fn start() -> Server`.
#[macro_export]
macro_rules! layered_scenarios {
    () => {
        #[tokio::test]
        async fn counter_counts() {
            layered::counter_counts(&start().await.base).await;
        }

        #[tokio::test]
        async fn cycle_id_moves_the_session() {
            layered::cycle_id_moves_the_session(&start().await.base).await;
        }

        #[tokio::test]
        async fn destroy_ends_the_session() {
            layered::destroy_ends_the_session(&start().await.base).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_writes_of_different_keys_all_survive() {
            layered::concurrent_writes_of_different_keys_all_survive(&start().await.base).await;
        }

        #[tokio::test]
        async fn skip_header_skips() {
            let server = start().await;
            layered::skip_header_skips(&server.base, &server.store).await;
        }

        #[tokio::test]
        async fn failing_store_answers_503_and_recovers() {
            let server = start().await;
            layered::failing_store_answers_503_and_recovers(&server.base, &server.store).await;
        }

        #[tokio::test]
        async fn a_write_after_the_response_fails_loudly() {
            let mut server = start().await;
            layered::a_write_after_the_response_fails_loudly(
                &server.base,
                &server.late,
                &mut server.results,
            )
            .await;
        }
    };
}
