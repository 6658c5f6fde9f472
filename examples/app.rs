//! A small app with login, logout and two cookies:
//!
//! ```text
//! cargo run --example app
//! curl -c j -b j -X POST 'localhost:3000/login?user=ada'   # {"user":"ada"}
//! curl -c j -b j localhost:3000/me                          # {"user":"ada"}
//! curl -c j -b j localhost:3000/sessions                    # {"user":"ada","sessions":[...]}
//! curl -c j -b j -X POST localhost:3000/logout              # {"user":null}
//! ```
//!
//! | route | does |
//! | --- | --- |
//! | `GET /session_test` | the seed's counter; requests with `x-skip-session` skip sessions |
//! | `POST /login?user=NAME` | new session id (no fixation), stores the user, signs the session in as NAME |
//! | `GET /me` | the user, or null; a visitor without a session gets no cookie |
//! | `POST /logout` | destroys the session, removes the cookie |
//! | `GET /short` | a counter on cookie `short_sid` that lives 1 second |
//! | `GET /sessions` | the signed-in user's live sessions ("signed-in devices"); 401 if not signed in |
//! | `POST /sessions/revoke?handle=H` | ends one of them: 204, or 404 if H is not one of the user's |
//! | `POST /logout/others` | ends all but this one: `{"revoked":N}` |
//!
//! Env: `ADDR` (default `127.0.0.1:3000`), `SESSION_SECRET`, and
//! `SESSION_STORE` (`memory`, the default, or `redis://...` with
//! `--features redis`: `rediss://` for TLS, `SESSION_REDIS_CA` for a
//! private CA, `user:password@` for an ACL user; `postgres://...` with
//! `--features postgres`; `sqlite://sessions.db` with `--features sqlite`,
//! where a fixed `SESSION_SECRET` keeps users signed in across restarts)
//! for a shared store;
//! `redis+cluster://host:port,host:port` (or `rediss+cluster://`) for a
//! Redis Cluster, where a logout waits for a replica (up to
//! `SESSION_REDIS_WAIT_MS`, 500 there by default, 0 for off; set it on a
//! single Redis with replicas too), and `SESSION_REDIS_DURABLE=1` makes
//! every commit wait.

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_session::{with_session, Handle, Session, SessionConfig, Sessions, StoreError};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

type Reply = Result<Response<Full<Bytes>>, Infallible>;

/// Options every route shares; plain HTTP, so not `Secure`.
const APP: SessionConfig = SessionConfig::DEFAULT
    .with_cookie_name("sid")
    .with_secure(false)
    .with_idle_timeout(30 * 60);

#[with_session(config = APP, skip_session_header = "x-skip-session")]
async fn session_test(_req: Request<Incoming>, session: &mut Session) -> Reply {
    count(session)
}

#[with_session(config = APP, cookie = "short_sid", max_age = 1)]
async fn short(_req: Request<Incoming>, session: &mut Session) -> Reply {
    count(session)
}

