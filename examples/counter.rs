//! The seed's usage example, on raw hyper:
//!
//! ```text
//! cargo run --example counter        # then: curl -c j -b j localhost:3000/session_test
//! ```
//!
//! `GET /session_test` answers `{"test_counter":N}`, counting 1, 2, 3 for
//! each client. Env: `ADDR` (default `127.0.0.1:3000`); `SESSION_SECRET`,
//! when set, signs the cookies (otherwise a random per-process key does,
//! which is all an in-memory store needs); `SESSION_STORE=redis://...`
//! (with `--features redis`; `rediss://` for TLS, `SESSION_REDIS_CA` for a
//! private CA, `user:password@` for an ACL user) keeps sessions in Redis.

mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_session::{with_session, Session};
use tokio::net::TcpListener;

/// The seed's `session_test` route, with the seed's options.
#[with_session(cookie = "sid", http_only, secure = false, max_age = 0)]
async fn session_test(
    _req: Request<Incoming>,
    session: &mut Session,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Ok(previous) = session.get::<u64>("test_counter") else {
        return support::status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let n = previous.unwrap_or(0) + 1;
    if session.insert("test_counter", n).is_err() {
        return support::status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Ok(support::json(format!("{{\"test_counter\":{n}}}")))
}

/// Only `GET /session_test` touches sessions; everything else is a quick 404.
async fn route(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/session_test") => session_test(req).await,
        _ => support::status(StatusCode::NOT_FOUND),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    support::init_tracing();
    support::install_sessions_from_env().await?;
    let addr = support::addr_from_env();
    let listener = TcpListener::bind(addr).await?;
    tracing::info!("counter listening on http://{addr}/session_test");
    support::serve(listener, route).await;
    Ok(())
}
