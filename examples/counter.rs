//! The seed's usage example, on raw hyper:
//!
//! ```text
//! cargo run --example counter        # then: curl -c j -b j localhost:3000/session_test
//! ```
//!
//! `GET /session_test` answers `{"test_counter":N}`, counting 1, 2, 3 for
//! each client. Env: `ADDR` (default `127.0.0.1:3000`); `SESSION_SECRET`,
//! when set, signs the cookies (otherwise a random per-process key does,
//! which is all an in-memory store needs); `SESSION_STORE` names the store
//! (`memory`, the default, or `redis://...` with `--features redis`;
//! `rediss://` for TLS, `SESSION_REDIS_CA=/path/ca.pem` for a private CA;
//! `postgres://user@host/db` with `--features postgres`;
//! `sqlite://sessions.db` with `--features sqlite`;
//! `redis+cluster://host:port,host:port` or `rediss+cluster://` for a
//! Redis Cluster, where logouts wait up to `SESSION_REDIS_WAIT_MS` (500 by
//! default there, 0 turns it off) for a replica, and
//! `SESSION_REDIS_DURABLE=1` makes every commit wait).

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
use hyper_session::{with_session, Session, Sessions};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The seed's `session_test` route, with the seed's options.
#[with_session(cookie = "sid", http_only, secure = false, max_age = 0)]
async fn session_test(
    _req: Request<Incoming>,
    session: &mut Session,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Ok(previous) = session.get::<u64>("test_counter") else {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let n = previous.unwrap_or(0) + 1;
    if session.insert("test_counter", n).is_err() {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Ok(json(format!("{{\"test_counter\":{n}}}")))
}

/// Only `GET /session_test` touches sessions; everything else is a quick 404.
async fn route(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/session_test") => session_test(req).await,
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

fn status(code: StatusCode) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::default());
    *response.status_mut() = code;
    Ok(response)
}

/// The session manager the environment asks for.
async fn sessions_from_env() -> Result<Sessions, Box<dyn Error>> {
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
    tracing::info!("counter listening on http://{addr}/session_test");
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
            eprintln!("counter: {e}");
            ExitCode::FAILURE
        }
    }
}