fn count(session: &mut Session) -> Reply {
    let Ok(previous) = session.get::<u64>("test_counter") else {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let n = previous.unwrap_or(0) + 1;
    if session.insert("test_counter", n).is_err() {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Ok(json(format!("{{\"test_counter\":{n}}}")))
}

#[with_session(config = APP)]
async fn login(req: Request<Incoming>, session: &mut Session) -> Reply {
    let Some(user) = query_param(&req, "user").filter(|u| valid_user(u)) else {
        return status(StatusCode::BAD_REQUEST);
    };
    // A new id at every login: an id planted before login is worthless.
    session.cycle_id();
    if session.insert("user", user).is_err() || session.set_user(user).is_err() {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    // The device, as a listing of the user's sessions shows it.
    if let Some(agent) = req.headers().get(hyper::header::USER_AGENT) {
        let _ = session.set_label(&label_of(agent));
    }
    Ok(user_json(Some(user)))
}

/// A session label from a `User-Agent`: its text, cut to the longest
/// label accepted.
fn label_of(agent: &hyper::header::HeaderValue) -> String {
    let agent = String::from_utf8_lossy(agent.as_bytes());
    let mut end = agent.len().min(hyper_session::MAX_LABEL_BYTES);
    while !agent.is_char_boundary(end) {
        end -= 1;
    }
    agent[..end].to_owned()
}

/// The signed-in user, the session's handle and the manager (the one
/// `main` installed: `global` fails only if none was and the OS random
/// generator fails while making one); or the status to answer: 401, or 503.
fn signed_in(session: &Session) -> Result<(&str, &Handle, &'static Sessions), StatusCode> {
    let (Some(user), Some(handle)) = (session.user(), session.handle()) else {
        return Err(StatusCode::UNAUTHORIZED);
    };
    let manager = Sessions::global().map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok((user, handle, manager))
}

/// The signed-in user's live sessions, the requester's marked `current`.
#[with_session(config = APP)]
async fn sessions(_req: Request<Incoming>, session: &mut Session) -> Reply {
    let (user, mine, manager) = match signed_in(session) {
        Ok(who) => who,
        Err(code) => return status(code),
    };
    let listed = match manager.user_sessions(user).await {
        Ok(listed) => listed,
        Err(e) => return store_down(&e),
    };
    let sessions: Vec<_> = listed
        .iter()
        .map(|s| {
            serde_json::json!({
                "handle": s.handle.as_str(),
                "current": &s.handle == mine,
                "created_at": s.created_at,
                "last_seen": s.last_seen,
                "expires_at": s.expires_at,
                "label": s.label,
            })
        })
        .collect();
    Ok(json(
        serde_json::json!({ "user": user, "sessions": sessions }).to_string(),
    ))
}

/// Ends one of the signed-in user's sessions, by handle. Revoking takes
/// the user id too: another user's handle finds nothing (404).
#[with_session(config = APP)]
async fn revoke(req: Request<Incoming>, session: &mut Session) -> Reply {
    let (user, mine, manager) = match signed_in(session) {
        Ok((user, mine, manager)) => (user.to_owned(), mine.clone(), manager),
        Err(code) => return status(code),
    };
    let Some(handle) = query_param(&req, "handle").and_then(Handle::parse) else {
        return status(StatusCode::NOT_FOUND);
    };
    if handle == mine {
        // This very session: a logout, which also removes the cookie.
        session.destroy();
        return status(StatusCode::NO_CONTENT);
    }
    match manager.revoke(&user, &handle).await {
        Ok(true) => status(StatusCode::NO_CONTENT),
        Ok(false) => status(StatusCode::NOT_FOUND),
        Err(e) => store_down(&e),
    }
}

/// "Log out other devices": ends every session of the user but this one.
#[with_session(config = APP)]
async fn logout_others(_req: Request<Incoming>, session: &mut Session) -> Reply {
    let (user, mine, manager) = match signed_in(session) {
        Ok(who) => who,
        Err(code) => return status(code),
    };
    match manager.revoke_others(user, mine).await {
        Ok(n) => Ok(json(serde_json::json!({ "revoked": n }).to_string())),
        Err(e) => store_down(&e),
    }
}

/// A store that fails while listing or revoking: an error (503, as for a
/// failing commit), never a success that did not happen.
fn store_down(error: &StoreError) -> Reply {
    tracing::warn!(%error, "listing or revoking sessions failed");
    let mut response = json(r#"{"error":"session store unavailable; try again shortly"}"#.into());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from_static("1"),
    );
    Ok(response)
}

#[with_session(config = APP)]
async fn me(_req: Request<Incoming>, session: &mut Session) -> Reply {
    let user = session.get::<String>("user").ok().flatten();
    Ok(user_json(user.as_deref()))
}

#[with_session(config = APP)]
async fn logout(_req: Request<Incoming>, session: &mut Session) -> Reply {
    session.destroy();
    Ok(user_json(None))
}

fn user_json(user: Option<&str>) -> Response<Full<Bytes>> {
    json(serde_json::json!({ "user": user }).to_string())
}

fn query_param<'r>(req: &'r Request<Incoming>, name: &str) -> Option<&'r str> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// User names are kept simple so they need no decoding.
fn valid_user(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

pub async fn route(req: Request<Incoming>) -> Reply {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/session_test") => session_test(req).await,
        (&Method::GET, "/short") => short(req).await,
        (&Method::POST, "/login") => login(req).await,
        (&Method::GET, "/me") => me(req).await,
        (&Method::POST, "/logout") => logout(req).await,
        (&Method::GET, "/sessions") => sessions(req).await,
        (&Method::POST, "/sessions/revoke") => revoke(req).await,
        (&Method::POST, "/logout/others") => logout_others(req).await,
        _ => status(StatusCode::NOT_FOUND),
    }
}

fn json(body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::from(body));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn status(code: StatusCode) -> Reply {
    let mut response = Response::new(Full::default());
    *response.status_mut() = code;
    Ok(response)
}

/// The session manager the environment asks for.
pub async fn sessions_from_env() -> Result<Sessions, Box<dyn Error>> {
    let mut builder = Sessions::builder();
    if let Ok(secret) = std::env::var("SESSION_SECRET") {
        builder = builder.secret(secret);
    }
    if let Some(ca) = std::env::var_os("SESSION_REDIS_CA").filter(|ca| !ca.is_empty()) {
        builder = builder.tls_ca_file(ca);
    }
    let store = std::env::var("SESSION_STORE").unwrap_or_default();
    // A cluster has replicas: a logout waits for one (500 ms at most), so
    // that a failover cannot bring the session back.
    let wait_ms = match std::env::var("SESSION_REDIS_WAIT_MS") {
        Ok(ms) => ms
            .parse::<u64>()
            .map_err(|e| format!("SESSION_REDIS_WAIT_MS={ms}: {e}"))?,
        Err(_) if store.contains("+cluster://") => 500,
        Err(_) => 0,
    };
    if wait_ms > 0 {
        builder = builder.replica_wait(std::time::Duration::from_millis(wait_ms));
    }
    if std::env::var("SESSION_REDIS_DURABLE").is_ok_and(|v| v == "1") {
        builder = builder.durable_commits(true);
    }
    Ok(builder.store_url(&store).await?.build()?)
}

async fn run() -> Result<(), Box<dyn Error>> {
    sessions_from_env().await?.install()?;
    let addr: SocketAddr = match std::env::var("ADDR") {
        Ok(addr) => addr.parse().map_err(|e| format!("ADDR={addr}: {e}"))?,
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 3000)),
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!("app listening on http://{addr}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        tokio::spawn(async move {
            let conn =
                http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(route));
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

// `pub`, and allowed to be unused: the end-to-end tests include this file
// for `route`, and run `main` itself to restart the app on a SQLite file.
#[allow(dead_code)]
#[tokio::main]
pub async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        // A sentence that says what is wrong and what to do, not `Debug`.
        Err(e) => {
            eprintln!("app: {e}");
            ExitCode::FAILURE
        }
    }
}
