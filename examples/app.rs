//! A small app with login, logout and two cookies:
//!
//! ```text
//! cargo run --example app
//! curl -c j -b j -X POST 'localhost:3000/login?user=ada'   # {"user":"ada"}
//! curl -c j -b j localhost:3000/me                          # {"user":"ada"}
//! curl -c j -b j -X POST localhost:3000/logout              # {"user":null}
//! ```
//!
//! | route | does |
//! | --- | --- |
//! | `GET /session_test` | the seed's counter; requests with `x-skip-session` skip sessions |
//! | `POST /login?user=NAME` | new session id (no fixation), stores the user |
//! | `GET /me` | the user, or null; a visitor without a session gets no cookie |
//! | `POST /logout` | destroys the session, removes the cookie |
//! | `GET /short` | a counter on cookie `short_sid` that lives 1 second |
//!
//! Env: `ADDR` (default `127.0.0.1:3000`), `SESSION_SECRET`, and
//! `SESSION_STORE=redis://...` (with `--features redis`; `rediss://` for
//! TLS, `SESSION_REDIS_CA` for a private CA, `user:password@` for an ACL
//! user) for a shared store.

#[path = "support/mod.rs"]
mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_session::{with_session, Session, SessionConfig};
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
        return support::status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let n = previous.unwrap_or(0) + 1;
    if session.insert("test_counter", n).is_err() {
        return support::status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Ok(support::json(format!("{{\"test_counter\":{n}}}")))
}

#[with_session(config = APP)]
async fn login(req: Request<Incoming>, session: &mut Session) -> Reply {
    let Some(user) = query_param(&req, "user").filter(|u| valid_user(u)) else {
        return support::status(StatusCode::BAD_REQUEST);
    };
    // A new id at every login: an id planted before login is worthless.
    session.cycle_id();
    if session.insert("user", user).is_err() {
        return support::status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Ok(user_json(Some(user)))
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
    support::json(serde_json::json!({ "user": user }).to_string())
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
        _ => support::status(StatusCode::NOT_FOUND),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    support::init_tracing();
    support::install_sessions_from_env().await?;
    let addr = support::addr_from_env();
    let listener = TcpListener::bind(addr).await?;
    tracing::info!("app listening on http://{addr}");
    support::serve(listener, route).await;
    Ok(())
}
