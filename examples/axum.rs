//! `examples/app.rs` on axum 0.8: the same routes and answers, with
//! `SessionLayer` on the `Router` and the `SharedSession` extractor.
//!
//! ```text
//! cargo run --example axum --features axum
//! curl -c j -b j localhost:3000/session_test                 # {"test_counter":1}
//! curl -c j -b j -X POST 'localhost:3000/login?user=ada'     # {"user":"ada"}
//! curl -c j -b j localhost:3000/me                            # {"user":"ada"}
//! curl -c j -b j -X POST localhost:3000/logout                # {"user":null}
//! ```
//!
//! | route | does |
//! | --- | --- |
//! | `GET /session_test` | the seed's counter; requests with `x-skip-session` skip sessions |
//! | `POST /login?user=NAME` | new session id (no fixation), stores the user |
//! | `GET /me` | the user, or null; a visitor without a session gets no cookie |
//! | `POST /logout` | destroys the session, removes the cookie |
//!
//! Anything else is a 404. Env: `ADDR` (default `127.0.0.1:3000`),
//! `SESSION_SECRET`, and `SESSION_STORE` (`memory`, the default, or
//! `redis://...` with `--features redis`: `rediss://` for TLS,
//! `SESSION_REDIS_CA` for a private CA, `user:password@` for an ACL user).

use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;

use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_session::{
    SessionConfig, SessionError, SessionLayer, Sessions, SharedSession, SkipHeader,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// The seed's options (cookie `sid`, `HttpOnly`, a browser-session cookie),
/// on plain HTTP, so not `Secure`; checked at compile time.
const APP: SessionConfig = SessionConfig::DEFAULT
    .with_cookie_name("sid")
    .with_http_only(true)
    .with_secure(false)
    .with_max_age(0)
    .with_idle_timeout(30 * 60)
    .validated();

/// The counter's: the same, and health probes skip sessions.
const COUNTER: SessionConfig = APP
    .with_skip_headers(&[SkipHeader::any("x-skip-session")])
    .validated();

async fn session_test(session: SharedSession) -> Result<Json<Value>, SessionError> {
    let n = session.get::<u64>("test_counter")?.unwrap_or(0) + 1;
    session.insert("test_counter", n)?;
    Ok(Json(json!({ "test_counter": n })))
}

async fn login(
    session: SharedSession,
    RawQuery(query): RawQuery,
) -> Result<Response, SessionError> {
    let Some(user) = query_param(query.as_deref(), "user").filter(|u| valid_user(u)) else {
        return Ok(StatusCode::BAD_REQUEST.into_response());
    };
    // A new id at every login: an id planted before login is worthless.
    session.cycle_id()?;
    session.insert("user", user)?;
    Ok(Json(json!({ "user": user })).into_response())
}

async fn me(session: SharedSession) -> Result<Json<Value>, SessionError> {
    let user = session.get::<String>("user").ok().flatten();
    Ok(Json(json!({ "user": user })))
}

async fn logout(session: SharedSession) -> Result<Json<Value>, SessionError> {
    session.destroy()?;
    Ok(Json(json!({ "user": null })))
}

fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
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

/// The app on `sessions`. Each group of routes gets the layer with its own
/// options; nothing else touches sessions.
pub fn router(sessions: Sessions) -> Router {
    let counter = Router::new()
        .route("/session_test", get(session_test))
        .layer(SessionLayer::new(&COUNTER).with_manager(sessions.clone()));
    let accounts = Router::new()
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .layer(SessionLayer::new(&APP).with_manager(sessions));
    // As in examples/app.rs, a known path with another method is a 404 too.
    counter
        .merge(accounts)
        .method_not_allowed_fallback(|| async { StatusCode::NOT_FOUND })
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
    let app = router(sessions_from_env().await?);
    let addr: SocketAddr = match std::env::var("ADDR") {
        Ok(addr) => addr.parse().map_err(|e| format!("ADDR={addr}: {e}"))?,
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 3000)),
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!("axum app listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}

#[allow(dead_code)] // the end-to-end tests include this file for `router`
#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        // A sentence that says what is wrong and what to do, not `Debug`.
        Err(e) => {
            eprintln!("axum: {e}");
            ExitCode::FAILURE
        }
    }
}
